"""The fault matrix: every directive and event path under every injected fault (tests/reliability/matrix.py).

Each cell asserts the answer the table predicts (never an auth error, which unlinks the user),
exactly the stored changes it predicts, the time Alexa allows, and that the fault was really met.
ACCloud runs with the production timeouts, so the hang cells take the real 2-4 s.
Details: docs/reliability.md, "The fault matrix".
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Any

import pytest

import lambda_handler
from devstack import directives, webhook_sender
from devstack.demo_data import ALICE_ID, FRONT_DOOR, GARAGE
from devstack.lwa_server import LwaServer
from models import store
from skill import config, warm
from skill.amazon import grants, lwa
from skill.amazon.gateway import GatewayClient
from skill.privacy import pseudonyms
from skill.proactive import webhook
from skill.voice import strings
from tests.alexa_schema import AlexaSchema
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.reliability import matrix
from tests.reliability.harness import (
    CONDITION_FAILED,
    THROTTLING,
    THROUGHPUT_EXCEEDED,
    TRANSACTION_CONFLICT,
    CallSpy,
    DynamoFaults,
    LambdaContext,
    Rows,
    VirtualClock,
    World,
    closed_port,
    rows,
)
from tests.voice import envelopes
from tests.voice.envelopes import camera_slot

DOCS = FilePath(__file__).resolve().parents[2] / "docs" / "reliability.md"
LINK = "lnk_matrix"
SESSION = "matrix-session-1"
NEW_DEVICE = "dev_matrixnew1"
OFFER_SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def user_key() -> str:
    return pseudonyms.user_key(ALICE_ID)


def endpoint(device_id: str) -> str:
    return pseudonyms.endpoint_id(ALICE_ID, device_id)


def addressed(device_id: str) -> dict[str, str]:
    """Alice's camera as a directive addresses it (its cookie is empty)."""
    return {"endpointId": endpoint(device_id)}


# --- the paths: setup and the event that exercises them ----------------------------------------


def linked(*, alexa_user: str | None = None) -> None:
    """Alice has linked an Alexa account (no Event Gateway grant) and consented to the current policy."""
    now = datetime.now(UTC)
    store.put_profile(
        user_key(), consented_at=now, accepted_policy_version=config.settings().policy_version, linked_at=now
    )
    alexa_user_key = pseudonyms.alexa_user_key(alexa_user) if alexa_user else None
    store.upsert_link(user_key(), pseudonyms.link_key(LINK), region="NA", alexa_user_key=alexa_user_key)


def granted(world: World) -> None:
    """Alice linked with a grant whose access token has 30 s left (so sending refreshes it first),
    and an index with her doorbell and garage camera as discovery would have reported them."""
    linked()
    tokens = lwa.exchange_code(world.lwa.issue_grant_code())
    expiring = dataclasses.replace(tokens, expires_at=datetime.now(UTC) + timedelta(seconds=30))
    grants.store_grant(user_key(), pseudonyms.link_key(LINK), expiring, "NA")
    store.apply_endpoint_diff(
        user_key(),
        upserts={
            endpoint(FRONT_DOOR): store.EndpointRecord(("CAMERA", "DOORBELL"), "digest-fd"),
            endpoint(GARAGE): store.EndpointRecord(("CAMERA",), "digest-garage"),
        },
    )


def webhook_event(event_type: str, device_id: str, **extra: Any) -> dict[str, Any]:
    body = webhook_sender.encode_event(
        {
            "id": "evt_" + uuid.uuid4().hex,
            "type": event_type,
            "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user_id": ALICE_ID,
            "device_id": device_id,
            **extra,
        }
    )
    signature = webhook_sender.sign(TEST_WEBHOOK_SECRET.encode(), body, int(time.time()))
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/accloud",
        "rawPath": "/webhooks/accloud",
        "headers": {"content-type": "application/json", "x-accloud-signature": signature},
        "requestContext": {
            "http": {"method": "POST", "path": "/webhooks/accloud", "sourceIp": "203.0.113.9"}
        },
        "isBase64Encoded": False,
        "body": body.decode(),
    }


NEW_DEVICE_BODY = {
    "id": NEW_DEVICE,
    "name": "Porch",
    "kind": "camera",
    "model": "C190",
    "firmware": "v5.2.1",
    "online": True,
    "privacy_mode": False,
    "capabilities": {
        "motion_detection": True,
        "person_detection": False,
        "two_way_audio": False,
        "webrtc": False,
    },
    "stream_profiles": [
        {"protocol": "RTSP", "width": 1920, "height": 1080, "video_codec": "H264", "audio_codec": "AAC"}
    ],
}


