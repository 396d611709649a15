"""Smart Home directives as Alexa sends them, for the dev-only drivers (demo, tests, benchmark).

Dev only. The bearer token goes where Alexa puts it: ``endpoint.scope`` for a directive
addressed to an endpoint, ``payload.scope`` for Discover, ``payload.grantee`` for AcceptGrant.
An endpoint is addressed with what discovery returned for it (its endpointId and cookie).
"""

from __future__ import annotations

import uuid
from typing import Any


def directive(
    namespace: str,
    name: str,
    token: str,
    *,
    endpoint: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``{"directive": ...}`` event; ``endpoint`` is a discovered endpoint description."""
    header = {"namespace": namespace, "name": name, "payloadVersion": "3", "messageId": str(uuid.uuid4())}
    body: dict[str, Any] = {"header": header, "payload": dict(payload or {})}
    if endpoint is None:
        where = "scope" if namespace == "Alexa.Discovery" else "grantee"
        body["payload"].setdefault(where, {"type": "BearerToken", "token": token})
    else:
        header["correlationToken"] = uuid.uuid4().hex
        body["endpoint"] = {
            "scope": {"type": "BearerToken", "token": token},
            "endpointId": endpoint["endpointId"],
            "cookie": endpoint.get("cookie", {}),
        }
    return {"directive": body}


def advertised_streams(endpoint: dict[str, Any]) -> dict[str, Any]:
    """What an Echo Show asks for: an RTSP stream per configuration and resolution the endpoint
    advertised in discovery (the InitializeCameraStreams payload)."""
    (camera,) = [c for c in endpoint["capabilities"] if c["interface"] == "Alexa.CameraStreamController"]
    return {
        "cameraStreams": [
            {
                "protocol": "RTSP",
                "resolution": resolution,
                "authorizationType": "NONE",
                "videoCodec": config["videoCodecs"][0],
                "audioCodec": config["audioCodecs"][0],
            }
            for config in camera["cameraStreamConfigurations"]
            for resolution in config["resolutions"]
        ]
    }
