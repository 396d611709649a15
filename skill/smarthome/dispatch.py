"""Turns a Smart Home directive event into exactly one answer, never an exception.

Unknown (namespace, name) pairs and malformed envelopes (also one nesting deeper or holding more
than ``skill.bounded`` allows) get INVALID_DIRECTIVE; a directive addressing an endpoint is checked
for ownership before its payload, so a foreign endpointId is always NO_SUCH_ENDPOINT; typed Alexa
errors become their ErrorResponse; ACCloud failures are mapped in ``errors.from_cloud``;
anything unexpected is INTERNAL_ERROR. This is the only place that builds error responses.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from skill import bounded, http, secrets
from skill.alexa import errors, messages
from skill.alexa.directive import ENDPOINT_ID, Directive
from skill.cloud import contract, users
from skill.cloud.client import HttpCameraCloud
from skill.config import ConfigError
from skill.privacy.logs import correlation_id, log
from skill.smarthome import registry
from skill.smarthome.context import CloudFactory, DirectiveContext, budget_for

# Importing an interface module registers its handlers.
from skill.smarthome import authorization, camera_stream, discovery, health, rtc  # noqa: F401  isort: skip
from skill.smarthome import data_controller, object_detection  # noqa: F401  isort: skip

_log = logging.getLogger(__name__)


def default_cloud(deadline: http.Deadline) -> contract.CameraCloud:
    return HttpCameraCloud(deadline)


def handle(
    event: Any, lambda_context: Any = None, cloud_factory: CloudFactory | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    directive: Directive | None = None
    outcome = "ok"
    try:
        _check_bounds(event)
        directive = Directive.parse(event)
        correlation_id.set(directive.message_id)
        handler = registry.lookup(*directive.key)
        if handler is None:
            raise errors.InvalidDirective("unsupported directive")
        remaining = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else None
        deadline = http.Deadline(budget_for(directive, remaining))
        cloud = (cloud_factory or default_cloud)(deadline)
        context = DirectiveContext(directive, cloud, deadline)
        with http.bounded_by(deadline):  # DynamoDB, KMS and LWA keep to it too, not only ACCloud
            if directive.endpoint_id is not None:
                # Ownership first: an endpointId that is not the caller's is NO_SUCH_ENDPOINT, whatever
                # else is wrong with the directive, so its answer says nothing about that endpoint.
                context.device_id()
            answer = handler(context)
    except errors.AlexaError as exc:
        directive = directive or _salvage(event)
        answer, outcome = _error(directive, exc)
    except contract.CloudError as exc:
        if isinstance(exc, contract.InvalidToken | contract.ExpiredToken) and directive and directive.token:
            users.forget(directive.token)
        answer, outcome = _error(directive, errors.from_cloud(exc))
    except (ConfigError, secrets.SecretUnavailable) as exc:
        log(_log, logging.ERROR, "configuration problem", error_code=type(exc).__name__, detail=str(exc))
        directive = directive or _salvage(event)
        answer, outcome = _error(directive, errors.InternalError("internal error"))
    except Exception:
        _log.exception("directive handler failed")
        directive = directive or _salvage(event)
        answer, outcome = _error(directive, errors.InternalError("internal error"))
    log(
        _log,
        logging.INFO if outcome == "ok" else logging.WARNING,
        "directive handled",
        namespace=directive.namespace if directive else None,
        directive=directive.name if directive else None,
        outcome=outcome,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return answer


def _check_bounds(event: Any) -> None:
    """A directive Lambda decoded for us can still nest too deep for any later walk (str, json)."""
    try:
        bounded.check(event)
    except bounded.OutOfBounds as exc:
        raise errors.InvalidDirective(f"directive {exc.reason.replace('_', ' ')}") from None


def _error(directive: Directive | None, error: errors.AlexaError) -> tuple[dict[str, Any], str]:
    """The ErrorResponse for ``error``; AcceptGrant only ever fails as ACCEPT_GRANT_FAILED, a
    DataController directive only with Alexa.DataController.ErrorResponse."""
    in_grant = directive is not None and directive.namespace == "Alexa.Authorization"
    if in_grant and not isinstance(error, errors.AcceptGrantFailed):
        error = errors.AcceptGrantFailed(f"grant not accepted: {error.error_type.lower()}")
    if directive is not None and directive.namespace == errors.DataControllerError.namespace:
        error = errors.DataControllerError.of(error)
    return messages.error_response(directive, error), error.error_type


def _salvage(event: Any) -> Directive | None:
    """Enough of a malformed directive to echo its correlationToken and endpointId."""
    try:
        raw = event["directive"]
        header = raw.get("header", {}) if isinstance(raw, dict) else {}
        token = header.get("correlationToken")
        endpoint = raw.get("endpoint") if isinstance(raw, dict) else None
        endpoint_id = endpoint.get("endpointId") if isinstance(endpoint, dict) else None
    except (KeyError, TypeError, AttributeError):
        return None
    namespace = header.get("namespace") if isinstance(header, dict) else None
    return Directive(
        namespace=namespace if isinstance(namespace, str) else "",  # no str(): it may nest too deep
        name="",
        message_id="",
        correlation_token=token if isinstance(token, str) and 0 < len(token) <= 4096 else None,
        payload={},
        token=None,
        endpoint_id=endpoint_id if _valid_endpoint_id(endpoint_id) else None,
    )


def _valid_endpoint_id(value: Any) -> bool:
    return isinstance(value, str) and ENDPOINT_ID.fullmatch(value) is not None
