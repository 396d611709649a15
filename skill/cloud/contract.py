"""The ACCloud contract as the skill sees it: value types, typed failures, the client protocol.

The wire format is documented in docs/accloud-openapi.yaml. Parsing is an allow-list: only
the fields below are read from ACCloud's JSON; everything else a real cloud sends (serial
numbers, MACs, Wi-Fi names, IPs, owner contact data) is never even copied into memory
structures that could be logged, stored or shared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol

DeviceKind = Literal["camera", "doorbell", "nvr_channel"]
StreamProtocol = Literal["RTSP", "WEBRTC"]
VIDEO_CODECS = frozenset({"H264", "MPEG2", "MJPEG", "JPG"})
AUDIO_CODECS = frozenset({"G711", "AAC", "NONE"})


# --- failures -------------------------------------------------------------------------------


class CloudError(Exception):
    """Base of every ACCloud failure. Messages never carry tokens, URLs or names."""


class InvalidToken(CloudError):
    """ACCloud does not know the bearer token (RFC 6750 invalid_token)."""


class ExpiredToken(CloudError):
    """The bearer token was valid but has expired (invalid_token, error_description token_expired)."""


class NotFound(CloudError):
    """The device does not exist or does not belong to the caller (ACCloud answers 404 for both)."""


class DeviceOffline(CloudError):
    """The camera is offline (409 device_offline)."""


class BridgeOffline(CloudError):
    """The NVR the channel hangs on is offline (409 bridge_offline)."""


class PrivacyMode(CloudError):
    """The owner switched the camera to privacy mode (409 privacy_mode)."""


class UnsupportedStream(CloudError):
    """The device cannot stream the requested profile (422 unsupported_profile)."""


class Transient(CloudError):
    """Timeout, connection failure, 5xx or a malformed answer: worth retrying later, never an auth error."""


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudUser:
    """Who a bearer token belongs to. ``link_id`` names the OAuth grant (stable across refreshes)."""

    user_id: str
    link_id: str
    token_expires_at: datetime | None = None


# StreamProfile and Device are NamedTuples, not frozen dataclasses: a 300-device discovery builds
# 300 Devices and hashes profiles ~2,500 times (de-duplication, the per-shape caches), and a tuple's
# construction and hash run in C. Both compare equal to plain tuples of the same values; nothing
# mixes them with other tuples.
class StreamProfile(NamedTuple):
    """One way a device can really stream."""

    protocol: StreamProtocol
    width: int
    height: int
    video_codec: str
    audio_codec: str


class Device(NamedTuple):
    id: str
    name: str
    kind: DeviceKind
    model: str
    firmware: str
    online: bool
    privacy_mode: bool
    parent_id: str | None = None
    motion_detection: bool = False
    person_detection: bool = False
    two_way_audio: bool = False
    profiles: tuple[StreamProfile, ...] = ()

    def profiles_for(self, protocol: StreamProtocol) -> tuple[StreamProfile, ...]:
        return tuple(p for p in self.profiles if p.protocol == protocol)


@dataclass(frozen=True)
class MintedStream:
    """A short-lived stream URI minted by ACCloud for one profile."""

    uri: str
    expires_at: datetime
    idle_timeout_seconds: int
    snapshot_uri: str
    profile: StreamProfile
    authorization_type: str = "NONE"


class Detection(NamedTuple):
    """One entry of a camera's detection history: ACCloud's id, the class, when. Nothing else is
    read (ACCloud's thumbnail URI stays unread: no image leaves for Alexa)."""

    id: str
    object_class: str
    occurred_at: datetime


class DetectionPage(NamedTuple):
    detections: tuple[Detection, ...]
    next_cursor: str | None


class DetectionDeletion(NamedTuple):
    """What ACCloud confirmed: removed, and not held (already gone, or never the device's)."""

    deleted: tuple[str, ...]
    not_found: tuple[str, ...]


# --- the client seam ------------------------------------------------------------------------


class CameraCloud(Protocol):
    """What the skill needs from ACCloud. skill.cloud.client.HttpCameraCloud implements it."""

    def me(self, token: str) -> CloudUser: ...

    def devices(self, token: str) -> list[Device]: ...

    def mint_stream(self, token: str, device_id: str, profile: StreamProfile) -> MintedStream: ...

    def rtc_offer(self, token: str, device_id: str, session_id: str, offer_sdp: str) -> str: ...

    def rtc_connected(self, token: str, device_id: str, session_id: str) -> None: ...

    def rtc_disconnected(self, token: str, device_id: str, session_id: str) -> None: ...

    def detections(
        self,
        token: str,
        device_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 25,
    ) -> DetectionPage: ...

    def delete_detections(
        self,
        token: str,
        device_id: str,
        *,
        ids: tuple[str, ...] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> DetectionDeletion: ...


# --- parsing (allow-list) -------------------------------------------------------------------


class MalformedDevice(ValueError):
    """One device entry could not be parsed; the caller skips it."""


def parse_profile(raw: Any) -> StreamProfile:
    if not isinstance(raw, dict):
        raise MalformedDevice("profile is not an object")
    fields = (
        raw.get("protocol"),
        raw.get("width"),
        raw.get("height"),
        raw.get("video_codec"),
        raw.get("audio_codec"),
    )
    try:
        return _profile(*fields)
    except TypeError:  # an unhashable value (a list, an object) cannot be a cache key
        return _profile.__wrapped__(*fields)


# typed: True and 1 are equal and hash alike, but only 1 is a width; each type gets its own entry.
@lru_cache(maxsize=256, typed=True)
def _profile(protocol: Any, width: Any, height: Any, video: Any, audio: Any) -> StreamProfile:
    """A validated profile. Cached: an account's devices share a handful of profiles (an NVR's
    channels, one camera model), and a 300-device discovery would otherwise build ~800 of them."""
    if protocol not in ("RTSP", "WEBRTC"):
        raise MalformedDevice("unknown protocol")
    if not (type(width) is int and type(height) is int and width > 0 and height > 0):  # no JSON true
        raise MalformedDevice("bad resolution")
    # A list or an object is not even hashable: test the type before the set.
    if (
        not (isinstance(video, str) and isinstance(audio, str))
        or video not in VIDEO_CODECS
        or audio not in AUDIO_CODECS
    ):
        raise MalformedDevice("unknown codec")
    return StreamProfile(protocol=protocol, width=width, height=height, video_codec=video, audio_codec=audio)


def parse_device(raw: Any) -> Device:
    if not isinstance(raw, dict):
        raise MalformedDevice("device is not an object")
    device_id, name, kind = raw.get("id"), raw.get("name"), raw.get("kind")
    if not isinstance(device_id, str) or not device_id:
        raise MalformedDevice("missing id")
    if not isinstance(name, str):
        raise MalformedDevice("missing name")
    if kind not in ("camera", "doorbell", "nvr_channel"):
        raise MalformedDevice("unknown kind")
    parent = raw.get("parent_id")
    if kind == "nvr_channel" and not isinstance(parent, str):
        raise MalformedDevice("NVR channel without parent")
    caps = raw.get("capabilities") or {}
    if not isinstance(caps, dict):
        raise MalformedDevice("capabilities is not an object")
    profiles_raw = raw.get("stream_profiles") or []
    if not isinstance(profiles_raw, list):
        raise MalformedDevice("stream_profiles is not a list")
    return Device(
        id=device_id,
        name=name,
        kind=kind,
        parent_id=parent if isinstance(parent, str) else None,
        model=str(raw.get("model") or ""),
        firmware=str(raw.get("firmware") or ""),
        online=raw.get("online") is True,
        privacy_mode=raw.get("privacy_mode") is True,
        motion_detection=caps.get("motion_detection") is True,
        person_detection=caps.get("person_detection") is True,
        two_way_audio=caps.get("two_way_audio") is True,
        # Each way of streaming once: a repeated profile would repeat a cameraStreamConfiguration,
        # and Alexa's schema wants them unique (Discover.Response and AddOrUpdateReport fail).
        profiles=tuple(dict.fromkeys(map(parse_profile, profiles_raw))),
    )


DETECTION_ID = re.compile(r"det_[A-Za-z0-9]{1,64}")
_OBJECT_CLASS = re.compile(r"[a-z][a-z0-9 _-]{0,63}")
MAX_CURSOR = 512


def parse_detection_page(body: dict[str, Any], parse_time: Any) -> DetectionPage:
    """``GET /v1/devices/{id}/detections``; anything malformed is a Transient failure (the page is
    ACCloud's answer as a whole: a half-read page would hide detections from the user)."""
    entries, cursor = body.get("detections"), body.get("next_cursor")
    if not isinstance(entries, list) or not (cursor is None or isinstance(cursor, str)):
        raise Transient("malformed detections answer")
    if cursor is not None and not 0 < len(cursor) <= MAX_CURSOR:
        raise Transient("malformed detections cursor")
    detections = []
    for raw in entries:
        if not isinstance(raw, dict):
            raise Transient("malformed detection")
        detection_id, object_class = raw.get("id"), raw.get("class")
        if not (isinstance(detection_id, str) and DETECTION_ID.fullmatch(detection_id)):
            raise Transient("malformed detection id")
        if not (isinstance(object_class, str) and _OBJECT_CLASS.fullmatch(object_class)):
            raise Transient("malformed detection class")
        detections.append(Detection(detection_id, object_class, parse_time(raw.get("occurred_at"))))
    return DetectionPage(tuple(detections), cursor)


def parse_detection_deletion(body: dict[str, Any]) -> DetectionDeletion:
    def ids(field: str) -> tuple[str, ...]:
        value = body.get(field)
        if not isinstance(value, list) or not all(
            isinstance(i, str) and DETECTION_ID.fullmatch(i) for i in value
        ):
            raise Transient("malformed deletion answer")
        return tuple(value)

    return DetectionDeletion(ids("deleted"), ids("not_found"))
