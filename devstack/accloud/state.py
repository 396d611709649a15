"""The reference ACCloud's state: accounts, OAuth grants, devices, stream and WebRTC sessions,
faults. Thread-safe and HTTP-free, so the endpoint modules stay thin."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from devstack.accloud.web import ApiError, bearer_error
from devstack.demo_data import DemoDevice, DemoNvr, DemoUser, Profile, Seed

DEFAULT_CLIENT_ID = "zosi-alexa-skill"
DEFAULT_CLIENT_SECRET = "zosi-alexa-dev-secret"
ALEXA_REDIRECT_URIS = (
    "https://pitangui.amazon.com/api/skill/link/*",
    "https://layla.amazon.com/api/skill/link/*",
    "https://alexa.amazon.co.jp/api/skill/link/*",
)
# Loopback redirect: any port matches (RFC 8252 section 7.3), path and scheme must match.
LOCAL_REDIRECT_URI = "http://127.0.0.1/oauth/callback"
DEFAULT_REDIRECT_URIS = (*ALEXA_REDIRECT_URIS, LOCAL_REDIRECT_URI)
SCOPES = ("devices", "streams")
DEFAULT_SCOPE = " ".join(SCOPES)
DEFAULT_STREAM_HOST = "media.accloud.example"

FAULT_KINDS = ("latency", "status", "hang", "malformed", "expired_token", "invalid_token")
EVENT_TYPES = (
    "doorbell.pressed",
    "motion.detected",
    "motion.cleared",
    "person.detected",
    "device.online",
    "device.offline",
    "device.added",
    "device.updated",
    "device.removed",
    "account.deleted",
    "account.consent_withdrawn",
    "account.consent_given",
    "detections.deleted",
)
EVENTS_WITH_DEVICE_BODY = ("device.added", "device.updated")

_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,128}")

DEVICE_ID = re.compile(r"dev_[A-Za-z0-9]{1,64}")
PKCE_VALUE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
LOOPBACK_ADDRS = frozenset({"127.0.0.1", "::1"})


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WebRtcUnavailable(Exception):
    """The answerer cannot serve WebRTC (mapped to 501 webrtc_unavailable)."""


class WebRtcAnswerer(Protocol):
    """Answers WebRTC offers for a device; devstack.webrtc_peer provides an aiortc one.

    ``answer`` failures map to: WebRtcUnavailable -> 501 webrtc_unavailable, ValueError (an
    offer it cannot use) -> 400 invalid_request, TimeoutError -> 504 upstream_timeout, anything
    else -> 502 webrtc_failed. ``device`` is a private copy of the device's DemoDevice.
    ``connected``/``close`` return values are ignored; ``close`` failures are logged only.
    """

    def answer(self, session_id: str, offer_sdp: str, device: DemoDevice) -> str: ...

    def connected(self, session_id: str) -> None: ...

    def close(self, session_id: str) -> None: ...


class UnavailableAnswerer:
    """Default: no media stack, every offer answers 501 webrtc_unavailable."""

    def answer(self, session_id: str, offer_sdp: str, device: DemoDevice) -> str:
        raise WebRtcUnavailable("no WebRTC peer configured")

    def connected(self, session_id: str) -> None:
        return None

    def close(self, session_id: str) -> None:
        return None


# --- wire shapes ----------------------------------------------------------------------------


def profile_json(p: Profile) -> dict[str, Any]:
    return asdict(p)


def device_json(d: DemoDevice, *, online: bool) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": d.id,
        "name": d.name,
        "kind": d.kind,
        "parent_id": d.parent_id,
        "model": d.model,
        "firmware": d.firmware,
        "online": online,
        "privacy_mode": d.privacy_mode,
        "capabilities": {
            "motion_detection": d.motion_detection,
            "person_detection": d.person_detection,
            "two_way_audio": d.two_way_audio,
            "webrtc": d.webrtc,
        },
        "stream_profiles": [profile_json(p) for p in d.profiles],
        "serial_number": d.serial_number,
        "mac": d.mac,
        "wifi_ssid": d.wifi_ssid,
        "wifi_bssid": d.wifi_bssid,
        "lan_ip": d.lan_ip,
        "location": d.location,
    }
    for key, value in d.extra.items():
        wire.setdefault(key, value)
    return wire


def profile_from(raw: Any) -> Profile:
    if isinstance(raw, Profile):
        return raw
    return Profile(
        protocol=raw["protocol"],
        width=int(raw["width"]),
        height=int(raw["height"]),
        video_codec=raw["video_codec"],
        audio_codec=raw["audio_codec"],
    )


def redirect_uri_allowed(uri: str, patterns: Sequence[str]) -> bool:
    """Exact match, ``…/*`` = one path segment, loopback http pattern = any port."""
    try:
        target = urlsplit(uri)
        _ = target.port  # raises on a malformed port
    except ValueError:
        return False
    if target.fragment or target.username or target.password:
        return False
    for pattern in patterns:
        if pattern.endswith("*"):
            prefix = pattern[:-1]
            if uri.startswith(prefix) and _SEGMENT.fullmatch(uri[len(prefix) :]):
                return True
            continue
        allowed = urlsplit(pattern)
        if allowed.scheme == "http" and allowed.hostname in LOOPBACK_ADDRS:
            if (target.scheme, target.hostname, target.path) == ("http", allowed.hostname, allowed.path):
                return True
        elif uri == pattern:
            return True
    return False


def with_query(uri: str, params: dict[str, str]) -> str:
    sep = "&" if urlsplit(uri).query else "?"
    return f"{uri}{sep}{urlencode(params)}"


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# --- state ----------------------------------------------------------------------------------


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scope: str
    expires_at: float
    code_challenge: str | None
    used: bool = False
    link_id: str | None = None  # set on exchange, so a replayed code can revoke what it produced


@dataclass
class Link:
    """One OAuth grant: what one Alexa account linked; stable across refreshes."""

    link_id: str
    user_id: str
    client_id: str
    scope: str
    revoked: bool = False


@dataclass
class AccessToken:
    link_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    link_id: str
    active: bool = True


@dataclass
class Fault:
    kind: str
    value: float | None
    path_prefix: str
    remaining: int | None  # None = until cleared

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "path_prefix": self.path_prefix,
            "times": self.remaining,
        }


@dataclass
class RtcSession:
    session_id: str
    device_id: str
    user_id: str
    state: str  # answered | connected
    created_at: float


class Cloud:
    """Accounts, grants, devices and sessions; every method is thread-safe, none does HTTP."""

    def __init__(
        self,
        seed: Seed,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        access_token_ttl: int,
        code_ttl: int,
        stream_ttl: int,
        stream_idle_timeout: int,
        stream_host: str,
        clock: Callable[[], float],
    ) -> None:
        self.lock = threading.RLock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = tuple(redirect_uris)
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.stream_ttl = stream_ttl
        self.stream_idle_timeout = stream_idle_timeout
        self.stream_host = stream_host
        self._clock = clock
        self.release = threading.Event()
        self.load(seed)

    def load(self, seed: Seed) -> None:
        """Replace every account, device, grant, session, fault and counter (a fresh start)."""
        with self.lock:
            self.users = {u.username: u for u in seed.users}
            self.users_by_id = {u.user_id: u for u in seed.users}
            self.nvrs: dict[str, DemoNvr] = {n.id: n for n in seed.nvrs}
            self.devices: dict[str, DemoDevice] = {d.id: d for d in seed.devices}
            self.clock_offset = 0.0
            self.codes: dict[str, AuthorizationCode] = {}
            self.links: dict[str, Link] = {}
            self.access: dict[str, AccessToken] = {}
            self.refresh: dict[str, RefreshToken] = {}
            self.sessions: dict[str, dict[str, RtcSession]] = {}
            self.minted: list[dict[str, Any]] = []
            self.counts: Counter[str] = Counter()
            self.faults: dict[str, Fault] = {}
            self.release.set()  # wake anything hung on the old faults
            self.release = threading.Event()

    def now(self) -> float:
        return self._clock() + self.clock_offset

    # users and devices

    def user(self, username: str) -> DemoUser:
        with self.lock:
            try:
                return self.users[username]
            except KeyError:
                raise KeyError(f"unknown user {username!r}") from None

    def device(self, device_id: str) -> DemoDevice:
        with self.lock:
            try:
                return self.devices[device_id]
            except KeyError:
                raise KeyError(f"unknown device {device_id!r}") from None

    def nvr(self, nvr_id: str) -> DemoNvr:
        with self.lock:
            try:
                return self.nvrs[nvr_id]
            except KeyError:
                raise KeyError(f"unknown NVR {nvr_id!r}") from None

    def effective_online(self, d: DemoDevice) -> bool:
        parent = self.nvrs.get(d.parent_id) if d.parent_id else None
        return d.online and (parent is None or parent.online)

    def device_wire(self, d: DemoDevice) -> dict[str, Any]:
        with self.lock:
            return device_json(d, online=self.effective_online(d))

    def devices_wire(self, user_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self.device_wire(d) for d in self.devices.values() if d.owner_id == user_id]

    def owned_device(self, user_id: str, device_id: str) -> DemoDevice:
        """A private copy of the caller's device, or 404 (unknown and foreign look the same)."""
        with self.lock:
            d = self.devices.get(device_id)
            if d is None or d.owner_id != user_id:
                raise ApiError(404, "not_found", "no such device")
            return copy.deepcopy(d)

    def unavailable_reason(self, device_id: str) -> ApiError | None:
        with self.lock:
            d = self.devices[device_id]
            parent = self.nvrs.get(d.parent_id) if d.parent_id else None
            if parent is not None and not parent.online:
                return ApiError(409, "bridge_offline", "the recorder this channel is attached to is offline")
            if not d.online:
                return ApiError(409, "device_offline", "the device is offline")
            if d.privacy_mode:
                return ApiError(409, "privacy_mode", "the owner has switched the device to privacy mode")
            return None

    # OAuth

    def client_ok(self, client_id: str, secret: str) -> bool:
        return secrets.compare_digest(client_id.encode(), self.client_id.encode()) and secrets.compare_digest(
            secret.encode(), self.client_secret.encode()
        )

    def issue_code(self, user: DemoUser, redirect_uri: str, scope: str, challenge: str | None) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = AuthorizationCode(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                user_id=user.user_id,
                scope=scope,
                expires_at=self.now() + self.code_ttl,
                code_challenge=challenge,
            )
        return code

    def _mint_tokens(self, link: Link) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(40)
        self.access[access] = AccessToken(link.link_id, self.now() + self.access_token_ttl)
        self.refresh[refresh] = RefreshToken(link.link_id)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "refresh_token": refresh,
            "scope": link.scope,
        }

    def exchange_code(
        self, client_id: str, code: str, redirect_uri: str, verifier: str | None
    ) -> dict[str, Any]:
        with self.lock:
            grant = self.codes.get(code)
            if grant is None or grant.client_id != client_id:
                raise ApiError(400, "invalid_grant", "unknown authorization code")
            if grant.used:
                # RFC 6749 section 4.1.2: a replayed code revokes what it was exchanged for.
                if grant.link_id:
                    self._revoke_link(grant.link_id)
                raise ApiError(400, "invalid_grant", "authorization code already used")
            if self.now() >= grant.expires_at:
                raise ApiError(400, "invalid_grant", "authorization code expired")
            if redirect_uri != grant.redirect_uri:
                raise ApiError(400, "invalid_grant", "redirect_uri does not match the authorization request")
            if grant.code_challenge is not None:
                if not verifier or not PKCE_VALUE.fullmatch(verifier):
                    raise ApiError(400, "invalid_grant", "code_verifier missing or malformed")
                if not secrets.compare_digest(pkce_s256(verifier), grant.code_challenge):
                    raise ApiError(400, "invalid_grant", "code_verifier does not match")
            grant.used = True
            link = Link("lnk_" + secrets.token_hex(8), grant.user_id, client_id, grant.scope)
            self.links[link.link_id] = link
            grant.link_id = link.link_id
            return self._mint_tokens(link)

    def refresh_grant(self, client_id: str, refresh_token: str, scope: str | None) -> dict[str, Any]:
        with self.lock:
            held = self.refresh.get(refresh_token)
            link = self.links.get(held.link_id) if held else None
            if held is None or link is None or link.client_id != client_id:
                raise ApiError(400, "invalid_grant", "unknown refresh token")
            if not held.active or link.revoked:
                raise ApiError(400, "invalid_grant", "refresh token revoked or already used")
            if scope is not None and not set(scope.split()) <= set(link.scope.split()):
                raise ApiError(400, "invalid_scope", "scope exceeds the original grant")
            held.active = False  # rotation: each refresh token works once
            return self._mint_tokens(link)

    def _revoke_link(self, link_id: str) -> None:
        link = self.links.get(link_id)
        if link is None:
            return
        link.revoked = True
        for token in self.access.values():
            if token.link_id == link_id:
                token.revoked = True
        for refresh in self.refresh.values():
            if refresh.link_id == link_id:
                refresh.active = False

    def revoke(self, client_id: str, token: str) -> None:
        """RFC 7009: a refresh token ends its whole grant, an access token only itself."""
        with self.lock:
            if (held := self.refresh.get(token)) is not None:
                link = self.links.get(held.link_id)
                if link is not None and link.client_id == client_id:
                    self._revoke_link(link.link_id)
            elif (access := self.access.get(token)) is not None:
                link = self.links.get(access.link_id)
                if link is not None and link.client_id == client_id:
                    access.revoked = True

    def revoke_all(self, user_id: str) -> int:
        with self.lock:
            live = [link for link in self.links.values() if link.user_id == user_id and not link.revoked]
            for link in live:
                self._revoke_link(link.link_id)
            return len(live)

    def expire_token(self, access_token: str) -> None:
        with self.lock:
            try:
                self.access[access_token].expires_at = self.now() - 1
            except KeyError:
                raise KeyError("unknown access token") from None

    def authenticate(self, token: str) -> tuple[Link, AccessToken]:
        with self.lock:
            held = self.access.get(token)
            link = self.links.get(held.link_id) if held else None
            if held is None or link is None or held.revoked or link.revoked:
                raise bearer_error("token_unknown")
            if self.now() >= held.expires_at:
                raise bearer_error("token_expired")
            return link, held

    # streams and sessions

    def mint_stream(self, user_id: str, device_id: str, profile: Profile) -> dict[str, Any]:
        opaque = secrets.token_urlsafe(24)
        stream = {
            "uri": f"rtsps://{self.stream_host}:443/live/{opaque}",
            "expires_at": rfc3339(self.now() + self.stream_ttl),
            "idle_timeout_seconds": self.stream_idle_timeout,
            "snapshot_uri": f"https://{self.stream_host}/snap/{secrets.token_urlsafe(18)}.jpg",
            "authorization_type": "NONE",
        }
        with self.lock:
            self.minted.append(
                {"device_id": device_id, "user_id": user_id, "profile": asdict(profile), **stream}
            )
        return stream

    def add_session(self, user_id: str, device_id: str, session_id: str) -> RtcSession | None:
        """Track a new session; returns the one it replaces (same id re-offered), if any."""
        with self.lock:
            per_device = self.sessions.setdefault(device_id, {})
            old = per_device.get(session_id)
            per_device[session_id] = RtcSession(session_id, device_id, user_id, "answered", self.now())
            return old

    def session(self, device_id: str, session_id: str) -> RtcSession | None:
        with self.lock:
            return self.sessions.get(device_id, {}).get(session_id)

    def mark_connected(self, device_id: str, session_id: str) -> None:
        with self.lock:
            if (s := self.session(device_id, session_id)) is not None:
                s.state = "connected"

    def drop_session(self, device_id: str, session_id: str) -> RtcSession | None:
        with self.lock:
            return self.sessions.get(device_id, {}).pop(session_id, None)

    def drop_sessions(self, device_ids: Sequence[str]) -> list[str]:
        with self.lock:
            dropped: list[str] = []
            for device_id in device_ids:
                dropped.extend(self.sessions.pop(device_id, {}))
            return dropped

    # faults

    def faults_for(self, path: str) -> dict[str, Fault]:
        """The faults that apply to this request, consuming one use of counted ones."""
        with self.lock:
            active: dict[str, Fault] = {}
            for kind, fault in list(self.faults.items()):
                if not path.startswith(fault.path_prefix):
                    continue
                active[kind] = fault
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self.faults[kind]
            return active
