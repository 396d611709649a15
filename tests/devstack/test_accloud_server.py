"""The reference ACCloud server: OAuth flow, stream and WebRTC rules, faults, admin API, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import urllib3
from werkzeug.test import Client

from devstack import demo_data as demo
from devstack.accloud import (
    LOCAL_REDIRECT_URI,
    AccloudAdmin,
    AccloudServer,
    AdminError,
    WebRtcUnavailable,
    redirect_uri_allowed,
)
from devstack.accloud.server import _Wsgi
from devstack.demo_data import DemoDevice
from devstack.http_server import LoopbackServer
from devstack.webhook_sender import SIGNATURE_HEADER, send_event, sign

FRONT_DOOR_RTSP = {
    "protocol": "RTSP",
    "width": 1920,
    "height": 1080,
    "video_codec": "H264",
    "audio_codec": "AAC",
}
DRIVEWAY_RTSP = {
    "protocol": "RTSP",
    "width": 640,
    "height": 480,
    "video_codec": "MJPEG",
    "audio_codec": "NONE",
}
WORKSHOP_RTSP = {
    "protocol": "RTSP",
    "width": 1920,
    "height": 1080,
    "video_codec": "H264",
    "audio_codec": "NONE",
}
GARAGE_RTSP = {"protocol": "RTSP", "width": 1280, "height": 720, "video_codec": "H264", "audio_codec": "G711"}
OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


# --- helpers --------------------------------------------------------------------------------


class Http:
    """Minimal client: JSON in, (status, headers, parsed-or-raw body) out."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self.pool = urllib3.PoolManager(retries=False, timeout=5.0)

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None, **kw: Any):
        headers = kw.pop("headers", {})
        bearer = token if token is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        answer = self.pool.request(
            method, self.base_url + path, body=data, headers=headers, redirect=False, **kw
        )
        try:
            parsed = json.loads(answer.data) if answer.data else None
        except ValueError:
            parsed = answer.data
        return answer.status, answer.headers, parsed

    def form(self, path: str, fields: dict[str, str], *, basic: tuple[str, str] | None = None):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if basic:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        answer = self.pool.request(
            "POST", self.base_url + path, body=urlencode(fields), headers=headers, redirect=False
        )
        try:
            parsed = json.loads(answer.data) if answer.data else None
        except ValueError:
            parsed = answer.data.decode()
        return answer.status, answer.headers, parsed


def pkce_pair() -> tuple[str, str]:
    verifier = "v" * 10 + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(server: AccloudServer, **over: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": server.client_id,
        "redirect_uri": "https://pitangui.amazon.com/api/skill/link/M2AAAAAAAAAAAA",
        "state": "st-123",
        "scope": "devices streams",
    }
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}


def login_for_code(
    server: AccloudServer, http: Http, username: str = "alice", **over: str
) -> tuple[str, dict]:
    params = authorize_params(server, **over)
    password = {"alice": "alice-demo", "bob": "bob-demo"}[username]
    status, headers, _ = http.form("/oauth/authorize", {**params, "username": username, "password": password})
    assert status == 302, status
    query = parse_qs(urlsplit(headers["Location"]).query)
    assert query["state"] == [params["state"]]
    return query["code"][0], params


def exchange(server: AccloudServer, http: Http, code: str, redirect_uri: str, **extra: str):
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra}
    return http.form("/oauth/token", fields, basic=(server.client_id, server.client_secret))


def bearer_challenge(headers: Any) -> str:
    return headers.get("WWW-Authenticate", "")


class StubAnswerer:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.answered: list[tuple[str, str]] = []
        self.connected_ids: list[str] = []
        self.closed: list[str] = []

    def answer(self, session_id: str, offer_sdp: str, device: DemoDevice) -> str:
        if self.fail is not None:
            raise self.fail
        self.answered.append((session_id, device.name))
        return ANSWER

    def connected(self, session_id: str) -> None:
        self.connected_ids.append(session_id)

    def close(self, session_id: str) -> None:
        self.closed.append(session_id)


@pytest.fixture(scope="module")
def running_server() -> Iterator[AccloudServer]:
    with AccloudServer() as running:
        yield running


@pytest.fixture
def server(running_server: AccloudServer) -> AccloudServer:
    """One server per module, reset to the demo seed for every test."""
    running_server.reset()
    running_server.set_answerer(None)
    running_server.webhook_url = running_server.webhook_secret = None
    return running_server


@pytest.fixture
def alice(server: AccloudServer) -> Http:
    return Http(server.base_url, server.issue_token("alice")["access_token"])


# --- OAuth ----------------------------------------------------------------------------------


