"""docs/accloud-openapi.yaml is a valid OpenAPI 3.1 document and the reference server keeps it.

Every answer the server gives in the cases below must use a status the document declares for
that operation, the declared content type, the declared required headers, and a body valid
against the declared schema (JSON Schema 2020-12, $refs resolved inside the document).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import urllib3
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from devstack import demo_data as demo
from devstack.accloud import EVENT_TYPES, AccloudServer
from devstack.demo_data import DemoDevice

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "accloud-openapi.yaml"
DOC_URI = "urn:zosi:accloud-openapi"
RTSP_1080 = {"protocol": "RTSP", "width": 1920, "height": 1080, "video_codec": "H264", "audio_codec": "AAC"}
RTSP_720_G711 = {
    "protocol": "RTSP",
    "width": 1280,
    "height": 720,
    "video_codec": "H264",
    "audio_codec": "G711",
}
OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ALEXA_REDIRECT = "https://pitangui.amazon.com/api/skill/link/M2AAAAAAAAAAAA"
STREAM = {
    "uri": "rtsps://h:443/x",
    "expires_at": "2026-01-01T00:00:00Z",
    "idle_timeout_seconds": 30,
    "snapshot_uri": "https://h/s.jpg",
    "authorization_type": "NONE",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT.read_text())


@pytest.fixture(scope="module")
def registry(document: dict[str, Any]) -> Registry:
    return Registry().with_resource(
        DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )


def validator_at(registry: Registry, pointer: str) -> Draft202012Validator:
    """A validator for the schema at a JSON pointer inside the document (its $refs resolve there)."""
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_format_checks_are_active() -> None:
    checker = Draft202012Validator.FORMAT_CHECKER
    assert {"uri", "date-time"} <= set(checker.checkers), "install rfc3987 and rfc3339-validator"


def test_document_covers_the_whole_contract(document: dict[str, Any]) -> None:
    operations = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert operations == {
        ("/v1/me", "get"),
        ("/v1/devices", "get"),
        ("/v1/devices/{device_id}/streams", "post"),
        ("/v1/devices/{device_id}/detections", "get"),
        ("/v1/devices/{device_id}/detections/delete", "post"),
        ("/v1/devices/{device_id}/webrtc/sessions", "post"),
        ("/v1/devices/{device_id}/webrtc/sessions/{session_id}/connected", "post"),
        ("/v1/devices/{device_id}/webrtc/sessions/{session_id}", "delete"),
        ("/oauth/authorize", "get"),
        ("/oauth/authorize", "post"),
        ("/oauth/token", "post"),
        ("/oauth/revoke", "post"),
    }
    schemas = document["components"]["schemas"]
    for name in ("Device", "StreamProfile", "Stream", "WebRtcAnswer", "Me", "Token", "Error", "WebhookEvent"):
        assert name in schemas
    webhook = document["webhooks"]["accloudEvent"]["post"]
    header = next(p for p in webhook["parameters"] if p["name"] == "X-ACCloud-Signature")
    assert header["in"] == "header" and header["required"] is True
    assert schemas["WebhookEvent"]["properties"]["type"]["enum"] == list(EVENT_TYPES)


@pytest.mark.parametrize(
    ("schema", "fields"),
    [
        ("Device", demo.DEVICE_PRIVATE_FIELDS),
        ("Me", demo.USER_PRIVATE_FIELDS),
    ],
)
def test_fields_the_skill_never_reads_say_so(
    document: dict[str, Any], schema: str, fields: tuple[str, ...]
) -> None:
    properties = document["components"]["schemas"][schema]["properties"]
    for name in fields:
        assert "Not read by the skill" in properties[name]["description"], name


# --- the server's answers against the document ----------------------------------------------


class StubAnswerer:
    def answer(self, session_id: str, offer_sdp: str, device: DemoDevice) -> str:
        return ANSWER

    def connected(self, session_id: str) -> None:
        return None

    def close(self, session_id: str) -> None:
        return None


@dataclass
class Answer:
    status: int
    headers: Any
    data: bytes

    @property
    def media_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()


@dataclass
class Case:
    name: str
    method: str
    template: str  # the document's path template
    path: str
    expected: int
    json: Any = None
    form: dict[str, str] | Callable[[Ctx], dict[str, str]] | None = None
    token: str = "alice"  # "alice", "expired", "unknown", "none"
    basic: bool = False
    setup: Callable[[Ctx], None] | None = None


@dataclass
class Ctx:
    server: AccloudServer
    http: urllib3.PoolManager

    def token(self, kind: str) -> str:
        """A bearer of the given kind, minted on demand (each costs a full OAuth flow)."""
        if kind == "unknown":
            return "no-such-token"
        token = self.server.issue_token("alice")["access_token"]
        if kind == "expired":
            self.server.expire_token(token)
        return token

    def code(self) -> str:
        """A fresh authorization code for alice, via the login form."""
        answer = self.http.request(
            "POST",
            f"{self.server.base_url}/oauth/authorize",
            body=urlencode({**authorize_query(self.server), "username": "alice", "password": "alice-demo"}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            redirect=False,
        )
        return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]

    def open_session(self, device_id: str, session_id: str) -> None:
        answer = self.http.request(
            "POST",
            f"{self.server.base_url}/v1/devices/{device_id}/webrtc/sessions",
            json={"session_id": session_id, "offer_sdp": OFFER},
            headers={"Authorization": f"Bearer {self.token('alice')}"},
        )
        assert answer.status == 201


def authorize_query(server: AccloudServer, **over: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": server.client_id,
        "redirect_uri": ALEXA_REDIRECT,
        "state": "s1",
        "scope": "devices streams",
    }
    return {**params, **over}


def streams(device_id: str) -> str:
    return f"/v1/devices/{device_id}/streams"


def sessions(device_id: str, *rest: str) -> str:
    return "/".join([f"/v1/devices/{device_id}/webrtc/sessions", *rest])


STREAMS = "/v1/devices/{device_id}/streams"
SESSIONS = "/v1/devices/{device_id}/webrtc/sessions"
SESSION = "/v1/devices/{device_id}/webrtc/sessions/{session_id}"
CONNECTED = "/v1/devices/{device_id}/webrtc/sessions/{session_id}/connected"


def _privacy_after_offer(ctx: Ctx, device_id: str, session_id: str) -> None:
    # set_privacy() tears sessions down (then connected is a 404); flip the flag underneath to
    # reach the race where the camera goes private between offer and SessionConnected.
    ctx.open_session(device_id, session_id)
    ctx.server._cloud.device(device_id).privacy_mode = True


def offer(session_id: str) -> dict[str, str]:
    return {"session_id": session_id, "offer_sdp": OFFER}


def authorize_url(**over: str) -> str:
    params = {
        "response_type": "code",
        "client_id": "zosi-alexa-skill",
        "redirect_uri": ALEXA_REDIRECT,
        **over,
    }
    return "/oauth/authorize?" + urlencode(params)


DETECTIONS = "/v1/devices/{device_id}/detections"
DELETE_DETECTIONS = "/v1/devices/{device_id}/detections/delete"


def detections(device_id: str, **query: str) -> str:
    return f"/v1/devices/{device_id}/detections" + ("?" + urlencode(query) if query else "")


def _three_detections(ctx: Ctx) -> None:
    for minutes in (1, 2, 3):
        ctx.server.detections.record(demo.FRONT_DOOR, occurred_at=ctx.server._cloud.now() - 60 * minutes)


def _fault(kind: str, value: float | None = None) -> Callable[[Ctx], None]:
    return lambda ctx: ctx.server.set_fault(kind, value, times=1)


CASES = [
    Case("me", "GET", "/v1/me", "/v1/me", 200),
    Case("devices", "GET", "/v1/devices", "/v1/devices", 200),
    Case("me-expired", "GET", "/v1/me", "/v1/me", 401, token="expired"),
    Case("me-unknown", "GET", "/v1/me", "/v1/me", 401, token="unknown"),
    Case("devices-no-token", "GET", "/v1/devices", "/v1/devices", 401, token="none"),
    Case("devices-503", "GET", "/v1/devices", "/v1/devices", 503, setup=_fault("status", 503)),
    Case("devices-500", "GET", "/v1/devices", "/v1/devices", 500, setup=_fault("status", 500)),
    Case("devices-fault-expired", "GET", "/v1/devices", "/v1/devices", 401, setup=_fault("expired_token")),
    Case("stream", "POST", STREAMS, streams(demo.FRONT_DOOR), 201, json=RTSP_1080),
    Case("stream-nvr-channel", "POST", STREAMS, streams(demo.SIDE_GATE), 201, json=RTSP_720_G711),
    Case("stream-400", "POST", STREAMS, streams(demo.FRONT_DOOR), 400, json={"protocol": "RTSP"}),
    Case("stream-404-foreign", "POST", STREAMS, streams(demo.PORCH), 404, json=RTSP_1080),
    Case("stream-409-offline", "POST", STREAMS, streams(demo.SHED), 409, json=RTSP_720_G711),
    Case("stream-409-privacy", "POST", STREAMS, streams(demo.NURSERY), 409, json=RTSP_1080),
    Case("stream-409-bridge", "POST", STREAMS, streams(demo.WORKSHOP), 409,
         json={**RTSP_1080, "audio_codec": "NONE"}),
    Case("stream-422", "POST", STREAMS, streams(demo.GARAGE), 422, json=RTSP_1080),
    Case("stream-401", "POST", STREAMS, streams(demo.GARAGE), 401, json=RTSP_720_G711, token="expired"),
    Case("detections", "GET", DETECTIONS, detections(demo.FRONT_DOOR), 200, setup=_three_detections),
    Case("detections-page", "GET", DETECTIONS, detections(demo.FRONT_DOOR, limit="2"), 200,
         setup=_three_detections),
    Case("detections-range", "GET", DETECTIONS,
         detections(demo.FRONT_DOOR, since="2026-01-01T00:00:00Z", until="2026-01-02T00:00:00Z"), 200),
    Case("detections-400-limit", "GET", DETECTIONS, detections(demo.FRONT_DOOR, limit="101"), 400),
    Case("detections-400-cursor", "GET", DETECTIONS, detections(demo.FRONT_DOOR, cursor="nope"), 400),
    Case("detections-400-range", "GET", DETECTIONS,
         detections(demo.FRONT_DOOR, since="2026-01-02T00:00:00Z", until="2026-01-01T00:00:00Z"), 400),
    Case("detections-404-foreign", "GET", DETECTIONS, detections(demo.PORCH), 404),
    Case("detections-401", "GET", DETECTIONS, detections(demo.FRONT_DOOR), 401, token="expired"),
    Case("detections-delete-ids", "POST", DELETE_DETECTIONS, detections(demo.FRONT_DOOR) + "/delete", 200,
         json={"ids": ["det_1", "det_2"]}),
    Case("detections-delete-range", "POST", DELETE_DETECTIONS, detections(demo.FRONT_DOOR) + "/delete", 200,
         json={"until": "2026-01-01T00:00:00Z"}, setup=_three_detections),
    Case("detections-delete-400-both", "POST", DELETE_DETECTIONS, detections(demo.FRONT_DOOR) + "/delete",
         400, json={"ids": ["det_1"], "until": "2026-01-01T00:00:00Z"}),
    Case("detections-delete-400-raw", "POST", DELETE_DETECTIONS, detections(demo.FRONT_DOOR) + "/delete",
         400, json={"ids": ["d1_opaque"]}),
    Case("detections-delete-404", "POST", DELETE_DETECTIONS, detections(demo.PORCH) + "/delete", 404,
         json={"ids": ["det_1"]}),
    Case("rtc-offer", "POST", SESSIONS, sessions(demo.FRONT_DOOR), 201, json=offer("c-1")),
    Case("rtc-offer-400", "POST", SESSIONS, sessions(demo.FRONT_DOOR), 400, json={"session_id": "c-1"}),
    Case("rtc-offer-404", "POST", SESSIONS, sessions(demo.PORCH), 404, json=offer("c")),
    Case("rtc-offer-409", "POST", SESSIONS, sessions(demo.NURSERY), 409, json=offer("c")),
    Case("rtc-offer-422", "POST", SESSIONS, sessions(demo.GARAGE), 422, json=offer("c")),
    Case("rtc-offer-501", "POST", SESSIONS, sessions(demo.BACK_YARD), 501, json=offer("c"),
         setup=lambda ctx: ctx.server.set_answerer(None)),
    Case("rtc-connected", "POST", CONNECTED, sessions(demo.FRONT_DOOR, "c-2", "connected"), 204,
         setup=lambda ctx: ctx.open_session(demo.FRONT_DOOR, "c-2")),
    Case("rtc-connected-404", "POST", CONNECTED, sessions(demo.FRONT_DOOR, "never", "connected"), 404),
    Case("rtc-connected-409", "POST", CONNECTED, sessions(demo.BACK_YARD, "c-3", "connected"), 409,
         setup=lambda ctx: _privacy_after_offer(ctx, demo.BACK_YARD, "c-3")),
    Case("rtc-close", "DELETE", SESSION, sessions(demo.FRONT_DOOR, "c-4"), 204,
         setup=lambda ctx: ctx.open_session(demo.FRONT_DOOR, "c-4")),
    Case("rtc-close-unknown", "DELETE", SESSION, sessions(demo.FRONT_DOOR, "never"), 204),
    Case("rtc-close-404", "DELETE", SESSION, sessions(demo.PORCH, "c"), 404),
    Case("authorize-form", "GET", "/oauth/authorize", authorize_url(state="s"), 200),
    Case("authorize-bad-redirect", "GET", "/oauth/authorize", authorize_url(redirect_uri="https://evil.example/"),
         400),
    Case("authorize-error-redirect", "GET", "/oauth/authorize", authorize_url(response_type="token"), 302),
    Case("login", "POST", "/oauth/authorize", "/oauth/authorize", 302,
         form=lambda ctx: {**authorize_query(ctx.server), "username": "alice", "password": "alice-demo"}),
    Case("login-wrong-password", "POST", "/oauth/authorize", "/oauth/authorize", 401,
         form=lambda ctx: {**authorize_query(ctx.server), "username": "alice", "password": "nope"}),
    Case("token-code", "POST", "/oauth/token", "/oauth/token", 200, basic=True,
         form=lambda ctx: {"grant_type": "authorization_code", "code": ctx.code(),
                           "redirect_uri": ALEXA_REDIRECT}),
    Case("token-refresh", "POST", "/oauth/token", "/oauth/token", 200, basic=True,
         form=lambda ctx: {"grant_type": "refresh_token",
                           "refresh_token": ctx.server.issue_token("bob")["refresh_token"]}),
    Case("token-invalid-grant", "POST", "/oauth/token", "/oauth/token", 400, basic=True,
         form={"grant_type": "authorization_code", "code": "nope", "redirect_uri": ALEXA_REDIRECT}),
    Case("token-unsupported-grant", "POST", "/oauth/token", "/oauth/token", 400, basic=True,
         form={"grant_type": "client_credentials"}),
    Case("token-invalid-client", "POST", "/oauth/token", "/oauth/token", 401,
         form={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "zosi-alexa-skill",
               "client_secret": "wrong"}),
    Case("revoke", "POST", "/oauth/revoke", "/oauth/revoke", 200, basic=True, form={"token": "whatever"}),
    Case("revoke-400", "POST", "/oauth/revoke", "/oauth/revoke", 400, basic=True, form={}),
    Case("revoke-401", "POST", "/oauth/revoke", "/oauth/revoke", 401, form={"token": "whatever"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def running() -> Iterator[AccloudServer]:
    with AccloudServer(webrtc=StubAnswerer()) as server:
        yield server


@pytest.fixture
def ctx(running: AccloudServer) -> Ctx:
    running.reset()
    running.set_answerer(StubAnswerer())
    return Ctx(running, urllib3.PoolManager(retries=False, timeout=5.0))


def send(ctx: Ctx, case: Case) -> Answer:
    path = case.path
    headers: dict[str, str] = {}
    if case.token != "none" and path.startswith("/v1/"):
        headers["Authorization"] = f"Bearer {ctx.token(case.token)}"
    if case.basic:
        raw = f"{quote(ctx.server.client_id)}:{quote(ctx.server.client_secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    body: bytes | None = None
    if case.json is not None:
        body, headers["Content-Type"] = json.dumps(case.json).encode(), "application/json"
    elif case.form is not None:
        fields = case.form(ctx) if callable(case.form) else case.form
        body, headers["Content-Type"] = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    answer = ctx.http.request(
        case.method, ctx.server.base_url + path, body=body, headers=headers, redirect=False
    )
    return Answer(answer.status, answer.headers, answer.data)


def resolve(document: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow a local $ref; returns the node and its JSON pointer (None if it was inline)."""
    if "$ref" not in node:
        return node, None
    ref = node["$ref"]
    assert ref.startswith("#/"), ref
    target: Any = document
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target, ref[1:]


