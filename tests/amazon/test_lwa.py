"""skill.amazon.lwa against the LWA stand-in: tokens, typed failures, nothing secret leaks."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from devstack.lwa_server import DEFAULT_CLIENT_SECRET, LwaServer
from skill import aws, warm
from skill.amazon import lwa
from skill.amazon.lwa import InvalidGrant, LwaRejected, LwaUnavailable
from tests.moto_stack import LWA_SECRET_ID

pytestmark = pytest.mark.usefixtures("aws_stack")


def test_exchange_then_refresh(lwa_standin: LwaServer) -> None:
    before = datetime.now(UTC)
    tokens = lwa.exchange_code(lwa_standin.issue_grant_code())
    assert tokens.access_token.startswith("Atza|") and tokens.refresh_token.startswith("Atzr|")
    assert before + timedelta(seconds=3590) <= tokens.expires_at <= before + timedelta(seconds=3610)
    assert lwa_standin.is_valid_access_token(tokens.access_token)

    renewed = lwa.refresh(tokens.refresh_token)
    assert renewed.access_token != tokens.access_token
    assert renewed.refresh_token != tokens.refresh_token  # the stand-in rotates by default
    assert lwa_standin.is_valid_access_token(renewed.access_token)
    assert (lwa_standin.exchange_count, lwa_standin.refresh_count) == (1, 1)


def test_a_refresh_answer_without_refresh_token_keeps_the_old_one(lwa_standin: LwaServer) -> None:
    answer = {"access_token": "Atza|new", "token_type": "bearer", "expires_in": 3600}
    lwa_standin.respond_next(200, json.dumps(answer).encode())
    assert lwa.refresh("Atzr|kept").refresh_token == "Atzr|kept"


def test_tokens_never_appear_in_repr(lwa_standin: LwaServer) -> None:
    tokens = lwa.exchange_code(lwa_standin.issue_grant_code())
    assert "Atz" not in repr(tokens) and "Atz" not in str(tokens)


def _reused_code(server: LwaServer) -> str:
    code = server.issue_grant_code()
    lwa.exchange_code(code)
    return code


def _expired_code(server: LwaServer) -> str:
    code = server.issue_grant_code()
    server.advance(server.code_ttl + 1)
    return code


def _answer(status: int, body: bytes) -> Callable[[LwaServer], str]:
    def arrange(server: LwaServer) -> str:
        server.respond_next(status, body)
        return server.issue_grant_code()

    return arrange


def _error(status: int, error: str) -> Callable[[LwaServer], str]:
    def arrange(server: LwaServer) -> str:
        server.fail_next(status, error)
        return server.issue_grant_code()

    return arrange


EXCHANGE_FAILURES: list[tuple[str, Callable[[LwaServer], str], type[Exception]]] = [
    ("reused code", _reused_code, InvalidGrant),
    ("expired code", _expired_code, InvalidGrant),
    ("unknown code", lambda server: "ANnotacode", InvalidGrant),
    ("500", _error(500, "server_error"), LwaUnavailable),
    ("503 without body", _answer(503, b""), LwaUnavailable),
    ("429 throttled", _error(429, "slow_down"), LwaUnavailable),
    ("400 invalid_request", _error(400, "invalid_request"), LwaRejected),
    ("401 invalid_client", _error(401, "invalid_client"), LwaRejected),
    ("400 not JSON", _answer(400, b"<html>bad</html>"), LwaRejected),
    ("200 not JSON", _answer(200, b"<html>ok</html>"), LwaUnavailable),
    ("200 JSON list", _answer(200, b"[]"), LwaUnavailable),
    (
        "200 without access_token",
        _answer(200, b'{"refresh_token": "Atzr|x", "expires_in": 3600}'),
        LwaUnavailable,
    ),
    (
        "200 without refresh_token",
        _answer(200, b'{"access_token": "Atza|x", "expires_in": 3600}'),
        LwaUnavailable,
    ),
    (
        "200 expires_in as text",
        _answer(200, b'{"access_token": "Atza|x", "refresh_token": "Atzr|y", "expires_in": "3600"}'),
        LwaUnavailable,
    ),
    (
        "200 expires_in zero",
        _answer(200, b'{"access_token": "Atza|x", "refresh_token": "Atzr|y", "expires_in": 0}'),
        LwaUnavailable,
    ),
    ("200 huge answer", _answer(200, b'{"pad": "' + b"x" * 70_000 + b'"}'), LwaUnavailable),
    # Depth bombs under the size limit (skill.bounded): were a RecursionError, no typed failure.
    ("200 nested 20,000 deep", _answer(200, b"[" * 20_000 + b"]" * 20_000), LwaUnavailable),
    (
        "400 nested 20,000 deep",
        _answer(400, b'{"error":' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
        LwaRejected,
    ),
]


@pytest.mark.parametrize(
    ("case", "arrange", "expected"), EXCHANGE_FAILURES, ids=[c[0] for c in EXCHANGE_FAILURES]
)
def test_exchange_failures_are_typed_and_leak_nothing(
    lwa_standin: LwaServer, case: str, arrange: Callable[[LwaServer], str], expected: type[Exception]
) -> None:
    code = arrange(lwa_standin)
    with pytest.raises(expected) as caught:
        lwa.exchange_code(code)
    message = str(caught.value)
    assert code not in message and DEFAULT_CLIENT_SECRET not in message and "Atz" not in message
    assert caught.value.__cause__ is None


def test_refresh_of_a_rotated_or_revoked_token_is_invalid_grant(lwa_standin: LwaServer) -> None:
    tokens = lwa.exchange_code(lwa_standin.issue_grant_code())
    renewed = lwa.refresh(tokens.refresh_token)
    with pytest.raises(InvalidGrant):
        lwa.refresh(tokens.refresh_token)  # reuse of the rotated-away refresh token
    lwa_standin.revoke_all()  # the user disabled the skill
    with pytest.raises(InvalidGrant):
        lwa.refresh(renewed.refresh_token)


def test_wrong_client_secret_is_rejected_without_naming_it(lwa_standin: LwaServer) -> None:
    aws.client("secretsmanager").put_secret_value(
        SecretId=LWA_SECRET_ID, SecretString=json.dumps({"client_id": "x", "client_secret": "wrong-secret"})
    )
    warm.reset()
    with pytest.raises(LwaRejected, match="invalid_client") as caught:
        lwa.exchange_code(lwa_standin.issue_grant_code())
    assert "wrong-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("secret_value", "expected"),
    [
        (None, LwaUnavailable),
        ({"client_id": "x"}, LwaRejected),
        ({"client_id": "", "client_secret": "s"}, LwaRejected),
    ],
    ids=["missing secret", "no client_secret", "empty client_id"],
)
def test_unusable_client_credentials(
    lwa_standin: LwaServer, secret_value: dict | None, expected: type[Exception]
) -> None:
    manager = aws.client("secretsmanager")
    if secret_value is None:
        manager.delete_secret(SecretId=LWA_SECRET_ID, ForceDeleteWithoutRecovery=True)
    else:
        manager.put_secret_value(SecretId=LWA_SECRET_ID, SecretString=json.dumps(secret_value))
    warm.reset()
    with pytest.raises(expected):
        lwa.exchange_code(lwa_standin.issue_grant_code())
    assert lwa_standin.counts.total() == 0


def test_a_slow_lwa_times_out_as_unavailable(lwa_standin: LwaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lwa, "READ_TIMEOUT_SECONDS", 0.2)
    warm.reset()
    lwa_standin.delay_seconds = 0.6
    with pytest.raises(LwaUnavailable, match=r"ReadTimeoutError|unreachable"):
        lwa.exchange_code(lwa_standin.issue_grant_code())


# case -> (seconds the caller has left, stand-in delay, LWA token requests answered by the time the
# call returns, outcome).
EXCHANGE_WITH_TIME_LEFT: dict[str, tuple[float, float, int, type[Exception] | None]] = {
    "enough time": (3.0, 0.0, 1, None),
    "LWA slower than the time left": (0.5, 1.5, 0, LwaUnavailable),
    "too little time for any attempt": (0.1, 0.0, 0, LwaUnavailable),
}


@pytest.mark.parametrize(
    ("time_left", "delay", "requests", "expected"),
    EXCHANGE_WITH_TIME_LEFT.values(),
    ids=EXCHANGE_WITH_TIME_LEFT.keys(),
)
def test_an_exchange_never_outlasts_the_time_left(
    lwa_standin: LwaServer, time_left: float, delay: float, requests: int, expected: type[Exception] | None
) -> None:
    code = lwa_standin.issue_grant_code()
    lwa_standin.delay_seconds = delay
    started = time.monotonic()
    if expected is None:
        assert lwa.exchange_code(code, time_left=time_left).access_token.startswith("Atza|")
    else:
        with pytest.raises(expected):
            lwa.exchange_code(code, time_left=time_left)
    # Well under the fixed 2 s read timeout, which is what an unclipped call would wait.
    assert time.monotonic() - started < time_left + 0.75
    assert lwa_standin.counts.total() == requests


def test_an_unreachable_lwa_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", f"http://127.0.0.1:{port}/auth/o2/token")
    monkeypatch.setenv("ZOSI_LOCAL_MODE", "1")
    warm.reset()
    with pytest.raises(LwaUnavailable):
        lwa.exchange_code("ANcode")


@pytest.mark.parametrize(
    ("url", "local_mode"),
    [
        ("http://127.0.0.1:9/auth/o2/token", ""),  # plain http outside local mode
        ("http://lwa.example/auth/o2/token", "1"),  # plain http to a non-loopback host
        ("ftp://127.0.0.1/auth/o2/token", "1"),
    ],
)
def test_only_https_or_local_loopback_is_called(
    monkeypatch: pytest.MonkeyPatch, url: str, local_mode: str
) -> None:
    monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", url)
    monkeypatch.setenv("ZOSI_LOCAL_MODE", local_mode)
    warm.reset()
    with pytest.raises(LwaRejected, match="https"):
        lwa.exchange_code("ANcode")


def test_nothing_secret_is_logged(lwa_standin: LwaServer, caplog: pytest.LogCaptureFixture) -> None:
    # botocore's own DEBUG output is silenced by skill.privacy.logs.configure; ours and urllib3's is not.
    for name in ("skill", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    code = lwa_standin.issue_grant_code()
    tokens = lwa.exchange_code(code)
    lwa.refresh(tokens.refresh_token)
    with pytest.raises(InvalidGrant):
        lwa.exchange_code(code)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (code, tokens.access_token, tokens.refresh_token, DEFAULT_CLIENT_SECRET, "Atz"):
        assert secret not in logged
