"""The ACCloud contract and client (skill/cloud/)."""