def _open_session(token: str) -> None:
    opened = lambda_handler.handler(directives.offer(token, addressed(FRONT_DOOR), OFFER_SDP, SESSION), None)
    assert opened["event"]["header"]["name"] == "AnswerGeneratedForSession", opened


def setup(path: matrix.Path, world: World) -> dict[str, Any]:
    """Bring the world into the path's starting state; returns the Lambda event of the path."""
    token = world.token("alice")
    rtc = "Alexa.RTCSessionController"
    if path.kind == "webhook":
        granted(world)
        kind = path.key.removeprefix("webhook ")
        if kind == "device.added":
            return webhook_event(kind, NEW_DEVICE, device=NEW_DEVICE_BODY)
        return webhook_event(kind, GARAGE if kind == "device.removed" else FRONT_DOOR)
    if path.kind == "voice":
        linked(alexa_user=envelopes.ALEXA_USER)
        if path.key == "voice LaunchRequest":
            return envelopes.launch(token=token)
        return envelopes.intent("CameraStatus", token=token, slots=camera_slot("garage"))
    if path.key == "AcceptGrant":
        return directives.accept_grant(token, world.lwa.issue_grant_code())
    linked()
    if path.key in FAULTED_CALL:
        return data_controller_setup(path, world, token)
    if path.key == "Discover":
        return directives.discover(token)
    if path.key == "ReportState":
        return directives.report_state(token, addressed(GARAGE))
    if path.key == "InitializeCameraStreams":
        return directives.initialize_streams(token, addressed(FRONT_DOOR), directives.one_rtsp_stream())
    if path.key == "InitiateSessionWithOffer":
        return directives.offer(token, addressed(FRONT_DOOR), OFFER_SDP, SESSION)
    _open_session(token)  # SessionConnected / SessionDisconnected: a session ACCloud knows
    session = {"sessionId": SESSION}
    return directives.directive(rtc, path.key, token, endpoint=addressed(FRONT_DOOR), payload=session)


# The one ACCloud request the faults of a DataController path are aimed at ("METHOD path").
FAULTED_CALL = {
    matrix.REPORT_PAGE_2: f"GET /v1/devices/{FRONT_DOOR}/detections",
    matrix.DELETE_DATA: f"POST /v1/devices/{FRONT_DOOR}/detections/delete",
}


def data_controller_setup(path: matrix.Path, world: World, token: str) -> dict[str, Any]:
    """Three detections of the doorbell at ACCloud. ReportData: the first page (two) was answered
    without a fault, the directive asks for the second with its nextToken. DeleteData: the newest,
    by the opaque id Alexa was given for it."""
    made = [world.accloud.detections.record(FRONT_DOOR, "person", time.time() - 60 * m) for m in (3, 2, 1)]
    doorbell = addressed(FRONT_DOOR)
    if path.key == matrix.DELETE_DATA:
        ref = pseudonyms.detection_ref(ALICE_ID, FRONT_DOOR, made[-1].id)
        return directives.data_controller("DeleteData", token, doorbell, {"identifiers": [ref]})
    first = lambda_handler.handler(
        directives.data_controller("ReportData", token, doorbell, {"paginationContext": {"maxResults": 2}}),
        None,
    )["event"]
    assert first["header"]["name"] == "DataReport" and len(first["payload"]["data"]) == 2, first
    next_token = first["payload"]["paginationContext"]["nextToken"]
    pagination = {"maxResults": 2, "nextToken": next_token}
    return directives.data_controller("ReportData", token, doorbell, {"paginationContext": pagination})


# --- faults -------------------------------------------------------------------------------------------

_GATEWAY = {
    "gateway_401": (401, None),
    "gateway_403_disabled": (403, "SKILL_DISABLED_EXCEPTION"),
    "gateway_403_permission": (403, "INSUFFICIENT_PERMISSION_EXCEPTION"),
    "gateway_429": (429, None),
    "gateway_5xx": (503, None),
}
_DYNAMODB: dict[str, tuple[str, int | None]] = {  # error, how many attempts fail (None: all)
    "ddb_throughput": (THROUGHPUT_EXCEEDED, None),
    "ddb_throttling": (THROTTLING, None),
    "ddb_condition": (CONDITION_FAILED, None),
    "ddb_transaction_conflict": (TRANSACTION_CONFLICT, matrix.TRANSIENT_CONFLICTS),
}