def test_issue_token_runs_the_code_flow_and_me_names_user_and_link(server: AccloudServer) -> None:
    tokens = server.issue_token("alice")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "devices streams"
    assert tokens["access_token"] != tokens["refresh_token"]
    status, _, me = Http(server.base_url, tokens["access_token"]).call("GET", "/v1/me")
    assert status == 200
    assert me["user_id"] == demo.ALICE_ID
    assert re.fullmatch(r"lnk_[0-9a-f]{16}", me["link_id"])
    expires = datetime.strptime(me["token_expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(expires.timestamp() - (time.time() + 3600)) < 5
    assert (me["nickname"], me["email"], me["phone"]) == ("Alice", "alice@example.com", "+1-555-0100")
    assert server.request_counts()["POST /oauth/token"] == 1


def test_each_grant_has_its_own_link_id(server: AccloudServer) -> None:
    first, second = server.issue_token("alice"), server.issue_token("alice")
    http = Http(server.base_url)
    links = {http.call("GET", "/v1/me", token=t["access_token"])[2]["link_id"] for t in (first, second)}
    assert len(links) == 2
    assert sorted(server.active_links("alice")) == sorted(links)


def test_code_is_single_use_and_a_replay_revokes_what_it_produced(server: AccloudServer) -> None:
    http = Http(server.base_url)
    code, params = login_for_code(server, http)
    status, headers, tokens = exchange(server, http, code, params["redirect_uri"])
    assert status == 200 and headers["Cache-Control"] == "no-store"
    status, _, error = exchange(server, http, code, params["redirect_uri"])
    assert (status, error["error"]) == (400, "invalid_grant")
    status, headers, body = http.call("GET", "/v1/me", token=tokens["access_token"])
    assert (status, body["error_description"]) == (401, "token_unknown")
    refresh = http.form(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        basic=(server.client_id, server.client_secret),
    )
    assert (refresh[0], refresh[2]["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(("age", "expected"), [(299, 200), (301, 400)])
def test_code_expires_after_five_minutes(server: AccloudServer, age: int, expected: int) -> None:
    http = Http(server.base_url)
    code, params = login_for_code(server, http)
    server.advance_clock(age)
    status, _, body = exchange(server, http, code, params["redirect_uri"])
    assert status == expected
    if expected == 400:
        assert body["error"] == "invalid_grant"


def test_refresh_rotates_and_keeps_the_link_id(server: AccloudServer) -> None:
    first = server.issue_token("alice")
    http = Http(server.base_url)
    link = http.call("GET", "/v1/me", token=first["access_token"])[2]["link_id"]
    second = server.refresh(first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert http.call("GET", "/v1/me", token=second["access_token"])[2]["link_id"] == link
    third = server.refresh(second["refresh_token"])
    assert http.call("GET", "/v1/me", token=third["access_token"])[2]["link_id"] == link
    # The rotated-out refresh token is dead; the older access token lives until it expires.
    status, _, body = http.form(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        basic=(server.client_id, server.client_secret),
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    assert http.call("GET", "/v1/me", token=first["access_token"])[0] == 200


def test_refresh_cannot_widen_scope(server: AccloudServer) -> None:
    tokens = server.issue_token("alice", scope="devices")
    status, _, body = Http(server.base_url).form(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "devices streams"},
        basic=(server.client_id, server.client_secret),
    )
    assert (status, body["error"]) == (400, "invalid_scope")


def test_revoking_a_refresh_token_ends_the_grant_an_access_token_only_itself(server: AccloudServer) -> None:
    http = Http(server.base_url)
    a, b = server.issue_token("alice"), server.issue_token("alice")
    creds = (server.client_id, server.client_secret)
    assert http.form("/oauth/revoke", {"token": a["access_token"]}, basic=creds)[0] == 200
    assert http.call("GET", "/v1/me", token=a["access_token"])[0] == 401
    assert server.refresh(a["refresh_token"])["access_token"]  # grant a still alive
    assert http.form("/oauth/revoke", {"token": b["refresh_token"]}, basic=creds)[0] == 200
    status, _, body = http.call("GET", "/v1/me", token=b["access_token"])
    assert (status, body["error_description"]) == (401, "token_unknown")
    assert http.form("/oauth/revoke", {"token": "never-issued"}, basic=creds)[0] == 200
    assert http.form("/oauth/revoke", {"token": a["access_token"]}, basic=(server.client_id, "bad"))[0] == 401


def test_revoke_all_unlinks_every_grant_of_one_user_only(server: AccloudServer) -> None:
    alice_tokens = [server.issue_token("alice") for _ in range(2)]
    bob_token = server.issue_token("bob")
    assert server.revoke_all("alice") == 2
    http = Http(server.base_url)
    for tokens in alice_tokens:
        assert http.call("GET", "/v1/me", token=tokens["access_token"])[0] == 401
    assert http.call("GET", "/v1/me", token=bob_token["access_token"])[0] == 200
    assert server.active_links("alice") == []


@pytest.mark.parametrize(
    ("auth", "form_extra"),
    [
        pytest.param(("zosi-alexa-skill", "wrong"), {}, id="basic-wrong-secret"),
        pytest.param(("someone-else", "zosi-alexa-dev-secret"), {}, id="basic-wrong-client"),
        pytest.param(
            None, {"client_id": "zosi-alexa-skill", "client_secret": "wrong"}, id="form-wrong-secret"
        ),
        pytest.param(None, {}, id="no-client-auth"),
    ],
)
def test_token_endpoint_rejects_bad_client_auth(server: AccloudServer, auth, form_extra) -> None:
    http = Http(server.base_url)
    code, params = login_for_code(server, http)
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"]}
    status, headers, body = http.form("/oauth/token", {**fields, **form_extra}, basic=auth)
    assert (status, body["error"]) == (401, "invalid_client")
    assert headers["WWW-Authenticate"] == 'Basic realm="accloud"'
    # The code was not consumed by the failed attempt.
    assert exchange(server, http, code, params["redirect_uri"])[0] == 200


def test_token_endpoint_accepts_form_client_credentials(server: AccloudServer) -> None:
    http = Http(server.base_url)
    code, params = login_for_code(server, http)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "client_id": server.client_id,
        "client_secret": server.client_secret,
    }
    assert http.form("/oauth/token", fields)[0] == 200


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"grant_type": "password", "username": "alice"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, "invalid_request"),
        (
            {"grant_type": "authorization_code", "code": "unknown", "redirect_uri": LOCAL_REDIRECT_URI},
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "unknown"}, "invalid_grant"),
    ],
)
def test_token_endpoint_request_errors(server: AccloudServer, fields: dict, error: str) -> None:
    status, _, body = Http(server.base_url).form(
        "/oauth/token", fields, basic=(server.client_id, server.client_secret)
    )
    assert (status, body["error"]) == (400, error)


