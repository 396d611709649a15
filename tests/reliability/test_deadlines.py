"""Socket-level faults: every outbound call ends by the request's deadline, whatever the upstream does.

Read timeouts bound each socket read only: a trickle of one byte per 50 ms passes every read and,
without the deadline plumbing in ``skill.http``, holds a call for minutes. One case per row of
``matrix.SOCKET_CASES``. Details: docs/reliability.md, "Socket faults: trickle, hang, reset".
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import lambda_handler
from devstack import directives, webhook_sender
from devstack.demo_data import ALICE, FRONT_DOOR
from devstack.load import serialized_moto
from devstack.stack import LocalStack
from devstack.webhook_front import LambdaContext, api_gateway_event
from skill import warm
from skill.privacy import pseudonyms
from tests.alexa_schema import AlexaSchema
from tests.reliability import matrix
from tests.reliability.harness import FaultProxy, dynamodb_answer
from tests.reliability.test_races import _requests_reach_moto_server, table_items

DIRECTIVE_LAMBDA_MS = 1500  # the stream budget becomes 1.0 s (0.5 s kept for the answer)
GRANT_LAMBDA_MS = 2500  # AcceptGrant: 2.0 s budget, 1.0 s of it kept for storing the grant
WEBHOOK_LAMBDA_MS = 3000  # the webhook: 1.3 s budget, then 1.0 s kept for releasing the claim
VOICE_LAMBDA_MS = 2500  # a voice request: 1.5 s budget, 1.0 s kept for the answer
LINK = "lnk_deadlines"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with _requests_reach_moto_server(), serialized_moto(), LocalStack(webrtc=False) as running:
        yield running


@pytest.fixture
def fresh(stack: LocalStack) -> Iterator[LocalStack]:
    from skill import aws
    from skill.config import settings

    for item in table_items():
        aws.client("dynamodb").delete_item(
            TableName=settings().table_name, Key={"pk": item["pk"], "sk": item["sk"]}
        )
    stack.accloud.reset()
    stack.gateway.clear()
    warm.reset()
    yield stack
    warm.reset()


@pytest.fixture
def proxied(fresh: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FaultProxy]]:
    """A pass-through proxy in front of each upstream, the skill configured to go through them."""
    host, port = fresh.moto.get_host_and_port()
    upstreams = {
        "accloud": {"ZOSI_ACCLOUD_BASE_URL": fresh.accloud.base_url},
        "lwa": {"ZOSI_LWA_TOKEN_URL": fresh.lwa.token_url},
        "gateway": fresh.gateway.environment(),
        "dynamodb": {"AWS_ENDPOINT_URL_DYNAMODB": f"http://{host}:{port}"},  # KMS, secrets: direct
    }
    proxies = {}
    for name, settings in upstreams.items():
        proxy = proxies[name] = FaultProxy(next(iter(settings.values()))).start()
        for variable, url in settings.items():
            monkeypatch.setenv(variable, _through(url, proxy))
    warm.reset()
    yield proxies
    for proxy in proxies.values():
        proxy.stop()


def _through(url: str, proxy: FaultProxy) -> str:
    """``url`` with its origin replaced by the proxy's."""
    path = url.split("://", 1)[1].partition("/")[2]
    return f"{proxy.url}/{path}" if path else proxy.url


# --- the players ------------------------------------------------------------------------------------


def _alice(stack: LocalStack) -> str:
    return stack.accloud.user_id(ALICE)


def _user_key(stack: LocalStack) -> str:
    return pseudonyms.user_key(_alice(stack))


def _linked_with_grant(stack: LocalStack, *, expires_in: timedelta | None = None) -> None:
    """Alice linked an Alexa account (NA) that holds a grant; ``expires_in`` shortens its access token."""
    from models import store
    from skill.amazon import grants, lwa
    from skill.config import settings

    now = datetime.now(UTC)
    user_key = _user_key(stack)
    store.put_profile(
        user_key, consented_at=now, accepted_policy_version=settings().policy_version, linked_at=now
    )
    tokens = lwa.exchange_code(stack.lwa.issue_grant_code())
    if expires_in is not None:
        tokens = lwa.LwaTokens(tokens.access_token, tokens.refresh_token, now + expires_in)
    grants.store_grant(user_key, pseudonyms.link_key(LINK), tokens, "NA")


def _doorbell(stack: LocalStack, event_id: str) -> dict[str, Any]:
    """ACCloud's delivery of one doorbell press (a redelivery carries the same id, signed anew)."""
    body = webhook_sender.encode_event(
        {
            "id": event_id,
            "type": "doorbell.pressed",
            "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user_id": _alice(stack),
            "device_id": FRONT_DOOR,
        }
    )
    signature = webhook_sender.sign(stack.webhook_secret.encode(), body, int(time.time()))
    headers = {"content-type": "application/json", "x-accloud-signature": signature}
    return api_gateway_event("POST", "/webhooks/accloud", headers, body)


