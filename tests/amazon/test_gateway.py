"""The Event Gateway client against the stand-in: every answer the gateway can give."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.demo_data import ALICE_ID, FRONT_DOOR
from skill import warm
from skill.amazon.gateway import Delivery, Outcome, Recipient
from skill.privacy import pseudonyms
from skill.proactive import events
from tests.alexa_schema import AlexaSchema
from tests.proactive.conftest import Stack

PRESSED = datetime(2026, 1, 1, 8, 0, 0, tzinfo=UTC)


def recipient(link_id: str = "lnk_a", region: str = "NA") -> Recipient:
    return Recipient(pseudonyms.user_key(ALICE_ID), pseudonyms.link_key(link_id), region)


def identify(user_id: str, link_id: str) -> None:
    """Record the Alexa account on a link, as SkillAccountLinked does."""
    from models import store

    alexa_user = pseudonyms.alexa_user_key(f"amzn1.ask.account.{link_id}")
    user_key, link_key = pseudonyms.user_key(user_id), pseudonyms.link_key(link_id)
    store.upsert_link(user_key, link_key, region="NA", alexa_user_key=alexa_user)


def ring(stack: Stack, to: Recipient | None = None, *, budget: float = 5.0) -> Delivery:
    client = stack.client()
    build = events.doorbell_press(pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR), PRESSED)
    return client.deliver(to or recipient(), build, client.deadline(budget))


def user_items() -> list[dict[str, Any]]:
    from models import store

    return store.export_user(pseudonyms.user_key(ALICE_ID))


def test_202_is_delivered(stack: Stack, alexa_schema: AlexaSchema) -> None:
    token = stack.link(ALICE_ID, "lnk_a")
    delivery = ring(stack)
    assert delivery == Delivery(Outcome.DELIVERED, 202, None, 1)
    [message] = stack.gateway.messages()
    alexa_schema.assert_valid(message)
    assert message["event"]["endpoint"]["scope"]["token"] == token
    assert stack.time.sleeps == []
    assert len(stack.metrics_named("EventsDelivered")) == 1
    assert stack.metrics_named("EventGatewayFailures") == []


def test_401_refreshes_the_grant_once_and_resends_with_the_new_token(stack: Stack) -> None:
    old = stack.link(ALICE_ID, "lnk_a")
    stack.lwa.expire_access_token(old)  # still looks fresh to the skill; the gateway says 401
    delivery = ring(stack)
    assert delivery.outcome is Outcome.DELIVERED and delivery.attempts == 2
    assert stack.lwa.refresh_count == 1
    first, second = stack.gateway.received()
    assert (first.status, first.code) == (401, "INVALID_ACCESS_TOKEN_EXCEPTION")
    assert second.status == 202
    new = second.message["event"]["endpoint"]["scope"]["token"]
    assert new != old and stack.lwa.is_valid_access_token(new)


def test_401_again_after_the_refresh_gives_up(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(401, times=2)
    delivery = ring(stack)
    assert (delivery.outcome, delivery.status, delivery.attempts) == (Outcome.UNAUTHORIZED, 401, 2)
    assert stack.lwa.refresh_count == 1
    [failure] = stack.metrics_named("EventGatewayFailures")
    assert failure["outcome"] == "unauthorized"


def test_401_when_lwa_revoked_the_grant_leaves_no_grant(stack: Stack) -> None:
    from models import store

    stack.link(ALICE_ID, "lnk_a")
    stack.lwa.revoke_all()
    stack.gateway.fail_next(401)
    delivery = ring(stack)
    assert delivery.outcome is Outcome.NO_GRANT
    link = store.get_link(pseudonyms.user_key(ALICE_ID), pseudonyms.link_key("lnk_a"))
    assert link is not None and not link.has_grant


def test_403_skill_disabled_on_the_only_link_erases_the_user(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(403, "SKILL_DISABLED_EXCEPTION")
    delivery = ring(stack)
    assert (delivery.outcome, delivery.code) == (Outcome.SKILL_DISABLED, "SKILL_DISABLED_EXCEPTION")
    assert user_items() == []


def test_403_skill_disabled_on_one_of_two_links_removes_only_that_link(stack: Stack) -> None:
    from models import store

    stack.link(ALICE_ID, "lnk_a", "NA")
    stack.link(ALICE_ID, "lnk_b", "EU")
    identify(ALICE_ID, "lnk_b")  # its SkillAccountLinked named the other Alexa account
    stack.gateway.fail_next(403, "SKILL_DISABLED_EXCEPTION")
    assert ring(stack, recipient("lnk_a")).outcome is Outcome.SKILL_DISABLED
    remaining = store.links_of(pseudonyms.user_key(ALICE_ID))
    assert [link.link_key for link in remaining] == [pseudonyms.link_key("lnk_b")]
    assert remaining[0].has_grant
    assert [
        r for r in stack.gateway.received() if r.message["event"]["header"]["name"] == "DeleteReport"
    ] == []


def test_403_skill_disabled_on_the_last_identified_link_takes_an_unidentified_one_along(stack: Stack) -> None:
    from models import store
    from models.store import EndpointRecord

    stack.link(ALICE_ID, "lnk_a", "NA")
    identify(ALICE_ID, "lnk_a")
    unidentified_token = stack.link(ALICE_ID, "lnk_b", "EU")  # AcceptGrant came, SkillAccountLinked never
    front_door = pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR)
    store.apply_endpoint_diff(
        pseudonyms.user_key(ALICE_ID), upserts={front_door: EndpointRecord(("CAMERA",), "d")}
    )
    stack.gateway.fail_next(403, "SKILL_DISABLED_EXCEPTION")
    assert ring(stack, recipient("lnk_a")).outcome is Outcome.SKILL_DISABLED
    assert user_items() == []
    # Only the unidentified link's Alexa account is told to drop the cameras (the other disabled the skill).
    reports = [r for r in stack.gateway.received() if r.message["event"]["header"]["name"] == "DeleteReport"]
    assert [(r.status, r.message["event"]["payload"]["scope"]["token"]) for r in reports] == [
        (202, unidentified_token)
    ]


def test_403_insufficient_permission_deletes_the_grant_but_keeps_the_link(stack: Stack) -> None:
    from models import store

    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(403, "INSUFFICIENT_PERMISSION_EXCEPTION")
    delivery = ring(stack)
    assert delivery.outcome is Outcome.PERMISSION_REVOKED
    link = store.get_link(pseudonyms.user_key(ALICE_ID), pseudonyms.link_key("lnk_a"))
    assert link is not None and not link.has_grant and not link.events_permitted
    assert ring(stack).outcome is Outcome.NO_GRANT  # nothing more is sent for this link


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried_three_times_a_second_apart(
    stack: Stack, status: int
) -> None:
    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(status, times=3)
    delivery = ring(stack)
    assert (delivery.outcome, delivery.attempts) == (Outcome.DELIVERED, 4)
    assert stack.time.sleeps == [1.0, 1.0, 1.0]
    assert [r.status for r in stack.gateway.received()] == [status, status, status, 202]
    # The same message every time (same messageId): Alexa may deduplicate a resend.
    assert len({r.message["event"]["header"]["messageId"] for r in stack.gateway.received()}) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_are_bounded(stack: Stack, status: int) -> None:
    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(status, times=10)
    delivery = ring(stack)
    assert (delivery.outcome, delivery.status, delivery.attempts) == (Outcome.RETRIES_EXHAUSTED, status, 4)
    assert delivery.outcome.retryable
    assert len(stack.gateway.received()) == 4
    [failure] = stack.metrics_named("EventGatewayFailures")
    assert failure["EventGatewayFailures"] == 1 and failure["outcome"] == "retries_exhausted"


def test_retries_stop_at_the_deadline(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(503, times=10)
    delivery = ring(stack, budget=2.5)
    assert delivery.outcome is Outcome.RETRIES_EXHAUSTED
    assert stack.time.sleeps == [1.0, 1.0]  # a third retry would start with < 1.2 s left
    assert len(stack.gateway.received()) == 3


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INVALID_REQUEST_EXCEPTION"), (413, "REQUEST_ENTITY_TOO_LARGE_EXCEPTION"), (404, None)],
)
def test_final_rejections_are_dropped_without_retry(stack: Stack, status: int, code: str | None) -> None:
    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(status, code)
    delivery = ring(stack)
    assert (delivery.outcome, delivery.status, delivery.attempts) == (Outcome.REJECTED, status, 1)
    assert not delivery.outcome.retryable
    assert stack.time.sleeps == []
    assert len(user_items()) == 1  # the link is untouched


def test_the_stand_in_rejects_what_the_schema_rejects(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    client = stack.client()

    def broken(token: str) -> dict[str, Any]:
        message = events.doorbell_press(pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR), PRESSED)(token)
        message["event"]["payload"]["timestamp"] = "2026-01-01T08:00:00.123Z"  # fractions are not allowed
        return message

    delivery = client.deliver(recipient(), broken, client.deadline(5))
    assert (delivery.outcome, delivery.status, delivery.code) == (
        Outcome.REJECTED,
        400,
        "INVALID_REQUEST_EXCEPTION",
    )
    [received] = stack.gateway.received()
    assert any("timestamp" in e for e in received.errors)


def test_an_unreachable_gateway_is_retried_then_given_up(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    stack.link(ALICE_ID, "lnk_a")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("ZOSI_EVENT_GATEWAY_URL_NA", f"http://127.0.0.1:{port}/v3/events")
    warm.reset()
    delivery = ring(stack)
    assert (delivery.outcome, delivery.status, delivery.attempts) == (Outcome.RETRIES_EXHAUSTED, None, 4)


@pytest.mark.parametrize(
    ("url", "local_mode"),
    [
        ("http://gateway.example/v3/events", "1"),
        ("http://127.0.0.1:9/v3/events", "0"),
        ("ftp://127.0.0.1/x", "1"),
    ],
)
def test_the_gateway_is_https_only(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, url: str, local_mode: str
) -> None:

    stack.link(ALICE_ID, "lnk_a")
    monkeypatch.setenv("ZOSI_EVENT_GATEWAY_URL_NA", url)
    monkeypatch.setenv("ZOSI_LOCAL_MODE", local_mode)
    warm.reset()
    delivery = ring(stack)
    assert (delivery.outcome, delivery.code) == (Outcome.REJECTED, "GATEWAY_URL_INVALID")
    assert stack.gateway.received() == []


def test_no_grant_sends_nothing_and_is_not_a_failure(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a", grant=False)
    assert ring(stack).outcome is Outcome.NO_GRANT
    assert ring(stack, recipient("lnk_never_linked")).outcome is Outcome.NO_GRANT
    assert stack.gateway.received() == []
    assert stack.metrics_named("EventGatewayFailures") == []


def test_an_lwa_outage_during_a_needed_refresh_is_retryable(stack: Stack) -> None:
    old = stack.link(ALICE_ID, "lnk_a")
    stack.lwa.expire_access_token(old)
    stack.lwa.fail_next(503, times=5)
    delivery = ring(stack)
    assert delivery.outcome is Outcome.TOKEN_UNAVAILABLE and delivery.outcome.retryable
    assert len(stack.gateway.received()) == 1  # the 401; nothing after the failed refresh


def test_logs_carry_no_token_or_endpoint(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from skill.privacy.logs import JsonFormatter, RedactionFilter

    token = stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(400)
    with caplog.at_level(logging.INFO):
        ring(stack)
        ring(stack)
    formatter, redaction = JsonFormatter(), RedactionFilter()
    lines = []
    for record in caplog.records:
        redaction.filter(record)
        lines.append(formatter.format(record))
    text = "\n".join(lines)
    assert "event not delivered to Alexa" in text and "event delivered to Alexa" in text
    assert token not in text and pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR) not in text
    assert ALICE_ID not in text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"payload":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        b'{"payload":{"code":' + b"[" * 40 + b"]" * 40 + b"}}",
    ],
    ids=["20,000 deep", "40 deep"],
)
def test_a_deep_error_answer_has_no_code_and_raises_nothing(raw: bytes) -> None:
    """The gateway's error body is read for ``payload.code`` only; a depth bomb there was a RecursionError."""
    from skill.amazon import gateway

    assert gateway._amazon_code(raw) is None
