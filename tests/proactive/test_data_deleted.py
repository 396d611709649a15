"""ACCloud's detections.deleted -> Alexa.DataController DataDeleted (docs/data-controller.md, "Events").

Signed webhook in, exact Event Gateway message out, through the path every proactive event takes
(dedupe, consent, links, the endpoint index); the gateway stand-in and the tests validate each
message against the project schema.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from devstack.demo_data import ALICE_ID, BACK_YARD, BOB_ID
from skill.privacy import pseudonyms
from skill.proactive import webhook
from tests.alexa_schema import AlexaSchema
from tests.proactive.conftest import DEVICE_WIRE, Stack, accloud_event, ago, rfc3339, signed_event

DETECTIONS = ["det_9b2f4c1a7e3d", "det_0c1d2e3f4a5b"]


def deletion(ids: list[str] = DETECTIONS, reason: str = "deleted", **extra: Any) -> dict[str, Any]:
    return accloud_event("detections.deleted", ALICE_ID, BACK_YARD, detection_ids=ids, reason=reason, **extra)


def deliver(stack: Stack, event: dict[str, Any]) -> int:
    return webhook.respond(signed_event(event), client=stack.client())["statusCode"]


def refs(ids: list[str]) -> list[str]:
    """What Alexa knows the detections by: the ids ReportData listed them under."""
    return [pseudonyms.detection_ref(ALICE_ID, BACK_YARD, i) for i in ids]


def data_deleted(token: str, ids: list[str]) -> dict[str, Any]:
    return {
        "event": {
            "header": {
                "namespace": "Alexa.DataController",
                "name": "DataDeleted",
                "instance": "Camera.SmartVisionData",
                "messageId": ANY,
                "payloadVersion": "1.0",
            },
            "endpoint": {
                "scope": {"type": "BearerToken", "token": token},
                "endpointId": pseudonyms.endpoint_id(ALICE_ID, BACK_YARD),
            },
            "payload": {"deleted": refs(ids)},
        }
    }


@pytest.mark.parametrize("reason", ["deleted", "expired"])
def test_a_deletion_in_the_zosi_app_reaches_every_linked_alexa_account_in_its_region(
    stack: Stack, alexa_schema: AlexaSchema, reason: str
) -> None:
    tokens = {region: stack.link(ALICE_ID, f"lnk_{region.lower()}", region) for region in ("NA", "EU")}
    stack.link(ALICE_ID, "lnk_nogrant", "FE", grant=False)
    assert deliver(stack, deletion(reason=reason)) == 202
    for region, token in tokens.items():
        [message] = stack.gateway.messages(region)
        alexa_schema.assert_valid(message)
        assert message == data_deleted(token, DETECTIONS)
    assert stack.gateway.messages("FE") == []


def test_alexa_hears_the_opaque_refs_never_acclouds_ids(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    assert deliver(stack, deletion()) == 202
    [message] = stack.gateway.messages()
    assert not [i for i in DETECTIONS if i in repr(message)]
    opened = [
        pseudonyms.detection_id_for(ALICE_ID, BACK_YARD, r) for r in message["event"]["payload"]["deleted"]
    ]
    assert opened == DETECTIONS


def test_the_contracts_largest_deletion_is_one_valid_message(stack: Stack, alexa_schema: AlexaSchema) -> None:
    token = stack.link(ALICE_ID, "lnk_a")
    ids = [f"det_{i:032x}" for i in range(1000)]
    assert deliver(stack, deletion(ids)) == 202
    [message] = stack.gateway.messages()
    alexa_schema.assert_valid(message)
    assert message == data_deleted(token, ids)


@pytest.mark.parametrize(
    "occurred_at", [rfc3339(ago(86_400)), "2099-01-01T00:00:00Z"], ids=["a day old", "2099"]
)
def test_a_deletion_is_never_dropped_for_its_date(stack: Stack, occurred_at: str) -> None:
    """Not a real-time event: Alexa must learn of a deletion however late (or oddly dated) it comes."""
    stack.link(ALICE_ID, "lnk_a")
    assert deliver(stack, deletion(occurred_at=occurred_at)) == 202
    assert [m["event"]["header"]["name"] for m in stack.gateway.messages()] == ["DataDeleted"]
    assert stack.metrics_named("StaleEventsDropped") == stack.metrics_named("FutureEventsDropped") == []


def test_a_redelivery_is_not_sent_again(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    event = deletion()
    assert deliver(stack, event) == 202
    assert deliver(stack, event) == 200
    assert len(stack.gateway.messages()) == 1


def test_after_consent_is_withdrawn_nothing_is_sent_until_it_is_given_again(stack: Stack) -> None:
    from datetime import UTC, datetime

    from models import store

    now = datetime.now(UTC)
    user_key = pseudonyms.user_key(ALICE_ID)
    stack.link(ALICE_ID, "lnk_a")
    store.put_profile(user_key, consented_at=now, accepted_policy_version="2019-06-01", linked_at=now)
    assert deliver(stack, accloud_event("account.consent_withdrawn", ALICE_ID)) == 202
    stack.link(ALICE_ID, "lnk_a")  # a new grant from Alexa does not lift ACCloud's withdrawal (V.3)
    assert deliver(stack, deletion()) == 202
    assert stack.gateway.received() == []
    assert deliver(stack, accloud_event("account.consent_given", ALICE_ID)) == 202
    assert deliver(stack, deletion()) == 202
    assert [m["event"]["header"]["name"] for m in stack.gateway.messages()] == ["DataDeleted"]


def test_after_erasure_nothing_is_sent(stack: Stack) -> None:
    from models import store

    stack.link(ALICE_ID, "lnk_a")
    assert deliver(stack, accloud_event("account.deleted", ALICE_ID)) == 202
    assert deliver(stack, deletion()) == 202
    assert stack.gateway.messages() == []
    assert store.export_user(pseudonyms.user_key(ALICE_ID)) == []


@pytest.mark.parametrize("linked", ["no link", "a link without a grant", "another user's link"])
def test_without_a_link_that_takes_events_nothing_is_sent_or_stored(stack: Stack, linked: str) -> None:
    from models import store

    if linked == "a link without a grant":
        stack.link(ALICE_ID, "lnk_a", grant=False)
    elif linked == "another user's link":
        stack.link(BOB_ID, "lnk_b")
    before = store.export_user(pseudonyms.user_key(ALICE_ID))
    assert deliver(stack, deletion()) == 202
    assert stack.gateway.received() == []
    assert store.export_user(pseudonyms.user_key(ALICE_ID)) == before


@pytest.mark.parametrize("person_detection", [True, False])
def test_only_an_endpoint_reported_with_data_controller_hears_of_a_deletion(
    stack: Stack, alexa_schema: AlexaSchema, person_detection: bool
) -> None:
    """The endpoint index records the interfaces device.added reported; a camera that detects no
    one was offered no history (no Alexa.DataController), so a deletion on it is not sent."""
    from models import store

    stack.link(ALICE_ID, "lnk_a")
    device = {
        **DEVICE_WIRE,
        "capabilities": {**DEVICE_WIRE["capabilities"], "person_detection": person_detection},
    }
    assert deliver(stack, accloud_event("device.added", ALICE_ID, device["id"], device=device)) == 202
    [added] = stack.gateway.messages()
    reported = {c["interface"] for c in added["event"]["payload"]["endpoints"][0]["capabilities"]}
    assert ("Alexa.DataController" in reported) is person_detection
    endpoint_id = pseudonyms.endpoint_id(ALICE_ID, device["id"])
    recorded = store.endpoint_index(pseudonyms.user_key(ALICE_ID))[endpoint_id].interfaces
    assert recorded is not None and set(recorded) == reported
    event = accloud_event(
        "detections.deleted", ALICE_ID, device["id"], detection_ids=DETECTIONS, reason="deleted"
    )
    assert deliver(stack, event) == 202
    names = [m["event"]["header"]["name"] for m in stack.gateway.messages()]
    assert names == (["AddOrUpdateReport", "DataDeleted"] if person_detection else ["AddOrUpdateReport"])
    alexa_schema.assert_valid(stack.gateway.messages()[-1])


def test_logs_carry_no_detection_id_ref_or_time(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from skill.privacy.logs import JsonFormatter, RedactionFilter

    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(503, times=1)
    event = deletion(occurred_at=rfc3339(ago(7200)))
    with caplog.at_level(logging.DEBUG):
        assert deliver(stack, event) == 202
        assert deliver(stack, event) == 200
        assert deliver(stack, {**deletion(), "detection_ids": ["det_9b2f4c1a7e3d", "bad"]}) == 400
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    redaction, formatter = RedactionFilter(), JsonFormatter()
    raw = repr([(r.getMessage(), vars(r)) for r in caplog.records])
    lines = []
    for record in caplog.records:
        redaction.filter(record)
        lines.append(formatter.format(record))
    sent = stack.gateway.messages()[0]["event"]["payload"]["deleted"]
    secrets_seen = [*DETECTIONS, *sent, event["occurred_at"], BACK_YARD, ALICE_ID]
    for text in (raw, "\n".join(lines)):
        assert [value for value in secrets_seen if value in text] == []
