"""The webhook's HTTP contract: route, size limit, signature, JSON/shape checks, idempotency."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from devstack import webhook_sender
from devstack.demo_data import ALICE_ID, BOB_ID, FRONT_DOOR
from skill import warm
from skill.proactive import webhook
from tests.bombs import nest
from tests.cloud.test_webhook_events import MALFORMED_EVENTS
from tests.proactive.conftest import (
    DEVICE_WIRE,
    WEBHOOK_SECRET,
    Stack,
    accloud_event,
    http_event,
    signed_event,
)

pytestmark = pytest.mark.usefixtures("stack")


def respond(stack: Stack, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = webhook.respond(event, client=stack.client())
    return answer["statusCode"], json.loads(answer["body"])


def stored_items() -> list[dict[str, Any]]:
    from skill import aws
    from skill.config import settings

    return aws.client("dynamodb").scan(TableName=settings().table_name)["Items"]


def ring() -> dict[str, Any]:
    return accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR)


def _signature(body: bytes, t: int, secret: str = WEBHOOK_SECRET) -> str:
    return webhook_sender.sign(secret.encode(), body, t)


def _with_header(body: bytes, header: str | None) -> dict[str, Any]:
    return http_event(body, {} if header is None else {"x-accloud-signature": header})


BODY = webhook_sender.encode_event(ring())
NOW = int(time.time())

# name -> API Gateway event whose signature must be refused
SIGNATURE_FAILURES: dict[str, Any] = {
    "missing": lambda: _with_header(BODY, None),
    "empty": lambda: _with_header(BODY, ""),
    "malformed: no v1": lambda: _with_header(BODY, f"t={NOW}"),
    "malformed: no t": lambda: _with_header(BODY, _signature(BODY, NOW).split(",", 1)[1]),
    "malformed: v1 not hex": lambda: _with_header(BODY, f"t={NOW},v1={'g' * 64}"),
    "malformed: v1 too short": lambda: _with_header(BODY, _signature(BODY, NOW)[:-2]),
    "malformed: upper-case hex": lambda: _with_header(
        BODY, _signature(BODY, NOW).upper().replace("T=", "t=")
    ),
    "malformed: t not a number": lambda: _with_header(
        BODY, _signature(BODY, NOW).replace(f"t={NOW}", "t=now")
    ),
    "malformed: two signatures": lambda: _with_header(
        BODY, _signature(BODY, NOW) + "," + _signature(BODY, NOW)
    ),
    "tampered body": lambda: _with_header(BODY.replace(b"doorbell", b"Doorbell"), _signature(BODY, NOW)),
    "tampered t": lambda: _with_header(BODY, _signature(BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}")),
    "stale (301 s old)": lambda: _with_header(BODY, _signature(BODY, int(time.time()) - 301)),
    "future (301 s ahead)": lambda: _with_header(BODY, _signature(BODY, int(time.time()) + 301)),
    "wrong secret": lambda: _with_header(BODY, _signature(BODY, NOW, "whsec-other")),
}


@pytest.mark.parametrize("case", list(SIGNATURE_FAILURES), ids=list(SIGNATURE_FAILURES))
def test_bad_signatures_are_refused_and_nothing_is_stored(stack: Stack, case: str) -> None:
    stack.link(ALICE_ID, "lnk_a")
    before = stored_items()
    status, body = respond(stack, SIGNATURE_FAILURES[case]())
    assert (status, body) == (401, {"error": "invalid_signature"})
    assert stored_items() == before  # in particular no dedupe row
    assert stack.gateway.received() == []


@pytest.mark.parametrize("skew", [-299, 0, 299])
def test_signatures_within_the_tolerance_are_accepted(stack: Stack, skew: int) -> None:
    stack.link(ALICE_ID, "lnk_a")
    status, _ = respond(stack, signed_event(ring(), t=int(time.time()) + skew))
    assert status == 202
    assert len(stack.gateway.messages()) == 1


@pytest.mark.parametrize("base64_body", [False, True])
def test_oversized_bodies_are_refused_before_the_signature_is_looked_at(
    stack: Stack, base64_body: bool
) -> None:
    big = b'{"pad":"' + b"x" * 65536 + b'"}'
    status, body = respond(stack, http_event(big, base64_body=base64_body))  # unsigned on purpose
    assert (status, body) == (413, {"error": "too_large"})
    assert stored_items() == []


def test_the_size_limit_is_a_setting(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("ZOSI_WEBHOOK_MAX_BODY_BYTES", "100")
    warm.reset()
    status, _ = respond(stack, signed_event(ring()))
    assert status == 413


def test_a_base64_body_is_verified_over_its_decoded_bytes(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    status, _ = respond(stack, signed_event(ring(), base64_body=True))
    assert status == 202
    assert len(stack.gateway.messages()) == 1


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


# name -> signed body that is not a well-formed event: not JSON or no I-JSON, too deep, or (every
# case of tests/cloud/test_webhook_events.py) JSON that webhook_events.parse refuses
BAD_EVENTS: dict[str, bytes] = {
    "not JSON": b"{not json",
    "not UTF-8": b'{"id": "\xff"}',
    "unknown field with a lone surrogate": _json_bytes({**ring(), "note": "\ud800"}),  # not I-JSON
    # Depth bombs (skill.bounded): 20,000 levels were a RecursionError (500, redelivered forever);
    # 900 levels decode, but nest deeper than any event and than later recursive walks can take.
    "nested 20,000 deep": b'{"id":"evt_deep1","x":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    "unknown field nested 900 deep": webhook_sender.encode_event(ring())[:-1]
    + b',"x":'
    + b"[" * 900
    + b"]" * 900
    + b"}",
    "unknown field nested 33 deep": _json_bytes(
        {**ring(), "x": {"y": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}
    ),
    **{name: _json_bytes(body) for name, body in MALFORMED_EVENTS.items()},
}


@pytest.mark.parametrize("case", list(BAD_EVENTS), ids=list(BAD_EVENTS))
def test_malformed_events_are_refused_with_400(stack: Stack, case: str) -> None:
    stack.link(ALICE_ID, "lnk_a")
    status, body = respond(stack, signed_event(BAD_EVENTS[case]))
    assert status == 400 and "error" in body
    assert stack.gateway.received() == []
    assert not [i for i in stored_items() if i["pk"]["S"].startswith("dedupe#")]


# --- fields the skill does not know: dropped unread (tolerant reader) ---------------------------

# Marker values that look like no URL, token or id, so log redaction would not hide them: if one
# shows up anywhere, the skill passed an unknown field's name or value along.
CANARY_NAME = "zq_canary_field_5e1b"
CANARY_VALUE = "zq-canary-value-9c4d"


def _with_unknown_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, CANARY_NAME: CANARY_VALUE, "future": {"nested": [CANARY_VALUE, 1]}}


# name -> (event carrying fields ACCloud may add some day, the Event Gateway messages it causes)
EVENTS_WITH_UNKNOWN_FIELDS: dict[str, tuple[Any, list[str]]] = {
    "doorbell press": (lambda: _with_unknown_fields(ring()), ["DoorbellPress"]),
    "device added, unknown fields in the device too": (
        lambda: _with_unknown_fields(
            accloud_event(
                "device.added",
                ALICE_ID,
                DEVICE_WIRE["id"],
                device={**DEVICE_WIRE, CANARY_NAME: CANARY_VALUE},
            )
        ),
        ["AddOrUpdateReport"],
    ),
    "account deleted": (lambda: _with_unknown_fields(accloud_event("account.deleted", BOB_ID)), []),
}


@pytest.mark.parametrize("case", list(EVENTS_WITH_UNKNOWN_FIELDS), ids=list(EVENTS_WITH_UNKNOWN_FIELDS))
def test_unknown_fields_are_ignored_not_refused(stack: Stack, case: str) -> None:
    stack.link(ALICE_ID, "lnk_a")
    make, expected = EVENTS_WITH_UNKNOWN_FIELDS[case]
    assert respond(stack, signed_event(make())) == (202, {"status": "accepted"})
    assert [m["event"]["header"]["name"] for m in stack.gateway.messages()] == expected


def test_an_unknown_fields_name_and_value_reach_no_storage_log_metric_or_alexa_message(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from skill.privacy.logs import JsonFormatter, RedactionFilter

    stack.link(ALICE_ID, "lnk_a")
    with caplog.at_level(logging.DEBUG):
        for make, _ in EVENTS_WITH_UNKNOWN_FIELDS.values():
            event = make()
            assert respond(stack, signed_event(event))[0] == 202
            assert respond(stack, signed_event(event))[0] == 200  # the redelivery path logs too
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    # Before redaction (what the skill handed to logging) and after it (what a log line carries).
    raw = repr([(r.getMessage(), vars(r)) for r in caplog.records])
    redaction, formatter = RedactionFilter(), JsonFormatter()
    lines = []
    for record in caplog.records:
        redaction.filter(record)
        lines.append(formatter.format(record))
    places = {
        "table": repr(stored_items()),
        "log records": raw,
        "log lines": "\n".join(lines),
        "metrics": json.dumps(stack.metric_lines),
        "Event Gateway": json.dumps([r.message for r in stack.gateway.received()]),
    }
    assert "Side Door" in places["Event Gateway"]  # the device body itself was read and shared
    leaks = [
        (where, canary)
        for where, text in places.items()
        for canary in (CANARY_NAME, CANARY_VALUE)
        if canary in text
    ]
    assert leaks == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/webhooks/accloud", 405), ("PUT", "/webhooks/accloud", 405), ("POST", "/webhooks/other", 404)],
)
def test_only_post_on_the_route(stack: Stack, method: str, path: str, status: int) -> None:
    body = webhook_sender.encode_event(ring())
    event = http_event(
        body, {"x-accloud-signature": _signature(body, int(time.time()))}, method=method, path=path
    )
    answer = webhook.respond(event, client=stack.client())
    assert answer["statusCode"] == status
    if status == 405:
        assert answer["headers"]["allow"] == "POST"


def _reshaped(change: Any) -> dict[str, Any]:
    event = signed_event(ring())
    change(event)
    return event


# name -> correctly signed event whose envelope API Gateway would never send
BAD_ENVELOPES: dict[str, Any] = {
    "requestContext.http a string": lambda: _reshaped(lambda e: e["requestContext"].update(http="POST")),
    "requestContext.http a list": lambda: _reshaped(lambda e: e["requestContext"].update(http=["POST"])),
    "a header nested 5,000 deep": lambda: _reshaped(lambda e: e["headers"].update(x=nest(5000))),
    "20,000 headers": lambda: _reshaped(
        lambda e: e["headers"].update({f"x-{i}": "1" for i in range(20_000)})
    ),
}


@pytest.mark.parametrize("case", list(BAD_ENVELOPES), ids=list(BAD_ENVELOPES))
def test_malformed_envelopes_are_refused_with_400(stack: Stack, case: str) -> None:
    """Was AttributeError (a 500) for an http that is no object, RecursionError for a deep one."""
    import lambda_handler

    stack.link(ALICE_ID, "lnk_a")
    for answer in (webhook.respond(BAD_ENVELOPES[case](), client=stack.client()),
                   lambda_handler.handler(BAD_ENVELOPES[case](), None)):  # fmt: skip
        assert answer["statusCode"] == 400
        assert json.loads(answer["body"]) == {"error": "invalid_request"}
    assert stack.gateway.received() == []
    assert not [i for i in stored_items() if i["pk"]["S"].startswith("dedupe#")]


def test_a_redelivery_is_acknowledged_without_ringing_again(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    event = ring()
    first = respond(stack, signed_event(event))
    second = respond(stack, signed_event(event, t=int(time.time()) + 5))  # ACCloud re-signs retries
    assert first == (202, {"status": "accepted"})
    assert second == (200, {"status": "duplicate"})
    assert [m["event"]["header"]["name"] for m in stack.gateway.messages()] == ["DoorbellPress"]


def test_an_events_claim_outlives_acclouds_retries_by_a_day(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    before = int(time.time())
    assert respond(stack, signed_event(ring()))[0] == 202
    after = int(time.time())
    [claim] = [item for item in stored_items() if item["pk"]["S"].startswith("dedupe#")]
    expires_at = int(claim["expires_at"]["N"])
    assert webhook.DEDUPE_TTL_SECONDS == 24 * 3600
    assert before + 24 * 3600 <= expires_at <= after + 24 * 3600


def test_when_no_link_could_be_reached_the_claim_is_released_for_the_retry(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_a")
    stack.gateway.fail_next(503, times=4)  # first try + 3 retries
    event = ring()
    assert respond(stack, signed_event(event))[0] == 503
    assert stack.gateway.messages() == []
    assert respond(stack, signed_event(event)) == (202, {"status": "accepted"})
    assert len(stack.gateway.messages()) == 1


def test_when_one_link_got_the_event_a_failure_elsewhere_does_not_ring_it_again(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_na", "NA")
    stack.link(ALICE_ID, "lnk_eu", "EU")
    stack.gateway.fail_next(503, times=4, region="EU")
    event = ring()
    assert respond(stack, signed_event(event))[0] == 202
    assert len(stack.gateway.messages("NA")) == 1 and stack.gateway.messages("EU") == []
    assert respond(stack, signed_event(event))[0] == 200
    assert len(stack.gateway.messages()) == 1


def test_a_storage_failure_after_the_claim_asks_for_redelivery(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import store

    stack.link(ALICE_ID, "lnk_a")

    def broken(user_key: str) -> Any:
        raise store.StoreUnavailable("account_view failed: ProvisionedThroughputExceededException")

    event = ring()
    with monkeypatch.context() as patched:
        patched.setattr(store, "account_view", broken)
        assert respond(stack, signed_event(event)) == (503, {"error": "retry_later"})
    assert respond(stack, signed_event(event))[0] == 202
    assert len(stack.gateway.messages()) == 1


def test_a_missing_signing_secret_is_a_server_problem(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("ZOSI_WEBHOOK_SECRET_ID", "test/not-there")
    warm.reset()
    assert respond(stack, signed_event(ring()))[0] == 503
    assert stored_items() == []


def test_events_for_unlinked_users_are_accepted_and_dropped(stack: Stack) -> None:
    status, _ = respond(stack, signed_event(accloud_event("doorbell.pressed", BOB_ID, "dev_0e9c4b7a1d36")))
    assert status == 202
    assert stack.gateway.received() == []


def test_the_lambda_entry_point_routes_http_events_here(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lambda_handler

    stack.link(ALICE_ID, "lnk_a")
    monkeypatch.setattr(webhook, "client_factory", stack.client)
    answer = lambda_handler.handler(signed_event(ring()), None)
    assert answer["statusCode"] == 202
    assert len(stack.gateway.messages()) == 1


def test_answers_never_echo_the_request(stack: Stack) -> None:
    marker = "usr_CANARY123"
    for event in (
        signed_event(accloud_event("doorbell.pressed", marker, FRONT_DOOR, extra_field="x")),
        signed_event(b'{"id": "usr_CANARY123"'),
    ):
        answer = webhook.respond(event, client=stack.client())
        assert marker not in json.dumps(answer)