def declared_response(document: dict[str, Any], case: Case, status: int) -> tuple[dict[str, Any], str]:
    operation = document["paths"][case.template][case.method.lower()]
    responses = operation["responses"]
    for key in (str(status), f"{status // 100}XX"):
        if key in responses:
            node, ref_pointer = resolve(document, responses[key])
            here = pointer("paths", case.template, case.method.lower(), "responses", key)
            return node, ref_pointer or here
    raise AssertionError(f"{case.method} {case.template} does not declare status {status}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_server_answers_conform_to_the_document(
    document: dict[str, Any], registry: Registry, ctx: Ctx, case: Case
) -> None:
    if case.setup is not None:
        case.setup(ctx)
    answer = send(ctx, case)
    assert answer.status == case.expected, answer.data[:300]
    declared, at = declared_response(document, case, answer.status)

    for name, header in declared.get("headers", {}).items():
        header, header_at = resolve(document, header)
        header_at = header_at or f"{at}{pointer('headers', name)}"
        value = answer.headers.get(name)
        if header.get("required"):
            assert value is not None, f"missing header {name}"
        if value is not None:
            validator_at(registry, f"{header_at}/schema").validate(value)

    content = declared.get("content")
    if not content:
        assert not answer.data, "the document declares no body"
        return
    assert answer.media_type in content, (answer.media_type, list(content))
    if answer.media_type == "application/json":
        schema_at = f"{at}/content/{answer.media_type.replace('/', '~1')}/schema"
        validator_at(registry, schema_at).validate(json.loads(answer.data))


