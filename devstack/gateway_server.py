"""Alexa Event Gateway stand-in for development and tests: ``POST .../v3/events`` on 127.0.0.1.

Dev only. Behaves like the gateway as far as the skill can tell: bearer and scope token checked,
every message validated against Amazon's schema plus the project schemas, forced answers queued
by ``fail_next``. Request logging is off: messages carry tokens.
Details: docs/local-stack.md, "Event Gateway stand-in".
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from devstack.http_server import LOOPBACK, LoopbackServer

REGIONS = ("NA", "EU", "FE")
EVENTS_SUFFIX = "/v3/events"
MAX_MESSAGE_BYTES = 256 * 1024
ADMIN_PREFIX = "/_admin/"
REDACTED = "[redacted]"

# The payload.code the real gateway puts in each error answer (forced answers default to these).
DEFAULT_CODES = {
    400: "INVALID_REQUEST_EXCEPTION",
    401: "INVALID_ACCESS_TOKEN_EXCEPTION",
    403: "SKILL_DISABLED_EXCEPTION",
    404: "SKILL_NOT_FOUND_EXCEPTION",
    413: "REQUEST_ENTITY_TOO_LARGE_EXCEPTION",
    429: "THROTTLING_EXCEPTION",
    500: "INTERNAL_SERVICE_EXCEPTION",
    503: "SERVICE_UNAVAILABLE_EXCEPTION",
}

_PROJECT_SCHEMAS = Path(__file__).resolve().parent.parent / "skill" / "alexa" / "schemas"
DELETE_REPORT_SCHEMA = _PROJECT_SCHEMAS / "delete_report.schema.json"
SMARTVISION_SCHEMA = _PROJECT_SCHEMAS / "smartvision.schema.json"
SMARTVISION_INTERFACE = "Alexa.SmartVision.ObjectDetectionSensor"
DATA_CONTROLLER_SCHEMA = _PROJECT_SCHEMAS / "data_controller.schema.json"
DATA_CONTROLLER_INTERFACE = "Alexa.DataController"
# Message name -> definition of data_controller.schema.json (outbound messages only).
DATA_CONTROLLER_MESSAGES = {
    "DataReport": "dataReport",
    "DeleteDataResponse": "deleteDataResponse",
    "DataDeleted": "dataDeletedEvent",
    "ErrorResponse": "errorResponse",
}
_DISCOVERY_LISTS = frozenset({"Discover.Response", "AddOrUpdateReport"})


def default_official_schema() -> Path:
    """$ALEXA_SMART_HOME_SCHEMA, else ../shared/alexa/schema/ next to the repository."""
    repo = Path(__file__).resolve().parent.parent
    fallback = repo.parent / "shared" / "alexa" / "schema" / "alexa_smart_home_message_schema.json"
    return Path(os.environ.get("ALEXA_SMART_HOME_SCHEMA") or fallback)


# --- validation -------------------------------------------------------------------------------


class MessageSchemas:
    """Amazon's official schema plus the project's DeleteReport and SmartVision schemas.

    * ``Alexa.Discovery.DeleteReport`` -> delete_report.schema.json;
    * ``Alexa.SmartVision.ObjectDetectionSensor`` messages -> smartvision.schema.json
      (definitions/errorResponse for its ErrorResponse, else definitions/objectDetectionEvent);
    * SmartVision properties in any other message's context (the Alexa.Response to
      SetObjectDetectionClasses) -> smartvision.schema.json (definitions/objectDetectionClassesProperty),
      and the message without them is checked as below;
    * ``Alexa.DataController`` messages -> data_controller.schema.json (the definition of each name);
    * Discover.Response and AddOrUpdateReport -> the official schema with SmartVision and DataController
      capability entries taken out, and each such entry -> its project schema (definitions/capability);
    * everything else -> the official schema.
    """

    def __init__(
        self,
        official: Any,
        delete_report: Any,
        smartvision_event: Any,
        smartvision_capability: Any,
        smartvision_error: Any,
        smartvision_property: Any,
        data_controller: dict[str, Any] | None = None,
    ):
        self.official = official
        self.delete_report = delete_report
        self.smartvision_event = smartvision_event
        self.smartvision_capability = smartvision_capability
        self.smartvision_error = smartvision_error
        self.smartvision_property = smartvision_property
        self.data_controller = data_controller or {}

    @classmethod
    def from_path(cls, official_path: Path) -> MessageSchemas:
        from jsonschema import Draft4Validator

        checker = Draft4Validator.FORMAT_CHECKER
        if "uri" not in checker.checkers or "date-time" not in checker.checkers:
            raise RuntimeError("install rfc3987 and rfc3339-validator: uri/date-time would go unchecked")
        official = json.loads(official_path.read_text())
        Draft4Validator.check_schema(official)
        return cls(
            Draft4Validator(official, format_checker=checker),
            _project_validator(DELETE_REPORT_SCHEMA),
            _project_validator(SMARTVISION_SCHEMA, "objectDetectionEvent"),
            _project_validator(SMARTVISION_SCHEMA, "capability"),
            _project_validator(SMARTVISION_SCHEMA, "errorResponse"),
            _project_validator(SMARTVISION_SCHEMA, "objectDetectionClassesProperty"),
            {
                name: _project_validator(DATA_CONTROLLER_SCHEMA, definition)
                for name, definition in {**DATA_CONTROLLER_MESSAGES, "capability": "capability"}.items()
            },
        )

    def errors(self, message: Any) -> list[str]:
        """Every violation as ``path: text`` (empty when the message is valid)."""
        event = message.get("event") if isinstance(message, dict) else None
        header = event.get("header") if isinstance(event, dict) else None
        namespace, name = (
            (header.get("namespace"), header.get("name")) if isinstance(header, dict) else (None, None)
        )
        if namespace == "Alexa.Discovery" and name == "DeleteReport":
            return _errors(self.delete_report, message)
        if namespace == SMARTVISION_INTERFACE:
            validator = self.smartvision_error if name == "ErrorResponse" else self.smartvision_event
            return _errors(validator, message)
        if namespace == DATA_CONTROLLER_INTERFACE:
            if name not in DATA_CONTROLLER_MESSAGES or name not in self.data_controller:
                return [f"event/header/name: no Alexa.DataController message is called {name!r}"]
            return _errors(self.data_controller[name], message)
        message, problems = self._without_smartvision_properties(message)
        if namespace == "Alexa.Discovery" and name in _DISCOVERY_LISTS:
            return self._discovery_errors(message) + problems
        return _errors(self.official, message) + problems

    def _without_smartvision_properties(self, message: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The message without SmartVision context properties, and their own violations."""
        context = message.get("context")
        properties = context.get("properties") if isinstance(context, dict) else None
        if not isinstance(properties, list) or not any(_is_smartvision(p) for p in properties):
            return message, []
        problems: list[str] = []
        kept = []
        for index, prop in enumerate(properties):
            if _is_smartvision(prop):
                prefix = f"context/properties/{index}"
                problems.extend(f"{prefix}/{p}" for p in _errors(self.smartvision_property, prop))
            else:
                kept.append(prop)
        stripped = copy.deepcopy(message)
        stripped["context"]["properties"] = kept
        return stripped, problems

    def _discovery_errors(self, message: dict[str, Any]) -> list[str]:
        stripped = copy.deepcopy(message)
        problems: list[str] = []
        payload = stripped["event"].get("payload")
        described = payload.get("endpoints") if isinstance(payload, dict) else None
        for index, endpoint in enumerate(described if isinstance(described, list) else []):
            capabilities = endpoint.get("capabilities") if isinstance(endpoint, dict) else None
            if not isinstance(capabilities, list):
                continue
            kept = []
            for position, capability in enumerate(capabilities):
                validator = self._project_capability(capability)
                if validator is not None:
                    prefix = f"event/payload/endpoints/{index}/capabilities/{position}"
                    problems.extend(f"{prefix}/{p}" for p in _errors(validator, capability))
                else:
                    kept.append(capability)
            endpoint["capabilities"] = kept
        return _errors(self.official, stripped) + problems

    def _project_capability(self, capability: Any) -> Any:
        """The project validator of a capability entry Amazon's schema does not know, else None."""
        interface = capability.get("interface") if isinstance(capability, dict) else None
        if interface == SMARTVISION_INTERFACE:
            return self.smartvision_capability
        if interface == DATA_CONTROLLER_INTERFACE:
            return self.data_controller.get("capability")
        return None


