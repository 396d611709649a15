"""The reference ACCloud (dev only): the whole wire contract of docs/accloud-openapi.yaml, split into
state, device API, OAuth and the loopback-only admin endpoints (docs/devstack.md)."""

from devstack.accloud.admin import AccloudAdmin, AdminError
from devstack.accloud.oauth import OAuthFlowError
from devstack.accloud.server import AccloudServer, serve
from devstack.accloud.state import (
    DEFAULT_REDIRECT_URIS,
    EVENT_TYPES,
    FAULT_KINDS,
    LOCAL_REDIRECT_URI,
    WebRtcAnswerer,
    WebRtcUnavailable,
    device_json,
    redirect_uri_allowed,
)

__all__ = [
    "DEFAULT_REDIRECT_URIS",
    "EVENT_TYPES",
    "FAULT_KINDS",
    "LOCAL_REDIRECT_URI",
    "AccloudAdmin",
    "AccloudServer",
    "AdminError",
    "OAuthFlowError",
    "WebRtcAnswerer",
    "WebRtcUnavailable",
    "device_json",
    "redirect_uri_allowed",
    "serve",
]