def test_token_exchange_needs_the_same_redirect_uri(server: AccloudServer) -> None:
    http = Http(server.base_url)
    code, _ = login_for_code(server, http)
    status, _, body = exchange(server, http, code, "https://layla.amazon.com/api/skill/link/M2AAAAAAAAAAAA")
    assert (status, body["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("https://pitangui.amazon.com/api/skill/link/M2AAAAAAAAAAAA", True),
        ("https://layla.amazon.com/api/skill/link/M2AAAAAAAAAAAA", True),
        ("https://alexa.amazon.co.jp/api/skill/link/M2AAAAAAAAAAAA", True),
        ("http://127.0.0.1/oauth/callback", True),
        ("http://127.0.0.1:54321/oauth/callback", True),
        ("https://pitangui.amazon.com/api/skill/link/", False),
        ("https://pitangui.amazon.com/api/skill/link/M2AA/../../evil", False),
        ("https://pitangui.amazon.com/api/skill/link/M2AA?x=1", False),
        ("http://pitangui.amazon.com/api/skill/link/M2AAAAAAAAAAAA", False),
        ("https://pitangui.amazon.com.evil.example/api/skill/link/M2AA", False),
        ("https://evil.example/api/skill/link/M2AAAAAAAAAAAA", False),
        ("http://127.0.0.1:54321/other", False),
        ("http://localhost.evil.example/oauth/callback", False),
        ("http://127.0.0.1@evil.example/oauth/callback", False),
        ("http://127.0.0.1/oauth/callback#frag", False),
        ("https://127.0.0.1/oauth/callback", False),
        ("", False),
    ],
)
def test_redirect_uri_allow_list(uri: str, allowed: bool) -> None:
    from devstack.accloud import DEFAULT_REDIRECT_URIS

    assert redirect_uri_allowed(uri, DEFAULT_REDIRECT_URIS) is allowed


@pytest.mark.parametrize(
    ("over", "status"),
    [
        ({}, 200),
        ({"redirect_uri": "http://127.0.0.1:8123/oauth/callback"}, 200),
        ({"redirect_uri": "https://evil.example/api/skill/link/M2AAAAAAAAAAAA"}, 400),
        ({"redirect_uri": None}, 400),
        ({"client_id": "someone-else"}, 400),
    ],
)
def test_authorize_form_checks_client_and_redirect_before_anything(
    server: AccloudServer, over: dict, status: int
) -> None:
    http = Http(server.base_url)
    got, headers, body = http.call("GET", "/oauth/authorize?" + urlencode(authorize_params(server, **over)))
    assert got == status
    assert "Location" not in headers
    if status == 200:
        assert 'name="password"' in body.decode() and 'value="st-123"' in body.decode()


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "devices admin"}, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "x" * 43}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
    ],
)
def test_authorize_request_errors_redirect_with_state(server: AccloudServer, over: dict, error: str) -> None:
    params = authorize_params(server, **over)
    status, headers, _ = Http(server.base_url).call("GET", "/oauth/authorize?" + urlencode(params))
    assert status == 302
    location = urlsplit(headers["Location"])
    assert location.netloc == "pitangui.amazon.com"
    query = parse_qs(location.query)
    assert query["error"] == [error] and query["state"] == ["st-123"]


def test_wrong_password_shows_the_form_again_without_redirect(server: AccloudServer) -> None:
    fields = {**authorize_params(server), "username": "alice", "password": "bob-demo"}
    status, headers, body = Http(server.base_url).form("/oauth/authorize", fields)
    assert status == 401 and "Location" not in headers
    assert "Wrong username or password" in body


def test_login_form_escapes_reflected_parameters(server: AccloudServer) -> None:
    params = authorize_params(server, state='"><script>alert(1)</script>')
    _, _, body = Http(server.base_url).call("GET", "/oauth/authorize?" + urlencode(params))
    assert b"<script>" not in body and b"&lt;script&gt;" in body


@pytest.mark.parametrize(
    ("verifier", "expected"),
    [("right", 200), ("wrong", 400), (None, 400)],
)
def test_pkce_s256(server: AccloudServer, verifier: str | None, expected: int) -> None:
    good, challenge = pkce_pair()
    http = Http(server.base_url)
    code, params = login_for_code(server, http, code_challenge=challenge, code_challenge_method="S256")
    extra = {}
    if verifier is not None:
        extra["code_verifier"] = good if verifier == "right" else good[:-1] + "X"
    status, _, body = exchange(server, http, code, params["redirect_uri"], **extra)
    assert status == expected
    if expected == 400:
        assert body["error"] == "invalid_grant"


def test_issue_token_with_and_without_pkce_and_on_the_local_redirect(server: AccloudServer) -> None:
    assert server.issue_token("bob", pkce=False)["token_type"] == "Bearer"
    assert (
        server.issue_token("bob", redirect_uri="http://127.0.0.1:9/oauth/callback")["token_type"] == "Bearer"
    )


# --- bearer errors --------------------------------------------------------------------------


def test_expired_token_answers_token_expired_per_rfc_6750(server: AccloudServer, alice: Http) -> None:
    server.expire_token(alice.token)
    status, headers, body = alice.call("GET", "/v1/devices")
    assert status == 401
    assert body == {"error": "invalid_token", "error_description": "token_expired"}
    assert bearer_challenge(headers) == (
        'Bearer realm="accloud", error="invalid_token", error_description="token_expired"'
    )


def test_access_token_expires_with_the_clock(server: AccloudServer, alice: Http) -> None:
    server.advance_clock(3599)
    assert alice.call("GET", "/v1/me")[0] == 200
    server.advance_clock(2)
    assert alice.call("GET", "/v1/me")[2]["error_description"] == "token_expired"


