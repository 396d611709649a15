"""Custom-skill side of ZOSI Smart: voice handlers, skill events and the spoken strings per locale.

Kept import-free so importing ``skill.voice.strings`` does not pull in ask-sdk.
"""
