"""ACCloud webhook events -> Alexa Event Gateway messages (or erasure), for every linked Alexa account.

``process`` maps each event (parsed by ``skill.cloud.webhook_events``) to its Alexa message per link
that takes events. The table of events and messages, and which events are dropped for age:
docs/architecture.md, "ACCloud events to Alexa messages".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from skill import metrics
from skill.alexa import capabilities, endpoints, messages
from skill.amazon.delete_report import delete_report, link_recipients, send_all, send_delete_report
from skill.amazon.gateway import Deadline, Delivery, GatewayClient, MessageBuilder, Outcome, Recipient
from skill.cloud.webhook_events import (
    ACCOUNT_DELETED,
    CONSENT_GIVEN,
    CONSENT_WITHDRAWN,
    DETECTIONS_DELETED,
    DEVICE_ADDED,
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    DEVICE_REMOVED,
    DEVICE_UPDATED,
    DOORBELL_PRESSED,
    MOTION_CLEARED,
    MOTION_DETECTED,
    PERSON_DETECTED,
    REAL_TIME,
    AccloudEvent,
    EventRejected,
)
from skill.config import settings
from skill.privacy import pseudonyms
from skill.privacy.logs import log

_log = logging.getLogger(__name__)

ACTIVITY_RESOLUTION = timedelta(days=1)


@dataclass
class Result:
    """What processing one event did; the webhook turns it into its HTTP answer."""

    # "sent", "stale", "future", "no_recipients", "unchanged", "erased", "withdrawn", "consent_given",
    # "skipped"
    action: str
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(1 for d in self.deliveries if d.outcome is Outcome.DELIVERED)

    @property
    def worth_redelivery(self) -> bool:
        """Nothing reached Alexa and at least one link failed for a reason a retry may fix."""
        return self.delivered == 0 and any(d.outcome.retryable for d in self.deliveries)


# --- ACCloud event -> Alexa message (envelopes: skill.alexa.messages; contents: capabilities) -------


def doorbell_press(endpoint_id: str, pressed_at: datetime) -> MessageBuilder:
    source = capabilities.DOORBELL_EVENT_SOURCE
    payload = source.press(pressed_at)
    return partial(
        messages.gateway_event,
        namespace=source.interface,
        name="DoorbellPress",
        payload=payload,
        endpoint_id=endpoint_id,
    )


def motion_change(endpoint_id: str, detected: bool, sampled_at: datetime, now: datetime) -> MessageBuilder:
    return partial(
        messages.change_report,
        endpoint_id=endpoint_id,
        cause="PHYSICAL_INTERACTION",
        changed=[capabilities.MOTION_SENSOR.detection_state(detected, sampled_at)],
        # A camera that reports motion is reachable; Alexa wants connectivity in the context.
        context=[capabilities.ENDPOINT_HEALTH.connectivity(True, now)],
    )


def connectivity_change(endpoint_id: str, online: bool, sampled_at: datetime) -> MessageBuilder:
    return partial(
        messages.change_report,
        endpoint_id=endpoint_id,
        cause="PERIODIC_POLL",
        changed=[capabilities.ENDPOINT_HEALTH.connectivity(online, sampled_at)],
        context=[],
    )


def object_detection(
    endpoint_id: str, detection_id: str, detected_at: datetime, object_class: str = "person"
) -> MessageBuilder:
    sensor = capabilities.OBJECT_DETECTION_SENSOR
    return partial(
        messages.gateway_event,
        namespace=sensor.interface,
        name="ObjectDetection",
        payload=sensor.detection(detection_id, detected_at, object_class),
        endpoint_id=endpoint_id,
        payload_version=sensor.version,
    )


def data_deleted(endpoint_id: str, refs: Sequence[str]) -> MessageBuilder:
    controller = capabilities.DATA_CONTROLLER
    return partial(
        messages.gateway_event,
        namespace=controller.interface,
        name=controller.DELETED_EVENT,
        payload=controller.deleted(refs),
        endpoint_id=endpoint_id,
        payload_version=controller.version,
        instance=controller.instance,
    )


def add_or_update_report(described: list[dict[str, Any]]) -> MessageBuilder:
    return partial(messages.add_or_update_report, described=described)


# --- processing ---------------------------------------------------------------------------------


def is_stale(event: AccloudEvent, now: datetime) -> bool:
    return (
        event.type in REAL_TIME
        and (now - event.occurred_at).total_seconds() > settings().event_staleness_seconds
    )


def is_future(event: AccloudEvent, now: datetime) -> bool:
    """Dated further ahead than a signature may be: no clock skew explains it, so it is no real
    press or detection (Alexa would announce a 2099 ring now)."""
    return (
        event.type in REAL_TIME
        and (event.occurred_at - now).total_seconds() > settings().webhook_signature_tolerance_seconds
    )


def process(
    event: AccloudEvent, *, client: GatewayClient, deadline: Deadline, now: datetime | None = None
) -> Result:
    """Act on one verified, first-seen event.

    Raises ``store.StoreUnavailable`` when DynamoDB fails (before sending, or while updating the
    endpoint index after a send); gateway trouble never raises, it is in the Result.
    """
    from models import store

    now = now or messages.utc_now()
    user_key = pseudonyms.user_key(event.user_id)
    if is_stale(event, now):
        metrics.emit(metrics.STALE_EVENTS_DROPPED, event_type=event.type)
        age = int((now - event.occurred_at).total_seconds())
        log(_log, logging.WARNING, "stale event dropped", event_type=event.type, age_seconds=age)
        return Result("stale")
    if is_future(event, now):
        metrics.emit(metrics.FUTURE_EVENTS_DROPPED, event_type=event.type)
        ahead = int((event.occurred_at - now).total_seconds())
        log(_log, logging.WARNING, "future event dropped", event_type=event.type, ahead_seconds=ahead)
        return Result("future")
    view = store.account_view(user_key)  # links and endpoint index in one Query
    if event.type == ACCOUNT_DELETED:
        return _account_deleted(user_key, view, client, deadline)
    if event.type == CONSENT_WITHDRAWN:
        return _consent_withdrawn(user_key, view.links, now)
    if event.type == CONSENT_GIVEN:
        store.set_consent_withdrawn(user_key, None)
        return Result("consent_given")
    if view.consent_withdrawn:  # the withdrawal holds whatever grants Alexa handed over since (V.3)
        log(_log, logging.INFO, "consent withdrawn at ACCloud; event dropped", event_type=event.type)
        return Result("withdrawn")
    recipients = link_recipients(user_key, view.links)
    if not recipients:
        log(_log, logging.INFO, "no Alexa account takes events for this user", event_type=event.type)
        return Result("no_recipients")
    result = _HANDLERS[event.type](_Work(event, user_key, recipients, view.endpoints, client, deadline, now))
    _record_activity(user_key, view, now)
    return result


def _record_activity(user_key: str, view: Any, now: datetime) -> None:
    """Mark the account active for the retention job, at most once a day (so a doorbell press
    stays at two DynamoDB calls: the dedupe claim and the account view)."""
    from models import store

    last = view.last_active_at
    if view.has_profile and (last is None or now - last > ACTIVITY_RESOLUTION):
        store.touch_profile(user_key, now=now)


@dataclass(frozen=True)
class _Work:
    """One device event and the links it goes to."""

    event: AccloudEvent
    user_key: str
    recipients: list[Recipient]
    index: Mapping[str, Any]  # endpointId -> store.EndpointRecord, as last reported to Alexa
    client: GatewayClient
    deadline: Deadline
    now: datetime

    @property
    def endpoint_id(self) -> str:
        if self.event.device_id is None:  # parse() requires it for every device event
            raise EventRejected("device event without device_id")
        return pseudonyms.endpoint_id(self.event.user_id, self.event.device_id)

    def send(self, build: MessageBuilder) -> list[Delivery]:
        return send_all(self.recipients, build, self.client, self.deadline)

    def send_if_advertised(
        self, build: MessageBuilder, interface: str, category: str | None = None
    ) -> Result:
        if not advertised(self.index.get(self.endpoint_id), interface, category):
            log(
                _log,
                logging.WARNING,
                "event for an endpoint without that interface",
                event_type=self.event.type,
            )
            return Result("skipped")
        return Result("sent", self.send(build))


def advertised(record: Any, interface: str, category: str | None = None) -> bool:
    """Whether an endpoint, as last reported to Alexa, has ``interface`` (and ``category``).

    An endpoint missing from the index (Alexa learned it from a Discover directive that does not
    write the index), or indexed before the index recorded interfaces, is given the benefit of the
    doubt: Alexa itself rejects what it cannot use.
    """
    if record is None:
        return True
    if category is not None and category not in record.categories:
        return False
    return record.interfaces is None or interface in record.interfaces


def _doorbell(work: _Work) -> Result:
    build = doorbell_press(work.endpoint_id, work.event.occurred_at)
    return work.send_if_advertised(build, capabilities.DOORBELL_EVENT_SOURCE.interface, "DOORBELL")


def _motion(work: _Work) -> Result:
    detected = work.event.type == MOTION_DETECTED
    build = motion_change(work.endpoint_id, detected, work.event.occurred_at, work.now)
    return work.send_if_advertised(build, capabilities.MOTION_SENSOR.interface)


def _person(work: _Work) -> Result:
    # One identifier for the detection, the same for every link; not derived from ACCloud's event id.
    build = object_detection(work.endpoint_id, str(uuid.uuid4()), work.event.occurred_at)
    return work.send_if_advertised(build, capabilities.OBJECT_DETECTION_SENSOR.interface)


def _detections_deleted(work: _Work) -> Result:
    # Alexa knows the detections only by their opaque refs (as ReportData listed them), never by
    # ACCloud's ids. Not dropped for age: Alexa must learn of a deletion however late it comes.
    endpoint_id = work.endpoint_id  # raises for a device event without device_id
    user_id, device_id = work.event.user_id, work.event.device_id or ""
    refs = [pseudonyms.detection_ref(user_id, device_id, d) for d in work.event.detection_ids]
    return work.send_if_advertised(data_deleted(endpoint_id, refs), capabilities.DATA_CONTROLLER.interface)


def _connectivity(work: _Work) -> Result:
    build = connectivity_change(work.endpoint_id, work.event.type == DEVICE_ONLINE, work.event.occurred_at)
    return Result("sent", work.send(build))


def _device_changed(work: _Work) -> Result:
    from models import store

    device = work.event.device
    if device is None:  # parse() requires it for device.added/updated
        raise EventRejected("device event without device")
    try:
        described = endpoints.describe(work.event.user_id, device)
    except (endpoints.UndescribableDevice, ValueError) as exc:
        log(_log, logging.WARNING, "device cannot be described to Alexa", reason=str(exc), kind=device.kind)
        return Result("skipped")
    endpoint_id = described["endpointId"]
    record = store.EndpointRecord(
        tuple(described["displayCategories"]),
        endpoints.capability_digest(described),
        endpoints.interfaces_of(described),
    )
    last = work.index.get(endpoint_id)
    # The digest covers the capabilities: equal digests mean Alexa was told the same interfaces.
    if last is not None and (last.categories, last.capability_digest) == (
        record.categories,
        record.capability_digest,
    ):
        return Result("unchanged")
    if endpoint_id not in work.index and len(work.index) >= endpoints.MAX_ENDPOINTS:
        log(_log, logging.WARNING, "account at Alexa's endpoint limit; device not added")
        return Result("skipped")
    deliveries = work.send(add_or_update_report([described]))
    if any(d.outcome is Outcome.DELIVERED for d in deliveries):
        # Only what Alexa accepted counts as reported; otherwise the next update tries again.
        try:
            store.apply_endpoint_diff(work.user_key, upserts={endpoint_id: record})
        except store.ErasedDuringRequest:
            # The user was erased while this event was processed: nothing of theirs may be stored,
            # and a redelivery would find no link to report to.
            log(_log, logging.INFO, "user erased meanwhile; endpoint not indexed", event_type=work.event.type)
    return Result("sent", deliveries)


def _device_removed(work: _Work) -> Result:
    from models import store

    deliveries = work.send(delete_report([work.endpoint_id]))
    # The device is gone whatever Alexa answered; keeping it indexed would only repeat the report.
    store.apply_endpoint_diff(work.user_key, upserts={}, removals=[work.endpoint_id])
    return Result("sent", deliveries)


_HANDLERS: dict[str, Callable[[_Work], Result]] = {
    DOORBELL_PRESSED: _doorbell,
    MOTION_DETECTED: _motion,
    MOTION_CLEARED: _motion,
    PERSON_DETECTED: _person,
    DEVICE_ONLINE: _connectivity,
    DEVICE_OFFLINE: _connectivity,
    DEVICE_ADDED: _device_changed,
    DEVICE_UPDATED: _device_changed,
    DEVICE_REMOVED: _device_removed,
    DETECTIONS_DELETED: _detections_deleted,
}


def _account_deleted(user_key: str, view: Any, client: GatewayClient, deadline: Deadline) -> Result:
    """DeleteReport of every indexed endpoint to every link that takes events, then erase the partition."""
    from skill.privacy import erasure

    deliveries: list[Delivery] = []

    def report(key: str) -> None:
        deliveries.extend(send_delete_report(key, view=view, client=client, deadline=deadline))

    erasure.erase_account(user_key, erasure.Trigger.ACCLOUD_ACCOUNT_DELETED, notify_alexa=report)
    return Result("erased", deliveries)


def _consent_withdrawn(user_key: str, links: Iterable[Any], now: datetime) -> Result:
    """Record the withdrawal, delete every grant and stop events on every link; later events for the
    user are ignored until ACCloud reports consent given. Recorded first: a grant stored meanwhile
    (AcceptGrant) is then held back by the record. A user without a profile has nothing to hold it:
    every link of theirs loses its grant, and nothing new is stored about them."""
    from models import store
    from skill.privacy import erasure

    store.set_consent_withdrawn(user_key, now)
    for link in links:
        erasure.erase_grant(user_key, link.link_key, erasure.Trigger.ACCLOUD_CONSENT_WITHDRAWN)
    return Result("withdrawn")