@pytest.mark.parametrize(
    ("authorization", "status", "error"),
    [
        ("Bearer not-a-token", 401, "token_unknown"),
        ("", 401, None),
        ("Basic YWxpY2U6YWxpY2UtZGVtbw==", 401, None),
        ("Bearer ", 401, None),
    ],
)
def test_unknown_or_missing_bearer(
    server: AccloudServer, authorization: str, status: int, error: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    got, response_headers, body = Http(server.base_url).call("GET", "/v1/me", headers=headers)
    assert got == status
    challenge = bearer_challenge(response_headers)
    if error:
        assert body == {"error": "invalid_token", "error_description": error}
        assert f'error_description="{error}"' in challenge
    else:
        assert challenge == 'Bearer realm="accloud"' and body["error"] == "invalid_request"


# --- devices --------------------------------------------------------------------------------


def test_device_list_is_per_user_with_truthful_state(server: AccloudServer, alice: Http) -> None:
    status, _, body = alice.call("GET", "/v1/devices")
    assert status == 200
    by_name = {d["name"]: d for d in body["devices"]}
    assert set(by_name) == {
        "Front Door",
        "Garage",
        "Back Yard",
        "Nursery",
        "Shed",
        "Driveway",
        "Side Gate",
        "Workshop",
    }
    assert by_name["Front Door"]["kind"] == "doorbell"
    assert by_name["Front Door"]["capabilities"] == {
        "motion_detection": True,
        "person_detection": True,
        "two_way_audio": True,
        "webrtc": True,
    }
    assert by_name["Garage"]["capabilities"]["webrtc"] is False
    assert by_name["Garage"]["stream_profiles"] == [GARAGE_RTSP]
    assert by_name["Shed"]["online"] is False
    assert by_name["Nursery"]["privacy_mode"] is True
    assert by_name["Workshop"]["online"] is False  # its NVR is offline
    assert by_name["Driveway"]["parent_id"] == demo.NVR_MAIN and by_name["Driveway"]["online"] is True
    assert all(not d["id"].startswith("nvr_") for d in body["devices"])
    for device in body["devices"]:
        for name in demo.DEVICE_PRIVATE_FIELDS:
            assert isinstance(device[name], str) and device[name], (device["name"], name)
    bob = Http(server.base_url, server.issue_token("bob")["access_token"])
    assert [d["name"] for d in bob.call("GET", "/v1/devices")[2]["devices"]] == ["Porch"]


def test_reset_restores_the_seed_and_forgets_grants(server: AccloudServer, alice: Http) -> None:
    server.rename_device(demo.GARAGE, "Carport")
    server.set_fault("status", 503)
    server.advance_clock(100)
    server.reset()
    assert alice.call("GET", "/v1/me")[2]["error_description"] == "token_unknown"
    assert server.device(demo.GARAGE).name == "Garage"
    assert server.faults() == [] and server.request_counts() == {"GET /v1/me": 1}


def test_demo_seed_is_a_fresh_copy_every_time() -> None:
    first = demo.demo_seed()
    first.device(demo.GARAGE).name = "Changed"
    assert demo.demo_seed().device(demo.GARAGE).name == "Garage"
    assert first.copy().device(demo.GARAGE).name == "Changed"


def test_server_does_not_mutate_the_seed_it_was_given() -> None:
    seed = demo.demo_seed()
    with AccloudServer(seed) as running:
        running.rename_device(demo.GARAGE, "Carport")
    assert seed.device(demo.GARAGE).name == "Garage"


def test_demo_profiles_use_only_alexa_enum_values() -> None:
    for device in demo.demo_seed().devices:
        assert device.profiles, device.name
        for p in device.profiles:
            assert p.protocol in {"RTSP", "WEBRTC"}
            assert p.video_codec in {"H264", "MPEG2", "MJPEG", "JPG"}
            assert p.audio_codec in {"G711", "AAC", "NONE"}


def test_canary_seed_plants_values_the_api_serves(server: AccloudServer) -> None:
    seed, canaries = demo.canary_seed()
    assert all(re.fullmatch(r"CANARY_\w+", v) for v in canaries.values())
    with AccloudServer(seed) as canary_server:
        http = Http(canary_server.base_url, canary_server.issue_token("alice")["access_token"])
        served = json.dumps([http.call("GET", "/v1/devices")[2], http.call("GET", "/v1/me")[2]])
    alice_canaries = {k: v for k, v in canaries.items() if demo.BOB_ID not in k and demo.PORCH not in k}
    missing = [key for key, value in alice_canaries.items() if value not in served]
    assert not missing
    assert canaries[f"device:{demo.GARAGE}:serial_number"] in served
    assert canaries[f"device:{demo.GARAGE}:home_address"] in served  # extra, unknown field


def test_inject_fields_sets_known_and_extra_fields() -> None:
    seed = demo.inject_fields(
        demo.demo_seed(),
        devices={"mac": lambda d: f"mac-of-{d.id}", "owner_note": "x"},
        users={"email": "e@example.net"},
    )
    garage = seed.device(demo.GARAGE)
    assert garage.mac == f"mac-of-{demo.GARAGE}" and garage.extra == {"owner_note": "x"}
    assert {u.email for u in seed.users} == {"e@example.net"}
    with pytest.raises(ValueError):
        demo.inject_fields(demo.demo_seed(), nvrs={"not_a_field": 1})


# --- streams --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device_id", "profile", "status", "error"),
    [
        (demo.FRONT_DOOR, FRONT_DOOR_RTSP, 201, None),
        (demo.GARAGE, GARAGE_RTSP, 201, None),
        (demo.DRIVEWAY, DRIVEWAY_RTSP, 201, None),
        (demo.FRONT_DOOR, {**FRONT_DOOR_RTSP, "width": 1280, "height": 720}, 422, "unsupported_profile"),
        (demo.FRONT_DOOR, {**FRONT_DOOR_RTSP, "audio_codec": "G711"}, 422, "unsupported_profile"),
        (demo.FRONT_DOOR, {**FRONT_DOOR_RTSP, "protocol": "WEBRTC"}, 422, "unsupported_profile"),
        (demo.FRONT_DOOR, {**FRONT_DOOR_RTSP, "protocol": "HLS"}, 422, "unsupported_profile"),
        (demo.GARAGE, FRONT_DOOR_RTSP, 422, "unsupported_profile"),
        (demo.NURSERY, FRONT_DOOR_RTSP, 409, "privacy_mode"),
        (demo.SHED, GARAGE_RTSP, 409, "device_offline"),
        (demo.WORKSHOP, WORKSHOP_RTSP, 409, "bridge_offline"),
        (demo.PORCH, FRONT_DOOR_RTSP, 404, "not_found"),
        ("dev_doesnotexist", FRONT_DOOR_RTSP, 404, "not_found"),
        (demo.NVR_MAIN, FRONT_DOOR_RTSP, 404, "not_found"),
        (demo.FRONT_DOOR, {"protocol": "RTSP"}, 400, "invalid_request"),
        (demo.FRONT_DOOR, {**FRONT_DOOR_RTSP, "width": "1920"}, 400, "invalid_request"),
        (demo.FRONT_DOOR, {**FRONT_DOOR_RTSP, "width": True}, 400, "invalid_request"),
        (demo.FRONT_DOOR, [FRONT_DOOR_RTSP], 400, "invalid_request"),
    ],
)  # fmt: skip
def test_stream_rules(alice: Http, device_id: str, profile: Any, status: int, error: str | None) -> None:
    got, _, body = alice.call("POST", f"/v1/devices/{device_id}/streams", profile)
    assert got == status, body
    if error:
        assert body["error"] == error and isinstance(body["error_description"], str)