def _timed(event: dict[str, Any], lambda_ms: int) -> tuple[Any, float]:
    started = time.monotonic()
    answer = lambda_handler.handler(event, LambdaContext(lambda_ms))
    return answer, time.monotonic() - started


def _webhook_word(answer: dict[str, Any]) -> str:
    import json

    body = json.loads(answer["body"])
    return f"{answer['statusCode']} {body.get('status') or body.get('error')}"


def _stored(stack: LocalStack) -> set[str]:
    """What the table holds about the case: kinds only ("dedupe", "link", "grant", "profile", ...)."""
    kinds = set()
    for item in table_items():
        sk = item["sk"]["S"]
        kinds.add(sk.split("#", 1)[0])
        if "grant_ciphertext" in item:
            kinds.add("grant")
    return kinds


def _inject(proxy: FaultProxy, fault: str) -> None:
    proxy.drop_connections()  # a kept-alive connection would carry the previous mode
    if fault == "5xx":
        proxy.mode, proxy.canned = "answer", dynamodb_answer(500, "InternalServerError")
    elif fault == "throttling":
        proxy.mode, proxy.canned = "answer", dynamodb_answer(400, "ThrottlingException")
    else:
        proxy.mode = fault


def _heal(proxy: FaultProxy) -> None:
    proxy.drop_connections()
    proxy.mode = "pass"


# --- the cases --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", matrix.SOCKET_CASES, ids=lambda case: case.key)
def test_socket_fault(
    case: matrix.SocketCase,
    fresh: LocalStack,
    proxied: dict[str, FaultProxy],
    alexa_schema: AlexaSchema,
) -> None:
    stack = fresh
    proxy = proxied[case.upstream]
    if case.path == "InitializeCameraStreams":
        token = stack.accloud.issue_token(ALICE)["access_token"]
        endpoint_id = pseudonyms.endpoint_id(_alice(stack), FRONT_DOOR)
        event = directives.initialize_streams(
            token, {"endpointId": endpoint_id}, directives.one_rtsp_stream()
        )
        _inject(proxy, case.fault)
        answer, took = _timed(event, DIRECTIVE_LAMBDA_MS)
        alexa_schema.assert_valid(answer)
        assert answer["event"]["payload"]["type"] == case.answer, answer
        assert took < DIRECTIVE_LAMBDA_MS / 1000 < case.limit
        assert _stored(stack) == set()
        return
    if case.path == "AcceptGrant":
        token = stack.accloud.issue_token(ALICE)["access_token"]
        event = directives.accept_grant(token, stack.lwa.issue_grant_code())
        _inject(proxy, case.fault)
        answer, took = _timed(event, GRANT_LAMBDA_MS)
        alexa_schema.assert_valid(answer)
        assert answer["event"]["payload"]["type"] == case.answer, answer
        assert took < GRANT_LAMBDA_MS / 1000 < case.limit
        assert "grant" not in _stored(stack)
        return
    if case.path == "voice LaunchRequest":
        from skill.voice import strings
        from tests.voice import envelopes

        token = stack.accloud.issue_token(ALICE)["access_token"]
        before = table_items()
        _inject(proxy, case.fault)
        answer, took = _timed(envelopes.launch(token=token), VOICE_LAMBDA_MS)
        speech = answer["response"]["outputSpeech"]["ssml"]
        assert speech == f"<speak>{strings.render('en-US', case.answer)}</speak>", answer
        assert took < VOICE_LAMBDA_MS / 1000 < case.limit
        _heal(proxy)
        assert table_items() == before
        return

    # The webhook: the fault costs this delivery, never the ring (ACCloud redelivers on a 5xx).
    if case.fault == "lease":
        # Due for a refresh and no longer usable while one runs: the webhook must wait for the lease.
        _linked_with_grant(stack, expires_in=timedelta(seconds=5))
        _dead_container_holds_lease(stack)
    else:
        _linked_with_grant(stack)
        _inject(proxy, case.fault)
    event_id = "evt_" + uuid.uuid4().hex
    answer, took = _timed(_doorbell(stack, event_id), WEBHOOK_LAMBDA_MS)
    assert _webhook_word(answer) == case.answer, answer
    assert took < WEBHOOK_LAMBDA_MS / 1000 < case.limit
    _heal(proxy)
    assert "dedupe" not in _stored(stack), "the claim outlived the failure: the redelivery would be lost"
    # Only a trickled gateway answer comes from a gateway that took the message in full.
    taken = 1 if case.redelivery == matrix.SENT_AGAIN else 0
    assert len(stack.gateway.messages()) == taken
    if case.fault == "lease":
        _lease_lapses(stack)

    redelivered, took = _timed(_doorbell(stack, event_id), WEBHOOK_LAMBDA_MS)
    assert _webhook_word(redelivered) == "202 accepted", redelivered
    assert [m["event"]["header"]["name"] for m in stack.gateway.messages()] == ["DoorbellPress"] * (taken + 1)
    for message in stack.gateway.messages():
        alexa_schema.assert_valid(message)
    again, _ = _timed(_doorbell(stack, event_id), WEBHOOK_LAMBDA_MS)
    assert _webhook_word(again) == "200 duplicate"
    assert len(stack.gateway.messages()) == taken + 1


