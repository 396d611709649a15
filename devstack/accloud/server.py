"""AccloudServer: the reference ACCloud on 127.0.0.1 (dev only), one threaded werkzeug server
over the device API, OAuth and admin endpoint groups. Request logging is off: paths carry raw
device ids."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from http.server import HTTPServer
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devstack import demo_data, webhook_sender
from devstack.accloud import admin, api, oauth
from devstack.accloud.detections import DetectionStore
from devstack.accloud.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URIS,
    DEFAULT_SCOPE,
    DEFAULT_STREAM_HOST,
    DEVICE_ID,
    EVENT_TYPES,
    EVENTS_WITH_DEVICE_BODY,
    FAULT_KINDS,
    LOCAL_REDIRECT_URI,
    LOOPBACK_ADDRS,
    Cloud,
    Fault,
    UnavailableAnswerer,
    WebRtcAnswerer,
    profile_from,
    rfc3339,
)
from devstack.accloud.web import ApiError, QuietHandler
from devstack.demo_data import DemoDevice, Seed
from devstack.http_server import LOOPBACK, LoopbackServer

log = logging.getLogger(__name__)

_ROUTES = Map([*api.ROUTES, *oauth.ROUTES, *admin.ROUTES])


class _Wsgi(api.DeviceApi, oauth.OAuthEndpoints, admin.AdminEndpoints):
    """Turns HTTP requests into Cloud calls; faults and counters sit here."""

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
        is_admin = request.path.startswith("/_admin/")
        # This machine only: loopback, or its own bind address (`local up --bind`), never a container.
        if is_admin and request.remote_addr not in {*LOOPBACK_ADDRS, self.server.host}:
            return ApiError(403, "forbidden", "admin endpoints answer loopback callers only").response()
        if not is_admin:
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
        if is_admin:
            try:
                return handler(request, **args)
            except KeyError as exc:
                return ApiError(404, "not_found", str(exc.args[0] if exc.args else exc)).response()
            except (ValueError, TypeError) as exc:
                return ApiError(400, "invalid_request", str(exc)).response()
        faults = self.cloud.faults_for(request.path)
        try:
            admin.apply_faults(self.cloud, faults, request.path)
            response = handler(request, **args)
        except ApiError as exc:
            response = exc.response()
        if "malformed" in faults and response.status_code != 204:
            data = response.get_data() or b"{}"
            response.set_data(data[: max(1, len(data) // 2)])  # truncated JSON: unparseable
        return response


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
        host: str = LOOPBACK,
    ) -> None:
        super().__init__(port=port, host=host)
        self._seed = (seed or demo_data.demo_seed()).copy()
        self._cloud = Cloud(
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
        self.detections = DetectionStore(self._cloud.now, stream_host)
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret.encode() if isinstance(webhook_secret, str) else webhook_secret

    # lifecycle (LoopbackServer): a threaded werkzeug server for the WSGI app

    def _bind(self, host: str, port: int) -> HTTPServer:
        return make_server(host, port, _Wsgi(self), threaded=True, request_handler=QuietHandler)

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
        self.detections.reset()
        for session_id in open_sessions:
            self._close_quietly(session_id)

    def set_answerer(self, answerer: WebRtcAnswerer | None) -> None:
        self.answerer = answerer or UnavailableAnswerer()

    # OAuth (the real flow over HTTP, as Alexa does it)

    def _oauth_client(self) -> oauth.OAuthClient:
        return oauth.OAuthClient(self.base_url, self.client_id, self.client_secret)

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
        user = self._cloud.user(username)
        return self._oauth_client().link(
            username, user.password if password is None else password, scope, redirect_uri, pkce=pkce
        )

    def refresh(self, refresh_token: str, *, scope: str | None = None) -> dict[str, Any]:
        """Refresh over HTTP as Alexa does; the old refresh token stops working (rotation)."""
        return self._oauth_client().refresh(refresh_token, scope)

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
            fields["profiles"] = [profile_from(p) for p in fields["profiles"]]
        device = demo_data.make_device(user.user_id, name, **fields)
        if device.kind not in ("camera", "doorbell", "nvr_channel"):
            raise ValueError("kind must be camera, doorbell or nvr_channel")
        if not DEVICE_ID.fullmatch(device.id):
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
        self.detections.drop_device(device_id)
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
            self._cloud.faults[kind] = Fault(kind, value, path_prefix, times)

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
        if event_type == "person.detected" and "detection_id" not in extra:
            event["detection_id"] = self.detections.record(device_id or "").id  # ACCloud keeps it
        if event_type == "detections.deleted":
            event.update(detection_ids=[f"det_{uuid.uuid4().hex}"], reason="deleted")
        event.update(extra)
        return event

    def detections_held(self, device_id: str) -> list[dict[str, Any]]:
        """What ACCloud holds for the device, newest first (wire form)."""
        return [d.wire(self.detections.media_host) for d in self.detections.held(device_id)]

    def delete_in_app(self, device_id: str, ids: Sequence[str], reason: str = "deleted") -> dict[str, Any]:
        """The owner deletes detections in the ZOSI app (or they expire): removed, then the signed
        ``detections.deleted`` webhook names the ones that were there."""
        if reason not in ("deleted", "expired"):
            raise ValueError("reason must be deleted or expired")
        owner = self._cloud.device(device_id).owner_id
        deleted, _ = self.detections.remove(device_id, ids)
        answer: dict[str, Any] = {"deleted": deleted}
        if deleted and self.webhook_url and self.webhook_secret:
            username = self._cloud.users_by_id[owner].username
            event = self.build_event(
                "detections.deleted", username, device_id, detection_ids=deleted, reason=reason
            )
            answer["webhook_status"], _body = self.send_built_event(event)
        return answer

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


def serve(argv: Sequence[str] | None = None) -> None:
    """``python -m devstack.accloud``: run until interrupted, print connection details."""
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
