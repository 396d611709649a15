"""Alexa's rules for a playable RTSP stream answer, checked before the answer reaches Alexa.

An answer Alexa cannot play (not RTSP, a port other than 443 written out, an ``http`` snapshot,
an authorization type nobody agreed on) would reach the Echo as a success and fail there.
Details: docs/architecture.md, "Playable streams".
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from skill.cloud.contract import MintedStream

STREAM_SCHEMES = frozenset({"rtsps", "rtsp"})
STREAM_PORT = 443
IMAGE_SCHEME = "https"
# What discovery advertises in every cameraStreamConfiguration (capabilities.CameraStreamController).
ADVERTISED_AUTHORIZATION_TYPES = frozenset({"NONE"})
# The response schema's enum: a requested type outside it (the official sample's BEARER) never qualifies.
ANSWERABLE_AUTHORIZATION_TYPES = frozenset({"BASIC", "DIGEST", "NONE"})


def _scheme_host_port(uri: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of ``uri``; a port that is no number counts as missing."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # an unbalanced "[" in the authority: no usable URI at all
        return "", None, None
    try:
        port = parts.port
    except ValueError:  # ":abc" or out of range
        port = None
    return parts.scheme, parts.hostname, port


def unplayable_reason(minted: MintedStream, requested_authorization: Collection[str]) -> str | None:
    """A short reason code (safe to log: no URI, no token) for the first rule ``minted`` breaks,
    or None when Alexa can play it.

    ``requested_authorization``: the authorizationTypes the directive asked for with the chosen
    configuration. The answer's type must be one of those or one discovery advertised.
    """
    scheme, host, port = _scheme_host_port(minted.uri)
    if scheme not in STREAM_SCHEMES:
        return "stream_not_rtsp"
    if not host:
        return "stream_without_host"
    if port != STREAM_PORT:
        return "stream_not_on_443"
    image_scheme, image_host, _ = _scheme_host_port(minted.snapshot_uri)
    if image_scheme != IMAGE_SCHEME:
        return "image_not_https"
    if not image_host:
        return "image_without_host"
    allowed = ADVERTISED_AUTHORIZATION_TYPES | (ANSWERABLE_AUTHORIZATION_TYPES & set(requested_authorization))
    if minted.authorization_type not in allowed:
        return "authorization_type_not_agreed"
    return None
