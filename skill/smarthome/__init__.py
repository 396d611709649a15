"""Smart Home API v3: directive registry, message builders, typed errors, one module per interface."""