def test_every_documented_operation_is_exercised(document: dict[str, Any]) -> None:
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert {(c.template, c.method.lower()) for c in CASES} == documented


# --- the webhook events and schema strictness -----------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_the_server_builds_is_a_valid_webhook_event(
    registry: Registry, running: AccloudServer, event_type: str
) -> None:
    running.reset()
    device_id = None if event_type.startswith("account.") else demo.FRONT_DOOR
    event = running.build_event(event_type, "alice", device_id)
    validator_at(registry, "/components/schemas/WebhookEvent").validate(event)


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ("WebhookEvent", {"id": "evt_1", "type": "device.online", "occurred_at": "2026-01-01T00:00:00Z",
                          "user_id": "usr_1"}),
        ("WebhookEvent", {"id": "evt_1", "type": "device.updated", "occurred_at": "2026-01-01T00:00:00Z",
                          "user_id": "usr_1", "device_id": "dev_1"}),
        ("WebhookEvent", {"id": "evt_1", "type": "account.deleted", "occurred_at": "2026-01-01T00:00:00Z",
                          "user_id": "usr_1", "device_id": "dev_1"}),
        ("WebhookEvent", {"id": "evt_1", "type": "doorbell.rang", "occurred_at": "2026-01-01T00:00:00Z",
                          "user_id": "usr_1", "device_id": "dev_1"}),
        ("WebhookEvent", {"id": "1", "type": "account.deleted", "occurred_at": "2026-01-01T00:00:00Z",
                          "user_id": "usr_1"}),
        ("WebhookEvent", {"id": "evt_1", "type": "account.deleted", "occurred_at": "yesterday",
                          "user_id": "usr_1"}),
        ("StreamProfile", {**RTSP_1080, "protocol": "HLS"}),
        ("StreamProfile", {**RTSP_1080, "video_codec": "H265"}),
        ("StreamProfile", {**RTSP_1080, "width": 0}),
        ("Stream", {**STREAM, "uri": "rtsp://h:554/x"}),
        ("Stream", {**STREAM, "expires_at": "2026-01-01T00:00:00+02:00"}),
        ("Stream", {**STREAM, "snapshot_uri": "http://h/s.jpg"}),
        ("Me", {"user_id": "usr_1", "link_id": "grant-1", "token_expires_at": "2026-01-01T00:00:00Z"}),
        ("Token", {"access_token": "a" * 20, "token_type": "mac", "expires_in": 3600,
                   "refresh_token": "r" * 20, "scope": "devices"}),
        ("Error", {"error": "not_found"}),
    ],
)  # fmt: skip
def test_schemas_reject_what_the_contract_forbids(registry: Registry, schema: str, instance: dict) -> None:
    with pytest.raises(ValidationError):
        validator_at(registry, f"/components/schemas/{schema}").validate(instance)


