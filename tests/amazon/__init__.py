"""Storage layer, envelope encryption, LWA client, grant lifecycle and the LWA stand-in."""
