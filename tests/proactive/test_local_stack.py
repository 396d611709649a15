"""The local loop: reference ACCloud -> signed webhook -> API Gateway front -> skill -> Event Gateway
stand-in; the CLI verbs (``trigger``) and the stand-ins' admin endpoints."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from devstack import webhook_sender
from devstack.accloud import AccloudAdmin, AccloudServer
from devstack.demo_data import ALICE, ALICE_ID, BACK_YARD, FRONT_DOOR, GARAGE
from devstack.gateway_server import GatewayAdmin, GatewayServer
from devstack.webhook_front import WebhookFront, api_gateway_event, http_answer, trigger
from skill.privacy import pseudonyms
from skill.proactive import webhook
from tests.alexa_schema import AlexaSchema
from tests.proactive.conftest import WEBHOOK_SECRET, Stack


@pytest.fixture
def loop(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[AccloudServer]:
    """ACCloud delivering to the front, the front calling the Lambda entry point."""
    import lambda_handler

    monkeypatch.setattr(webhook, "client_factory", stack.client)
    with WebhookFront(lambda_handler.handler) as front, AccloudServer() as accloud:
        accloud.configure_webhook(front.url, WEBHOOK_SECRET)
        yield accloud


def names(stack: Stack) -> list[str]:
    return [m["event"]["header"]["name"] for m in stack.gateway.messages()]


@pytest.mark.parametrize(
    ("verb", "device_id", "message_name"),
    [
        ("ring", FRONT_DOOR, "DoorbellPress"),
        ("motion", GARAGE, "ChangeReport"),
        ("still", GARAGE, "ChangeReport"),
        ("person", BACK_YARD, "ObjectDetection"),
        ("offline", GARAGE, "ChangeReport"),
        ("online", GARAGE, "ChangeReport"),
        ("remove", GARAGE, "DeleteReport"),
        ("rename", GARAGE, "AddOrUpdateReport"),
    ],
)
def test_cli_verbs_reach_alexa_through_the_whole_loop(
    stack: Stack, loop: AccloudServer, alexa_schema: AlexaSchema, verb: str, device_id: str, message_name: str
) -> None:
    stack.link(ALICE_ID, "lnk_a")
    status, body = trigger(loop, verb, ALICE, device_id, name="Carport")
    assert (status, json.loads(body)) == (202, {"status": "accepted"})
    assert names(stack) == [message_name]
    alexa_schema.assert_valid(stack.gateway.messages()[0])


def test_offline_changes_accloud_and_reports_unreachable(stack: Stack, loop: AccloudServer) -> None:
    stack.link(ALICE_ID, "lnk_a")
    trigger(loop, "offline", ALICE, GARAGE)
    assert loop.device(GARAGE).online is False
    change = stack.gateway.messages()[0]["event"]["payload"]["change"]["properties"][0]
    assert change["value"] == {"value": "UNREACHABLE"}


def test_add_creates_the_device_and_reports_it(stack: Stack, loop: AccloudServer) -> None:
    stack.link(ALICE_ID, "lnk_a")
    status, _ = trigger(
        loop, "add", ALICE, name="Pool House", fields={"kind": "camera", "person_detection": True}
    )
    assert status == 202
    [message] = stack.gateway.messages()
    endpoint = message["event"]["payload"]["endpoints"][0]
    assert endpoint["friendlyName"] == "Pool House"
    [created] = [d for d in loop.devices(ALICE) if d["name"] == "Pool House"]
    assert endpoint["endpointId"] == pseudonyms.endpoint_id(ALICE_ID, created["id"])


def test_delete_account_erases_the_user(stack: Stack, loop: AccloudServer) -> None:
    from models import store

    stack.link(ALICE_ID, "lnk_a")
    assert trigger(loop, "delete-account", ALICE)[0] == 202
    assert store.export_user(pseudonyms.user_key(ALICE_ID)) == []


def test_verbs_work_through_the_admin_api_of_another_process(stack: Stack, loop: AccloudServer) -> None:
    stack.link(ALICE_ID, "lnk_a")
    status, _ = trigger(AccloudAdmin(loop.base_url), "ring", ALICE, FRONT_DOOR)
    assert status == 202
    assert names(stack) == ["DoorbellPress"]


@pytest.mark.parametrize(
    ("verb", "kwargs"), [("explode", {}), ("ring", {}), ("add", {}), ("rename", {"device_id": GARAGE})]
)
def test_verbs_refuse_missing_arguments(loop: AccloudServer, verb: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        trigger(loop, verb, ALICE, **kwargs)


# --- the API Gateway front ---------------------------------------------------------------------


def test_the_front_builds_payload_2_events_like_api_gateway() -> None:
    event = api_gateway_event(
        "POST",
        "/webhooks/accloud",
        {"Content-Type": "application/json", "X-ACCloud-Signature": "t=1,v1=ab"},
        b"{}",
    )
    assert event["version"] == "2.0" and event["rawPath"] == "/webhooks/accloud"
    assert event["headers"]["x-accloud-signature"] == "t=1,v1=ab"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert (event["body"], event["isBase64Encoded"]) == ("{}", False)
    binary = api_gateway_event(
        "POST", "/webhooks/accloud", {"Content-Type": "application/octet-stream"}, b"\xff"
    )
    assert (binary["body"], binary["isBase64Encoded"]) == (base64.b64encode(b"\xff").decode(), True)
    assert http_answer({"statusCode": 202, "body": '{"status":"accepted"}'})[0] == 202
    assert http_answer({"ok": True}) == (200, {"content-type": "application/json"}, b'{"ok": true}')


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/webhooks/accloud", 405), ("POST", "/other", 404)]
)
def test_the_front_passes_methods_through_and_404s_other_paths(
    stack: Stack, loop: AccloudServer, method: str, path: str, status: int
) -> None:
    front_url = loop.webhook_url
    assert front_url is not None
    answer = urllib3.request(method, front_url.replace("/webhooks/accloud", path), retries=False)
    assert answer.status == status


@pytest.mark.parametrize("base64_bodies", [True, False])
def test_signed_deliveries_survive_both_body_encodings(stack: Stack, base64_bodies: bool) -> None:
    stack.link(ALICE_ID, "lnk_a")
    handler = lambda event, context: webhook.respond(event, context, client=stack.client())  # noqa: E731
    with WebhookFront(handler, base64_bodies=base64_bodies) as front:
        event = {"id": "evt_b64test", "type": "doorbell.pressed", "occurred_at": _now(), "user_id": ALICE_ID,
                 "device_id": FRONT_DOOR}  # fmt: skip
        status, _ = webhook_sender.send_event(front.url, WEBHOOK_SECRET, event)
    assert status == 202
    assert names(stack) == ["DoorbellPress"]


def _now() -> str:
    from tests.proactive.conftest import ago, rfc3339

    return rfc3339(ago())


# --- the Event Gateway stand-in's admin API -----------------------------------------------------


def test_gateway_admin_forces_failures_and_lists_redacted_events(stack: Stack) -> None:
    token = stack.link(ALICE_ID, "lnk_a")
    admin = GatewayAdmin(stack.gateway.base_url)
    admin.fail_next(403, "INSUFFICIENT_PERMISSION_EXCEPTION", region="NA")
    assert webhook.respond(_ring(), client=stack.client())["statusCode"] == 202
    [record] = admin.events()
    assert (record["status"], record["code"], record["forced"], record["region"]) == (
        403,
        "INSUFFICIENT_PERMISSION_EXCEPTION",
        True,
        "NA",
    )
    assert record["message"]["event"]["endpoint"]["scope"]["token"] == "[redacted]"
    assert token not in json.dumps(admin.events())
    admin.clear()
    assert admin.events() == []


def _ring() -> dict[str, Any]:
    from tests.proactive.conftest import accloud_event, signed_event

    return signed_event(accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR))


def _post(url: str, body: Any, token: str | None) -> urllib3.BaseHTTPResponse:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return urllib3.request("POST", url, body=json.dumps(body).encode(), headers=headers, retries=False)


def _press(token: str) -> dict[str, Any]:
    from skill.proactive import events
    from tests.proactive.conftest import ago

    return events.doorbell_press(pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR), ago())(token)


def test_the_gateway_stand_in_checks_bearer_scope_and_region(stack: Stack) -> None:
    token = stack.link(ALICE_ID, "lnk_a")
    gateway: GatewayServer = stack.gateway
    url = gateway.url_for("EU")
    cases = [
        (_post(url, _press(token), None), 401, "INVALID_ACCESS_TOKEN_EXCEPTION"),
        (_post(url, _press(token), "Atza|forged"), 401, "INVALID_ACCESS_TOKEN_EXCEPTION"),
        (_post(url, _press("Atza|other"), token), 400, "INVALID_REQUEST_EXCEPTION"),
        (_post(url.replace("/EU/", "/XX/"), _press(token), token), 404, "NOT_FOUND"),
        (_post(url, _press(token), token), 202, None),
    ]
    for answer, status, code in cases:
        assert answer.status == status
        if code is not None:
            assert answer.json()["payload"]["code"] == code
    assert [r.region for r in gateway.received()] == ["EU"] * 4
    assert len(gateway.messages("EU")) == 1 and gateway.messages("NA") == []


@pytest.mark.parametrize("path", ["server", "admin API"])
def test_a_deletion_in_the_zosi_app_reaches_the_event_gateway_as_data_deleted(
    stack: Stack, loop: AccloudServer, alexa_schema: AlexaSchema, path: str
) -> None:
    """The person ACCloud recorded, deleted in the app: the stand-in gets one valid DataDeleted
    naming it by the ref ReportData lists it under, and ACCloud holds it no more."""
    token = stack.link(ALICE_ID, "lnk_a")
    assert trigger(loop, "person", ALICE, BACK_YARD)[0] == 202
    [held] = loop.detections_held(BACK_YARD)
    app = loop if path == "server" else AccloudAdmin(loop.base_url)
    answer = app.delete_in_app(BACK_YARD, [held["id"]])
    assert (answer["deleted"], answer["webhook_status"]) == ([held["id"]], 202)
    assert names(stack) == ["ObjectDetection", "DataDeleted"]
    received = stack.gateway.received()[-1]
    assert (received.status, received.errors) == (202, [])  # the stand-in validated it
    alexa_schema.assert_valid(received.message)
    event = received.message["event"]
    assert event["endpoint"] == {
        "scope": {"type": "BearerToken", "token": token},
        "endpointId": pseudonyms.endpoint_id(ALICE_ID, BACK_YARD),
    }
    assert event["payload"] == {"deleted": [pseudonyms.detection_ref(ALICE_ID, BACK_YARD, held["id"])]}
    assert loop.detections_held(BACK_YARD) == []
