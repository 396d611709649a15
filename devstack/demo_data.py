"""Seeded demo accounts for the reference ACCloud server, as plain mutable data.

``alice`` and ``bob`` carry every private field a real cloud holds, with realistic but fake
values, so canary tests can prove none of it leaks. ``demo_seed()`` builds a fresh copy per call.
Details: docs/local-stack.md, "Demo accounts".
"""

from __future__ import annotations

import copy
import random
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

ALICE = "alice"
ALICE_PASSWORD = "alice-demo"
ALICE_ID = "usr_5c1e9a7f2b04"
BOB = "bob"
BOB_PASSWORD = "bob-demo"
BOB_ID = "usr_b0b7d2e41c98"

FRONT_DOOR = "dev_fd31a9c04e7b"
GARAGE = "dev_9a2e6b1f0c53"
BACK_YARD = "dev_b4c8e02d7a19"
NURSERY = "dev_71d0f3a8c2e6"
SHED = "dev_e05b9c1a4d82"
DRIVEWAY = "dev_2f8a7d60b3c1"
SIDE_GATE = "dev_c63e1b94f0a7"
WORKSHOP = "dev_58d4a0e2c9f1"
PORCH = "dev_0e9c4b7a1d36"
NVR_MAIN = "nvr_a41f6c2e9b07"
NVR_OFFLINE = "nvr_d93b0e5a7c24"

# The fields a real cloud holds that the skill never reads (documented so in the OpenAPI file).
DEVICE_PRIVATE_FIELDS = ("serial_number", "mac", "wifi_ssid", "wifi_bssid", "lan_ip", "location")
USER_PRIVATE_FIELDS = ("nickname", "email", "phone")


@dataclass
class Profile:
    """One way a device really streams; values are valid Alexa enum members."""

    protocol: str  # RTSP | WEBRTC
    width: int
    height: int
    video_codec: str  # H264 | MPEG2 | MJPEG | JPG
    audio_codec: str  # AAC | G711 | NONE


@dataclass
class DemoUser:
    user_id: str
    username: str
    password: str
    nickname: str
    email: str
    phone: str
    extra: dict[str, Any] = field(default_factory=dict)  # merged into GET /v1/me as-is


@dataclass
class DemoNvr:
    """A recorder: not an endpoint itself, only the parent (bridge) of its channels."""

    id: str
    owner_id: str
    name: str
    model: str
    firmware: str
    online: bool
    serial_number: str
    mac: str
    lan_ip: str
    location: str


@dataclass
class DemoDevice:
    id: str
    owner_id: str
    name: str
    kind: str  # camera | doorbell | nvr_channel
    model: str
    firmware: str
    online: bool  # the device's own state; a channel is also unreachable while its NVR is offline
    privacy_mode: bool
    profiles: list[Profile]
    parent_id: str | None = None
    motion_detection: bool = False
    person_detection: bool = False
    two_way_audio: bool = False
    serial_number: str = ""
    mac: str = ""
    wifi_ssid: str = ""
    wifi_bssid: str = ""
    lan_ip: str = ""
    location: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # merged into the device JSON as-is

    @property
    def webrtc(self) -> bool:
        """Derived, so the capability flag can never contradict the advertised profiles."""
        return any(p.protocol == "WEBRTC" for p in self.profiles)

    def has_profile(self, wanted: Profile) -> bool:
        return wanted in self.profiles


@dataclass
class Seed:
    users: list[DemoUser]
    nvrs: list[DemoNvr]
    devices: list[DemoDevice]

    def copy(self) -> Seed:
        return copy.deepcopy(self)

    def user(self, username: str) -> DemoUser:
        return next(u for u in self.users if u.username == username)

    def device(self, device_id: str) -> DemoDevice:
        return next(d for d in self.devices if d.id == device_id)


# --- fake private values --------------------------------------------------------------------