def _is_smartvision(prop: Any) -> bool:
    return isinstance(prop, dict) and prop.get("namespace") == SMARTVISION_INTERFACE


def _project_validator(path: Path, definition: str | None = None) -> Any:
    from jsonschema import Draft4Validator

    schema = json.loads(path.read_text())
    Draft4Validator.check_schema(schema)
    if definition is not None:
        schema = {"definitions": schema["definitions"], "$ref": f"#/definitions/{definition}"}
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def _errors(validator: Any, message: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for error in validator.iter_errors(message)
        for e in _explain(error)
    ]


_HEADER_KEYS = (("event", "header", "namespace"), ("event", "header", "name"))


def _explain(error: Any) -> list[Any]:
    """Amazon's schema is nested oneOf/anyOf per message kind: instead of "matches no branch", the
    complaints of the branches written for this message's namespace and name."""
    relevant = _relevant_branches(error)
    if not relevant:
        return [error]
    return [leaf for subs in relevant for sub in subs for leaf in _explain(sub)]


def _relevant_branches(error: Any) -> list[list[Any]]:
    branches: dict[Any, list[Any]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    return [subs for subs in branches.values() if all(_relevant(sub) for sub in subs)]


def _relevant(error: Any) -> bool:
    """False if the error says the message is of another kind (header namespace or name)."""
    if tuple(error.absolute_path) in _HEADER_KEYS:
        return False
    return not error.context or bool(_relevant_branches(error))


# --- the server -------------------------------------------------------------------------------


@dataclass
class Received:
    """One request to the events endpoint and what the stand-in answered."""

    region: str
    status: int
    code: str | None
    message: Any  # the parsed body (None when it was not JSON)
    errors: list[str] = field(default_factory=list)
    forced: bool = False
    received_at: float = field(default_factory=time.time)

    @property
    def accepted(self) -> bool:
        return self.status == 202

    def public(self) -> dict[str, Any]:
        """JSON-ready, with scope tokens replaced (for the admin endpoint and the CLI)."""
        return {
            "region": self.region,
            "status": self.status,
            "code": self.code,
            "forced": self.forced,
            "errors": self.errors,
            "received_at": self.received_at,
            "message": redact_tokens(self.message),
        }


@dataclass
class _Forced:
    status: int
    code: str | None
    remaining: int
    region: str | None  # None: any region


class GatewayServer(LoopbackServer):
    """The Event Gateway on 127.0.0.1 (free port); thread-safe; usable as a context manager."""

    thread_name = "event-gateway-standin"

    def __init__(
        self,
        token_is_valid: Callable[[str], bool],
        *,
        schemas: MessageSchemas | None = None,
        official_schema: Path | None = None,
        host: str = LOOPBACK,
    ) -> None:
        super().__init__(host=host)
        self.token_is_valid = token_is_valid
        self.schemas = schemas or MessageSchemas.from_path(official_schema or default_official_schema())
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._forced: list[_Forced] = []

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def url_for(self, region: str) -> str:
        """What ``ZOSI_EVENT_GATEWAY_URL_<region>`` should be set to."""
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}")
        return f"{self.base_url}/{region}{EVENTS_SUFFIX}"

    def environment(self) -> dict[str, str]:
        """``ZOSI_EVENT_GATEWAY_URL_*`` for every region (the skill also needs ZOSI_LOCAL_MODE=1)."""
        return {f"ZOSI_EVENT_GATEWAY_URL_{r}": self.url_for(r) for r in REGIONS}

    # --- what tests and the CLI use --------------------------------------------------------

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def messages(self, region: str | None = None, *, accepted_only: bool = True) -> list[dict[str, Any]]:
        """The messages received (by default only those answered 202), oldest first."""
        return [
            copy.deepcopy(r.message)
            for r in self.received()
            if (region is None or r.region == region) and (r.accepted or not accepted_only)
        ]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._forced.clear()

    def fail_next(
        self, status: int, code: str | None = None, *, times: int = 1, region: str | None = None
    ) -> None:
        """Answer the next ``times`` requests (for ``region``, or any) with ``status`` and ``payload.code``.

        ``code`` defaults per status (403: SKILL_DISABLED_EXCEPTION; see DEFAULT_CODES).
        """
        if not 400 <= status <= 599:
            raise ValueError("forced status must be 4xx or 5xx")
        if times < 1:
            raise ValueError("times must be at least 1")
        if region is not None and region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}")
        with self._lock:
            self._forced.append(_Forced(status, code or DEFAULT_CODES.get(status), times, region))

    # --- request handling ------------------------------------------------------------------

    def _take_forced(self, region: str) -> _Forced | None:
        with self._lock:
            forced = next((f for f in self._forced if f.region in (None, region)), None)
            if forced is None:
                return None
            forced.remaining -= 1
            if forced.remaining <= 0:
                self._forced.remove(forced)
            return forced

    def _record(self, entry: Received) -> None:
        with self._lock:
            self._received.append(entry)

    def handle_event(self, region: str, authorization: str | None, raw: bytes) -> tuple[int, str | None]:
        """Check and record one message; returns (status, payload.code)."""
        message: Any = None
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            message = None
        forced = self._take_forced(region)
        if forced is not None:
            self._record(Received(region, forced.status, forced.code, message, forced=True))
            return forced.status, forced.code
        status, code, errors = self._judge(authorization, raw, message)
        self._record(Received(region, status, code, message, errors))
        return status, code

    def _judge(
        self, authorization: str | None, raw: bytes, message: Any
    ) -> tuple[int, str | None, list[str]]:
        token = _bearer(authorization)
        if token is None or not self.token_is_valid(token):
            return 401, DEFAULT_CODES[401], ["bearer token missing or not valid"]
        if len(raw) > MAX_MESSAGE_BYTES:
            return 413, DEFAULT_CODES[413], [f"message larger than {MAX_MESSAGE_BYTES} bytes"]
        if message is None:
            return 400, DEFAULT_CODES[400], ["body is not JSON"]
        errors = self.schemas.errors(message)
        scoped = scope_tokens(message)
        if not scoped:
            errors.append("message carries no scope token")
        elif any(t != token for t in scoped):
            errors.append("scope token differs from the bearer token")
        if errors:
            return 400, DEFAULT_CODES[400], errors
        return 202, None, []


