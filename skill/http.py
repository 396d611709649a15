"""One outbound HTTP plumbing: a deadline, pooled http.client connections whose answers are cut at
it as a whole (a socket timeout bounds each read, so a trickling upstream would not end), and the
retry rule. http.client, not urllib3: urllib3's import (~40 ms CPU) would be most of a cold stream
directive's cost. The design, the ambient deadline and botocore's binding: docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl
    from email.message import Message
    from http.client import HTTPConnection

MIN_ATTEMPT_SECONDS = 0.2  # with less time left, a (re)try cannot succeed anyway


class Deadline:
    """A point in (monotonic, or ``clock``'s) time by which the work must have its answer."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.expires = clock() + seconds

    def remaining(self) -> float:
        return self.expires - self._clock()

    def allows(self, seconds: float = MIN_ATTEMPT_SECONDS) -> bool:
        """Whether at least ``seconds`` are left: the rule for starting a (re)try."""
        return self.remaining() >= seconds


_ambient: ContextVar[Deadline | None] = ContextVar("zosi_deadline", default=None)


@contextlib.contextmanager
def bounded_by(deadline: Deadline) -> Iterator[Deadline]:
    """Run the block under ``deadline``: every call it makes (HTTP, botocore, lease waits) ends by then.

    A nested deadline never extends an outer one: the earlier of the two applies."""
    outer = _ambient.get()
    effective = deadline if outer is None or deadline.remaining() <= outer.remaining() else outer
    token = _ambient.set(effective)
    try:
        yield effective
    finally:
        _ambient.reset(token)


@contextlib.contextmanager
def unbounded() -> Iterator[None]:
    """Run the block under no request deadline: for work meant to outlive its request's answer."""
    token = _ambient.set(None)
    try:
        yield
    finally:
        _ambient.reset(token)


def ambient() -> Deadline | None:
    """The deadline of the work in progress, if any."""
    return _ambient.get()


def time_left(default: float) -> float:
    """Seconds left under the ambient deadline, at most ``default`` (``default`` without one)."""
    deadline = _ambient.get()
    return default if deadline is None else min(default, deadline.remaining())


class Unreachable(Exception):
    """No usable answer: refused, reset, timed out, cut at the deadline, or no time left to try.

    The message is a fixed phrase or an exception class name, never a URL or a value."""


@dataclass(frozen=True)
class Reply:
    """A complete answer, read within the deadline."""

    status: int
    headers: Message  # case-insensitive ``get``
    data: bytes


class Pool:
    """Kept-alive connections, per (scheme, host, port), for one upstream and container: at most
    ``maxsize`` idle ones per origin and ``num_pools`` origins (the least recently used is closed).
    Thread-safe: a connection is taken out while it carries a request and handed back after."""

    def __init__(self, *, num_pools: int, maxsize: int) -> None:
        self._num_pools, self._maxsize = num_pools, maxsize
        self._lock = threading.Lock()
        self._idle: dict[_Origin, list[HTTPConnection]] = {}

    def take(self, origin: _Origin) -> HTTPConnection | None:
        """An idle connection to ``origin`` that still looks alive, if any."""
        with self._lock:
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()
                if _looks_alive(connection):
                    return connection
                connection.close()
        return None

    def give_back(self, origin: _Origin, connection: HTTPConnection) -> None:
        closing: list[HTTPConnection] = []
        with self._lock:
            idle = self._idle.pop(origin, [])
            self._idle[origin] = idle  # now the most recently used origin
            (idle if len(idle) < self._maxsize else closing).append(connection)
            while len(self._idle) > self._num_pools:
                closing.extend(self._idle.pop(next(iter(self._idle))))
        for stale in closing:
            stale.close()

    def reset(self) -> None:
        """Close the idle connections (tests point the clients at new stand-ins)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


_Origin = tuple[str, str, int]  # (scheme, host, port)


def request(
    pool: Pool,
    method: str,
    url: str,
    *,
    deadline: Deadline,
    connect_timeout: float,
    read_timeout: float,
    headers: Mapping[str, str],
    body: bytes | None = None,
    max_bytes: int | None = None,
) -> Reply:
    """One HTTP exchange, over by ``deadline`` (or the ambient deadline, if earlier) whatever the
    upstream does: connecting, sending, the status line, the headers and the body. At most
    ``max_bytes`` of the body are read. Raises ``Unreachable``.

    The one retry: a kept connection that fails before any byte of the answer arrived (the upstream
    closed it while idle) is replaced by a new one, as the request cannot have been answered."""
    origin, target = _split(url)
    with bounded_by(deadline) as effective:
        kept = pool.take(origin)
        while True:
            if not effective.allows():
                if kept is not None:
                    kept.close()
                raise Unreachable("no time left")
            try:
                return _exchange(
                    pool, origin, kept, method, target, effective,
                    connect_timeout, read_timeout, headers, body, max_bytes,
                )  # fmt: skip
            except _KeptConnectionDied:
                kept = None


class _KeptConnectionDied(Exception):
    """A kept connection failed before the answer's first byte: worth one new connection."""


def _exchange(
    pool: Pool,
    origin: _Origin,
    kept: HTTPConnection | None,
    method: str,
    target: str,
    deadline: Deadline,
    connect_timeout: float,
    read_timeout: float,
    headers: Mapping[str, str],
    body: bytes | None,
    max_bytes: int | None,
) -> Reply:
    import http.client

    connection = kept
    watchdog = None
    answered = False
    try:
        if connection is None:
            connection = _connect(origin, min(connect_timeout, deadline.remaining()))
        connection.sock.settimeout(min(read_timeout, deadline.remaining()))
        watchdog = _Watchdog(connection.sock, deadline.remaining())
        connection.request(method, target, body=body, headers=dict(headers))
        response = connection.getresponse()
        answered = True
        data = response.read() if max_bytes is None else response.read(max_bytes)
        watchdog.cancel()
    except (OSError, http.client.HTTPException) as exc:
        if watchdog is not None:
            watchdog.cancel()
        if connection is not None:
            connection.close()
        if deadline.remaining() <= 0:
            raise Unreachable("deadline passed") from None
        if kept is not None and not answered and _closed_by_upstream(exc):
            raise _KeptConnectionDied from None
        raise Unreachable(type(exc).__name__) from None
    if deadline.remaining() <= 0:  # the watchdog may have cut it: a partial answer is no answer
        connection.close()
        raise Unreachable("deadline passed")
    if response.isclosed() and not response.will_close:  # read to its end, and the upstream keeps it
        pool.give_back(origin, connection)
    else:
        connection.close()
    return Reply(response.status, response.msg, data)


def _split(url: str) -> tuple[_Origin, str]:
    """((scheme, host, port), request target) of an absolute http(s) URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise Unreachable("not an http(s) URL")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]), target


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _connect(origin: _Origin, timeout: float) -> HTTPConnection:
    import http.client

    scheme, host, port = origin
    connection = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls_context())
        if scheme == "https"
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    connection.connect()
    return connection


_tls: list[ssl.SSLContext] = []


def _tls_context() -> ssl.SSLContext:
    """One per container (loading the CA store costs a few ms): certificates and host names verified."""
    if not _tls:
        import ssl

        _tls.append(ssl.create_default_context())
    return _tls[0]


def _looks_alive(connection: HTTPConnection) -> bool:
    """Whether an idle connection may carry a request: readable while idle means the upstream closed
    it (or sent what nobody asked for), so it is not reused."""
    import select

    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _closed_by_upstream(exc: BaseException) -> bool:
    import ssl

    return isinstance(exc, ConnectionError | ssl.SSLEOFError)


# --- the watchdog ------------------------------------------------------------------------------


class _Watchdog:
    """Shuts a socket down when a deadline passes, unless cancelled first."""

    __slots__ = ("_sock", "_timer")

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock = sock
        self._timer = threading.Timer(max(seconds, 0.0), self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        # The plain socket's shutdown (also for TLS): it wakes a read blocked in another thread,
        # which then fails; SSLSocket.shutdown would also drop the TLS object under that read.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class _CutAtDeadline:
    """Mixin for urllib3 connection classes: answers are read under a watchdog for the ambient deadline."""

    _watchdog: _Watchdog | None = None
    sock: Any

    def getresponse(self) -> Any:
        self.stop_watchdog()
        deadline = _ambient.get()
        if deadline is not None and self.sock is not None:
            self._watchdog = _Watchdog(self.sock, deadline.remaining())
        return super().getresponse()  # type: ignore[misc]

    def stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()

    def close(self) -> None:
        self.stop_watchdog()
        super().close()  # type: ignore[misc]


class _StopsWatchdogs:
    """Mixin for urllib3 connection pools: a connection handed back (its answer fully read) is safe again."""

    def _put_conn(self, conn: Any) -> None:
        if isinstance(conn, _CutAtDeadline):
            conn.stop_watchdog()
        super()._put_conn(conn)  # type: ignore[misc]


_classes: dict[str, dict[str, type]] = {}


def _pool_classes(name: str, http_pool: type, https_pool: type) -> dict[str, type]:
    """``pool_classes_by_scheme`` for a PoolManager: ``http_pool``/``https_pool`` with the mixins."""
    found = _classes.get(name)
    if found is None:

        def cut(pool: Any) -> type:
            base = pool.ConnectionCls
            connection = type(f"Deadline{base.__name__}", (_CutAtDeadline, base), {})
            return type(f"Deadline{pool.__name__}", (_StopsWatchdogs, pool), {"ConnectionCls": connection})

        found = _classes[name] = {"http": cut(http_pool), "https": cut(https_pool)}
    return found


# --- botocore -----------------------------------------------------------------------------------


def bound_botocore(client: Any) -> Any:
    """Make ``client``'s calls keep to the ambient deadline: answers are cut at it like ours, and no
    attempt starts without ``MIN_ATTEMPT_SECONDS`` left. Returns the client."""
    from botocore.awsrequest import AWSHTTPConnectionPool, AWSHTTPSConnectionPool

    classes = _pool_classes("botocore", AWSHTTPConnectionPool, AWSHTTPSConnectionPool)
    # botocore 1.44 builds its PoolManager(s) with these classes (botocore/httpsession.py); pinned in
    # requirements.txt, and tests/reliability/test_deadlines.py fails if a trickle is no longer cut.
    session = client._endpoint.http_session
    session._pool_classes_by_scheme = classes
    session._manager.pool_classes_by_scheme = classes
    client.meta.events.register_first("before-send", _refuse_when_out_of_time)
    client.meta.events.register_first("needs-retry", _no_retry_when_out_of_time)
    return client


_out_of_time: list[type[Exception]] = []


def _refuse_when_out_of_time(**_: Any) -> None:
    deadline = _ambient.get()
    if deadline is not None and not deadline.allows():
        raise _out_of_time_error()("no time left for an AWS call")


def _no_retry_when_out_of_time(
    response: Any = None, caught_exception: Exception | None = None, **_: Any
) -> None:
    """After every attempt, before botocore's own handler could sleep its backoff and retry past the
    deadline. An answer that ended after the deadline may have been cut by the watchdog (botocore
    reads bodies without enforcing Content-Length): it is no answer either."""
    deadline = _ambient.get()
    if deadline is None:
        return
    if deadline.remaining() <= 0 or (
        _retryable(response, caught_exception) and not deadline.allows(_RETRY_ROOM)
    ):
        raise _out_of_time_error()("no time left for an AWS call")


# botocore's standard mode sleeps up to 1 s before its one retry (max_attempts 2, skill.aws).
_RETRY_ROOM = 1.0 + MIN_ATTEMPT_SECONDS


def _retryable(response: Any, caught_exception: Exception | None) -> bool:
    """Whether botocore may retry this attempt: no answer, a 5xx, or throttling."""
    if caught_exception is not None:
        return True
    if response is None:
        return False
    http_response, parsed = response
    code = str((parsed or {}).get("Error", {}).get("Code", ""))
    return (
        http_response.status_code >= 500
        or http_response.status_code == 429
        or "Throttl" in code
        or (code.endswith("Exceeded") or code.endswith("LimitExceededException"))
    )


def _out_of_time_error() -> type[Exception]:
    """A BotoCoreError (so every caller's botocore handling sees it) that botocore's retry rules do not
    retry: the call ends at its deadline instead of retrying past it."""
    if not _out_of_time:
        from botocore.exceptions import BotoCoreError

        class OutOfTime(BotoCoreError):
            fmt = "{reason}"

            def __init__(self, reason: str) -> None:
                super().__init__(reason=reason)

        _out_of_time.append(OutOfTime)
    return _out_of_time[0]
