"""Talking to Amazon: Login with Amazon, the grants it issues, the Alexa Event Gateway client."""
