"""HTTP client for ACCloud over ``skill.http`` (http.client and ssl; no urllib3 to import).

Every call fits the directive's deadline as a whole, so a stream directive answers inside
Alexa's 6 s budget; at most one retry, for idempotent reads only. A 401/403 is an auth failure
only with ACCloud's RFC 6750 Bearer challenge; any other (a WAF or proxy page) is Transient.
Details: docs/architecture.md, "Two functions, four kinds of event" and "Smart home".
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

from skill import bounded, http, warm
from skill.cloud import contract
from skill.config import check_outbound_url, settings
from skill.privacy.logs import log

_log = logging.getLogger(__name__)

USER_AGENT = "zosi-smart-skill/1"
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # a device list of well over 300 devices; more is no answer of ACCloud's
# Visible ASCII (RFC 7230 VCHAR; RFC 6750's b64token is a subset). Any other token cannot travel in
# an Authorization header, so ACCloud cannot have issued it: refused without a call.
_SENDABLE_TOKEN = re.compile(r"[\x21-\x7e]+")

# RFC 6750 section 3: `Bearer` then auth-params (`name="quoted"` or `name=token`), comma separated.
_BEARER_CHALLENGE = re.compile(r"\s*bearer(?:\s+(?P<params>.*))?\Z", re.IGNORECASE | re.DOTALL)
_AUTH_PARAM = re.compile(r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))')

_pool = http.Pool(num_pools=4, maxsize=8)
warm.register(_pool.reset, name=f"{__name__}._pool")
Deadline = http.Deadline  # the directive's deadline; its home is skill.http


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise contract.Transient("malformed time from ACCloud")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise contract.Transient("malformed time from ACCloud") from None


class HttpCameraCloud:
    """contract.CameraCloud over HTTP. Cheap to create: one per directive, sharing the pool."""

    def __init__(self, deadline: Deadline | None = None) -> None:
        config = settings()
        self.base_url = config.require_accloud()
        check_outbound_url(self.base_url, config)
        self.connect_timeout = config.accloud_connect_timeout
        self.read_timeout = config.accloud_read_timeout
        self.deadline = deadline or Deadline(config.accloud_connect_timeout + config.accloud_read_timeout)
        self.calls = 0  # round trips made, for the benchmark and tests
        self.skipped_devices = 0

    # --- contract.CameraCloud ------------------------------------------------------------

    def me(self, token: str) -> contract.CloudUser:
        body = self._call("GET", "/v1/me", token, idempotent=True)
        user_id, link_id = body.get("user_id"), body.get("link_id")
        if not isinstance(user_id, str) or not user_id or not isinstance(link_id, str) or not link_id:
            raise contract.Transient("malformed /v1/me answer")
        expires = body.get("token_expires_at")
        return contract.CloudUser(user_id, link_id, parse_time(expires) if expires else None)

    def devices(self, token: str) -> list[contract.Device]:
        """The caller's devices. One malformed entry is skipped and logged, never fatal for the rest."""
        body = self._call("GET", "/v1/devices", token, idempotent=True)
        entries = body.get("devices")
        if not isinstance(entries, list):
            raise contract.Transient("malformed /v1/devices answer")
        devices = []
        for position, entry in enumerate(entries):
            try:
                devices.append(contract.parse_device(entry))
            except contract.MalformedDevice as exc:
                self.skipped_devices += 1
                log(_log, logging.WARNING, "skipped malformed device", position=position, reason=str(exc))
        return devices

    def mint_stream(
        self, token: str, device_id: str, profile: contract.StreamProfile
    ) -> contract.MintedStream:
        body = self._call(
            "POST",
            f"/v1/devices/{quote(device_id, safe='')}/streams",
            token,
            payload={
                "protocol": profile.protocol,
                "width": profile.width,
                "height": profile.height,
                "video_codec": profile.video_codec,
                "audio_codec": profile.audio_codec,
            },
        )
        uri, snapshot = body.get("uri"), body.get("snapshot_uri")
        idle = body.get("idle_timeout_seconds")
        if not isinstance(uri, str) or not isinstance(snapshot, str) or not isinstance(idle, int) or idle < 1:
            raise contract.Transient("malformed stream answer")
        auth = body.get("authorization_type", "NONE")
        if auth not in ("NONE", "BASIC", "DIGEST"):
            raise contract.Transient("unknown stream authorization type")
        return contract.MintedStream(
            uri=uri,
            expires_at=parse_time(body.get("expires_at")),
            idle_timeout_seconds=idle,
            snapshot_uri=snapshot,
            profile=profile,
            authorization_type=auth,
        )

    def rtc_offer(self, token: str, device_id: str, session_id: str, offer_sdp: str) -> str:
        body = self._call(
            "POST",
            f"/v1/devices/{quote(device_id, safe='')}/webrtc/sessions",
            token,
            payload={"session_id": session_id, "offer_sdp": offer_sdp},
        )
        answer = body.get("answer_sdp")
        if not isinstance(answer, str) or not answer.startswith("v=0"):
            raise contract.Transient("malformed WebRTC answer")
        return answer

    def rtc_connected(self, token: str, device_id: str, session_id: str) -> None:
        path = (
            f"/v1/devices/{quote(device_id, safe='')}/webrtc/sessions/{quote(session_id, safe='')}/connected"
        )
        self._call("POST", path, token)

    def rtc_disconnected(self, token: str, device_id: str, session_id: str) -> None:
        path = f"/v1/devices/{quote(device_id, safe='')}/webrtc/sessions/{quote(session_id, safe='')}"
        self._call("DELETE", path, token, idempotent=True)

    def detections(
        self,
        token: str,
        device_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 25,
    ) -> contract.DetectionPage:
        query = {
            "since": _wire_time(since),
            "until": _wire_time(until),
            "cursor": cursor,
            "limit": str(limit),
        }
        path = f"/v1/devices/{quote(device_id, safe='')}/detections?" + urlencode(
            {k: v for k, v in query.items() if v is not None}
        )
        return contract.parse_detection_page(self._call("GET", path, token, idempotent=True), parse_time)

    def delete_detections(
        self,
        token: str,
        device_id: str,
        *,
        ids: tuple[str, ...] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> contract.DetectionDeletion:
        """One call, answered after ACCloud deleted. Idempotent (deleting again is "not found"), so a
        retry within the deadline cannot delete more than was asked."""
        payload: dict[str, Any] = (
            {"ids": list(ids)}
            if ids
            else {k: v for k, v in {"since": _wire_time(since), "until": _wire_time(until)}.items() if v}
        )
        path = f"/v1/devices/{quote(device_id, safe='')}/detections/delete"
        return contract.parse_detection_deletion(
            self._call("POST", path, token, payload=payload, idempotent=True)
        )

    # --- transport -----------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        payload: dict[str, Any] | None = None,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        if not _SENDABLE_TOKEN.fullmatch(token):
            raise contract.InvalidToken("access token is not a bearer credential")
        attempts = 2 if idempotent else 1
        for attempt in range(attempts):
            try:
                return self._once(method, path, token, payload)
            except contract.Transient:
                last_try = attempt + 1 >= attempts or not self.deadline.allows()
                if last_try:
                    raise
        raise contract.Transient("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, token: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        if not self.deadline.allows():
            raise contract.Transient("no time left for ACCloud")
        self.calls += 1
        try:
            reply = http.request(
                _pool,
                method,
                self.base_url + path,
                deadline=self.deadline,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                headers=headers,
                body=body,
            )
        except http.Unreachable as exc:  # timeouts, refused, reset, TLS, cut at the deadline, no time left
            raise contract.Transient(f"ACCloud unreachable: {exc}") from None
        return _classify(reply)


def _wire_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_code(reply: http.Reply) -> str:
    try:
        body = bounded.loads(reply.data or b"{}", max_bytes=MAX_ANSWER_BYTES)
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _bearer_challenge(reply: http.Reply) -> dict[str, str]:
    """The auth-params of an RFC 6750 ``WWW-Authenticate: Bearer`` challenge, names and values
    lowercased; empty when the answer carries no Bearer challenge."""
    challenge = _BEARER_CHALLENGE.match(reply.headers.get("WWW-Authenticate") or "")
    if challenge is None:
        return {}
    params: dict[str, str] = {}
    for name, quoted, bare in _AUTH_PARAM.findall(challenge.group("params") or ""):
        params.setdefault(name.lower(), (quoted or bare).lower())
    return params


def _raise_auth_failure(reply: http.Reply) -> NoReturn:
    """401/403. Only ACCloud's own Bearer challenge means the token is bad: Alexa answers an auth error
    by asking the user to relink (or unlinking), so a 401/403 without one (an HTML page from a WAF,
    CDN or proxy, a Basic challenge, a bare JSON body) is treated as the outage it most likely is."""
    challenge = _bearer_challenge(reply)
    error = challenge.get("error")
    if error == "invalid_token":
        try:
            described = str(
                bounded.loads(reply.data or b"{}", max_bytes=MAX_ANSWER_BYTES).get("error_description", "")
            ).lower()
        except (ValueError, AttributeError):
            described = ""
        if "token_expired" in (challenge.get("error_description"), described):
            raise contract.ExpiredToken("access token expired")
        raise contract.InvalidToken("access token not accepted")
    if error == "insufficient_scope":  # RFC 6750 sends it with 403
        # The token is ACCloud's but was granted too few scopes: only a new link (new consent) fixes it.
        raise contract.InvalidToken("access token lacks the required scope")
    raise contract.Transient(f"ACCloud answered {reply.status} without a bearer token error")


def _classify(reply: http.Reply) -> dict[str, Any]:
    status = reply.status
    if status in (200, 201):
        try:
            body = bounded.loads(reply.data, max_bytes=MAX_ANSWER_BYTES)
        except ValueError:
            raise contract.Transient("ACCloud sent malformed JSON") from None
        if not isinstance(body, dict):
            raise contract.Transient("ACCloud sent a non-object")
        return body
    if status == 204:
        return {}
    if status in (401, 403):
        _raise_auth_failure(reply)
    if status == 404:
        raise contract.NotFound("device not found for this account")
    if status == 409:
        code = _error_code(reply)
        conflict = {
            "device_offline": contract.DeviceOffline,
            "bridge_offline": contract.BridgeOffline,
            "privacy_mode": contract.PrivacyMode,
        }.get(code)
        if conflict is not None:
            raise conflict(code)
        raise contract.Transient("unknown conflict from ACCloud")
    if status == 422:
        raise contract.UnsupportedStream("profile not supported")
    if status == 429 or status >= 500:
        raise contract.Transient(f"ACCloud answered {status}")
    raise contract.CloudError(f"ACCloud answered {status}")
