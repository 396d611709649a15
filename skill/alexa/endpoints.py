"""The one allow-list that turns an ACCloud device into what Amazon receives.

Amazon gets an opaque endpointId, the user's camera name, a description, categories,
capabilities, the model and a cookie with the stream profiles - never a serial number, MAC,
Wi-Fi name, IP, location, firmware version or the ACCloud device id. Details: docs/privacy.md,
"What Amazon receives"; fallback names and the cookie limit: docs/architecture.md, "Smart home".
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

from skill import bounded
from skill.alexa import capabilities
from skill.cloud.contract import Device, StreamProfile, parse_profile
from skill.privacy import pseudonyms

MANUFACTURER = "ZOSI"
MAX_ENDPOINTS = 300  # Alexa's per-customer limit
MAX_NAME = 128
MAX_DESCRIPTION = 128
MAX_ATTRIBUTE = 256
# Amazon's limit for an endpoint cookie (Alexa Discovery objects reference): under 5000 bytes in all.
MAX_COOKIE_BYTES = 5000

_KIND_LABEL = {"camera": "camera", "doorbell": "video doorbell", "nvr_channel": "NVR camera channel"}
_CATEGORIES = {"camera": ["CAMERA"], "doorbell": ["CAMERA", "DOORBELL"], "nvr_channel": ["CAMERA"]}
# Order of kinds when more than MAX_ENDPOINTS must be cut: doorbells matter most.
_KIND_ORDER = {"doorbell": 0, "camera": 1, "nvr_channel": 2}
# The name a device without a usable name gets (an NVR channel is a camera to the user).
_FALLBACK_LABEL = {"camera": "ZOSI Camera", "doorbell": "ZOSI Doorbell", "nvr_channel": "ZOSI Camera"}
_PROFILE_COOKIE = "profiles"
# Names made only of these need no Unicode classification (the common case; a fast path).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 ]+")
# One encoder each, made once: json.dumps with options builds a new JSONEncoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_DIGEST_JSON = json.JSONEncoder(sort_keys=True)  # the same text as json.dumps(..., sort_keys=True)
_json_str = json.encoder.encode_basestring_ascii  # json.dumps of one str, ensure_ascii as by default


class UndescribableDevice(ValueError):
    """The device cannot be described to Alexa (e.g. no usable name); it is skipped."""


def friendly_name(raw: str) -> str:
    """Letters, digits and single spaces, at most 128 characters (Alexa's strictest rule)."""
    if _PLAIN_NAME.fullmatch(raw):
        kept = raw  # ASCII letters, digits and spaces: NFC and the category test change nothing
    else:
        kept = "".join(
            ch if unicodedata.category(ch)[0] in ("L", "N") else " "
            for ch in unicodedata.normalize("NFC", raw)
        )
    name = " ".join(kept.split())[:MAX_NAME].strip()
    if not name:
        raise UndescribableDevice("no usable name")
    return name


def fallback_names(devices: Iterable[Device]) -> dict[str, str]:
    """device id -> fallback friendlyName, for the devices whose own name has no letter or digit.

    "ZOSI Camera" / "ZOSI Doorbell", numbered from 1 when several of one label need it, skipping
    names the account's other devices already use. Deterministic for an account's device list,
    whatever order ACCloud lists it in: numbered in device id order. Only the ordinal comes from
    that order, nothing of an id or of the original name reaches the name.
    """
    taken: set[str] = set()
    nameless: dict[str, list[str]] = {}
    for device in devices:
        try:
            taken.add(friendly_name(device.name).casefold())
        except UndescribableDevice:
            nameless.setdefault(_FALLBACK_LABEL[device.kind], []).append(device.id)
    names: dict[str, str] = {}
    for label, device_ids in sorted(nameless.items()):
        device_ids.sort()
        if len(device_ids) == 1 and label.casefold() not in taken:
            names[device_ids[0]] = label
            continue
        number = 0
        for device_id in device_ids:
            number += 1
            while f"{label} {number}".casefold() in taken:
                number += 1
            names[device_id] = f"{label} {number}"
    return names


def _clip(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]  # whitespace runs to one space, ends stripped


def description(device: Device) -> str:
    model = _clip(device.model, 40)
    label = _KIND_LABEL[device.kind]
    return _clip(
        f"{MANUFACTURER} {label} {model} via ZOSI Smart" if model else f"{MANUFACTURER} {label}",
        MAX_DESCRIPTION,
    )


def encode_profiles(profiles: Iterable[StreamProfile]) -> str:
    return _encode_profiles(tuple(profiles))


@lru_cache(maxsize=256)
def _encode_profiles(profiles: tuple[StreamProfile, ...]) -> str:
    # Cached: the devices of an account share a handful of profile sets.
    return _COMPACT_JSON.encode(
        [[p.protocol, p.width, p.height, p.video_codec, p.audio_codec] for p in profiles]
    )


def _profile_cookie(profiles: tuple[StreamProfile, ...]) -> dict[str, str] | None:
    """The cookie with ``profiles``, or None when there are none or it would break Amazon's size
    limit (a cookie-less endpoint's stream directive asks ACCloud instead, see ``choose``)."""
    if not profiles:
        return None
    cookie = {_PROFILE_COOKIE: encode_profiles(profiles)}
    # The whole cookie as JSON, in UTF-8: more than its keys and values, so never under-counted.
    return cookie if len(_COMPACT_JSON.encode(cookie).encode()) < MAX_COOKIE_BYTES else None


def decode_profiles(cookie: dict[str, str]) -> list[StreamProfile] | None:
    """The stream profiles discovery put in the endpoint cookie, or None when absent or bad."""
    raw = cookie.get(_PROFILE_COOKIE)
    if not raw:
        return None
    try:
        rows = bounded.loads(raw, max_bytes=MAX_COOKIE_BYTES)
        return [
            parse_profile(
                {"protocol": r[0], "width": r[1], "height": r[2], "video_codec": r[3], "audio_codec": r[4]}
            )
            for r in rows
        ]
    except (ValueError, TypeError, IndexError, KeyError):
        return None


class _Look(NamedTuple):
    """The parts of an endpoint that follow from the device's shape and model."""

    description: str
    categories: list[str]
    attributes: dict[str, str]
    capabilities: list[dict[str, Any]]
    cookie: dict[str, str] | None


def _look_of(device: Device, capability_entries: list[dict[str, Any]]) -> _Look:
    attributes = {"manufacturer": MANUFACTURER}
    if device.model:
        attributes["model"] = _clip(device.model, MAX_ATTRIBUTE)
    return _Look(
        description=description(device),
        categories=list(_CATEGORIES[device.kind]),
        attributes=attributes,
        capabilities=capability_entries,
        cookie=_profile_cookie(device.profiles),
    )


def _name_of(device: Device, fallback: str | None) -> str:
    try:
        return friendly_name(device.name)
    except UndescribableDevice:
        if fallback is None:
            raise
        return fallback


def _endpoint(owner_user_id: str, device: Device, look: _Look, fallback: str | None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "endpointId": pseudonyms.endpoint_id(owner_user_id, device.id),
        "manufacturerName": MANUFACTURER,
        "friendlyName": _name_of(device, fallback),
        "description": look.description,
        "displayCategories": look.categories,
        "additionalAttributes": look.attributes,
        "capabilities": look.capabilities,
    }
    if look.cookie is not None:
        endpoint["cookie"] = look.cookie
    return endpoint


def describe(owner_user_id: str, device: Device, fallback_name: str | None = None) -> dict[str, Any]:
    """The discovery endpoint object for ``device`` (also used by AddOrUpdateReport).

    ``fallback_name`` (from ``fallback_names`` of the account's devices) is the friendlyName when
    the device's own name has none to give; without it such a device is UndescribableDevice.
    """
    look = _look_of(device, capabilities.discovery_entries(device))
    return _endpoint(owner_user_id, device, look, fallback_name)


def interfaces_of(endpoint: dict[str, Any]) -> tuple[str, ...]:
    """The interfaces an endpoint description advertises (what the endpoint index records)."""
    return tuple(capability["interface"] for capability in endpoint["capabilities"])


def capability_digest(endpoint: dict[str, Any]) -> str:
    """A short digest of what Alexa knows about an endpoint; a change means AddOrUpdateReport.

    SHA-256 (16 hex digits) of ``json.dumps`` with ``sort_keys=True`` of the endpoint's friendlyName,
    description, displayCategories and capabilities. The text is put together from its parts (keys
    in sorted order, json's default separators) so that ``DescribeMany`` can hash everything
    before the friendlyName once for all the endpoints that share it.
    """
    head = _digest_head(
        _DIGEST_JSON.encode(endpoint["capabilities"]), endpoint["description"], endpoint["displayCategories"]
    )
    return hashlib.sha256((head + _digest_tail(endpoint["friendlyName"])).encode()).hexdigest()[:16]


def _digest_head(capabilities_json: str, description: str, categories: list[str]) -> str:
    return "".join(
        (
            '{"capabilities": ',
            capabilities_json,
            ', "description": ',
            _json_str(description),
            ', "displayCategories": [',
            ", ".join(_json_str(category) for category in categories),
            '], "friendlyName": ',
        )
    )


def _digest_tail(friendly: str) -> str:
    return _json_str(friendly) + "}"


class DescribeMany:
    """``describe`` (given ``fallbacks.get(device.id)``) and ``capability_digest`` for one
    discovery's devices.

    Devices alike in ``capabilities.shape`` and model (an NVR's channels, a fleet of one
    camera model) share one ``_Look``: the same description, categories, attributes, capabilities
    and cookie objects (the endpoints are serialised, never modified), and the digest's SHA-256
    state after everything but the friendlyName. Per device there remain the endpointId, the name,
    one dict and a copy of that state.
    """

    def __init__(self, owner_user_id: str, fallbacks: dict[str, str] | None = None) -> None:
        self.owner_user_id = owner_user_id
        self.fallbacks = fallbacks or {}  # ``fallback_names`` of the discovery's devices
        self._entries: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._looks: dict[tuple[Any, ...], tuple[_Look, Any]] = {}

    def __call__(self, device: Device) -> tuple[dict[str, Any], str]:
        """(endpoint, capability digest); raises like ``describe``."""
        shape = capabilities.shape(device)
        key = (*shape, device.model)
        found = self._looks.get(key)
        if found is None:
            entries = self._entries.get(shape)
            if entries is None:
                entries = self._entries[shape] = capabilities.discovery_entries(device)
            look = _look_of(device, entries)
            head = _digest_head(_DIGEST_JSON.encode(entries), look.description, look.categories)
            found = self._looks[key] = (look, hashlib.sha256(head.encode()))
        look, digest_head = found
        endpoint = _endpoint(self.owner_user_id, device, look, self.fallbacks.get(device.id))
        digest = digest_head.copy()
        digest.update(_digest_tail(endpoint["friendlyName"]).encode())
        return endpoint, digest.hexdigest()[:16]


def select(devices: list[Device]) -> tuple[list[Device], int]:
    """At most MAX_ENDPOINTS devices, chosen deterministically; returns (kept, dropped count).

    Order: doorbells, cameras, then NVR channels; within a kind by name, then device id. The
    same account always yields the same 300, whatever order ACCloud lists them in.
    """
    ordered = sorted(devices, key=lambda d: (_KIND_ORDER[d.kind], d.name.casefold(), d.id))
    return ordered[:MAX_ENDPOINTS], max(0, len(ordered) - MAX_ENDPOINTS)