@contextlib.contextmanager
def injected(
    fault: str,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    dynamodb: DynamoFaults,
    accloud_prefix: str = "/v1/",
) -> Iterator[None]:
    def setting(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        warm.reset()

    accloud_faults = {
        "accloud_latency": ("latency", 1.0),
        "accloud_5xx": ("status", 503),
        "accloud_hang": ("hang", 10.0),
        "accloud_malformed": ("malformed", None),
    }
    with contextlib.ExitStack() as stack:
        stack.callback(world.accloud.clear_faults)
        if fault in accloud_faults:
            world.accloud.set_fault(*accloud_faults[fault], path_prefix=accloud_prefix)
        elif fault == "accloud_tls_plain":
            setting("ZOSI_ACCLOUD_BASE_URL", world.accloud.base_url.replace("http://", "https://"))
        elif fault == "accloud_tls_self_signed":
            setting("ZOSI_ACCLOUD_BASE_URL", world.tls.base_url)
        elif fault == "lwa_down":
            setting("ZOSI_LWA_TOKEN_URL", f"http://127.0.0.1:{closed_port()}/auth/o2/token")
        elif fault == "lwa_invalid_grant":
            refusing = stack.enter_context(LwaServer())
            refusing.fail_next(400, "invalid_grant", times=100)
            setting("ZOSI_LWA_TOKEN_URL", refusing.token_url)
        elif fault in _GATEWAY:
            status, code = _GATEWAY[fault]
            world.gateway.fail_next(status, code, times=100)
        elif fault in _DYNAMODB:
            dynamodb.error, dynamodb.times = _DYNAMODB[fault]
        yield


# --- reading the outcome ------------------------------------------------------------------------------


def outcome(path: matrix.Path, answer: dict[str, Any], schema: AlexaSchema) -> str:
    if path.kind == "directive":
        schema.assert_valid(answer)
        event = answer["event"]
        return str(
            event["payload"]["type"]
            if event["header"]["name"] == "ErrorResponse"
            else event["header"]["name"]
        )
    if path.kind == "webhook":
        status = answer["statusCode"]
        body = json.loads(answer["body"])
        return f"{status} {body.get('status') or body.get('error')}"
    response = answer["response"]
    if response.get("card", {}).get("type") == "LinkAccount":
        return "link_account"
    speech = html.unescape(re.sub(r"</?speak>", "", response.get("outputSpeech", {}).get("ssml", "")))
    for key in ("error_cloud_unavailable", "error_generic"):
        if speech == strings.render("en-US", key):
            return key
    return "answered"


def expected_rows(before: Rows, expect: matrix.Expect, answer: dict[str, Any]) -> Counter:
    """The table after the cell, from the table before and the cell's stored-state words."""
    kinds = Counter(before.kinds)
    me = user_key()

    def move(change: Callable[[tuple[Any, ...]], tuple[Any, ...]], kind: str) -> None:
        for row in [r for r in kinds if r[0] == me and r[1] == kind]:
            kinds[change(row)] += kinds.pop(row)

    for word in expect.stored:
        if word == "+index":
            for described in answer["event"]["payload"]["endpoints"]:
                kinds[(me, "ep", described["endpointId"])] += 1
        elif word == "+grant":
            kinds[(me, "link", True, True)] += 1
            kinds[(me, "profile")] += 1
        elif word == "+claim":
            kinds[("dedupe", "dedupe")] += 1
        elif word == "+ep:new":
            kinds[(me, "ep", endpoint(NEW_DEVICE))] += 1
        elif word == "-ep:garage":
            kinds[(me, "ep", endpoint(GARAGE))] -= 1
        elif word == "-grant":
            move(lambda r: (*r[:2], False, r[3]), "link")
        elif word == "-events":
            move(lambda r: (*r[:3], False), "link")
        elif word == "erased":
            for row in [r for r in kinds if r[0] == me]:
                del kinds[row]
            kinds[("fence", "fence")] += 1  # the erasure leaves its short-lived fence behind
        elif word not in ("activity", "-det"):  # -det: ACCloud's change (assert_data_controller)
            raise AssertionError(f"unknown stored-state word {word!r}")
    return +kinds


# --- the cells ----------------------------------------------------------------------------------------

SLOW = {"accloud_hang", "accloud_latency"}


@pytest.mark.parametrize(
    ("path_key", "fault_key"),
    [
        pytest.param(p, f, marks=[pytest.mark.slow] if f in SLOW else [], id=f"{p} | {f}")
        for p, f in matrix.cases()
    ],
)
def test_cell(
    world: World, alexa_schema: AlexaSchema, monkeypatch: pytest.MonkeyPatch, path_key: str, fault_key: str
) -> None:
    path = matrix.PATH_BY_KEY[path_key]
    faults = (
        matrix.representatives(path) if fault_key == matrix.UNREACHABLE else [matrix.FAULT_BY_KEY[fault_key]]
    )
    expect = path.expect(fault_key if fault_key != matrix.UNREACHABLE else "none")
    world.fresh()
    event = setup(path, world)
    warm.reset()  # a cold container: the caller is resolved inside the cell
    clock = VirtualClock()
    monkeypatch.setattr(webhook, "client_factory", lambda: GatewayClient(sleep=clock.sleep, clock=clock.now))
    before, received = rows(), len(world.gateway.received())
    spy, dynamodb = CallSpy(monkeypatch), DynamoFaults()
    faulted_call = FAULTED_CALL.get(path.key)
    prefix = faulted_call.partition(" ")[2] if faulted_call else "/v1/"
    asked_before = world.accloud.request_counts()
    with contextlib.ExitStack() as faulty:
        for fault in faults:
            faulty.enter_context(injected(fault.key, world, monkeypatch, dynamodb, prefix))
        faulty.enter_context(dynamodb.installed())
        context = LambdaContext(clock)
        started = clock.now()
        answer = lambda_handler.handler(event, context)
        elapsed = clock.now() - started
        if faulted_call:  # before the faults clear: a hung delete is still parked at ACCloud
            assert_data_controller(path, fault_key, event, answer, world, asked_before)

    got = outcome(path, answer, alexa_schema)
    assert got == expect.answer, answer
    assert got not in matrix.AUTH_ERRORS and got != "link_account", "a fault turned into an auth error"
    if path.kind == "webhook":
        assert answer["statusCode"] not in (401, 403)
        delivered = [r for r in world.gateway.received()[received:] if r.accepted]
        assert len(delivered) == expect.delivered
    after = rows()
    assert after.kinds == expected_rows(before, expect, answer)
    if user_key() in before.last_active and user_key() in after.last_active:
        moved = after.last_active[user_key()] != before.last_active[user_key()]
        assert moved == ("activity" in expect.stored), "activity recorded (or not) against the table"
    assert elapsed < path.limit, f"{elapsed:.2f} s is over Alexa's {path.limit:g} s"

    for fault in faults:
        met = {
            "accloud": spy.counts["accloud"],
            "lwa": spy.counts["lwa"],
            "gateway": spy.counts["gateway"],
            "dynamodb": {
                "ddb_condition": dynamodb.conditional_writes,
                "ddb_transaction_conflict": dynamodb.calls["TransactWriteItems"],
            }.get(fault.key, dynamodb.total),
        }.get(fault.service)
        if path.untouched(fault.key):
            assert met == 0, f"the path reached {fault.service}, which the table says it never calls"
        elif fault.key != "none":
            assert met, f"the fault was never met: no call to {fault.service}"
        if fault.key == "ddb_transaction_conflict" and not path.untouched(fault.key):
            # Every injected conflict was answered: the retries really ran before the outcome above.
            assert dynamodb.failed == matrix.TRANSIENT_CONFLICTS


def assert_data_controller(
    path: matrix.Path,
    fault_key: str,
    event: dict[str, Any],
    answer: dict[str, Any],
    world: World,
    asked_before: dict[str, int],
) -> None:
    """An Alexa.DataController answer (its own ErrorResponse, payloadVersion "1.0", never Alexa's),
    the aimed-at call really made under an ACCloud fault that reaches the server, and ACCloud
    holding the detection exactly when the table says it was not deleted."""
    header = answer["event"]["header"]
    assert (header["namespace"], header["payloadVersion"]) == ("Alexa.DataController", "1.0"), header
    if header["name"] == "ErrorResponse":
        assert set(answer["event"]["payload"]) == {"type", "message"}
    fault = matrix.FAULT_BY_KEY.get(fault_key)
    if fault and fault.service == "accloud" and not fault.key.startswith("accloud_tls"):
        call = FAULTED_CALL[path.key]
        asked = world.accloud.request_counts().get(call, 0) - asked_before.get(call, 0)
        assert asked >= 1, f"the fault was never met: no {call}"
    if path.key == matrix.DELETE_DATA:
        (ref,) = event["directive"]["payload"]["identifiers"]
        asked_to_delete = pseudonyms.detection_id_for(ALICE_ID, FRONT_DOOR, ref)
        held = {d["id"] for d in world.accloud.detections_held(FRONT_DOOR)}
        deleted = "-det" in path.expect(fault_key if fault_key != matrix.UNREACHABLE else "none").stored
        assert (asked_to_delete not in held) == deleted, "ACCloud's state is not the table's"


def test_a_delete_whose_first_answer_is_lost_is_no_success_and_says_no_untruth(
    world: World, alexa_schema: AlexaSchema
) -> None:
    """ACCloud deleted, its answer came back truncated, the skill's one retry then hears "not found":
    an Alexa.DataController.ErrorResponse (never DeleteDataResponse, which only ACCloud's own
    confirmation earns), whose message claims no less and no more than ACCloud said."""
    world.fresh()
    event = setup(matrix.PATH_BY_KEY[matrix.DELETE_DATA], world)
    warm.reset()
    call = FAULTED_CALL[matrix.DELETE_DATA]
    before = rows()
    world.accloud.set_fault("malformed", path_prefix=call.partition(" ")[2], times=1)
    clock = VirtualClock()
    started = clock.now()
    answer = lambda_handler.handler(event, LambdaContext(clock))
    assert clock.now() - started < matrix.DEFAULT_LIMIT
    alexa_schema.assert_valid(answer)
    header, payload = answer["event"]["header"], answer["event"]["payload"]
    assert (header["namespace"], header["name"]) == ("Alexa.DataController", "ErrorResponse")
    assert payload["type"] == "INVALID_VALUE"
    assert payload["message"] == "0 of 1 confirmed deleted; ACCloud does not hold the others"
    assert world.accloud.request_counts()[call] == 2  # the truncated answer, then the retry
    (ref,) = event["directive"]["payload"]["identifiers"]
    gone = pseudonyms.detection_id_for(ALICE_ID, FRONT_DOOR, ref)
    assert gone not in {d["id"] for d in world.accloud.detections_held(FRONT_DOOR)}
    assert rows().kinds == before.kinds


# --- the injected transaction cancellations are DynamoDB's --------------------------------------------


@pytest.mark.parametrize(
    ("error", "times", "reasons", "outcome"),
    [
        # The fence check carries a condition, the put none: the user was erased meanwhile.
        (CONDITION_FAILED, None, ["ConditionalCheckFailed", "None"], "erased"),
        # Conflicts on the shared fence item: retried until the budget is spent, then written...
        (TRANSACTION_CONFLICT, matrix.TRANSIENT_CONFLICTS, ["TransactionConflict", "None"], "written"),
        # ...or, never clearing, a storage failure and not an erasure.
        (TRANSACTION_CONFLICT, None, ["TransactionConflict", "None"], "unavailable"),
    ],
)
def test_injected_transaction_cancellations_parse_like_dynamodb_answers(
    world: World, error: str, times: int | None, reasons: list[str], outcome: str
) -> None:
    """botocore parses the injected answer as it parses DynamoDB's, and models/store.py decides on it."""
    from botocore.exceptions import ClientError

    from skill import aws

    world.fresh()
    table = config.settings().table_name
    probe = {"pk": {"S": "probe"}, "sk": {"S": "probe"}}
    items = [
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": probe,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {"Put": {"TableName": table, "Item": probe}},
    ]
    with DynamoFaults(error=error).installed(), pytest.raises(ClientError) as cancelled:
        aws.client("dynamodb").transact_write_items(TransactItems=items)
    answer = cancelled.value.response
    assert answer["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in answer["CancellationReasons"]] == reasons
    assert answer["Error"]["Message"].endswith(f"[{', '.join(reasons)}]")

    with DynamoFaults(error=error, times=times).installed() as dynamodb:
        if outcome == "written":
            linked()  # two fenced transactions: the first meets every conflict
            assert dynamodb.failed == matrix.TRANSIENT_CONFLICTS
        else:
            with pytest.raises(store.StoreUnavailable) as refused:
                linked()
            assert isinstance(refused.value, store.ErasedDuringRequest) == (outcome == "erased")
    stored = Counter(row[1] for row in rows().kinds.elements())
    assert stored == (Counter({"profile": 1, "link": 1}) if outcome == "written" else Counter())


def test_the_documented_table_is_the_tested_one() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert matrix.render() in text, "docs/reliability.md is stale: paste `python -m tests.reliability.matrix`"
