"""The LWA stand-in behaves like LWA's token endpoint (spoken to over real HTTP on loopback)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import urllib3

from devstack.lwa_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LwaServer

CLIENT = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[LwaServer]:
    with LwaServer(access_token_ttl=600, clock=clock) as running:
        yield running


def post(
    server: LwaServer,
    fields: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    response = urllib3.request(
        "POST",
        server.token_url,
        body=body if body is not None else urlencode(fields).encode(),
        headers=headers or {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        retries=False,
        timeout=5,
    )
    return response.status, json.loads(response.data)


def exchange(server: LwaServer, code: str, **extra: str) -> tuple[int, dict[str, Any]]:
    return post(server, {"grant_type": "authorization_code", "code": code, **CLIENT, **extra})


def refresh(server: LwaServer, refresh_token: str) -> tuple[int, dict[str, Any]]:
    return post(server, {"grant_type": "refresh_token", "refresh_token": refresh_token, **CLIENT})


def test_binds_loopback_on_a_free_port(server: LwaServer) -> None:
    parts = urlsplit(server.token_url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/auth/o2/token")
    assert parts.port and parts.port > 0


def test_code_exchange_answers_like_lwa(server: LwaServer) -> None:
    status, answer = exchange(server, server.issue_grant_code())
    assert status == 200
    assert set(answer) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert answer["access_token"].startswith("Atza|") and len(answer["access_token"]) >= 350
    assert answer["refresh_token"].startswith("Atzr|")
    assert (answer["token_type"], answer["expires_in"]) == ("bearer", 600)
    assert server.is_valid_access_token(answer["access_token"])
    assert server.exchange_count == 1


def test_codes_are_single_use(server: LwaServer) -> None:
    code = server.issue_grant_code()
    assert exchange(server, code)[0] == 200
    status, answer = exchange(server, code)
    assert (status, answer["error"]) == (400, "invalid_grant")
    assert server.exchange_count == 1


def test_codes_expire_after_five_minutes(server: LwaServer, clock: Clock) -> None:
    fresh, stale = server.issue_grant_code(), server.issue_grant_code()
    clock.now += 299
    assert exchange(server, fresh)[0] == 200
    clock.now += 2
    status, answer = exchange(server, stale)
    assert (status, answer["error"]) == (400, "invalid_grant")


def test_access_tokens_expire_and_refresh_works(server: LwaServer, clock: Clock) -> None:
    _, first = exchange(server, server.issue_grant_code())
    clock.now += 599
    assert server.is_valid_access_token(first["access_token"])
    clock.now += 2
    assert not server.is_valid_access_token(first["access_token"])
    status, renewed = refresh(server, first["refresh_token"])
    assert status == 200 and server.is_valid_access_token(renewed["access_token"])
    assert server.refresh_count == 1


def test_rotated_refresh_token_cannot_be_reused(server: LwaServer) -> None:
    _, first = exchange(server, server.issue_grant_code())
    _, second = refresh(server, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    status, answer = refresh(server, first["refresh_token"])
    assert (status, answer["error"]) == (400, "invalid_grant")
    assert refresh(server, second["refresh_token"])[0] == 200
    assert server.refresh_count == 2


def test_without_rotation_the_refresh_token_stays(clock: Clock) -> None:
    with LwaServer(rotate_refresh_tokens=False, clock=clock) as server:
        _, first = exchange(server, server.issue_grant_code())
        _, second = refresh(server, first["refresh_token"])
        _, third = refresh(server, first["refresh_token"])
        assert first["refresh_token"] == second["refresh_token"] == third["refresh_token"]
        assert server.refresh_count == 2


def test_revoke_all_ends_every_grant(server: LwaServer) -> None:
    grants = [exchange(server, server.issue_grant_code())[1] for _ in range(2)]
    server.revoke_all()
    for grant in grants:
        assert not server.is_valid_access_token(grant["access_token"])
        status, answer = refresh(server, grant["refresh_token"])
        assert (status, answer["error"]) == (400, "invalid_grant")
    assert exchange(server, server.issue_grant_code())[0] == 200  # a new grant after re-enabling works


def test_expire_access_token_affects_only_that_token(server: LwaServer) -> None:
    _, a = exchange(server, server.issue_grant_code())
    _, b = exchange(server, server.issue_grant_code())
    server.expire_access_token(a["access_token"])
    assert not server.is_valid_access_token(a["access_token"])
    assert server.is_valid_access_token(b["access_token"])
    assert not server.is_valid_access_token("Atza|never-issued")


BAD_REQUESTS = [
    (
        "wrong secret",
        {
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": "no",
        },
        401,
        "invalid_client",
    ),
    ("no client", {"grant_type": "authorization_code", "code": "x"}, 401, "invalid_client"),
    ("unknown grant type", {"grant_type": "password", **CLIENT}, 400, "unsupported_grant_type"),
    (
        "unknown refresh token",
        {"grant_type": "refresh_token", "refresh_token": "Atzr|nope", **CLIENT},
        400,
        "invalid_grant",
    ),
]


@pytest.mark.parametrize(
    ("case", "fields", "status", "error"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_requests_answer_oauth_errors(
    server: LwaServer, case: str, fields: dict[str, str], status: int, error: str
) -> None:
    answer = post(server, fields)
    assert (answer[0], answer[1]["error"]) == (status, error)


def test_http_basic_client_authentication(server: LwaServer) -> None:
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
    fields = {"grant_type": "authorization_code", "code": server.issue_grant_code()}
    assert post(server, fields, headers=headers)[0] == 200


def test_json_bodies_are_refused(server: LwaServer) -> None:
    body = json.dumps(
        {"grant_type": "authorization_code", "code": server.issue_grant_code(), **CLIENT}
    ).encode()
    status, answer = post(server, {}, headers={"Content-Type": "application/json"}, body=body)
    assert (status, answer["error"]) == (400, "invalid_request")


def test_injected_answers_are_served_in_order(server: LwaServer) -> None:
    server.fail_next(503, times=2)
    server.respond_next(200, b'{"odd": true}')
    code = server.issue_grant_code()
    assert [exchange(server, code)[0] for _ in range(3)] == [503, 503, 200]
    assert exchange(server, code)[0] == 200  # injected answers did not consume the code
    assert server.exchange_count == 1