def test_minted_stream_is_short_lived_rtsps_on_443(server: AccloudServer, alice: Http) -> None:
    _, _, first = alice.call("POST", f"/v1/devices/{demo.FRONT_DOOR}/streams", FRONT_DOOR_RTSP)
    _, _, second = alice.call("POST", f"/v1/devices/{demo.FRONT_DOOR}/streams", FRONT_DOOR_RTSP)
    assert re.fullmatch(r"rtsps://media\.accloud\.example:443/live/[A-Za-z0-9_-]{32}", first["uri"])
    assert re.fullmatch(r"https://media\.accloud\.example/snap/[A-Za-z0-9_-]{24}\.jpg", first["snapshot_uri"])
    assert first["uri"] != second["uri"] and first["snapshot_uri"] != second["snapshot_uri"]
    expires = datetime.strptime(first["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert abs(expires - (time.time() + 300)) < 5
    assert first["idle_timeout_seconds"] == 30 and first["authorization_type"] == "NONE"
    assert [m["uri"] for m in server.minted_streams()] == [first["uri"], second["uri"]]


def test_one_request_per_stream_call_is_counted(server: AccloudServer, alice: Http) -> None:
    server.reset_request_counts()
    alice.call("POST", f"/v1/devices/{demo.GARAGE}/streams", GARAGE_RTSP)
    assert server.request_counts() == {f"POST /v1/devices/{demo.GARAGE}/streams": 1}


@pytest.mark.parametrize(
    ("mutate", "device_id", "profile", "status", "error"),
    [
        (lambda s: s.set_online(demo.GARAGE, False), demo.GARAGE, GARAGE_RTSP, 409, "device_offline"),
        (lambda s: s.set_online(demo.SHED, True), demo.SHED, GARAGE_RTSP, 201, None),
        (lambda s: s.set_privacy(demo.NURSERY, False), demo.NURSERY, FRONT_DOOR_RTSP, 201, None),
        (lambda s: s.set_privacy(demo.GARAGE, True), demo.GARAGE, GARAGE_RTSP, 409, "privacy_mode"),
        (lambda s: s.set_nvr_online(demo.NVR_MAIN, False), demo.SIDE_GATE, GARAGE_RTSP, 409,
         "bridge_offline"),
        (lambda s: s.set_nvr_online(demo.NVR_OFFLINE, True), demo.WORKSHOP, WORKSHOP_RTSP, 201, None),
        (lambda s: s.remove_device(demo.GARAGE), demo.GARAGE, GARAGE_RTSP, 404, "not_found"),
    ],
)  # fmt: skip
def test_device_mutations_change_stream_answers(
    server: AccloudServer, alice: Http, mutate, device_id: str, profile: dict, status: int, error: str | None
) -> None:
    mutate(server)
    got, _, body = alice.call("POST", f"/v1/devices/{device_id}/streams", profile)
    assert got == status
    if error:
        assert body["error"] == error


def test_nvr_offline_makes_its_channels_offline_in_the_list(server: AccloudServer, alice: Http) -> None:
    server.set_nvr_online(demo.NVR_MAIN, False)
    online = {d["name"]: d["online"] for d in alice.call("GET", "/v1/devices")[2]["devices"]}
    assert online["Driveway"] is False and online["Side Gate"] is False and online["Garage"] is True
    assert server.device(demo.DRIVEWAY).online is True  # the channel's own state is unchanged


def test_add_rename_remove_show_in_the_list(server: AccloudServer, alice: Http) -> None:
    added = server.add_device(
        "alice",
        "Attic",
        device_id="dev_a77c000000001",
        profiles=[
            {"protocol": "RTSP", "width": 1280, "height": 720, "video_codec": "H264", "audio_codec": "AAC"}
        ],
    )
    assert added.serial_number and added.mac.startswith("02:")
    server.rename_device(demo.GARAGE, "Carport")
    server.remove_device(demo.SHED)
    names = {d["name"] for d in alice.call("GET", "/v1/devices")[2]["devices"]}
    assert {"Attic", "Carport"} <= names and not {"Garage", "Shed"} & names
    profile = {"protocol": "RTSP", "width": 1280, "height": 720, "video_codec": "H264", "audio_codec": "AAC"}
    assert alice.call("POST", "/v1/devices/dev_a77c000000001/streams", profile)[0] == 201


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda s: s.set_online("dev_nope", False), KeyError),
        (lambda s: s.set_nvr_online("nvr_nope", False), KeyError),
        (lambda s: s.rename_device(demo.GARAGE, " "), ValueError),
        (lambda s: s.add_device("alice", "Dup", device_id=demo.GARAGE), ValueError),
        (lambda s: s.add_device("alice", "Orphan", kind="nvr_channel", parent_id="nvr_nope"), ValueError),
        (lambda s: s.add_device("bob", "Steal", kind="nvr_channel", parent_id=demo.NVR_MAIN), ValueError),
        (lambda s: s.add_device("alice", "Odd", kind="nvr"), ValueError),
        (lambda s: s.add_device("alice", "Odd", device_id="camera-7"), ValueError),
        (lambda s: s.add_device("carol", "X"), KeyError),
        (lambda s: s.issue_token("carol"), KeyError),
    ],
)
def test_programmatic_api_rejects_bad_arguments(server: AccloudServer, call, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        call(server)


# --- WebRTC ---------------------------------------------------------------------------------


@pytest.fixture
def stub(server: AccloudServer) -> StubAnswerer:
    answerer = StubAnswerer()
    server.set_answerer(answerer)
    return answerer


def rtc(device_id: str, session_id: str = "") -> str:
    base = f"/v1/devices/{device_id}/webrtc/sessions"
    return f"{base}/{session_id}" if session_id else base


def test_webrtc_session_lifecycle(server: AccloudServer, alice: Http, stub: StubAnswerer) -> None:
    status, _, body = alice.call("POST", rtc(demo.FRONT_DOOR), {"session_id": "s-1", "offer_sdp": OFFER})
    assert (status, body) == (201, {"session_id": "s-1", "answer_sdp": ANSWER})
    assert stub.answered == [("s-1", "Front Door")]
    assert server.rtc_sessions(demo.FRONT_DOOR) == {"s-1": "answered"}
    assert alice.call("POST", rtc(demo.FRONT_DOOR, "s-1") + "/connected")[0] == 204
    assert stub.connected_ids == ["s-1"] and server.rtc_sessions(demo.FRONT_DOOR) == {"s-1": "connected"}
    assert alice.call("DELETE", rtc(demo.FRONT_DOOR, "s-1"))[0] == 204
    assert stub.closed == ["s-1"] and server.rtc_sessions(demo.FRONT_DOOR) == {}
    assert alice.call("DELETE", rtc(demo.FRONT_DOOR, "s-1"))[0] == 204  # idempotent
    assert stub.closed == ["s-1"]


def test_any_alexa_session_id_without_a_slash_works(
    server: AccloudServer, alice: Http, stub: StubAnswerer
) -> None:
    session_id = "amzn1.rtc session:42"
    assert alice.call("POST", rtc(demo.FRONT_DOOR), {"session_id": session_id, "offer_sdp": OFFER})[0] == 201
    in_path = quote(session_id, safe="")
    assert alice.call("POST", rtc(demo.FRONT_DOOR, in_path) + "/connected")[0] == 204
    assert server.rtc_sessions(demo.FRONT_DOOR) == {session_id: "connected"}
    assert alice.call("DELETE", rtc(demo.FRONT_DOOR, in_path))[0] == 204
    assert stub.closed == [session_id]


def test_repeated_offer_replaces_the_session(server: AccloudServer, alice: Http, stub: StubAnswerer) -> None:
    for _ in range(2):
        assert alice.call("POST", rtc(demo.BACK_YARD), {"session_id": "s-2", "offer_sdp": OFFER})[0] == 201
    assert stub.closed == ["s-2"] and server.rtc_sessions(demo.BACK_YARD) == {"s-2": "answered"}


@pytest.mark.parametrize(
    ("device_id", "body", "status", "error"),
    [
        (demo.GARAGE, {"session_id": "s", "offer_sdp": OFFER}, 422, "unsupported_profile"),
        (demo.NURSERY, {"session_id": "s", "offer_sdp": OFFER}, 409, "privacy_mode"),
        (demo.PORCH, {"session_id": "s", "offer_sdp": OFFER}, 404, "not_found"),
        (demo.FRONT_DOOR, {"session_id": "s", "offer_sdp": "hello"}, 400, "invalid_request"),
        (demo.FRONT_DOOR, {"session_id": "bad/id", "offer_sdp": OFFER}, 400, "invalid_request"),
        (demo.FRONT_DOOR, {"offer_sdp": OFFER}, 400, "invalid_request"),
    ],
)
def test_webrtc_offer_rules(
    alice: Http, stub: StubAnswerer, device_id: str, body: dict, status: int, error: str
):
    got, _, answer = alice.call("POST", rtc(device_id), body)
    assert (got, answer["error"]) == (status, error)
    assert stub.answered == []


@pytest.mark.parametrize(
    ("failure", "status", "error"),
    [
        (None, 501, "webrtc_unavailable"),
        (WebRtcUnavailable("no peer"), 501, "webrtc_unavailable"),
        (ValueError("bad sdp"), 400, "invalid_request"),
        (TimeoutError("slow"), 504, "upstream_timeout"),
        (RuntimeError("boom"), 502, "webrtc_failed"),
    ],
)
def test_answerer_failures_map_to_status(
    server: AccloudServer, alice: Http, failure, status: int, error: str
):
    server.set_answerer(StubAnswerer(failure) if failure else None)
    got, _, body = alice.call("POST", rtc(demo.FRONT_DOOR), {"session_id": "s", "offer_sdp": OFFER})
    assert (got, body["error"]) == (status, error)
    assert server.rtc_sessions(demo.FRONT_DOOR) == {}


def test_connected_needs_an_open_session(alice: Http, stub: StubAnswerer) -> None:
    status, _, body = alice.call("POST", rtc(demo.FRONT_DOOR, "never") + "/connected")
    assert (status, body["error"]) == (404, "not_found")
    assert alice.call("DELETE", rtc(demo.PORCH, "never"))[0] == 404


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.set_online(demo.FRONT_DOOR, False),
        lambda s: s.set_privacy(demo.FRONT_DOOR, True),
        lambda s: s.remove_device(demo.FRONT_DOOR),
    ],
)
def test_device_state_changes_close_its_sessions(
    server: AccloudServer, alice: Http, stub: StubAnswerer, mutate
):
    alice.call("POST", rtc(demo.FRONT_DOOR), {"session_id": "s-3", "offer_sdp": OFFER})
    alice.call("POST", rtc(demo.BACK_YARD), {"session_id": "s-4", "offer_sdp": OFFER})
    mutate(server)
    assert stub.closed == ["s-3"]
    assert server.rtc_sessions(demo.FRONT_DOOR) == {} and server.rtc_sessions(demo.BACK_YARD) == {
        "s-4": "answered"
    }


