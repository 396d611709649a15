"""Machinery shared by the reliability suites (fuzzing and the fault matrix).

The loopback ``World`` and the instruments that count calls and inject faults where the real
services fail: DynamoDB errors through botocore's own parser, socket faults through a TCP proxy,
a virtual clock for the gateway's retry sleeps. Details: docs/reliability.md, introduction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack.accloud import AccloudServer
from devstack.demo_data import DemoDevice
from devstack.gateway_server import GatewayServer
from devstack.lwa_server import LwaServer
from skill import warm
from tests.voice.envelopes.stack import table_items

LAMBDA_TIMEOUT_SECONDS = 8.0  # template.yaml, SkillFunction
CANNED_ANSWER_SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n"
)


# --- time -------------------------------------------------------------------------------------


class VirtualClock:
    """Monotonic time plus every sleep the code under test asked for (which is skipped, not waited)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def now(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)


class LambdaContext:
    """What Lambda passes as ``context``: a request id and the time left before the function times out."""

    aws_request_id = "reliability-suite"

    def __init__(self, clock: VirtualClock, timeout: float = LAMBDA_TIMEOUT_SECONDS) -> None:
        self.clock = clock
        self.deadline = clock.now() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now()) * 1000))


# --- the table ------------------------------------------------------------------------------


def clear_table() -> None:
    from skill import aws
    from skill.config import settings

    client = aws.client("dynamodb")
    for item in table_items():
        client.delete_item(TableName=settings().table_name, Key={"pk": item["pk"], "sk": item["sk"]})


Row = tuple[Any, ...]


@dataclass(frozen=True)
class Rows:
    """The table as the tests reason about it.

    ``kinds``: one entry per item, ``(partition, kind, ...)`` with ``kind`` one of ``profile``,
    ``link`` (plus whether it holds a grant and permits events), ``ep`` (plus the endpointId),
    ``dedupe`` and ``fence``. Ciphertexts, versions, leases and times are left out on purpose: a
    refreshed grant is still "a grant". ``last_active``: the profile's activity time per partition.
    """

    kinds: Counter[Row]
    last_active: dict[str, str]


def rows() -> Rows:
    kinds: Counter[Row] = Counter()
    last_active: dict[str, str] = {}
    for item in table_items():
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if sk == "profile":
            kinds[(pk, "profile")] += 1
            last_active[pk] = item.get("last_active_at", {}).get("S", "")
        elif sk.startswith("link#"):
            grant = "grant_ciphertext" in item
            permitted = bool(item.get("events_permitted", {}).get("BOOL", False))
            kinds[(pk, "link", grant, permitted)] += 1
        elif sk.startswith("ep#"):
            kinds[(pk, "ep", sk[len("ep#") :])] += 1
        elif sk == "dedupe":
            kinds[("dedupe", "dedupe")] += 1
        elif sk == "fence":  # an account erasure's fence (models/fence.py): global, short-lived
            kinds[("fence", "fence")] += 1
        else:
            kinds[(pk, "unknown", sk)] += 1
    return Rows(kinds, last_active)


# --- DynamoDB faults ------------------------------------------------------------------------

THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
THROTTLING = "ThrottlingException"
CONDITION_FAILED = "ConditionalCheckFailedException"
# Not an error code of its own: a transaction cancelled because another one held an item.
TRANSACTION_CONFLICT = "TransactionConflict"
_WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_TRANSACTION = "TransactWriteItems"
WRITES = _WRITE_OPERATIONS | {"BatchWriteItem", _TRANSACTION}
# DynamoDB's texts (API reference, TransactionCanceledException): per-item reason messages and the
# exception's message, which lists every item's code in request order.
_REASON_MESSAGES = {
    "ConditionalCheckFailed": "The conditional request failed",
    TRANSACTION_CONFLICT: "Transaction is ongoing for the item.",
}
_CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]"


