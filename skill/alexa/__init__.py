"""Alexa's vocabulary, shared by both directions: envelopes, capabilities, typed errors, endpoints."""
