"""Reference ACCloud server for development: the whole wire contract of docs/accloud-openapi.yaml.

Dev only. Binds 127.0.0.1 on a free port and serves, from a mutable copy of
``devstack.demo_data``:

* OAuth 2 authorization-code grant for Alexa account linking (login form, single-use codes
  that expire after 5 minutes, optional PKCE S256, opaque expiring access tokens, rotating
  refresh tokens, one stable ``link_id`` per grant, RFC 7009 revocation);
* ``/v1/me``, ``/v1/devices``, stream minting and WebRTC signalling with the contract's
  404 / 409 / 422 rules, RFC 6750 bearer errors;
* ``/_admin/…`` (loopback callers only, not part of the contract): fault injection, device
  mutations, token helpers, webhook triggers and request counters, so a separate process (the
  ``zosi-skill`` CLI) can drive a running server through :class:`AccloudAdmin`.

WebRTC answers come from a pluggable :class:`WebRtcAnswerer`; the default answers 501
``webrtc_unavailable``. Request logging is off: paths carry raw device ids.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import html
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import HTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, quote_plus, unquote_plus, urlencode, urlsplit

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from devstack import demo_data, webhook_sender
from devstack.demo_data import DemoDevice, DemoNvr, DemoUser, Profile, Seed
from devstack.http_server import LoopbackServer

log = logging.getLogger(__name__)

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
REALM = "accloud"

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
)
EVENTS_WITH_DEVICE_BODY = ("device.added", "device.updated")

_FORM = "application/x-www-form-urlencoded"
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Alexa's sessionId is any string; it travels in a URL path segment, so no "/" and no controls.
_SESSION_ID = re.compile(r"[^/\x00-\x1f\x7f]{1,256}")
_DEVICE_ID = re.compile(r"dev_[A-Za-z0-9]{1,64}")
_PKCE_VALUE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_LOOPBACK_ADDRS = frozenset({"127.0.0.1", "::1"})


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- errors ---------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: ``{"error", "error_description"}`` with a status and optional headers."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}

    def response(self) -> Response:
        return _json(self.status, {"error": self.error, "error_description": self.description}, self.headers)


def _bearer_error(description: str) -> ApiError:
    challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
    return ApiError(401, "invalid_token", description, {"WWW-Authenticate": challenge})


def _invalid_client() -> ApiError:
    return ApiError(
        401, "invalid_client", "client authentication failed", {"WWW-Authenticate": f'Basic realm="{REALM}"'}
    )


class OAuthFlowError(RuntimeError):
    """issue_token/refresh could not complete the OAuth flow (status and error code, no secrets)."""


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


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)


def _no_content() -> Response:
    return Response(status=204)


def _profile_from(raw: Any) -> Profile:
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
        if allowed.scheme == "http" and allowed.hostname in _LOOPBACK_ADDRS:
            if (target.scheme, target.hostname, target.path) == ("http", allowed.hostname, allowed.path):
                return True
        elif uri == pattern:
            return True
    return False


def _with_query(uri: str, params: dict[str, str]) -> str:
    sep = "&" if urlsplit(uri).query else "?"
    return f"{uri}{sep}{urlencode(params)}"


def _pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# --- state ----------------------------------------------------------------------------------


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    user_id: str
    scope: str
    expires_at: float
    code_challenge: str | None
    used: bool = False
    link_id: str | None = None  # set on exchange, so a replayed code can revoke what it produced


@dataclass
class _Link:
    """One OAuth grant: what one Alexa account linked; stable across refreshes."""

    link_id: str
    user_id: str
    client_id: str
    scope: str
    revoked: bool = False


@dataclass
class _AccessToken:
    link_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class _RefreshToken:
    link_id: str
    active: bool = True


@dataclass
class _Fault:
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


class _Cloud:
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
            self.codes: dict[str, _Code] = {}
            self.links: dict[str, _Link] = {}
            self.access: dict[str, _AccessToken] = {}
            self.refresh: dict[str, _RefreshToken] = {}
            self.sessions: dict[str, dict[str, RtcSession]] = {}
            self.minted: list[dict[str, Any]] = []
            self.counts: Counter[str] = Counter()
            self.faults: dict[str, _Fault] = {}
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
            self.codes[code] = _Code(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                user_id=user.user_id,
                scope=scope,
                expires_at=self.now() + self.code_ttl,
                code_challenge=challenge,
            )
        return code

    def _mint_tokens(self, link: _Link) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(40)
        self.access[access] = _AccessToken(link.link_id, self.now() + self.access_token_ttl)
        self.refresh[refresh] = _RefreshToken(link.link_id)
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
                if not verifier or not _PKCE_VALUE.fullmatch(verifier):
                    raise ApiError(400, "invalid_grant", "code_verifier missing or malformed")
                if not secrets.compare_digest(_pkce_s256(verifier), grant.code_challenge):
                    raise ApiError(400, "invalid_grant", "code_verifier does not match")
            grant.used = True
            link = _Link("lnk_" + secrets.token_hex(8), grant.user_id, client_id, grant.scope)
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

    def authenticate(self, token: str) -> tuple[_Link, _AccessToken]:
        with self.lock:
            held = self.access.get(token)
            link = self.links.get(held.link_id) if held else None
            if held is None or link is None or held.revoked or link.revoked:
                raise _bearer_error("token_unknown")
            if self.now() >= held.expires_at:
                raise _bearer_error("token_expired")
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

    def faults_for(self, path: str) -> dict[str, _Fault]:
        """The faults that apply to this request, consuming one use of counted ones."""
        with self.lock:
            active: dict[str, _Fault] = {}
            for kind, fault in list(self.faults.items()):
                if not path.startswith(fault.path_prefix):
                    continue
                active[kind] = fault
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self.faults[kind]
            return active


# --- HTTP -----------------------------------------------------------------------------------


_ROUTES = Map(
    [
        Rule("/v1/me", endpoint="me", methods=["GET"]),
        Rule("/v1/devices", endpoint="devices", methods=["GET"]),
        Rule("/v1/devices/<device_id>/streams", endpoint="stream", methods=["POST"]),
        Rule("/v1/devices/<device_id>/webrtc/sessions", endpoint="rtc_offer", methods=["POST"]),
        Rule(
            "/v1/devices/<device_id>/webrtc/sessions/<session_id>/connected",
            endpoint="rtc_connected",
            methods=["POST"],
        ),
        Rule(
            "/v1/devices/<device_id>/webrtc/sessions/<session_id>", endpoint="rtc_close", methods=["DELETE"]
        ),
        Rule("/oauth/authorize", endpoint="authorize", methods=["GET", "POST"]),
        Rule("/oauth/token", endpoint="token", methods=["POST"]),
        Rule("/oauth/revoke", endpoint="revoke", methods=["POST"]),
        Rule("/_admin/faults", endpoint="admin_faults", methods=["GET", "POST", "DELETE"]),
        Rule("/_admin/users/<username>/devices", endpoint="admin_user_devices", methods=["GET", "POST"]),
        Rule("/_admin/users/<username>/tokens", endpoint="admin_user_tokens", methods=["POST", "DELETE"]),
        Rule("/_admin/devices/<device_id>", endpoint="admin_device", methods=["GET", "PATCH", "DELETE"]),
        Rule("/_admin/nvrs/<nvr_id>", endpoint="admin_nvr", methods=["PATCH"]),
        Rule("/_admin/tokens/expire", endpoint="admin_expire_token", methods=["POST"]),
        Rule("/_admin/webhook", endpoint="admin_webhook", methods=["PUT"]),
        Rule("/_admin/webhook/events", endpoint="admin_webhook_event", methods=["POST"]),
        Rule("/_admin/requests", endpoint="admin_requests", methods=["GET", "DELETE"]),
        Rule("/_admin/clock", endpoint="admin_clock", methods=["POST"]),
        Rule("/_admin/reset", endpoint="admin_reset", methods=["POST"]),
        Rule("/_admin/sessions/<device_id>", endpoint="admin_sessions", methods=["GET"]),
    ]
)

_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ACCloud sign-in</title></head>
<body><h1>Sign in to ACCloud</h1><p>Local reference server: link your ZOSI account.</p>
{error}<form method="post" action="/oauth/authorize">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
{hidden}<button type="submit">Sign in</button></form></body></html>"""

_AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge",
                     "code_challenge_method")  # fmt: skip


def _html(status: int, body: str) -> Response:
    return Response(body, status=status, mimetype="text/html", headers={"Cache-Control": "no-store"})


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return body


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _QuietHandler(WSGIRequestHandler):
    """No access log: request lines carry raw device ids and OAuth codes."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _Wsgi:
    """Turns HTTP requests into _Cloud calls; faults and counters sit here."""

    def __init__(self, server: AccloudServer) -> None:
        self.server = server
        self.cloud = server._cloud

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception:  # a bug here must still answer, and never with request details
            log.exception("reference ACCloud handler failed")
            response = ApiError(500, "server_error", "internal error").response()
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        admin = request.path.startswith("/_admin/")
        if admin and request.remote_addr not in _LOOPBACK_ADDRS:
            return ApiError(403, "forbidden", "admin endpoints answer loopback callers only").response()
        if not admin:
            with self.cloud.lock:
                self.cloud.counts[f"{request.method} {request.path}"] += 1
        adapter = _ROUTES.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed as exc:
            allow = ", ".join(exc.valid_methods or [])
            return ApiError(405, "method_not_allowed", "method not allowed", {"Allow": allow}).response()
        except HTTPException:
            return ApiError(404, "not_found", "no such resource").response()
        handler = getattr(self, f"on_{endpoint}")
        if admin:
            try:
                return handler(request, **args)
            except KeyError as exc:
                return ApiError(404, "not_found", str(exc.args[0] if exc.args else exc)).response()
            except (ValueError, TypeError) as exc:
                return ApiError(400, "invalid_request", str(exc)).response()
        faults = self.cloud.faults_for(request.path)
        try:
            self._before(faults, request.path)
            response = handler(request, **args)
        except ApiError as exc:
            response = exc.response()
        if "malformed" in faults and response.status_code != 204:
            data = response.get_data() or b"{}"
            response.set_data(data[: max(1, len(data) // 2)])  # truncated JSON: unparseable
        return response

    def _before(self, faults: dict[str, _Fault], path: str) -> None:
        if (hang := faults.get("hang")) is not None:
            self.cloud.release.wait(hang.value if hang.value is not None else 30.0)
        if (latency := faults.get("latency")) is not None and latency.value:
            self.cloud.release.wait(latency.value)
        if (status := faults.get("status")) is not None:
            code = int(status.value or 503)
            raise ApiError(
                code, "temporarily_unavailable" if code == 503 else "server_error", "injected fault"
            )
        if path.startswith("/v1/"):
            if "expired_token" in faults:
                raise _bearer_error("token_expired")
            if "invalid_token" in faults:
                raise _bearer_error("token_unknown")

    # bearer API

    def _bearer(self, request: Request) -> tuple[_Link, _AccessToken]:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "invalid_request",
                "bearer token missing",
                {"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
        return self.cloud.authenticate(token.strip())

    def on_me(self, request: Request) -> Response:
        link, token = self._bearer(request)
        user = self.cloud.users_by_id[link.user_id]
        body = {
            "user_id": user.user_id,
            "link_id": link.link_id,
            "token_expires_at": rfc3339(token.expires_at),
            "nickname": user.nickname,
            "email": user.email,
            "phone": user.phone,
        }
        for key, value in user.extra.items():
            body.setdefault(key, value)
        return _json(200, body)

    def on_devices(self, request: Request) -> Response:
        link, _ = self._bearer(request)
        return _json(200, {"devices": self.cloud.devices_wire(link.user_id)})

    def on_stream(self, request: Request, device_id: str) -> Response:
        link, _ = self._bearer(request)
        device = self.cloud.owned_device(link.user_id, device_id)
        body = _json_object(request)
        keys = ("protocol", "width", "height", "video_codec", "audio_codec")
        if not all(k in body for k in keys) or not (_is_int(body["width"]) and _is_int(body["height"])):
            raise ApiError(
                400, "invalid_request", "protocol, width, height, video_codec, audio_codec required"
            )
        if not all(isinstance(body[k], str) for k in ("protocol", "video_codec", "audio_codec")):
            raise ApiError(400, "invalid_request", "protocol and codecs must be strings")
        wanted = Profile(*(body[k] for k in keys))
        # URIs are for RTSP; WebRTC goes through signalling, so it is never a mintable profile here.
        if wanted.protocol != "RTSP" or not device.has_profile(wanted):
            raise ApiError(422, "unsupported_profile", "the device does not stream this profile")
        if (unavailable := self.cloud.unavailable_reason(device_id)) is not None:
            raise unavailable
        return _json(201, self.cloud.mint_stream(link.user_id, device_id, wanted))

    def on_rtc_offer(self, request: Request, device_id: str) -> Response:
        link, _ = self._bearer(request)
        device = self.cloud.owned_device(link.user_id, device_id)
        body = _json_object(request)
        session_id, offer = body.get("session_id"), body.get("offer_sdp")
        if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
            raise ApiError(400, "invalid_request", "session_id must be 1-256 characters without '/'")
        if not isinstance(offer, str) or not offer.startswith("v=0"):
            raise ApiError(400, "invalid_request", "offer_sdp must be an SDP offer")
        if not device.webrtc:
            raise ApiError(422, "unsupported_profile", "the device does not stream WebRTC")
        if (unavailable := self.cloud.unavailable_reason(device_id)) is not None:
            raise unavailable
        answerer = self.server.answerer
        replaced = self.cloud.drop_session(device_id, session_id)
        if replaced is not None:
            self.server._close_quietly(session_id)
        try:
            answer = answerer.answer(session_id, offer, device)
        except WebRtcUnavailable:
            raise ApiError(501, "webrtc_unavailable", "WebRTC is not available for this device") from None
        except ValueError:
            raise ApiError(400, "invalid_request", "the offer could not be answered") from None
        except TimeoutError:
            raise ApiError(504, "upstream_timeout", "the camera did not answer in time") from None
        except Exception as exc:  # any other peer failure is the camera side's, never the caller's
            log.warning("WebRTC answerer failed: %s", type(exc).__name__)
            raise ApiError(502, "webrtc_failed", "the camera could not answer the offer") from None
        self.cloud.add_session(link.user_id, device_id, session_id)
        return _json(201, {"session_id": session_id, "answer_sdp": answer})

    def on_rtc_connected(self, request: Request, device_id: str, session_id: str) -> Response:
        link, _ = self._bearer(request)
        self.cloud.owned_device(link.user_id, device_id)
        if self.cloud.session(device_id, session_id) is None:
            raise ApiError(404, "not_found", "no such session")
        if (unavailable := self.cloud.unavailable_reason(device_id)) is not None:
            raise unavailable
        self.server.answerer.connected(session_id)
        self.cloud.mark_connected(device_id, session_id)
        return _no_content()

    def on_rtc_close(self, request: Request, device_id: str, session_id: str) -> Response:
        link, _ = self._bearer(request)
        self.cloud.owned_device(link.user_id, device_id)
        # Idempotent: tearing down an unknown or already closed session is not an error.
        if self.cloud.drop_session(device_id, session_id) is not None:
            self.server._close_quietly(session_id)
        return _no_content()

    # OAuth

    def _authorize_params(self, request: Request) -> dict[str, str]:
        params = {k: request.args[k] for k in _AUTHORIZE_PARAMS if k in request.args}
        if request.method == "POST":
            params.update({k: request.form[k] for k in _AUTHORIZE_PARAMS if k in request.form})
        return params

    def on_authorize(self, request: Request) -> Response:
        params = self._authorize_params(request)
        # Without a trusted client and redirect URI there is nowhere safe to send an error to.
        if params.get("client_id") != self.cloud.client_id:
            return _html(400, "<!doctype html><title>Error</title><p>Unknown client.</p>")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri_allowed(redirect_uri, self.cloud.redirect_uris):
            return _html(400, "<!doctype html><title>Error</title><p>Redirect URI not registered.</p>")
        state = params.get("state")

        def fail(error: str, description: str) -> Response:
            answer = {"error": error, "error_description": description}
            if state is not None:
                answer["state"] = state
            return Response(status=302, headers={"Location": _with_query(redirect_uri, answer)})

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "only response_type=code is supported")
        scope = params.get("scope") or DEFAULT_SCOPE
        if not set(scope.split()) <= set(SCOPES):
            return fail("invalid_scope", f"supported scopes: {DEFAULT_SCOPE}")
        challenge = params.get("code_challenge")
        if challenge is not None:
            if params.get("code_challenge_method") != "S256":
                return fail("invalid_request", "code_challenge_method must be S256")
            if not _PKCE_VALUE.fullmatch(challenge):
                return fail("invalid_request", "malformed code_challenge")
        if request.method == "GET":
            return _html(200, self._login_page(params, error=None))
        username, password = request.form.get("username", ""), request.form.get("password", "")
        with self.cloud.lock:
            user = self.cloud.users.get(username)
        if user is None or not secrets.compare_digest(password.encode(), user.password.encode()):
            return _html(401, self._login_page(params, error="Wrong username or password."))
        code = self.cloud.issue_code(user, redirect_uri, " ".join(scope.split()), challenge)
        answer = {"code": code} | ({"state": state} if state is not None else {})
        return Response(status=302, headers={"Location": _with_query(redirect_uri, answer)})

    @staticmethod
    def _login_page(params: dict[str, str], error: str | None) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">\n'
            for k, v in params.items()
        )
        notice = f'<p role="alert">{html.escape(error)}</p>\n' if error else ""
        return _LOGIN_PAGE.format(error=notice, hidden=hidden)

    def _client(self, request: Request) -> str:
        """RFC 6749 section 2.3.1: HTTP Basic (form-encoded id and secret) or form fields, not both."""
        auth = request.authorization
        form_secret = request.form.get("client_secret")
        if auth is not None and auth.type == "basic":
            if form_secret is not None:
                raise ApiError(400, "invalid_request", "use one client authentication method")
            client_id, secret = unquote_plus(auth.username or ""), unquote_plus(auth.password or "")
            if request.form.get("client_id", client_id) != client_id:
                raise ApiError(400, "invalid_request", "client_id does not match the credentials")
        else:
            client_id, secret = request.form.get("client_id", ""), form_secret or ""
        if not client_id or not self.cloud.client_ok(client_id, secret):
            raise _invalid_client()
        return client_id

    def on_token(self, request: Request) -> Response:
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            client_id = self._client(request)
            form = request.form
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                code, redirect_uri = form.get("code"), form.get("redirect_uri")
                if not code or not redirect_uri:
                    raise ApiError(400, "invalid_request", "code and redirect_uri are required")
                tokens = self.cloud.exchange_code(client_id, code, redirect_uri, form.get("code_verifier"))
            elif grant_type == "refresh_token":
                refresh = form.get("refresh_token")
                if not refresh:
                    raise ApiError(400, "invalid_request", "refresh_token is required")
                tokens = self.cloud.refresh_grant(client_id, refresh, form.get("scope"))
            elif grant_type is None:
                raise ApiError(400, "invalid_request", "grant_type is required")
            else:
                raise ApiError(400, "unsupported_grant_type", "use authorization_code or refresh_token")
        except ApiError as exc:
            exc.headers = {**no_store, **exc.headers}
            raise
        return _json(200, tokens, no_store)

    def on_revoke(self, request: Request) -> Response:
        client_id = self._client(request)
        token = request.form.get("token")
        if not token:
            raise ApiError(400, "invalid_request", "token is required")
        self.cloud.revoke(client_id, token)
        return Response(status=200)

    # admin (loopback only; errors: KeyError -> 404, ValueError -> 400)

    def on_admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            body = _json_object(request)
            self.server.set_fault(
                body["kind"],
                body.get("value"),
                path_prefix=body.get("path_prefix", "/v1/"),
                times=body.get("times"),
            )
        elif request.method == "DELETE":
            self.server.clear_faults()
        return _json(200, {"faults": self.server.faults()})

    def on_admin_user_devices(self, request: Request, username: str) -> Response:
        if request.method == "POST":
            body = _json_object(request)
            name = body.pop("name")
            created = self.server.add_device(username, name, **body)
            return _json(201, self.cloud.device_wire(created))
        return _json(200, {"devices": self.server.devices(username)})

    def on_admin_user_tokens(self, request: Request, username: str) -> Response:
        if request.method == "DELETE":
            return _json(200, {"revoked": self.server.revoke_all(username)})
        body = _json_object(request) if request.get_data() else {}
        return _json(200, self.server.issue_token(username, **body))

    def on_admin_device(self, request: Request, device_id: str) -> Response:
        if request.method == "DELETE":
            self.server.remove_device(device_id)
            return _no_content()
        if request.method == "PATCH":
            body = _json_object(request)
            unknown = set(body) - {"online", "privacy_mode", "name"}
            if unknown:
                raise ValueError(f"cannot change {sorted(unknown)}")
            if "name" in body:
                self.server.rename_device(device_id, body["name"])
            if "online" in body:
                self.server.set_online(device_id, bool(body["online"]))
            if "privacy_mode" in body:
                self.server.set_privacy(device_id, bool(body["privacy_mode"]))
        return _json(200, self.cloud.device_wire(self.cloud.device(device_id)))

    def on_admin_nvr(self, request: Request, nvr_id: str) -> Response:
        body = _json_object(request)
        self.server.set_nvr_online(nvr_id, bool(body["online"]))
        return _no_content()

    def on_admin_expire_token(self, request: Request) -> Response:
        self.server.expire_token(_json_object(request)["access_token"])
        return _no_content()

    def on_admin_webhook(self, request: Request) -> Response:
        body = _json_object(request)
        self.server.configure_webhook(body["url"], body["secret"])
        return _no_content()

    def on_admin_webhook_event(self, request: Request) -> Response:
        body = _json_object(request)
        event_type, username = body.pop("type"), body.pop("username")
        device_id = body.pop("device_id", None)
        event = self.server.build_event(event_type, username, device_id, **body)
        status, text = self.server.send_built_event(event)
        return _json(200, {"status": status, "body": text, "event": event})

    def on_admin_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.server.reset_request_counts()
        return _json(200, {"counts": self.server.request_counts()})

    def on_admin_clock(self, request: Request) -> Response:
        self.server.advance_clock(float(_json_object(request)["advance_seconds"]))
        return _no_content()

    def on_admin_reset(self, request: Request) -> Response:
        self.server.reset()
        return _no_content()

    def on_admin_sessions(self, request: Request, device_id: str) -> Response:
        return _json(200, {"sessions": self.server.rtc_sessions(device_id)})


# --- the server -----------------------------------------------------------------------------


class AccloudServer(LoopbackServer):
    """The reference ACCloud on 127.0.0.1; usable as a context manager.

    Every public method is thread-safe and works whether or not the server is started, except
    those that speak HTTP (``issue_token``, ``refresh``, ``base_url``) which need ``start()``.
    Unknown users/devices raise KeyError; invalid arguments raise ValueError.
    """

    thread_name = "accloud"
    poll_interval = 0.01

    def __init__(
        self,
        seed: Seed | None = None,
        *,
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: Sequence[str] = DEFAULT_REDIRECT_URIS,
        access_token_ttl: int = 3600,
        code_ttl: int = 300,
        stream_ttl: int = 300,
        stream_idle_timeout: int = 30,
        stream_host: str = DEFAULT_STREAM_HOST,
        webrtc: WebRtcAnswerer | None = None,
        webhook_url: str | None = None,
        webhook_secret: bytes | str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(port=port)
        self._seed = (seed or demo_data.demo_seed()).copy()
        self._cloud = _Cloud(
            self._seed.copy(),
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=redirect_uris,
            access_token_ttl=access_token_ttl,
            code_ttl=code_ttl,
            stream_ttl=stream_ttl,
            stream_idle_timeout=stream_idle_timeout,
            stream_host=stream_host,
            clock=clock,
        )
        self.answerer: WebRtcAnswerer = webrtc or UnavailableAnswerer()
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret.encode() if isinstance(webhook_secret, str) else webhook_secret

    # lifecycle (LoopbackServer): a threaded werkzeug server for the WSGI app

    def _bind(self, host: str, port: int) -> HTTPServer:
        return make_server(host, port, _Wsgi(self), threaded=True, request_handler=_QuietHandler)

    def _before_shutdown(self) -> None:
        self._cloud.release.set()  # wake hung requests so their threads can finish

    @property
    def client_id(self) -> str:
        return self._cloud.client_id

    @property
    def client_secret(self) -> str:
        return self._cloud.client_secret

    @property
    def local_redirect_uri(self) -> str:
        return LOCAL_REDIRECT_URI

    def reset(self) -> None:
        """Back to the seed given at construction: devices, no grants, faults, sessions or counts.

        Keeps the port, the OAuth client, the answerer and the webhook settings.
        """
        with self._cloud.lock:
            open_sessions = [s for per_device in self._cloud.sessions.values() for s in per_device]
            self._cloud.load(self._seed.copy())
        for session_id in open_sessions:
            self._close_quietly(session_id)

    def set_answerer(self, answerer: WebRtcAnswerer | None) -> None:
        self.answerer = answerer or UnavailableAnswerer()

    # OAuth helpers (real flow over HTTP)

    def _basic(self) -> str:
        # RFC 6749 section 2.3.1: form-encode id and secret before Base64.
        raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def issue_token(
        self,
        username: str,
        *,
        password: str | None = None,
        scope: str = DEFAULT_SCOPE,
        redirect_uri: str = LOCAL_REDIRECT_URI,
        pkce: bool = True,
    ) -> dict[str, Any]:
        """Link ``username`` the way Alexa does: login form, code from the redirect, code exchange.

        Returns the token endpoint's JSON. Each call creates a new grant (new link_id).
        """
        import urllib3

        user = self._cloud.user(username)
        state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": scope,
        }
        verifier = secrets.token_urlsafe(48)
        if pkce:
            params |= {"code_challenge": _pkce_s256(verifier), "code_challenge_method": "S256"}
        http = urllib3.PoolManager(retries=False, timeout=10.0)
        page = http.request("GET", f"{self.base_url}/oauth/authorize?{urlencode(params)}", redirect=False)
        if page.status != 200:
            raise OAuthFlowError(f"authorize form answered {page.status}")
        credentials = {"username": username, "password": user.password if password is None else password}
        login = http.request(
            "POST",
            f"{self.base_url}/oauth/authorize",
            body=urlencode({**params, **credentials}),
            headers={"Content-Type": _FORM},
            redirect=False,
        )
        if login.status != 302:
            raise OAuthFlowError(f"login answered {login.status}")
        query = parse_qs(urlsplit(login.headers["Location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise OAuthFlowError(f"authorize redirect carried {sorted(query)}")
        fields = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri}
        if pkce:
            fields["code_verifier"] = verifier
        return self._token_request(http, fields)

    def refresh(self, refresh_token: str, *, scope: str | None = None) -> dict[str, Any]:
        """Refresh over HTTP as Alexa does; the old refresh token stops working (rotation)."""
        import urllib3

        fields = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope is not None:
            fields["scope"] = scope
        return self._token_request(urllib3.PoolManager(retries=False, timeout=10.0), fields)

    def _token_request(self, http: Any, fields: dict[str, str]) -> dict[str, Any]:
        answer = http.request(
            "POST",
            f"{self.base_url}/oauth/token",
            body=urlencode(fields),
            headers={"Authorization": self._basic(), "Content-Type": _FORM},
            redirect=False,
        )
        body = json.loads(answer.data or b"{}")
        if answer.status != 200:
            raise OAuthFlowError(f"token endpoint answered {answer.status} {body.get('error')}")
        return body

    def expire_token(self, access_token: str) -> None:
        """Make one access token expired now (its link and refresh token stay valid)."""
        self._cloud.expire_token(access_token)

    def revoke_all(self, username: str) -> int:
        """Revoke every grant of the user (all access and refresh tokens); returns how many."""
        return self._cloud.revoke_all(self._cloud.user(username).user_id)

    def active_links(self, username: str) -> list[str]:
        user_id = self._cloud.user(username).user_id
        with self._cloud.lock:
            return [k for k, v in self._cloud.links.items() if v.user_id == user_id and not v.revoked]

    def advance_clock(self, seconds: float) -> None:
        """Move the server's clock forward (code, token and stream expiry); webhooks use wall time."""
        with self._cloud.lock:
            self._cloud.clock_offset += seconds

    # accounts and devices

    def user_id(self, username: str) -> str:
        return self._cloud.user(username).user_id

    def device(self, device_id: str) -> DemoDevice:
        """A copy of the device as stored (its own ``online``, not the NVR-aware one)."""
        with self._cloud.lock:
            return copy.deepcopy(self._cloud.device(device_id))

    def devices(self, username: str) -> list[dict[str, Any]]:
        """What GET /v1/devices answers for the user."""
        return self._cloud.devices_wire(self._cloud.user(username).user_id)

    def set_online(self, device_id: str, online: bool) -> None:
        with self._cloud.lock:
            self._cloud.device(device_id).online = online
        if not online:
            self._close_sessions([device_id])

    def set_privacy(self, device_id: str, privacy_mode: bool) -> None:
        with self._cloud.lock:
            self._cloud.device(device_id).privacy_mode = privacy_mode
        if privacy_mode:
            self._close_sessions([device_id])

    def rename_device(self, device_id: str, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        with self._cloud.lock:
            self._cloud.device(device_id).name = name

    def set_nvr_online(self, nvr_id: str, online: bool) -> None:
        with self._cloud.lock:
            self._cloud.nvr(nvr_id).online = online
            channels = [d.id for d in self._cloud.devices.values() if d.parent_id == nvr_id]
        if not online:
            self._close_sessions(channels)

    def add_device(self, username: str, name: str, **fields: Any) -> DemoDevice:
        """Add a device (see demo_data.make_device for fields; ``profiles`` as Profile or dicts)."""
        user = self._cloud.user(username)
        if "profiles" in fields and fields["profiles"] is not None:
            fields["profiles"] = [_profile_from(p) for p in fields["profiles"]]
        device = demo_data.make_device(user.user_id, name, **fields)
        if device.kind not in ("camera", "doorbell", "nvr_channel"):
            raise ValueError("kind must be camera, doorbell or nvr_channel")
        if not _DEVICE_ID.fullmatch(device.id):
            raise ValueError("device_id must look like dev_<letters and digits>")
        with self._cloud.lock:
            if device.id in self._cloud.devices:
                raise ValueError("device id already exists")
            if device.kind == "nvr_channel":
                parent = self._cloud.nvrs.get(device.parent_id or "")
                if parent is None or parent.owner_id != user.user_id:
                    raise ValueError("an nvr_channel needs parent_id of one of the owner's NVRs")
            self._cloud.devices[device.id] = device
            return copy.deepcopy(device)

    def remove_device(self, device_id: str) -> None:
        with self._cloud.lock:
            self._cloud.device(device_id)
            del self._cloud.devices[device_id]
        self._close_sessions([device_id])

    # WebRTC sessions

    def rtc_sessions(self, device_id: str) -> dict[str, str]:
        """Open sessions of a device: session_id -> "answered" | "connected"."""
        with self._cloud.lock:
            return {s.session_id: s.state for s in self._cloud.sessions.get(device_id, {}).values()}

    def _close_sessions(self, device_ids: Sequence[str]) -> None:
        for session_id in self._cloud.drop_sessions(device_ids):
            self._close_quietly(session_id)

    def _close_quietly(self, session_id: str) -> None:
        try:
            self.answerer.close(session_id)
        except Exception:  # teardown must not fail the request that triggered it
            log.warning("WebRTC answerer failed to close a session", exc_info=True)

    # streams

    def minted_streams(self) -> list[dict[str, Any]]:
        """Every stream minted so far: device_id, user_id, profile and the answered fields."""
        with self._cloud.lock:
            return copy.deepcopy(self._cloud.minted)

    # faults

    def set_fault(
        self, kind: str, value: float | None = None, *, path_prefix: str = "/v1/", times: int | None = None
    ) -> None:
        """Inject a fault on requests whose path starts with ``path_prefix`` (admin never).

        latency: ``value`` seconds before answering; status: answer ``value`` (5xx, default 503);
        hang: answer nothing until clear_faults()/stop() or ``value`` seconds (default 30), then
        answer normally; malformed: truncated JSON body; expired_token / invalid_token: every bearer
        call answers 401 token_expired / token_unknown. ``times``: only the next N requests.
        One fault per kind; setting a kind again replaces it.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        if kind == "latency" and (value is None or value <= 0):
            raise ValueError("latency needs a positive number of seconds")
        if kind == "status" and value is not None and not 500 <= int(value) <= 599:
            raise ValueError("status fault must be a 5xx code")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        with self._cloud.lock:
            if self._cloud.release.is_set():
                self._cloud.release = threading.Event()
            self._cloud.faults[kind] = _Fault(kind, value, path_prefix, times)

    def clear_faults(self) -> None:
        with self._cloud.lock:
            self._cloud.faults.clear()
            self._cloud.release.set()  # wake requests sleeping in hang/latency
            self._cloud.release = threading.Event()

    def faults(self) -> list[dict[str, Any]]:
        with self._cloud.lock:
            return [f.describe() for f in self._cloud.faults.values()]

    # request counters

    def request_counts(self) -> dict[str, int]:
        """Requests received per "METHOD /path" (OAuth and API; admin calls are not counted)."""
        with self._cloud.lock:
            return dict(self._cloud.counts)

    def reset_request_counts(self) -> None:
        with self._cloud.lock:
            self._cloud.counts.clear()

    # webhook

    def configure_webhook(self, url: str, secret: bytes | str) -> None:
        self.webhook_url = url
        self.webhook_secret = secret.encode() if isinstance(secret, str) else secret

    def build_event(
        self, event_type: str, username: str, device_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A well-formed webhook event; ``extra`` adds or overrides fields (e.g. ``occurred_at``)."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"event type must be one of {EVENT_TYPES}")
        user = self._cloud.user(username)
        is_device_event = not event_type.startswith("account.")
        if is_device_event and not device_id:
            raise ValueError(f"{event_type} needs a device_id")
        event: dict[str, Any] = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": event_type,
            "occurred_at": rfc3339(time.time()),
            "user_id": user.user_id,
        }
        if is_device_event:
            event["device_id"] = device_id
            with self._cloud.lock:
                device = self._cloud.devices.get(device_id or "")
                if device is not None and device.owner_id != user.user_id:
                    raise ValueError("the device belongs to another user")
                if event_type in EVENTS_WITH_DEVICE_BODY:
                    if device is None:
                        raise KeyError(f"unknown device {device_id!r}")
                    event["device"] = self._cloud.device_wire(device)
        event.update(extra)
        return event

    def send_built_event(self, event: dict[str, Any]) -> tuple[int, str]:
        if not self.webhook_url or not self.webhook_secret:
            raise ValueError("webhook_url and webhook_secret are not configured")
        return webhook_sender.send_event(self.webhook_url, self.webhook_secret, event)

    def trigger_event(
        self, event_type: str, username: str, device_id: str | None = None, **extra: Any
    ) -> tuple[int, str]:
        """Build, sign and POST an event to the configured webhook; returns (status, body)."""
        return self.send_built_event(self.build_event(event_type, username, device_id, **extra))


# --- remote control (another process) -------------------------------------------------------


class AdminError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"admin call answered {status}: {body[:200]}")
        self.status = status
        self.body = body


class AccloudAdmin:
    """Drives a running AccloudServer through /_admin/; same method names as AccloudServer."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        import urllib3

        self.base_url = base_url.rstrip("/")
        self._http = urllib3.PoolManager(retries=False, timeout=timeout)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        answer = self._http.request(method, f"{self.base_url}/_admin{path}", body=data, headers=headers)
        if answer.status >= 300:
            raise AdminError(answer.status, answer.data.decode("utf-8", errors="replace"))
        return json.loads(answer.data) if answer.data else None

    def set_fault(
        self, kind: str, value: float | None = None, *, path_prefix: str = "/v1/", times: int | None = None
    ) -> None:
        self._call(
            "POST", "/faults", {"kind": kind, "value": value, "path_prefix": path_prefix, "times": times}
        )

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def devices(self, username: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/users/{username}/devices")["devices"]

    def add_device(self, username: str, name: str, **fields: Any) -> dict[str, Any]:
        """Returns the new device's wire JSON (AccloudServer.add_device returns a DemoDevice)."""
        return self._call("POST", f"/users/{username}/devices", {"name": name, **fields})

    def set_online(self, device_id: str, online: bool) -> None:
        self._call("PATCH", f"/devices/{device_id}", {"online": online})

    def set_privacy(self, device_id: str, privacy_mode: bool) -> None:
        self._call("PATCH", f"/devices/{device_id}", {"privacy_mode": privacy_mode})

    def rename_device(self, device_id: str, name: str) -> None:
        self._call("PATCH", f"/devices/{device_id}", {"name": name})

    def remove_device(self, device_id: str) -> None:
        self._call("DELETE", f"/devices/{device_id}")

    def set_nvr_online(self, nvr_id: str, online: bool) -> None:
        self._call("PATCH", f"/nvrs/{nvr_id}", {"online": online})

    def issue_token(self, username: str, **options: Any) -> dict[str, Any]:
        return self._call("POST", f"/users/{username}/tokens", options)

    def revoke_all(self, username: str) -> int:
        return self._call("DELETE", f"/users/{username}/tokens")["revoked"]

    def expire_token(self, access_token: str) -> None:
        self._call("POST", "/tokens/expire", {"access_token": access_token})

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "/clock", {"advance_seconds": seconds})

    def configure_webhook(self, url: str, secret: bytes | str) -> None:
        self._call(
            "PUT",
            "/webhook",
            {"url": url, "secret": secret.decode() if isinstance(secret, bytes) else secret},
        )

    def trigger_event(
        self, event_type: str, username: str, device_id: str | None = None, **extra: Any
    ) -> tuple[int, str]:
        answer = self._call(
            "POST",
            "/webhook/events",
            {"type": event_type, "username": username, "device_id": device_id, **extra},
        )
        return answer["status"], answer["body"]

    def request_counts(self) -> dict[str, int]:
        return self._call("GET", "/requests")["counts"]

    def reset_request_counts(self) -> None:
        self._call("DELETE", "/requests")

    def rtc_sessions(self, device_id: str) -> dict[str, str]:
        return self._call("GET", f"/sessions/{device_id}")["sessions"]

    def reset(self) -> None:
        self._call("POST", "/reset")


def serve(argv: Sequence[str] | None = None) -> None:
    """``python -m devstack.accloud_server``: run until interrupted, print connection details."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Reference ACCloud server (development only)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    args = parser.parse_args(argv)
    server = AccloudServer(port=args.port, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    with server:
        details = {
            "base_url": server.base_url,
            "client_id": server.client_id,
            "client_secret": server.client_secret,
        }
        sys.stdout.write(json.dumps(details) + "\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    serve()