def _dead_container_holds_lease(stack: LocalStack) -> None:
    from models import store

    link = store.get_link(_user_key(stack), pseudonyms.link_key(LINK))
    assert link is not None
    until = datetime.now(UTC) + timedelta(seconds=15)
    assert store.acquire_refresh_lease(link, owner="dead-container", until=until) is not None


def _lease_lapses(stack: LocalStack) -> None:
    """The dead container's lease runs out (LEASE_SECONDS): the next caller takes it over."""
    from models import store

    assert store.release_refresh_lease(_user_key(stack), pseudonyms.link_key(LINK), owner="dead-container")


STORE_FAULTS = ("trickle", "hang", "reset", "5xx", "throttling")


@pytest.mark.parametrize("fault", STORE_FAULTS)
def test_every_storage_failure_is_store_unavailable(
    fault: str, fresh: LocalStack, proxied: dict[str, FaultProxy]
) -> None:
    """The store's typed error for each fault, from reads, conditional writes and updates alike - not
    pynamodb's AttributeError on a botocore error without a response (a timeout or a reset)."""
    from models import store
    from skill import http

    _linked_with_grant(fresh)
    user_key, link_key = _user_key(fresh), pseudonyms.link_key(LINK)
    operations = {
        "claim_event": lambda: store.claim_event("evt_store_fault", 60),
        "get_link": lambda: store.get_link(user_key, link_key),
        "touch_profile": lambda: store.touch_profile(user_key),
        "delete_link": lambda: store.delete_link(user_key, link_key),
    }
    _inject(proxied["dynamodb"], fault)
    for name, operation in operations.items():
        started = time.monotonic()
        with http.bounded_by(http.Deadline(0.6)), pytest.raises(store.StoreUnavailable):
            operation()
        assert time.monotonic() - started < 1.0, name
    _heal(proxied["dynamodb"])
    if fault != "trickle":  # a trickled answer is cut, but its request reached DynamoDB in full
        assert store.get_link(user_key, link_key) is not None


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open between requests

    def do_GET(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_connection_handed_back_is_kept_not_cut() -> None:
    """The watchdog ends with the answer: a pooled connection outlives the deadline it was used under
    (warm calls keep their TCP/TLS connection), and a later request on it gets its own deadline."""
    from skill import http

    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FaultProxy(f"http://127.0.0.1:{server.server_address[1]}") as proxy:
            pool = http.Pool(num_pools=1, maxsize=1)
            for _ in range(2):
                reply = http.request(
                    pool, "GET", f"{proxy.url}/", deadline=http.Deadline(0.3),
                    connect_timeout=1, read_timeout=2, headers={},
                )  # fmt: skip
                assert reply.status == 204
                time.sleep(0.4)  # past the deadline: a watchdog left armed would have cut the socket
            assert proxy.requests == 1, "the second request needed a new connection"
            pool.reset()
    finally:
        server.shutdown()
        server.server_close()


class _DropsSecondRequest:
    """On 127.0.0.1: answers the first request on each connection with a kept-alive 204; on the
    second request on the same connection it sends ``then`` and closes (an idle timeout racing the
    request when ``then`` is empty)."""

    def __init__(self, then: bytes) -> None:
        self.then = then
        self.requests = self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                self.connections += 1
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            for answer in (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", self.then):
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = client.recv(4096)
                    if not chunk:
                        return
                    received += chunk
                self.requests += 1
                client.sendall(answer)

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize(("then", "answers"), [(b"", [204, 204]), (b"HTTP/1.1 2", [204, "Unreachable"])])
def test_only_a_kept_connection_closed_before_its_answer_is_retried(then: bytes, answers: list[Any]) -> None:
    """A kept connection the upstream closed without a byte of answer: the request goes once more on a
    new connection. Once the answer has begun, it is not sent again (it may have been acted on)."""
    from skill import http

    server = _DropsSecondRequest(then)
    pool = http.Pool(num_pools=1, maxsize=1)
    seen: list[Any] = []
    try:
        for _ in answers:
            try:
                reply = http.request(
                    pool, "GET", f"{server.url}/", deadline=http.Deadline(2.0),
                    connect_timeout=1, read_timeout=1, headers={},
                )  # fmt: skip
                seen.append(reply.status)
            except http.Unreachable:
                seen.append("Unreachable")
    finally:
        pool.reset()
        server.close()
    assert seen == answers
    assert (server.requests, server.connections) == ((3, 2) if then == b"" else (2, 1))


def test_the_documented_socket_table_is_the_tested_one() -> None:
    from tests.reliability.test_fault_matrix import DOCS

    text = DOCS.read_text(encoding="utf-8")
    assert matrix.render_socket_cases() in text, (
        "docs/reliability.md is stale: `python -m tests.reliability.matrix`"
    )
