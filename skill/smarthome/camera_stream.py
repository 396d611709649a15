"""Alexa.CameraStreamController: a live RTSP stream on an Echo Show or Fire TV.

Hot path: no database read (the endpointId decrypts to the device, the endpoint cookie holds
the profiles discovery advertised), one ACCloud call when the caller is cached (two cold).
"""

from __future__ import annotations

import logging
from typing import Any

from skill.alexa import capabilities, endpoints, messages
from skill.alexa.errors import InternalError, InvalidDirective, InvalidValue
from skill.cloud.contract import StreamProfile
from skill.privacy.logs import log
from skill.smarthome import stream_rules
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles

_log = logging.getLogger(__name__)

AUDIO_PREFERENCE = {"AAC": 2, "G711": 1, "NONE": 0}


def requested_profiles(payload: dict[str, Any]) -> list[tuple[StreamProfile, str]]:
    """(profile, requested authorizationType) for each RTSP stream the directive asks for."""
    streams = payload.get("cameraStreams")
    if not isinstance(streams, list) or not streams:
        raise InvalidDirective("cameraStreams missing")
    wanted = []
    for stream in streams:
        if not isinstance(stream, dict):
            raise InvalidDirective("cameraStreams entry malformed")
        resolution = stream.get("resolution")
        if not isinstance(resolution, dict):
            raise InvalidDirective("resolution missing")
        width, height = resolution.get("width"), resolution.get("height")
        if not (type(width) is int and type(height) is int and width > 0 and height > 0):  # no JSON true
            raise InvalidDirective("resolution malformed")
        if stream.get("protocol") != "RTSP":
            continue  # WebRTC goes through Alexa.RTCSessionController
        video, audio = stream.get("videoCodec"), stream.get("audioCodec")
        if not isinstance(video, str) or not isinstance(audio, str):
            raise InvalidDirective("codecs missing")
        auth = stream.get("authorizationType")
        wanted.append(
            (StreamProfile("RTSP", width, height, video, audio), auth if isinstance(auth, str) else "")
        )
    return wanted


def choose(wanted: list[tuple[StreamProfile, str]], supported: list[StreamProfile] | None) -> StreamProfile:
    """The best requested profile the camera really streams: most pixels, then richer audio.

    Without the discovery cookie (an endpoint discovered by an older version) ACCloud is the
    judge: the best requested profile is asked for and ACCloud refuses what it cannot do.
    """
    candidates = [p for p, _ in wanted if supported is None or p in supported]
    if not candidates:
        raise InvalidValue("none of the requested stream configurations is supported by this camera")
    return max(candidates, key=lambda p: (p.width * p.height, AUDIO_PREFERENCE.get(p.audio_codec, 0)))


@handles("Alexa.CameraStreamController", "InitializeCameraStreams")
def initialize_camera_streams(ctx: DirectiveContext) -> dict[str, Any]:
    wanted = requested_profiles(ctx.directive.payload)
    profile = choose(wanted, endpoints.decode_profiles(ctx.directive.cookie))
    device_id = ctx.device_id()
    minted = ctx.cloud.mint_stream(ctx.token, device_id, profile)
    reason = stream_rules.unplayable_reason(minted, {auth for p, auth in wanted if p == profile})
    if reason is not None:
        # Alexa would take the answer as a success and the Echo would fail to play it. Not an auth
        # error (Alexa unlinks on those), not ENDPOINT_UNREACHABLE (the camera is not offline):
        # the camera cloud's answer is wrong. The reason code only: URIs carry access tokens.
        log(_log, logging.WARNING, "unplayable stream answer refused", reason=reason)
        raise InternalError("the camera cloud answered with a stream Alexa cannot play")
    stream = {
        "uri": minted.uri,
        "expirationTime": messages.iso_millis(minted.expires_at),
        "idleTimeoutSeconds": minted.idle_timeout_seconds,
        "protocol": "RTSP",
        "resolution": {"width": profile.width, "height": profile.height},
        "authorizationType": minted.authorization_type,
        "videoCodec": profile.video_codec,
        "audioCodec": profile.audio_codec,
    }
    return messages.response(
        ctx.directive,
        namespace="Alexa.CameraStreamController",
        name="Response",
        payload={"cameraStreams": [stream], "imageUri": minted.snapshot_uri},
        properties=[capabilities.ENDPOINT_HEALTH.connectivity(True, messages.utc_now())],
    )
