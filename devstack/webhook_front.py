"""A local stand-in for API Gateway's HTTP API in front of the webhook: 127.0.0.1, free port.

Dev only. Each request becomes the payload-2.0 event API Gateway would build and goes to the
handler; :func:`trigger` maps the ``zosi-skill local`` verbs onto the reference ACCloud server.
Details: docs/local-stack.md, "Webhook front".
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from devstack.http_server import LoopbackServer

WEBHOOK_PATH = "/webhooks/accloud"
MAX_REQUEST_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
LAMBDA_TIMEOUT_MS = 7000  # template.yaml: the skill function's Timeout
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The parts of the Lambda context object the skill reads."""

    def __init__(self, timeout_ms: int = LAMBDA_TIMEOUT_MS) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "zosi-smart-local"
        self.memory_limit_in_mb = 512
        self._deadline = time.monotonic() + timeout_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def api_gateway_event(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    *,
    query: str = "",
    base64_body: bool | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The HTTP API payload-2.0 event API Gateway would hand the function for this request.

    ``base64_body`` None decides like API Gateway: text content types as text, anything else base64.
    """
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    if base64_body is None:
        content_type = lowered.get("content-type", "")
        base64_body = not content_type.startswith(_TEXT_TYPES) or not _is_utf8(body)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": base64_body,
    }
    if body:
        event["body"] = base64.b64encode(body).decode("ascii") if base64_body else body.decode("utf-8")
    return event


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def http_answer(result: Any) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's reading of a payload-2.0 Lambda result: (status, headers, body bytes)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # A bare value means 200 with that value as a JSON body.
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, raw


class WebhookFront(LoopbackServer):
    """POST http://127.0.0.1:<port>/webhooks/accloud -> ``handler(event, context)``."""

    thread_name = "webhook-front"

    def __init__(self, handler: Handler, *, base64_bodies: bool | None = None) -> None:
        super().__init__()
        self.handler = handler
        self.base64_bodies = base64_bodies  # None: like API Gateway; True/False: force (tests)

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def url(self) -> str:
        """The webhook URL to give the reference ACCloud server (``configure_webhook``)."""
        return self.base_url + WEBHOOK_PATH

    def invoke(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        event = api_gateway_event(method, path, headers, body, base64_body=self.base64_bodies)
        return http_answer(self.handler(event, LambdaContext()))


def _handler_for(front: WebhookFront) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the skill logs (redacted); raw request lines stay out

        def _any(self) -> None:
            path, _, _query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._send(
                    413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}'
                )
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            if path != WEBHOOK_PATH:
                self._send(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
                return
            try:
                status, headers, answer = front.invoke(self.command, path, dict(self.headers.items()), body)
            except Exception:  # what API Gateway answers when the function fails
                status, headers, answer = (
                    500,
                    {"content-type": "application/json"},
                    b'{"message":"Internal Server Error"}',
                )
            self._send(status, headers, answer)

        do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _any

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return RequestHandler


# --- CLI verbs -> ACCloud events ---------------------------------------------------------------

# `zosi-skill local <verb> ...` -> the ACCloud webhook event type it produces.
VERBS: dict[str, str] = {
    "ring": "doorbell.pressed",
    "motion": "motion.detected",
    "still": "motion.cleared",
    "person": "person.detected",
    "online": "device.online",
    "offline": "device.offline",
    "add": "device.added",
    "rename": "device.updated",
    "remove": "device.removed",
    "delete-account": "account.deleted",
    "withdraw-consent": "account.consent_withdrawn",
    "give-consent": "account.consent_given",
}


def trigger(
    accloud: Any,
    verb: str,
    username: str,
    device_id: str | None = None,
    *,
    name: str | None = None,
    fields: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Change the reference ACCloud's state as the verb implies, then have it sign and send the event.

    ``accloud`` is an ``AccloudServer`` (same process) or an ``AccloudAdmin`` (another process);
    both have the same method names. Returns the webhook's (HTTP status, body).

    * ring / motion / still / person: the event only (``device_id`` required);
    * online / offline: ``set_online`` first, then the connectivity event;
    * add: ``add_device(username, name, **fields)``, then device.added for the new id;
    * rename: ``rename_device(device_id, name)``, then device.updated;
    * remove: ``remove_device(device_id)``, then device.removed;
    * delete-account / withdraw-consent / give-consent: the account event for ``username``.
    """
    try:
        event_type = VERBS[verb]
    except KeyError:
        raise ValueError(f"verb must be one of {sorted(VERBS)}") from None
    if verb == "add":
        if not name:
            raise ValueError("add needs a name")
        created = accloud.add_device(username, name, **(fields or {}))
        device_id = created["id"] if isinstance(created, dict) else created.id
    elif verb in ("online", "offline"):
        accloud.set_online(_need(device_id, verb), verb == "online")
    elif verb == "rename":
        if not name:
            raise ValueError("rename needs a name")
        accloud.rename_device(_need(device_id, verb), name)
    elif verb == "remove":
        accloud.remove_device(_need(device_id, verb))
    if event_type.startswith("account."):
        return accloud.trigger_event(event_type, username)
    return accloud.trigger_event(event_type, username, _need(device_id, verb))


def _need(device_id: str | None, verb: str) -> str:
    if not device_id:
        raise ValueError(f"{verb} needs a device id")
    return device_id
