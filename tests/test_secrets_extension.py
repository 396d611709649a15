"""Secrets through the AWS Parameters and Secrets Lambda Extension (skill/secrets_extension.py),
against its stand-in (devstack/secrets_extension.py) over moto's server, and the logged
fallback to botocore when the extension is absent or failing.

The last test is the point of it all: a fresh interpreter answers the stream, WebRTC and
ReportState directives with the pseudonym keys read through the extension, and never imports
botocore.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import events
from bench.stack import BenchStack
from devstack.stack import SECRET_IDS
from skill import aws, secrets, secrets_extension, warm

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = SECRET_IDS["ZOSI_WEBHOOK_SECRET_ID"]


@pytest.fixture(scope="module")
def stack() -> Iterator[BenchStack]:
    with BenchStack() as running:
        yield running


@pytest.fixture
def extension(stack: BenchStack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stand-in, with an empty cache and this process's skill state reset; GetSecretValue
    calls the skill itself makes (the fallback) are in ``extension.direct``; after a ``warm.reset()``
    (a new client) ``extension.watch_direct_reads()`` watches again."""
    stand_in = stack.local.extension
    stand_in.clear_cache()
    stand_in.requests.clear()
    warm.reset()
    direct: list[str] = []

    def watch_direct_reads() -> None:
        aws.client("secretsmanager").meta.events.register(
            "before-parameter-build.secrets-manager.GetSecretValue",
            lambda params, **_: direct.append(params["SecretId"]),
            unique_id="test-direct-reads",
        )

    watch_direct_reads()
    stand_in.direct, stand_in.watch_direct_reads = direct, watch_direct_reads
    yield stand_in
    warm.reset()  # the watched client goes with the container


def current(secret_id: str) -> dict[str, Any]:
    raw = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    value: dict[str, Any] = json.loads(raw)
    return value


def test_secrets_are_read_through_the_extension_not_the_api(extension: Any) -> None:
    expected = current(WEBHOOK)
    extension.direct.clear()
    for _ in range(3):
        assert secrets.get(WEBHOOK) == expected
    assert extension.requests == [WEBHOOK]  # then kept in this container
    assert extension.direct == []


def test_the_stand_in_enforces_the_token_and_answers_like_the_extension(extension: Any) -> None:
    import urllib3

    pool = urllib3.HTTPConnectionPool("127.0.0.1", extension.port, retries=False)
    path = "/secretsmanager/get?secretId=" + WEBHOOK
    refused = pool.request("GET", path)
    assert (refused.status, refused.headers["X-Amzn-Errortype"]) == (401, "AccessDeniedException")
    wrong = pool.request("GET", path, headers={secrets_extension.TOKEN_HEADER: "not-the-session"})
    assert wrong.status == 401
    missing = pool.request(
        "GET", "/secretsmanager/get?secretId=nope", headers={secrets_extension.TOKEN_HEADER: "local"}
    )
    assert (missing.status, missing.headers["X-Amzn-Errortype"]) == (400, "ResourceNotFoundException")
    served = pool.request("GET", path, headers={secrets_extension.TOKEN_HEADER: "local"})
    assert served.status == 200
    assert set(json.loads(served.data)) >= {"ARN", "Name", "VersionId", "SecretString"}


def test_a_missing_secret_is_unavailable_without_a_fallback(extension: Any) -> None:
    with pytest.raises(secrets.SecretUnavailable) as failure:
        secrets.get("zosi-smart/not-set")
    assert str(failure.value) == "secret 'zosi-smart/not-set' unavailable: ResourceNotFoundException"
    assert extension.direct == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


@pytest.mark.parametrize("failure", ["absent", "HTTP 503", "refuses the token"])
def test_a_missing_or_failing_extension_falls_back_to_the_api_with_a_warning(
    extension: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    if failure == "absent":
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(free_port()))
    elif failure == "HTTP 503":
        extension.fail_next(503)
    else:
        monkeypatch.setenv("AWS_SESSION_TOKEN", "a-newer-session")  # moto does not check it
    warm.reset()
    extension.watch_direct_reads()
    expected = current(WEBHOOK)
    extension.direct.clear()
    with caplog.at_level(logging.WARNING, logger="skill.secrets"):
        assert secrets.get(WEBHOOK) == expected
    assert extension.direct == [WEBHOOK]
    (warning,) = [r for r in caplog.records if r.name == "skill.secrets"]
    assert warning.getMessage() == "secrets extension unavailable, reading through the Secrets Manager API"
    reason = warning.fields["reason"]  # type: ignore[attr-defined]
    assert {"absent": "no answer", "HTTP 503": "HTTP 503", "refuses the token": "HTTP 401"}[failure] in reason
    assert expected["signing_secret"] not in caplog.text


