"""One outbound HTTP plumbing (ACCloud, Login with Amazon, the Event Gateway, and botocore's AWS calls):
a deadline, pooled connections whose answers are bounded by it as a whole, and the retry rule.

urllib3's (and botocore's) read timeout bounds each socket read, so an upstream that answers one
byte every few hundred milliseconds would hold a call for as long as it likes. Here every answer
is cut at the deadline instead: when a request is sent under a deadline, a watchdog timer shuts
the connection's socket down at the moment the deadline passes, which ends a blocked read on the
status line, the headers or the body alike. The connection is then discarded, never reused.

The deadline travels two ways: explicitly (``request(..., deadline=)``) for the skill's own HTTP
clients, and as the ambient deadline of the request being handled (``bounded_by``, a context
variable, so threads started with ``contextvars.copy_context`` keep it) for code that cannot take
one as an argument: botocore's clients (``bound_botocore``) and the grant-refresh lease wait.

Cheap to import: urllib3 and botocore are imported only when a pool or client is built.
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
    import urllib3

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
    headers: Mapping[str, str]
    data: bytes


class Pool:
    """A lazily created urllib3 PoolManager (one per upstream and container) whose connections are cut
    at the deadline of the request they carry."""

    def __init__(self, *, num_pools: int, maxsize: int) -> None:
        self._num_pools, self._maxsize = num_pools, maxsize
        self._lock = threading.Lock()
        self._manager: urllib3.PoolManager | None = None

    def manager(self) -> urllib3.PoolManager:
        manager = self._manager
        if manager is None:
            with self._lock:
                if self._manager is None:
                    import urllib3

                    created = urllib3.PoolManager(
                        num_pools=self._num_pools, maxsize=self._maxsize, retries=False, block=False
                    )
                    created.pool_classes_by_scheme = _urllib3_pool_classes()
                    self._manager = created
                manager = self._manager
        return manager

    def reset(self) -> None:
        """Drop the pooled connections (tests point the clients at new stand-ins)."""
        with self._lock:
            if self._manager is not None:
                self._manager.clear()
            self._manager = None


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
    upstream does. At most ``max_bytes`` of the body are read. Raises ``Unreachable``."""
    import urllib3

    with bounded_by(deadline) as effective:
        remaining = effective.remaining()
        if remaining < MIN_ATTEMPT_SECONDS:
            raise Unreachable("no time left")
        timeout = urllib3.Timeout(connect=min(connect_timeout, remaining), read=min(read_timeout, remaining))
        try:
            response = pool.manager().request(
                method,
                url,
                body=body,
                headers=dict(headers),
                timeout=timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                data = response.read() if max_bytes is None else response.read(max_bytes)
            finally:
                response.release_conn()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if effective.remaining() <= 0:
                raise Unreachable("deadline passed") from None
            raise Unreachable(type(exc).__name__) from None
        if effective.remaining() <= 0:  # the watchdog may have cut it: a partial answer is no answer
            raise Unreachable("deadline passed")
    return Reply(response.status, response.headers, data)


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


def _urllib3_pool_classes() -> dict[str, type]:
    import urllib3

    return _pool_classes("urllib3", urllib3.HTTPConnectionPool, urllib3.HTTPSConnectionPool)


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