def scope_tokens(message: Any) -> list[str]:
    """The tokens of ``event.endpoint.scope`` and ``event.payload.scope``."""
    event = message.get("event") if isinstance(message, dict) else None
    if not isinstance(event, dict):
        return []
    found = []
    for holder in (event.get("endpoint"), event.get("payload")):
        scope = holder.get("scope") if isinstance(holder, dict) else None
        if isinstance(scope, dict) and isinstance(scope.get("token"), str):
            found.append(scope["token"])
    return found


def redact_tokens(message: Any) -> Any:
    """A copy of ``message`` with every scope token replaced."""
    if not isinstance(message, dict):
        return message
    copied = copy.deepcopy(message)
    event = copied.get("event")
    if isinstance(event, dict):
        for holder in (event.get("endpoint"), event.get("payload")):
            scope = holder.get("scope") if isinstance(holder, dict) else None
            if isinstance(scope, dict) and "token" in scope:
                scope["token"] = REDACTED
    return copied


def _bearer(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    return token or None


def _error_body(status: int, code: str | None) -> bytes:
    return json.dumps(
        {
            "header": {"namespace": "System", "name": "Exception", "messageId": str(uuid.uuid4())},
            "payload": {"code": code or "UNKNOWN", "description": f"stand-in answered {status}"},
        }
    ).encode()


class _GatewayHandler(BaseHTTPRequestHandler):
    """The stand-in's HTTP side; ``gateway`` is set per server by ``_handler_for``."""

    gateway: GatewayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # bodies and headers carry tokens

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_MESSAGE_BYTES * 4:
            self._send(413, _error_body(413, DEFAULT_CODES[413]))
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def do_POST(self) -> None:
        raw = self._body()
        if raw is None:
            return
        path = self.path.split("?", 1)[0]
        if path == "/_admin/fail":
            self._admin_fail(raw)
            return
        region = path[1 : -len(EVENTS_SUFFIX)] if path.endswith(EVENTS_SUFFIX) else ""
        if region not in REGIONS:
            self._send(404, _error_body(404, "NOT_FOUND"))
            return
        status, code = self.gateway.handle_event(region, self.headers.get("Authorization"), raw)
        self._send(status, b"" if status == 202 else _error_body(status, code))

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/_admin/events":
            self._send(404, _error_body(404, "NOT_FOUND"))
            return
        lines = "".join(json.dumps(r.public()) + "\n" for r in self.gateway.received())
        self._send(200, lines.encode(), "application/x-ndjson")

    def do_DELETE(self) -> None:
        if self.path.split("?", 1)[0] != "/_admin/events":
            self._send(404, _error_body(404, "NOT_FOUND"))
            return
        self.gateway.clear()
        self._send(204, b"")

    def _admin_fail(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
            self.gateway.fail_next(
                int(body["status"]),
                body.get("code"),
                times=int(body.get("times", 1)),
                region=body.get("region"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, json.dumps({"error": str(exc)}).encode())
            return
        self._send(204, b"")

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def _handler_for(server: GatewayServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_GatewayHandler,), {"gateway": server})


class GatewayAdmin:
    """Drives a running GatewayServer from another process (the CLI)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        import urllib3

        self.base_url = base_url.rstrip("/")
        self._http = urllib3.PoolManager(retries=False, timeout=timeout)

    def events(self) -> list[dict[str, Any]]:
        answer = self._http.request("GET", f"{self.base_url}/_admin/events")
        text = answer.data.decode("utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def clear(self) -> None:
        self._http.request("DELETE", f"{self.base_url}/_admin/events")

    def fail_next(
        self, status: int, code: str | None = None, *, times: int = 1, region: str | None = None
    ) -> None:
        body = json.dumps({"status": status, "code": code, "times": times, "region": region}).encode()
        answer = self._http.request(
            "POST", f"{self.base_url}/_admin/fail", body=body, headers={"Content-Type": "application/json"}
        )
        if answer.status != 204:
            raise RuntimeError(f"admin call answered {answer.status}")