# --- faults ---------------------------------------------------------------------------------


def test_status_fault_answers_5xx_json_and_can_be_limited(server: AccloudServer, alice: Http) -> None:
    server.set_fault("status", 502, times=2)
    for _ in range(2):
        status, _, body = alice.call("GET", "/v1/devices")
        assert (status, body["error"]) == (502, "server_error")
    assert alice.call("GET", "/v1/devices")[0] == 200
    server.set_fault("status")
    assert alice.call("GET", "/v1/me")[2]["error"] == "temporarily_unavailable"
    server.issue_token("bob")  # OAuth is outside the default /v1/ fault scope
    server.clear_faults()
    assert alice.call("GET", "/v1/me")[0] == 200


def test_fault_path_prefix_limits_the_fault(server: AccloudServer, alice: Http) -> None:
    server.set_fault("status", 503, path_prefix="/v1/devices/")
    assert alice.call("GET", "/v1/devices")[0] == 200
    assert alice.call("POST", f"/v1/devices/{demo.GARAGE}/streams", GARAGE_RTSP)[0] == 503


def test_latency_fault_delays_the_answer(server: AccloudServer, alice: Http) -> None:
    server.set_fault("latency", 0.3)
    started = time.monotonic()
    assert alice.call("GET", "/v1/me")[0] == 200
    assert time.monotonic() - started >= 0.3