def test_device_schema_rejects_a_wrong_kind_and_accepts_unknown_extra_fields(registry: Registry) -> None:
    device = demo.demo_seed().device(demo.DRIVEWAY)
    from devstack.accloud import device_json

    wire = device_json(device, online=True)
    validator = validator_at(registry, "/components/schemas/Device")
    validator.validate({**wire, "owner_home_address": "x"})
    with pytest.raises(ValidationError):
        validator.validate({**wire, "kind": "nvr"})
    with pytest.raises(ValidationError):
        validator.validate({**wire, "parent_id": "dev_x"})


def test_webhook_events_are_open_to_new_fields_and_carry_a_device_only_when_added_or_updated(
    registry: Registry, running: AccloudServer
) -> None:
    running.reset()
    validator = validator_at(registry, "/components/schemas/WebhookEvent")
    ring = running.build_event("doorbell.pressed", "alice", demo.FRONT_DOOR)
    device = running.build_event("device.updated", "alice", demo.FRONT_DOOR)["device"]
    validator.validate({**ring, "delivery_attempt": 2, "hint": {"region": "eu"}})  # ACCloud may add fields
    for carries_a_device in (
        {**ring, "device": device},
        {**running.build_event("device.removed", "alice", demo.FRONT_DOOR), "device": device},
        {**running.build_event("account.deleted", "alice"), "device": device},
    ):
        with pytest.raises(ValidationError):
            validator.validate(carries_a_device)


