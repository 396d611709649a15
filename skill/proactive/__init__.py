"""Proactive side: the vendor webhook in, ACCloud events mapped to Alexa Event Gateway messages out."""
