"""Proactive side: Login-with-Amazon grants (lwa, grants), the vendor webhook and the Alexa Event Gateway."""
