"""A parsed Smart Home directive: the header, the bearer token wherever the directive keeps it,
the endpoint and the payload. Malformed envelopes raise InvalidDirective."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from skill.alexa.capabilities import DataController, ObjectDetectionSensor
from skill.alexa.errors import InvalidDirective
from skill.alexa.messages import PAYLOAD_VERSION

MAX_FIELD = 4096  # generous bound on header strings and tokens; Alexa's are far shorter
# Alexa's endpointId format (its message schema): anything else is no endpointId Alexa could send,
# and echoing it would make the answer itself invalid.
ENDPOINT_ID = re.compile(r"[a-zA-Z0-9_\-=#;:?@&]{1,256}")
# Every Smart Home directive is payloadVersion "3" except those of interfaces versioned on their own
# (SmartVision, DataController): their directives and ErrorResponses carry the interface version.
INTERFACE_PAYLOAD_VERSIONS: dict[str, str] = {
    c.interface: c.version for c in (ObjectDetectionSensor, DataController)
}


def expected_payload_version(namespace: Any) -> str:
    if isinstance(namespace, str):
        return INTERFACE_PAYLOAD_VERSIONS.get(namespace, PAYLOAD_VERSION)
    return PAYLOAD_VERSION


def _str(value: Any, what: str, *, required: bool = True, limit: int = MAX_FIELD) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidDirective(f"{what} missing or malformed")
    return value


@dataclass(frozen=True)
class Directive:
    namespace: str
    name: str
    message_id: str
    correlation_token: str | None
    payload: dict[str, Any]
    token: str | None
    endpoint_id: str | None = None
    cookie: dict[str, str] = field(default_factory=dict)
    instance: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def require_token(self) -> str:
        if not self.token:
            raise InvalidDirective("bearer token missing")
        return self.token

    def require_endpoint(self) -> str:
        if not self.endpoint_id:
            raise InvalidDirective("endpoint missing")
        return self.endpoint_id

    @classmethod
    def parse(cls, event: Any) -> Directive:
        directive = event.get("directive") if isinstance(event, dict) else None
        if not isinstance(directive, dict):
            raise InvalidDirective("no directive")
        header = directive.get("header")
        if not isinstance(header, dict):
            raise InvalidDirective("no header")
        expected_version = expected_payload_version(header.get("namespace"))
        if header.get("payloadVersion") != expected_version:
            raise InvalidDirective(f"payloadVersion must be {expected_version}")
        payload = directive.get("payload", {})
        if not isinstance(payload, dict):
            raise InvalidDirective("payload must be an object")
        endpoint = directive.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, dict):
            raise InvalidDirective("endpoint must be an object")
        token = None
        endpoint_id = None
        cookie: dict[str, str] = {}
        if endpoint:
            endpoint_id = _str(endpoint.get("endpointId"), "endpointId", limit=256)
            if not ENDPOINT_ID.fullmatch(endpoint_id or ""):
                raise InvalidDirective("endpointId malformed")
            token = _scope_token(endpoint.get("scope"))
            raw_cookie = endpoint.get("cookie") or {}
            if isinstance(raw_cookie, dict):
                cookie = {str(k): str(v) for k, v in raw_cookie.items()}
        if token is None:
            token = _scope_token(payload.get("scope")) or _scope_token(payload.get("grantee"))
        return cls(
            namespace=_str(header.get("namespace"), "namespace", limit=128) or "",
            name=_str(header.get("name"), "name", limit=128) or "",
            message_id=_str(header.get("messageId"), "messageId", limit=256) or "",
            correlation_token=_str(header.get("correlationToken"), "correlationToken", required=False),
            payload=payload,
            token=token,
            endpoint_id=endpoint_id,
            cookie=cookie,
            instance=header.get("instance") if isinstance(header.get("instance"), str) else None,
        )


def _scope_token(scope: Any) -> str | None:
    if scope is None:
        return None
    if not isinstance(scope, dict):
        raise InvalidDirective("scope must be an object")
    if scope.get("type") != "BearerToken":
        raise InvalidDirective("scope type must be BearerToken")
    return _str(scope.get("token"), "scope token")