class FakeIdentity:
    """Deterministic generator of realistic-looking, obviously fake device identity fields."""

    def __init__(self, seed: int = 20190601) -> None:
        self._rng = random.Random(seed)

    def _hex(self, n: int) -> str:
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(n))

    def serial(self, model: str) -> str:
        tail = "".join(self._rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        return f"ZS{''.join(c for c in model if c.isalnum())[:5].upper()}{tail}"

    def mac(self) -> str:
        # 02: = locally administered unicast, never a vendor OUI.
        return "02:" + ":".join(self._hex(2) for _ in range(5))

    def lan_ip(self) -> str:
        return f"192.168.{self._rng.choice((0, 1, 50))}.{self._rng.randint(20, 250)}"

    def device_id(self, prefix: str = "dev_") -> str:
        return prefix + self._hex(12)


def make_device(
    owner_id: str,
    name: str,
    *,
    kind: str = "camera",
    profiles: Iterable[Profile] | None = None,
    device_id: str | None = None,
    parent_id: str | None = None,
    model: str = "C190",
    firmware: str = "v5.2.1",
    online: bool = True,
    privacy_mode: bool = False,
    motion_detection: bool = True,
    person_detection: bool = False,
    two_way_audio: bool = False,
    wifi_ssid: str = "Maple-Home",
    location: str = "12 Example Lane, Springfield",
    identity: FakeIdentity | None = None,
) -> DemoDevice:
    """A device with plausible fake private fields; defaults describe a 1080p RTSP camera."""
    ident = identity or FakeIdentity(zlib.crc32(f"{owner_id}/{name}".encode()))
    return DemoDevice(
        id=device_id or ident.device_id(),
        owner_id=owner_id,
        name=name,
        kind=kind,
        parent_id=parent_id,
        model=model,
        firmware=firmware,
        online=online,
        privacy_mode=privacy_mode,
        profiles=list(profiles) if profiles is not None else [Profile("RTSP", 1920, 1080, "H264", "AAC")],
        motion_detection=motion_detection,
        person_detection=person_detection,
        two_way_audio=two_way_audio,
        serial_number=ident.serial(model),
        mac=ident.mac(),
        wifi_ssid=wifi_ssid,
        wifi_bssid=ident.mac(),
        lan_ip=ident.lan_ip(),
        location=f"{location} ({name.lower()})",
    )


def demo_seed() -> Seed:
    """A fresh copy of the demo accounts (nothing shared between calls)."""
    ident = FakeIdentity()
    alice_home = "12 Example Lane, Springfield"
    bob_home = "40 Sample Road, Shelbyville"

    def rtsp(w: int, h: int, video: str, audio: str) -> Profile:
        return Profile("RTSP", w, h, video, audio)

    def webrtc(w: int, h: int, video: str, audio: str) -> Profile:
        return Profile("WEBRTC", w, h, video, audio)

    def device(owner: str, name: str, device_id: str, **kw: Any) -> DemoDevice:
        home = alice_home if owner == ALICE_ID else bob_home
        return make_device(owner, name, device_id=device_id, identity=ident, location=home, **kw)

    users = [
        DemoUser(ALICE_ID, ALICE, ALICE_PASSWORD, "Alice", "alice@example.com", "+1-555-0100"),
        DemoUser(BOB_ID, BOB, BOB_PASSWORD, "Bob", "bob@example.org", "+1-555-0199"),
    ]
    nvrs = [
        DemoNvr(NVR_MAIN, ALICE_ID, "Home NVR", "ZR08", "v4.1.7", True, ident.serial("ZR08"), ident.mac(),
                ident.lan_ip(), f"{alice_home} (utility room)"),
        DemoNvr(NVR_OFFLINE, ALICE_ID, "Barn NVR", "ZR04", "v4.0.2", False, ident.serial("ZR04"), ident.mac(),
                ident.lan_ip(), f"{alice_home} (barn)"),
    ]  # fmt: skip
    devices = [
        device(ALICE_ID, "Front Door", FRONT_DOOR, kind="doorbell", model="D190", firmware="v3.4.0",
               profiles=[rtsp(1920, 1080, "H264", "AAC"), webrtc(1920, 1080, "H264", "AAC")],
               person_detection=True, two_way_audio=True),
        device(ALICE_ID, "Garage", GARAGE, profiles=[rtsp(1280, 720, "H264", "G711")]),
        device(ALICE_ID, "Back Yard", BACK_YARD, model="C296", firmware="v5.3.0",
               profiles=[rtsp(2560, 1440, "H264", "AAC"), webrtc(2560, 1440, "H264", "AAC")],
               person_detection=True),
        device(ALICE_ID, "Nursery", NURSERY, model="C182", privacy_mode=True,
               profiles=[rtsp(1920, 1080, "H264", "AAC"), webrtc(1920, 1080, "H264", "AAC")],
               two_way_audio=True),
        device(ALICE_ID, "Shed", SHED, online=False, profiles=[rtsp(1280, 720, "H264", "G711")]),
        device(ALICE_ID, "Driveway", DRIVEWAY, kind="nvr_channel", parent_id=NVR_MAIN, model="ZC-A1",
               firmware="v1.0.3", profiles=[rtsp(640, 480, "MJPEG", "NONE")]),
        device(ALICE_ID, "Side Gate", SIDE_GATE, kind="nvr_channel", parent_id=NVR_MAIN, model="ZC-H4",
               firmware="v2.1.0", profiles=[rtsp(1280, 720, "H264", "G711")]),
        device(ALICE_ID, "Workshop", WORKSHOP, kind="nvr_channel", parent_id=NVR_OFFLINE, model="ZC-H4",
               firmware="v2.1.0", profiles=[rtsp(1920, 1080, "H264", "NONE")]),
        device(BOB_ID, "Porch", PORCH, wifi_ssid="Oakview-2G", profiles=[rtsp(1920, 1080, "H264", "AAC")]),
    ]  # fmt: skip
    for d in devices:
        if d.kind == "nvr_channel":
            # Wireless NVR kits: the cameras join the recorder's own access point.
            nvr = next(n for n in nvrs if n.id == d.parent_id)
            d.wifi_ssid = f"ZOSI-NVR-{nvr.mac[-5:].replace(':', '').upper()}"
            d.wifi_bssid = nvr.mac
    return Seed(users=users, nvrs=nvrs, devices=devices)


# --- injection ------------------------------------------------------------------------------

FieldValues = Mapping[str, Any]  # value, or a callable (object) -> value


def _apply(obj: Any, values: FieldValues | None, known: set[str]) -> None:
    for name, value in (values or {}).items():
        resolved = value(obj) if callable(value) else value
        if name in known:
            setattr(obj, name, resolved)
        elif hasattr(obj, "extra"):
            obj.extra[name] = resolved
        else:
            raise ValueError(f"{type(obj).__name__} has no field {name!r} and no extra fields")


def inject_fields(
    seed: Seed,
    *,
    devices: FieldValues | None = None,
    users: FieldValues | None = None,
    nvrs: FieldValues | None = None,
) -> Seed:
    """A copy of ``seed`` with the given fields set on every device / user / NVR.

    Known field names overwrite the attribute; unknown names on devices and users land in
    ``extra`` and are served verbatim (extra JSON fields a real cloud might add).
    """
    out = seed.copy()
    device_fields = {f.name for f in fields(DemoDevice)}
    user_fields = {f.name for f in fields(DemoUser)}
    nvr_fields = {f.name for f in fields(DemoNvr)}
    for d in out.devices:
        _apply(d, devices, device_fields)
    for u in out.users:
        _apply(u, users, user_fields)
    for n in out.nvrs:
        _apply(n, nvrs, nvr_fields)
    return out


CANARY_DEVICE_FIELDS = ("name", *DEVICE_PRIVATE_FIELDS, "home_address")
CANARY_USER_FIELDS = (*USER_PRIVATE_FIELDS, "home_address")


def canary_seed(base: Seed | None = None, tag: str = "CANARY") -> tuple[Seed, dict[str, str]]:
    """The demo seed with a unique canary string in every name, private field and an extra field.

    Returns the seed and ``{"device:<id>:<field>" | "user:<id>:<field>": canary}``; none of the
    canaries may appear in logs or storage (names may go to Amazon in discovery, nowhere else).
    Canaries are ``[A-Za-z0-9_]`` only, so JSON escaping cannot hide them.
    """
    seed = (base or demo_seed()).copy()
    planted: dict[str, str] = {}

    def canary(kind: str, obj_id: str, name: str) -> str:
        value = f"{tag}_{name}_{obj_id.split('_', 1)[-1]}"
        planted[f"{kind}:{obj_id}:{name}"] = value
        return value

    device_fields = {f.name for f in fields(DemoDevice)}
    user_fields = {f.name for f in fields(DemoUser)}
    for d in seed.devices:
        _apply(d, {f: canary("device", d.id, f) for f in CANARY_DEVICE_FIELDS}, device_fields)
    for u in seed.users:
        _apply(u, {f: canary("user", u.user_id, f) for f in CANARY_USER_FIELDS}, user_fields)
    return seed, planted