def test_without_the_extension_configured_secrets_come_from_the_api_silently(
    extension: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
    warm.reset()
    extension.watch_direct_reads()
    with caplog.at_level(logging.WARNING, logger="skill.secrets"):
        secrets.get(WEBHOOK)
    assert extension.requests == [] and extension.direct == [WEBHOOK]
    assert not [r for r in caplog.records if r.name == "skill.secrets"]


def test_rotation_through_the_extension_takes_effect_within_the_cache_period(
    extension: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worst case: the extension fetched the value just before the rotation and hands it out at
    the end of its TTL (60 s); the skill keeps it only for the rest of its 300 s."""
    now = [1000.0]
    monkeypatch.setattr(secrets, "time", SimpleNamespace(monotonic=lambda: now[0]))
    before = current(WEBHOOK)
    extension.answer("/secretsmanager/get?secretId=" + WEBHOOK, "local")  # the extension caches at t=0
    rotated = {"signing_secret": "whsec-rotated-" + before["signing_secret"][:4]}
    aws.client("secretsmanager").put_secret_value(SecretId=WEBHOOK, SecretString=json.dumps(rotated))
    try:
        step = 59.0  # t=59: still the extension's cached value
        extension.advance(step)
        now[0] += step
        assert secrets.get(WEBHOOK) == before
        for step, expected in ((239.9, before), (0.1, rotated)):  # t=298.9, t=299.0
            extension.advance(step)
            now[0] += step
            assert secrets.get(WEBHOOK) == expected
    finally:
        aws.client("secretsmanager").put_secret_value(SecretId=WEBHOOK, SecretString=json.dumps(before))


# A fresh interpreter, as a new Lambda container: import the entry point, answer the directives,
# report what was answered and whether botocore or urllib3 was ever imported.
SCRIPT = """
import json, sys
jobs = json.loads(sys.stdin.read())
import lambda_handler
answers = [lambda_handler.handler(event, None)["event"]["header"]["name"] for event in jobs]
loaded = sorted(m for m in sys.modules if m.startswith("botocore"))
urllib3 = sorted(m for m in sys.modules if m.startswith("urllib3"))
print(json.dumps({"answers": answers, "botocore": loaded, "urllib3": urllib3}))
"""


def fresh_container(stack: BenchStack, jobs: list[dict[str, Any]], **env: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603  (this interpreter, a script of this file's own)
        [sys.executable, "-c", SCRIPT],
        input=json.dumps(jobs),
        cwd=ROOT,
        env={**stack.child_env(), "ZOSI_LOG_LEVEL": "ERROR", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_stream_webrtc_and_report_state_never_import_botocore(stack: BenchStack) -> None:
    jobs = [
        events.initialize_streams(stack.token, stack.endpoint),
        events.offer(stack.token, stack.endpoint),
        events.report_state(stack.token, stack.endpoint),
    ]
    seen = fresh_container(stack, jobs)
    assert seen["answers"] == ["Response", "AnswerGeneratedForSession", "StateReport"]
    assert seen["botocore"] == []
    assert seen["urllib3"] == []


def test_without_the_extension_the_same_container_pays_for_botocore(stack: BenchStack) -> None:
    """The control: the test above would see botocore if the secrets came through the API."""
    jobs = [events.initialize_streams(stack.token, stack.endpoint)]
    seen = fresh_container(stack, jobs, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="")
    assert seen["answers"] == ["Response"]
    assert "botocore" in seen["botocore"]


def test_a_kept_connection_that_died_is_replaced_not_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client keeps its connection to localhost; if it died meanwhile (the extension dropped
    it), the next read opens a new one instead of falling back to the API."""
    from devstack.secrets_extension import SecretsExtensionStandIn

    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-1")

    def read(secret_id: str) -> dict[str, Any]:
        return {"Name": secret_id, "SecretString": '{"n": 1}'}

    with SecretsExtensionStandIn(read, "session-1", ttl_seconds=0) as stand_in:
        try:
            assert secrets_extension.secret_string("a", stand_in.port) == '{"n": 1}'
            (kept,) = secrets_extension._pool._idle["http", "localhost", stand_in.port]
            kept.sock.shutdown(socket.SHUT_RDWR)  # as if the other end had gone away
            assert secrets_extension.secret_string("a", stand_in.port) == '{"n": 1}'
            assert stand_in.requests == ["a", "a"]
            assert secrets_extension._pool._idle["http", "localhost", stand_in.port] != [kept]
        finally:
            warm.reset()