def test_hang_fault_holds_until_cleared(server: AccloudServer, alice: Http) -> None:
    server.set_fault("hang", 30)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        alice.call("GET", "/v1/devices", timeout=urllib3.Timeout(connect=1.0, read=0.3))
    released: list[int] = []
    waiter = threading.Thread(
        target=lambda: released.append(Http(alice.base_url, alice.token).call("GET", "/v1/me")[0])
    )
    waiter.start()
    time.sleep(0.1)
    assert released == []
    server.clear_faults()
    waiter.join(timeout=3)
    assert released == [200]


def test_hang_fault_gives_up_after_its_limit(server: AccloudServer, alice: Http) -> None:
    server.set_fault("hang", 0.2)
    started = time.monotonic()
    assert alice.call("GET", "/v1/me")[0] == 200
    assert 0.2 <= time.monotonic() - started < 2


def test_malformed_fault_breaks_the_json(server: AccloudServer, alice: Http) -> None:
    server.set_fault("malformed")
    status, _, body = alice.call("GET", "/v1/devices")
    assert status == 200 and isinstance(body, bytes)
    with pytest.raises(ValueError):
        json.loads(body)


@pytest.mark.parametrize(
    ("kind", "description"), [("expired_token", "token_expired"), ("invalid_token", "token_unknown")]
)
def test_token_faults_answer_rfc_6750(
    server: AccloudServer, alice: Http, kind: str, description: str
) -> None:
    server.set_fault(kind)
    status, headers, body = alice.call("GET", "/v1/devices")
    assert status == 401 and body["error_description"] == description
    assert f'error_description="{description}"' in bearer_challenge(headers)


@pytest.mark.parametrize(
    ("kind", "value", "times"),
    [("nonsense", None, None), ("latency", None, None), ("latency", -1, None), ("status", 404, None),
     ("status", 503, 0)],
)  # fmt: skip
def test_set_fault_validates(server: AccloudServer, kind: str, value, times) -> None:
    with pytest.raises(ValueError):
        server.set_fault(kind, value, times=times)


# --- admin API ------------------------------------------------------------------------------


def test_admin_client_drives_a_running_server(server: AccloudServer) -> None:
    admin = AccloudAdmin(server.base_url)
    tokens = admin.issue_token("alice")
    alice = Http(server.base_url, tokens["access_token"])
    server.reset_request_counts()

    admin.set_fault("status", 503, times=1)
    assert admin.faults() == [{"kind": "status", "value": 503, "path_prefix": "/v1/", "times": 1}]
    assert alice.call("GET", "/v1/devices")[0] == 503
    admin.set_fault("latency", 5)
    admin.clear_faults()
    assert admin.faults() == []

    admin.set_online(demo.GARAGE, False)
    admin.set_privacy(demo.BACK_YARD, True)
    admin.rename_device(demo.FRONT_DOOR, "Main Entrance")
    admin.set_nvr_online(demo.NVR_OFFLINE, True)
    admin.remove_device(demo.SHED)
    added = admin.add_device("alice", "Attic", device_id="dev_a77c000000002")
    assert added["id"] == "dev_a77c000000002" and added["stream_profiles"][0]["protocol"] == "RTSP"
    listed = {d["name"]: d for d in admin.devices("alice")}
    assert listed["Garage"]["online"] is False and listed["Back Yard"]["privacy_mode"] is True
    assert "Main Entrance" in listed and "Shed" not in listed and listed["Workshop"]["online"] is True

    admin.expire_token(tokens["access_token"])
    assert alice.call("GET", "/v1/me")[2]["error_description"] == "token_expired"
    assert admin.revoke_all("alice") == 1
    admin.advance_clock(10)
    # Admin calls are not ACCloud traffic: only the three /v1 calls above were counted.
    assert admin.request_counts() == {"GET /v1/devices": 1, "GET /v1/me": 1}
    admin.reset_request_counts()
    assert server.request_counts() == {}
    admin.reset()
    assert {d["name"] for d in admin.devices("alice")} >= {"Front Door", "Garage", "Shed"}


