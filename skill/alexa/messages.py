"""The envelope of every message the skill sends to Alexa: directive responses and Event Gateway events.

A UUID4 messageId per message, payloadVersion "3" unless the interface versions itself (its
capability's ``version``), the directive's correlationToken echoed, timestamps in the schema's UTC
format. What goes inside (properties, event payloads) comes from ``skill.alexa.capabilities``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotations: errors and directive import capabilities, which imports this
    from skill.alexa.directive import Directive
    from skill.alexa.errors import AlexaError

PAYLOAD_VERSION = "3"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_millis(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ``: timeOfSample and expirationTime."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_seconds(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ``: DoorbellPress timestamps allow no fraction."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def header(
    namespace: str, name: str, correlation_token: str | None = None, payload_version: str = PAYLOAD_VERSION
) -> dict[str, Any]:
    built = {
        "namespace": namespace,
        "name": name,
        "messageId": str(uuid.uuid4()),
        "payloadVersion": payload_version,
    }
    if correlation_token:
        built["correlationToken"] = correlation_token
    return built


def prop(
    namespace: str,
    name: str,
    value: Any,
    sampled_at: datetime | None = None,
    uncertainty_ms: int = 0,
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "name": name,
        "value": value,
        "timeOfSample": iso_millis(sampled_at or utc_now()),
        "uncertaintyInMilliseconds": uncertainty_ms,
    }


def response(
    directive: Directive,
    *,
    namespace: str = "Alexa",
    name: str = "Response",
    payload: dict[str, Any] | None = None,
    properties: list[dict[str, Any]] | None = None,
    with_endpoint: bool = True,
    payload_version: str = "3",
    instance: str | None = None,
) -> dict[str, Any]:
    """A synchronous answer to ``directive`` (``instance``: the capability instance it answers for)."""
    event: dict[str, Any] = {"header": header(namespace, name, directive.correlation_token, payload_version)}
    if instance is not None:
        event["header"]["instance"] = instance
    if with_endpoint and directive.endpoint_id:
        event["endpoint"] = {"endpointId": directive.endpoint_id}
    event["payload"] = payload if payload is not None else {}
    message: dict[str, Any] = {"event": event}
    if properties:
        message["context"] = {"properties": properties}
    return message


def error_response(directive: Directive | None, error: AlexaError) -> dict[str, Any]:
    event: dict[str, Any] = {
        "header": header(
            error.namespace,
            "ErrorResponse",
            directive.correlation_token if directive else None,
            error.payload_version,
        ),
        "payload": error.payload(),
    }
    if directive is not None and directive.endpoint_id and error.echo_endpoint:
        event["endpoint"] = {"endpointId": directive.endpoint_id}
    return {"event": event}


# --- Event Gateway events: the token first, so ``partial(builder, ...)`` is a gateway MessageBuilder --


def gateway_event(
    scope_token: str,
    namespace: str,
    name: str,
    *,
    payload: dict[str, Any],
    endpoint_id: str | None = None,
    context: list[dict[str, Any]] | None = None,
    payload_version: str = PAYLOAD_VERSION,
    instance: str | None = None,
) -> dict[str, Any]:
    """A proactive event for the Alexa Event Gateway, scoped by the user's LWA token (``instance``:
    the capability instance it reports for)."""
    event: dict[str, Any] = {"header": header(namespace, name, payload_version=payload_version)}
    if instance is not None:
        event["header"]["instance"] = instance
    if endpoint_id is not None:
        event["endpoint"] = {
            "scope": {"type": "BearerToken", "token": scope_token},
            "endpointId": endpoint_id,
        }
    event["payload"] = payload
    message: dict[str, Any] = {"event": event}
    if context is not None:
        message["context"] = {"properties": context}
    return message


def change_report(
    scope_token: str,
    *,
    endpoint_id: str,
    cause: str,
    changed: list[dict[str, Any]],
    context: list[dict[str, Any]],
) -> dict[str, Any]:
    """Alexa.ChangeReport: ``changed`` properties in the payload, the unchanged ones in ``context``."""
    return gateway_event(
        scope_token,
        "Alexa",
        "ChangeReport",
        payload={"change": {"cause": {"type": cause}, "properties": changed}},
        endpoint_id=endpoint_id,
        context=context,
    )


def add_or_update_report(scope_token: str, *, described: list[dict[str, Any]]) -> dict[str, Any]:
    return _discovery_report(scope_token, "AddOrUpdateReport", described)


def delete_report(scope_token: str, *, endpoint_ids: list[str]) -> dict[str, Any]:
    return _discovery_report(scope_token, "DeleteReport", [{"endpointId": e} for e in endpoint_ids])


def _discovery_report(scope_token: str, name: str, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    # Discovery reports carry the scope in the payload, not on an endpoint.
    payload = {"endpoints": endpoints, "scope": {"type": "BearerToken", "token": scope_token}}
    return gateway_event(scope_token, "Alexa.Discovery", name, payload=payload)
