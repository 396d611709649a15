"""ZOSI Smart for Alexa: the skill backend."""
