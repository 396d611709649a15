"""Smart Home directives as Alexa sends them: the one set of builders for the demo, the load
generator, the benchmark and the tests (skill/ never imports it).

The bearer token goes where Alexa puts it: ``endpoint.scope`` for a directive addressed to an
endpoint, ``payload.scope`` for Discover, ``payload.grantee`` for AcceptGrant. An endpoint is
addressed with what discovery returned for it (its endpointId and cookie).
"""

from __future__ import annotations

import uuid
from typing import Any

SMART_HOME_VERSION = "3"  # the payloadVersion of every interface but SmartVision's ("1.0")


def directive(
    namespace: str,
    name: str,
    token: str | None,
    *,
    endpoint: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    payload_version: str = SMART_HOME_VERSION,
    message_id: str | None = None,
    correlation_token: str | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    """The ``{"directive": ...}`` event; ``endpoint`` is a discovered endpoint description (or just
    ``{"endpointId": ...}``). Addressed directives carry a fresh correlationToken, as Alexa's do;
    ``correlation_token`` sets one on any directive; ``instance`` names a capability instance."""
    header = {
        "namespace": namespace,
        "name": name,
        "payloadVersion": payload_version,
        "messageId": message_id or str(uuid.uuid4()),
    }
    if instance is not None:
        header["instance"] = instance
    if correlation_token is not None or endpoint is not None:
        header["correlationToken"] = correlation_token or uuid.uuid4().hex
    body: dict[str, Any] = {"header": header, "payload": dict(payload or {})}
    if endpoint is None:
        where = "scope" if namespace == "Alexa.Discovery" else "grantee"
        body["payload"].setdefault(where, {"type": "BearerToken", "token": token})
    else:
        body["endpoint"] = {
            "scope": {"type": "BearerToken", "token": token},
            "endpointId": endpoint["endpointId"],
            "cookie": endpoint.get("cookie") or {},
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
                "authorizationType": config["authorizationTypes"][0],
                "videoCodec": config["videoCodecs"][0],
                "audioCodec": config["audioCodecs"][0],
            }
            for config in camera["cameraStreamConfigurations"]
            for resolution in config["resolutions"]
        ]
    }


def one_rtsp_stream() -> dict[str, Any]:
    """An InitializeCameraStreams payload for one 1080p RTSP stream (H264/AAC, no authorization):
    what a test asks for when it has no discovered endpoint at hand."""
    stream = {
        "protocol": "RTSP",
        "resolution": {"width": 1920, "height": 1080},
        "authorizationType": "NONE",
        "videoCodec": "H264",
        "audioCodec": "AAC",
    }
    return {"cameraStreams": [stream]}


def discover(token: str | None) -> dict[str, Any]:
    return directive("Alexa.Discovery", "Discover", token)


def initialize_streams(
    token: str | None, endpoint: dict[str, Any], payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """InitializeCameraStreams with the endpoint's cookie, asking for every advertised configuration
    unless ``payload`` says otherwise."""
    return directive(
        "Alexa.CameraStreamController",
        "InitializeCameraStreams",
        token,
        endpoint=endpoint,
        payload=advertised_streams(endpoint) if payload is None else payload,
    )


def offer(
    token: str | None, endpoint: dict[str, Any], sdp: str, session_id: str | None = None
) -> dict[str, Any]:
    """RTCSessionController.InitiateSessionWithOffer carrying ``sdp``."""
    return directive(
        "Alexa.RTCSessionController",
        "InitiateSessionWithOffer",
        token,
        endpoint=endpoint,
        payload={"sessionId": session_id or str(uuid.uuid4()), "offer": {"format": "SDP", "value": sdp}},
    )


def report_state(token: str | None, endpoint: dict[str, Any]) -> dict[str, Any]:
    return directive("Alexa", "ReportState", token, endpoint=endpoint)


DATA_CONTROLLER = ("Alexa.DataController", "1.0", "Camera.SmartVisionData")  # namespace, version, instance


def data_controller(
    name: str, token: str | None, endpoint: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    """ReportData or DeleteData for a camera's detection history, as the Alexa app asks."""
    namespace, version, instance = DATA_CONTROLLER
    return directive(
        namespace, name, token, endpoint=endpoint, payload=payload, payload_version=version, instance=instance
    )


def accept_grant(token: str | None, code: str) -> dict[str, Any]:
    grant = {"grant": {"type": "OAuth2.AuthorizationCode", "code": code}}
    return directive("Alexa.Authorization", "AcceptGrant", token, payload=grant)
