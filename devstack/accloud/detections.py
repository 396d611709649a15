"""The reference ACCloud's detection history: what a camera recognised, listed by time range and
cursor, deleted by id or by range (docs/accloud-openapi.yaml, tag ``detections``).

Its own module so the device API (api.py) and the admin endpoints only route to it. Newest
first; the cursor is the keyset of the last detection of the page (not an offset), so a
deletion between pages skips nothing. Kept in memory per server like the rest of the cloud.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devstack.accloud.state import rfc3339

DEFAULT_PAGE = 25
MAX_PAGE = 100
MAX_DELETE_IDS = 100
DETECTION_ID = re.compile(r"det_[A-Za-z0-9]{1,64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z")

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Detection:
    id: str
    device_id: str
    object_class: str
    occurred_at: float

    def wire(self, media_host: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": self.object_class,
            "occurred_at": rfc3339(self.occurred_at),
            # A real cloud offers a short-lived thumbnail; the skill never reads it (allow-list).
            "media_uri": f"https://{media_host}/thumbs/{uuid.uuid4().hex}.jpg",
        }

    @property
    def order(self) -> tuple[float, str]:
        return (self.occurred_at, self.id)


class BadQuery(ValueError):
    """A malformed range, cursor, limit or id list: 400 invalid_request."""


def _error(description: str) -> Answer:
    return 400, {"error": "invalid_request", "error_description": description}


def _time(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise BadQuery(f"{what} must be an RFC 3339 UTC time")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _range(since: Any, until: Any) -> tuple[float | None, float | None]:
    start, end = _time(since, "since"), _time(until, "until")
    if start is not None and end is not None and start >= end:
        raise BadQuery("since must be before until")
    return start, end


def _encode_cursor(detection: Detection) -> str:
    raw = json.dumps([detection.occurred_at, detection.id]).encode()
    return "cur_" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        body = cursor.removeprefix("cur_")
        at, last_id = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not cursor.startswith("cur_") or not isinstance(at, int | float) or not isinstance(last_id, str):
            raise ValueError
    except (ValueError, TypeError):
        raise BadQuery("cursor malformed") from None
    return float(at), last_id


class DetectionStore:
    """Every camera's detections; thread-safe."""

    def __init__(self, clock: Callable[[], float], media_host: str) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.media_host = media_host
        self._by_device: dict[str, dict[str, Detection]] = {}

    def reset(self) -> None:
        with self._lock:
            self._by_device.clear()

    def record(
        self, device_id: str, object_class: str = "person", occurred_at: float | None = None
    ) -> Detection:
        detection = Detection(
            f"det_{uuid.uuid4().hex}",
            device_id,
            object_class,
            self._clock() if occurred_at is None else occurred_at,
        )
        with self._lock:
            self._by_device.setdefault(device_id, {})[detection.id] = detection
        return detection

    def held(self, device_id: str) -> list[Detection]:
        """Newest first."""
        with self._lock:
            return sorted(self._by_device.get(device_id, {}).values(), key=lambda d: d.order, reverse=True)

    def drop_device(self, device_id: str) -> None:
        with self._lock:
            self._by_device.pop(device_id, None)

    def remove(self, device_id: str, ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """(deleted, not found), each in the order asked, without repeats."""
        deleted: list[str] = []
        missing: list[str] = []
        with self._lock:
            held = self._by_device.get(device_id, {})
            for detection_id in dict.fromkeys(ids):
                (deleted if held.pop(detection_id, None) is not None else missing).append(detection_id)
        return deleted, missing

    def in_range(self, device_id: str, start: float | None, end: float | None) -> list[str]:
        return [
            d.id
            for d in self.held(device_id)
            if (start is None or d.occurred_at >= start) and (end is None or d.occurred_at < end)
        ]

    # --- the two operations, as (status, body) for the server to send -----------------------

    def list_page(self, device_id: str, query: Mapping[str, str]) -> Answer:
        """GET /v1/devices/{device_id}/detections (ownership already checked)."""
        try:
            start, end = _range(query.get("since"), query.get("until"))
            limit = _limit(query.get("limit"))
            after = _decode_cursor(query["cursor"]) if query.get("cursor") else None
        except BadQuery as exc:
            return _error(str(exc))
        matching = [
            d
            for d in self.held(device_id)
            if (start is None or d.occurred_at >= start)
            and (end is None or d.occurred_at < end)
            and (after is None or d.order < after)
        ]
        page = matching[:limit]
        more = len(matching) > limit
        return 200, {
            "detections": [d.wire(self.media_host) for d in page],
            "next_cursor": _encode_cursor(page[-1]) if more else None,
        }

    def delete(self, device_id: str, body: Any) -> Answer:
        """POST /v1/devices/{device_id}/detections/delete: by ``ids`` or by ``since``/``until``."""
        if not isinstance(body, dict) or ("ids" in body) == ("since" in body or "until" in body):
            return _error("give either ids or a time range")
        if "ids" in body:
            ids = body["ids"]
            if (
                not isinstance(ids, list)
                or not 1 <= len(ids) <= MAX_DELETE_IDS
                or not all(isinstance(i, str) and DETECTION_ID.fullmatch(i) for i in ids)
            ):
                return _error(f"ids must be 1 to {MAX_DELETE_IDS} detection ids")
            deleted, missing = self.remove(device_id, ids)
            return 200, {"deleted": deleted, "not_found": missing}
        try:
            start, end = _range(body.get("since"), body.get("until"))
        except BadQuery as exc:
            return _error(str(exc))
        deleted, _ = self.remove(device_id, self.in_range(device_id, start, end))
        return 200, {"deleted": deleted, "not_found": []}


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadQuery(f"limit must be 1 to {MAX_PAGE}")
    return int(raw)
