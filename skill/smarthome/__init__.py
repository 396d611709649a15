"""Smart Home API v3: directive registry and dispatch, one module per interface (vocabulary: skill.alexa)."""