def test_stream_uri_is_rtsps_on_443(registry: Registry, running: AccloudServer) -> None:
    running.reset()
    token = running.issue_token("alice")["access_token"]
    answer = urllib3.request(
        "POST",
        f"{running.base_url}{streams(demo.FRONT_DOOR)}",
        json=RTSP_1080,
        headers={"Authorization": f"Bearer {token}"},
    )
    stream = json.loads(answer.data)
    assert re.match(r"^rtsps://[^/:]+:443/live/", stream["uri"])
    validator_at(registry, "/components/schemas/Stream").validate(stream)


# --- detection history ------------------------------------------------------------------------


def _get(ctx: Ctx, path: str, token: str) -> dict[str, Any]:
    answer = ctx.http.request("GET", ctx.server.base_url + path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, answer.data[:200]
    return json.loads(answer.data)


def test_paging_visits_every_detection_once_newest_first_even_with_deletions_between_pages(ctx: Ctx) -> None:
    now = ctx.server._cloud.now()
    made = [ctx.server.detections.record(demo.FRONT_DOOR, occurred_at=now - 10 * i).id for i in range(7)]
    token = ctx.token("alice")
    first = _get(ctx, detections(demo.FRONT_DOOR, limit="3"), token)
    assert [d["id"] for d in first["detections"]] == made[:3]
    ctx.server.detections.remove(demo.FRONT_DOOR, [made[1], made[3]])  # one seen, one not yet
    seen = [d["id"] for d in first["detections"]]
    cursor = first["next_cursor"]
    while cursor:
        page = _get(ctx, detections(demo.FRONT_DOOR, limit="3", cursor=cursor), token)
        seen += [d["id"] for d in page["detections"]]
        cursor = page["next_cursor"]
    assert seen == [made[0], made[1], made[2], made[4], made[5], made[6]]


def test_a_deletion_answers_what_it_removed_and_the_rest_is_kept(ctx: Ctx) -> None:
    kept, gone = (ctx.server.detections.record(demo.FRONT_DOOR).id for _ in range(2))
    answer = ctx.http.request(
        "POST",
        ctx.server.base_url + detections(demo.FRONT_DOOR) + "/delete",
        json={"ids": [gone, "det_unknown"]},
        headers={"Authorization": f"Bearer {ctx.token('alice')}"},
    )
    assert json.loads(answer.data) == {"deleted": [gone], "not_found": ["det_unknown"]}
    assert [d["id"] for d in ctx.server.detections_held(demo.FRONT_DOOR)] == [kept]


def test_person_detected_records_the_detection_it_names(registry: Registry, ctx: Ctx) -> None:
    event = ctx.server.build_event("person.detected", "alice", demo.FRONT_DOOR)
    validator_at(registry, "/components/schemas/WebhookEvent").validate(event)
    assert [d["id"] for d in ctx.server.detections_held(demo.FRONT_DOOR)] == [event["detection_id"]]


def test_a_deletion_in_the_app_sends_a_detections_deleted_event(
    registry: Registry, ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is sent (tests/proactive covers the signature and the skill's side)."""
    received: list[dict[str, Any]] = []

    def capture(event: dict[str, Any]) -> tuple[int, str]:
        received.append(event)
        return 200, ""

    monkeypatch.setattr(ctx.server, "send_built_event", capture)
    monkeypatch.setattr(ctx.server, "webhook_url", "http://127.0.0.1:9/unused")
    monkeypatch.setattr(ctx.server, "webhook_secret", b"secret")
    made = ctx.server.detections.record(demo.FRONT_DOOR).id
    answer = ctx.server.delete_in_app(demo.FRONT_DOOR, [made, "det_never"], reason="expired")
    assert answer["deleted"] == [made]
    (event,) = received
    validator_at(registry, "/components/schemas/WebhookEvent").validate(event)
    assert (event["type"], event["detection_ids"], event["reason"]) == (
        "detections.deleted",
        [made],
        "expired",
    )
    assert ctx.server.detections_held(demo.FRONT_DOOR) == []