@dataclass
class DynamoFaults:
    """Counts DynamoDB API calls and, when ``error`` is set, answers them as DynamoDB would fail.

    ``error=THROUGHPUT_EXCEEDED`` / ``THROTTLING``: every call fails (botocore retries these, with
    its real backoff, before giving up). ``error=CONDITION_FAILED``: only writes that carry a
    condition fail, as they would if another writer had got there first: a PutItem, UpdateItem or
    DeleteItem with ConditionalCheckFailedException, a TransactWriteItems in which any item has a
    condition (a ConditionCheck always has) with TransactionCanceledException, reason
    ``ConditionalCheckFailed`` for each item with a condition and ``None`` for the others.
    ``error=TRANSACTION_CONFLICT``: TransactWriteItems is cancelled with reason
    ``TransactionConflict`` on its first item (for the skill's fenced writes, the erasure-fence
    check that every transaction of a user shares) and ``None`` for the others.
    ``times``: only that many attempts fail, the later ones go through (None: all of them).
    ``skip``: the first that many API calls go through untouched (to fail the n-th write of a flow).
    ``delay``: every HTTP attempt first waits that many seconds (a slow store), then goes on as above.

    Hooks the shared client of ``skill.aws`` (pynamodb and the botocore reader both use it):
    ``before-call`` counts each API call once, ``before-send`` answers each HTTP attempt.
    """

    error: str | None = None
    times: int | None = None
    skip: int = 0
    delay: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    conditional_writes: int = 0
    failed: int = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[DynamoFaults]:
        from skill import aws

        events = aws.client("dynamodb").meta.events
        events.register_first("before-call.dynamodb", self._count)
        events.register_first("before-send.dynamodb", self._answer)
        try:
            yield self
        finally:
            events.unregister("before-call.dynamodb", self._count)
            events.unregister("before-send.dynamodb", self._answer)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def writes(self) -> int:
        """Write calls made (whether or not they succeeded)."""
        return sum(n for operation, n in self.calls.items() if operation in WRITES)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _answer(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        self.attempts[operation] += 1
        if self.delay:
            time.sleep(self.delay)
        body = json.loads(request.body or b"{}")
        # One flag per transaction item (an item is {"Put" | "Update" | "Delete" | "ConditionCheck": {...}}).
        conditions = [
            any("ConditionExpression" in action for action in item.values())
            for item in (body.get("TransactItems", []) if operation == _TRANSACTION else [])
        ]
        conditional = any(conditions) or (
            operation in _WRITE_OPERATIONS and ("ConditionExpression" in body or "Expected" in body)
        )
        self.conditional_writes += conditional
        hit = {
            None: False,
            CONDITION_FAILED: conditional,
            TRANSACTION_CONFLICT: operation == _TRANSACTION,
        }.get(self.error, True)
        skipped = self.total <= self.skip  # before-call counted this attempt's call already
        if not hit or skipped or (self.times is not None and self.failed >= self.times):
            return None  # on to moto
        self.failed += 1
        if self.error == CONDITION_FAILED and operation == _TRANSACTION:
            codes = ["ConditionalCheckFailed" if flag else "None" for flag in conditions]
            answer = _transaction_cancelled(request.url, codes)
        elif self.error == TRANSACTION_CONFLICT:
            answer = _transaction_cancelled(
                request.url, [TRANSACTION_CONFLICT] + ["None"] * (len(conditions) - 1)
            )
        else:
            answer = _dynamodb_error(request.url, {"message": "injected"}, str(self.error))
        # botocore hands before-send to every handler, moto's too: aimed elsewhere, moto leaves it alone
        # (otherwise moto would apply the write and only the answer would say it failed).
        request.url = "https://fault-injected.invalid/"
        return answer


def _transaction_cancelled(url: str, codes: list[str]) -> Any:
    """TransactionCanceledException as DynamoDB sends it: one reason per item, in request order;
    an item without an error has code ``None`` and no message."""
    reasons = [
        {"Code": code, "Message": _REASON_MESSAGES[code]} if code != "None" else {"Code": "None"}
        for code in codes
    ]
    fields = {"CancellationReasons": reasons, "Message": _CANCELLED.format(", ".join(codes))}
    return _dynamodb_error(url, fields, "TransactionCanceledException")


def _dynamodb_error(url: str, fields: dict[str, Any], code: str) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", **fields})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "reliability-suite"}
    return AWSResponse(url, 400, headers, MockRawResponse(body.encode()))


# --- call counting at the transport seams ----------------------------------------------------


class CallSpy:
    """Counts requests the skill starts towards ACCloud, LWA and the Event Gateway (answered or not)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from skill.amazon import gateway, lwa
        from skill.cloud import client

        self.counts: Counter[str] = Counter()
        self._wrap(monkeypatch, client.HttpCameraCloud, "_once", "accloud")
        self._wrap(monkeypatch, lwa, "_post_token", "lwa")
        self._wrap(monkeypatch, gateway, "_post", "gateway")

    def _wrap(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, service: str) -> None:
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[service] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


# --- servers that fail ----------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SelfSignedTlsServer:
    """A TLS server on 127.0.0.1 whose certificate no client trusts; counts handshake attempts."""

    def __init__(self) -> None:
        self.connections = 0
        self._dir = tempfile.TemporaryDirectory(prefix="zosi-tls-")
        cert, key = _self_signed(Path(self._dir.name))
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="self-signed-tls", daemon=True)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._socket.getsockname()[1]}"

    def __enter__(self) -> SelfSignedTlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
        self._dir.cleanup()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with contextlib.suppress(OSError), connection:
                connection.settimeout(2.0)
                with self._context.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


# --- WebRTC without a media stack -------------------------------------------------------------


class CannedAnswerer:
    """The reference ACCloud's camera side, answering every offer with the same complete SDP."""

    def answer(self, session_id: str, offer_sdp: str, device: DemoDevice) -> str:
        return CANNED_ANSWER_SDP

    def connected(self, session_id: str) -> None:
        return None

    def close(self, session_id: str) -> None:
        return None


# --- socket-level faults -------------------------------------------------------------------------


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``), misbehaving on demand.

    ``mode``: ``pass`` (forward both ways), ``trickle`` (forward the upstream's answer one byte every
    ``interval`` seconds: each read gets a byte well inside any read timeout, the answer never ends in
    time), ``hang`` (take the request, never answer), ``reset`` (take the request, then a TCP RST), or
    ``answer`` (take the request, send ``canned``: raw HTTP bytes, e.g. a DynamoDB 500 or throttling).
    ``requests`` counts connections that sent a request. A context manager."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
        self._upstream = (host, int(port))
        self.mode = "pass"
        self.interval = 0.05
        self.canned = b""
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> FaultProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Close every connection (between cases: nothing kept alive carries over to the next mode)."""
        with self._lock:
            held, self._open = self._open, set()
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            first = client.recv(65536)
            if not first:
                return
            with self._lock:
                self.requests += 1
            mode = self.mode
            if mode == "hang":
                while client.recv(65536):  # until the caller gives up
                    pass
            elif mode == "reset":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()
            elif mode == "answer":
                client.sendall(self.canned)
                client.close()
            else:
                self._forward(client, first, trickle=mode == "trickle")

    def _forward(self, client: socket.socket, first: bytes, *, trickle: bool) -> None:
        upstream = socket.create_connection(self._upstream, timeout=10)
        with self._lock:
            self._open.add(upstream)
        upstream.sendall(first)

        def requests_up() -> None:
            with contextlib.suppress(OSError):
                while chunk := client.recv(65536):
                    upstream.sendall(chunk)

        threading.Thread(target=requests_up, daemon=True).start()
        while chunk := upstream.recv(65536):
            if not trickle:
                client.sendall(chunk)
                continue
            for byte in chunk:
                client.sendall(bytes([byte]))
                time.sleep(self.interval)


def dynamodb_answer(status: int, code: str) -> bytes:
    """A raw DynamoDB error answer as DynamoDB sends it (JSON 1.0 body, ``__type``)."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}).encode()
    head = (
        f"HTTP/1.1 {status} Error\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"x-amzn-ErrorType: {code}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


# --- the world -------------------------------------------------------------------------------


@dataclass
class World:
    accloud: AccloudServer
    lwa: LwaServer
    gateway: GatewayServer
    tls: SelfSignedTlsServer

    def fresh(self) -> None:
        """A known state: seeded ACCloud without faults, empty table, no gateway records, a cold
        container (so every case resolves its caller)."""
        self.accloud.reset()
        self.accloud.set_answerer(CannedAnswerer())
        self.gateway.clear()
        warm.reset()
        clear_table()

    def token(self, username: str = "alice") -> str:
        return str(self.accloud.issue_token(username)["access_token"])
