"""Development-only tooling: reference ACCloud server, Alexa-side fakes, the zosi-skill CLI."""
