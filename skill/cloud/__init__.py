"""The ACCloud contract and its HTTP client."""