@pytest.mark.parametrize(
    ("call", "status"),
    [
        (lambda a: a.set_online("dev_nope", True), 404),
        (lambda a: a.set_fault("nonsense"), 400),
        (lambda a: a.devices("carol"), 404),
        (lambda a: a.add_device("alice", "X", colour="red"), 400),
        (lambda a: a._call("PATCH", f"/devices/{demo.GARAGE}", {"serial_number": "x"}), 400),
        (
            lambda a: a.trigger_event("doorbell.pressed", "alice", demo.FRONT_DOOR),
            400,
        ),  # no webhook configured
        (lambda a: a._call("GET", "/nothing-here"), 404),
    ],
)
def test_admin_errors(server: AccloudServer, call, status: int) -> None:
    with pytest.raises(AdminError) as caught:
        call(AccloudAdmin(server.base_url))
    assert caught.value.status == status


def test_admin_endpoints_refuse_non_loopback_callers(server: AccloudServer) -> None:
    client = Client(_Wsgi(server))
    assert client.get("/_admin/faults", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    assert client.get("/_admin/faults", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


def test_unknown_routes_and_methods_answer_json(server: AccloudServer, alice: Http) -> None:
    status, _, body = alice.call("GET", "/v2/things")
    assert (status, body["error"]) == (404, "not_found")
    status, headers, body = alice.call("DELETE", "/v1/devices")
    assert (status, body["error"]) == (405, "method_not_allowed") and "GET" in headers["Allow"]


# --- webhook --------------------------------------------------------------------------------


class Receiver(LoopbackServer):
    """A loopback HTTP endpoint standing in for the skill's webhook."""

    thread_name = "webhook-receiver"

    def __init__(self, status: int = 202) -> None:
        super().__init__()
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return None

        return Handler

    @property
    def url(self) -> str:
        return self.base_url + "/webhook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def test_sign_matches_an_independent_hmac() -> None:
    # Vector computed with: printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test
    expected = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
    assert sign(b"whsec_test", b'{"id":"evt_1"}', 1700000000) == f"t=1700000000,v1={expected}"


def test_send_event_signs_the_exact_body(receiver: Receiver) -> None:
    status, text = send_event(
        receiver.url, "whsec_test", {"id": "evt_x", "type": "doorbell.pressed"}, timestamp=1234
    )
    assert (status, text) == (202, "ok")
    headers, body = receiver.received[0]
    t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers[SIGNATURE_HEADER]).groups()
    assert t == "1234"
    assert hmac.compare_digest(v1, hmac.new(b"whsec_test", b"1234." + body, hashlib.sha256).hexdigest())
    assert json.loads(body) == {"id": "evt_x", "type": "doorbell.pressed"}


@pytest.mark.parametrize(
    ("event_type", "device_id", "has_device_id", "has_device"),
    [
        ("doorbell.pressed", demo.FRONT_DOOR, True, False),
        ("motion.detected", demo.GARAGE, True, False),
        ("device.updated", demo.GARAGE, True, True),
        ("device.added", demo.BACK_YARD, True, True),
        ("device.removed", "dev_gone00000000", True, False),
        ("account.deleted", None, False, False),
        ("account.consent_withdrawn", None, False, False),
        ("account.consent_given", None, False, False),
    ],
)
def test_trigger_event_sends_well_formed_signed_events(
    receiver: Receiver, event_type: str, device_id: str | None, has_device_id: bool, has_device: bool
) -> None:
    with AccloudServer(webhook_url=receiver.url, webhook_secret="whsec_demo") as running:
        running.rename_device(demo.GARAGE, "Carport")
        assert running.trigger_event(event_type, "alice", device_id) == (202, "ok")
    headers, body = receiver.received[0]
    t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers[SIGNATURE_HEADER]).groups()
    assert abs(int(t) - time.time()) < 5
    assert hmac.compare_digest(
        v1, hmac.new(b"whsec_demo", t.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    event = json.loads(body)
    assert re.fullmatch(r"evt_[0-9a-f]{32}", event["id"])
    assert event["type"] == event_type and event["user_id"] == demo.ALICE_ID
    occurred = datetime.strptime(event["occurred_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert abs(occurred - time.time()) < 5
    assert ("device_id" in event) is has_device_id and ("device" in event) is has_device
    if event_type == "device.updated":
        assert event["device"]["name"] == "Carport"


def test_events_have_unique_ids_and_extra_overrides(server: AccloudServer) -> None:
    ids = {server.build_event("motion.detected", "alice", demo.GARAGE)["id"] for _ in range(20)}
    assert len(ids) == 20
    stale = server.build_event("motion.detected", "alice", demo.GARAGE, occurred_at="2020-01-01T00:00:00Z")
    assert stale["occurred_at"] == "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("event_type", "username", "device_id", "exc"),
    [
        ("doorbell.rang", "alice", demo.FRONT_DOOR, ValueError),
        ("doorbell.pressed", "alice", None, ValueError),
        ("doorbell.pressed", "bob", demo.FRONT_DOOR, ValueError),
        ("device.updated", "alice", "dev_gone00000000", KeyError),
        ("account.deleted", "carol", None, KeyError),
    ],
)
def test_build_event_rejects_ill_formed_requests(
    server: AccloudServer, event_type, username, device_id, exc
) -> None:
    with pytest.raises(exc):
        server.build_event(event_type, username, device_id)


def test_admin_webhook_configuration_and_trigger(server: AccloudServer, receiver: Receiver) -> None:
    admin = AccloudAdmin(server.base_url)
    admin.configure_webhook(receiver.url, b"whsec_admin")
    assert admin.trigger_event("person.detected", "alice", demo.BACK_YARD) == (202, "ok")
    headers, body = receiver.received[0]
    t = headers[SIGNATURE_HEADER].split(",")[0][2:]
    assert headers[SIGNATURE_HEADER] == sign(b"whsec_admin", body, int(t))
