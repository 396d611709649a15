"""Alexa.DataController (interface 1.0, payloadVersion "1.0"), instance Camera.SmartVisionData:
the Alexa app lists a camera's detections (ReportData -> DataReport, paged) and deletes them
(DeleteData -> DeleteDataResponse). ACCloud holds the detections; the skill stores nothing.

Alexa sees detection ids only sealed to the owner and camera (``pseudonyms.detection_ref``) and
ACCloud's cursor only sealed to the owner, endpoint and query (``page_tokens``). A deletion is
answered after ACCloud confirmed it, and as a success only if ACCloud deleted all of it.
docs/data-controller.md has which message names Amazon's pages confirm and which are chosen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from skill.alexa import capabilities, messages
from skill.alexa.errors import DataControllerError, InvalidDirective, InvalidValue
from skill.cloud.contract import Detection, Device
from skill.privacy import page_tokens, pseudonyms
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles

CONTROLLER = capabilities.DataController()
SENSOR = capabilities.ObjectDetectionSensor()
NAMESPACE = CONTROLLER.interface
VERSION = CONTROLLER.version
DEFAULT_PAGE = 25
MAX_PAGE = 100  # ACCloud's largest page; a larger maxResults is capped
MAX_IDENTIFIERS = 100  # ACCloud deletes at most this many ids in one call
# The project schema's timestamp: UTC, seconds, optional milliseconds.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z")


def _require_instance(ctx: DirectiveContext) -> None:
    if ctx.directive.instance != CONTROLLER.instance:
        raise InvalidDirective("unknown data controller instance")


def _require_history(ctx: DirectiveContext, error_type: str) -> Device:
    """The addressed camera, if it reports object detection (else the interface's own error)."""
    device = ctx.device()
    if not CONTROLLER.applies(device):
        raise DataControllerError(error_type, "this camera keeps no detection history")
    return device


def _moment(value: Any) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise InvalidDirective("timeRange times must be UTC timestamps")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # 2026-02-30 and the like
        raise InvalidDirective("timeRange time is no date") from None


def _time_range(raw: Any) -> tuple[datetime, datetime]:
    if not isinstance(raw, dict) or "start" not in raw or "end" not in raw:
        raise InvalidDirective("timeRange needs start and end")
    start, end = _moment(raw["start"]), _moment(raw["end"])
    if start >= end:
        raise InvalidValue("timeRange start must be before its end")
    return start, end


def _stated_query(payload: Mapping[str, Any]) -> tuple[page_tokens.Query, bool, bool, Any]:
    """The query a ReportData states: (query, states a range, states a size, its nextToken)."""
    since = until = None
    if "timeRange" in payload:
        start, end = _time_range(payload["timeRange"])
        since, until = messages.iso_millis(start), messages.iso_millis(end)
    pagination = payload.get("paginationContext", {})
    if not isinstance(pagination, dict):
        raise InvalidDirective("paginationContext malformed")
    size = pagination.get("maxResults", DEFAULT_PAGE)
    if type(size) is not int or size < 1:
        raise InvalidDirective("maxResults must be a positive integer")
    query = page_tokens.Query(since, until, min(size, MAX_PAGE))
    return query, "timeRange" in payload, "maxResults" in pagination, pagination.get("nextToken")


def _page_request(ctx: DirectiveContext) -> tuple[page_tokens.Query, str | None]:
    """The query to answer and ACCloud's cursor: a nextToken must open for this user and endpoint,
    and a follow-up may restate the query it was issued for but not change it."""
    query, states_range, states_size, token = _stated_query(ctx.directive.payload)
    if token is None:
        return query, None
    try:
        cursor, issued_for = page_tokens.open_token(
            ctx.user().user_id, ctx.directive.require_endpoint(), token
        )
    except page_tokens.InvalidPageToken:
        raise InvalidValue("nextToken is not valid for this request") from None
    if (states_range and (query.since, query.until) != (issued_for.since, issued_for.until)) or (
        states_size and query.limit != issued_for.limit
    ):
        raise InvalidValue("nextToken was issued for another query")
    return issued_for, cursor


def _record(owner_user_id: str, device_id: str, detection: Detection) -> dict[str, Any]:
    """One detection in the SmartVisionData schema: its opaque id, when, which class. No image."""
    return {
        "id": pseudonyms.detection_ref(owner_user_id, device_id, detection.id),
        "timeOfSample": messages.iso_millis(detection.occurred_at),
        "imageNetClass": detection.object_class,
    }


def _answer(ctx: DirectiveContext, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return messages.response(
        ctx.directive,
        namespace=NAMESPACE,
        name=name,
        payload=payload,
        payload_version=VERSION,
        instance=CONTROLLER.instance,
    )


@handles(NAMESPACE, "ReportData")
def report_data(ctx: DirectiveContext) -> dict[str, Any]:
    _require_instance(ctx)
    query, cursor = _page_request(ctx)
    device = _require_history(ctx, "DATA_RETRIEVAL_NOT_SUPPORTED")
    in_effect = SENSOR.classes_for(device)
    page = ctx.cloud.detections(
        ctx.token,
        device.id,
        since=_moment(query.since) if query.since else None,
        until=_moment(query.until) if query.until else None,
        cursor=cursor,
        limit=query.limit,
    )
    owner = ctx.user().user_id
    payload: dict[str, Any] = {
        "dataRetrievalSchema": dict(CONTROLLER.RETRIEVAL_SCHEMA),
        "data": [_record(owner, device.id, d) for d in page.detections if d.object_class in in_effect],
    }
    if page.next_cursor is not None:
        endpoint = ctx.directive.require_endpoint()
        payload["paginationContext"] = {
            "nextToken": page_tokens.seal(owner, endpoint, query, page.next_cursor)
        }
    return _answer(ctx, "DataReport", payload)


def _identifiers(ctx: DirectiveContext, raw: Any) -> dict[str, str]:
    """Opaque identifier -> ACCloud's detection id, all of them this owner's and camera's, or the
    whole directive is refused before anything is deleted."""
    if (
        not isinstance(raw, list)
        or not 1 <= len(raw) <= MAX_IDENTIFIERS
        or not all(isinstance(r, str) for r in raw)
    ):
        raise InvalidDirective(f"identifiers must list 1 to {MAX_IDENTIFIERS} detections")
    owner, device_id = ctx.user().user_id, ctx.device_id()
    try:
        return {ref: pseudonyms.detection_id_for(owner, device_id, ref) for ref in dict.fromkeys(raw)}
    except pseudonyms.Unopenable:
        raise InvalidValue("an identifier is not a detection of this camera") from None


def _delete_by_identifiers(ctx: DirectiveContext, asked: dict[str, str]) -> list[str]:
    result = ctx.cloud.delete_detections(ctx.token, ctx.device_id(), ids=tuple(asked.values()))
    confirmed = set(result.deleted)
    missing = [ref for ref, detection_id in asked.items() if detection_id not in confirmed]
    if missing:  # never a success; "not held" may follow our own attempt whose answer was lost
        confirmed_count = len(asked) - len(missing)
        raise InvalidValue(
            f"{confirmed_count} of {len(asked)} confirmed deleted; ACCloud does not hold the others"
        )
    return list(asked)


def _delete_in_range(ctx: DirectiveContext, start: datetime, end: datetime) -> list[str]:
    device_id = ctx.device_id()
    result = ctx.cloud.delete_detections(ctx.token, device_id, since=start, until=end)
    owner = ctx.user().user_id
    return [pseudonyms.detection_ref(owner, device_id, d) for d in dict.fromkeys(result.deleted)]


@handles(NAMESPACE, "DeleteData")
def delete_data(ctx: DirectiveContext) -> dict[str, Any]:
    _require_instance(ctx)
    payload = ctx.directive.payload
    if ("identifiers" in payload) == ("timeRange" in payload):
        raise InvalidDirective("DeleteData names identifiers or a timeRange")
    if "identifiers" in payload:
        asked = _identifiers(ctx, payload["identifiers"])
        _require_history(ctx, "DATA_DELETION_NOT_SUPPORTED")
        deleted = _delete_by_identifiers(ctx, asked)
    else:
        start, end = _time_range(payload["timeRange"])
        _require_history(ctx, "DATA_DELETION_NOT_SUPPORTED")
        deleted = _delete_in_range(ctx, start, end)
    return _answer(ctx, "DeleteDataResponse", {"deleted": deleted})
