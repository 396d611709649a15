"""The fault matrix as data: every directive and event path x every injected fault -> expected outcome.

``test_fault_matrix.py`` runs one case per cell; ``docs/reliability.md`` shows the same table
(``python -m tests.reliability.matrix`` prints it; a test keeps the two equal). Cells not written
down are ``UNTOUCHED``: the path must make no call to that service at all.
Details and the stored-state vocabulary: docs/reliability.md, "The fault matrix".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

STREAM_LIMIT, DEFAULT_LIMIT = 6.0, 8.0  # seconds Alexa waits for a stream directive / anything else
# Cancelled transactions in a row: models/store.py retries a conflicted one three times, so the
# whole retry budget is spent and the fourth attempt must go through.
TRANSIENT_CONFLICTS = 3


@dataclass(frozen=True)
class Fault:
    key: str
    service: str  # accloud | lwa | gateway | dynamodb | none
    label: str


FAULTS: Final = [
    Fault("none", "none", "no fault"),
    Fault("accloud_latency", "accloud", "ACCloud answers every request 1 s late"),
    Fault("accloud_5xx", "accloud", "ACCloud answers 503"),
    Fault("accloud_hang", "accloud", "ACCloud never answers (read timeout 2 s)"),
    Fault("accloud_malformed", "accloud", "ACCloud sends truncated JSON"),
    Fault("accloud_tls_plain", "accloud", "TLS: https:// to a plain-HTTP server"),
    Fault("accloud_tls_self_signed", "accloud", "TLS: self-signed certificate"),
    Fault("lwa_down", "lwa", "LWA down (connection refused)"),
    Fault("lwa_invalid_grant", "lwa", "LWA answers invalid_grant"),
    Fault("gateway_401", "gateway", "Event Gateway 401, also after a refresh"),
    Fault("gateway_403_disabled", "gateway", "Event Gateway 403 SKILL_DISABLED_EXCEPTION"),
    Fault("gateway_403_permission", "gateway", "Event Gateway 403 INSUFFICIENT_PERMISSION_EXCEPTION"),
    Fault("gateway_429", "gateway", "Event Gateway 429"),
    Fault("gateway_5xx", "gateway", "Event Gateway 503"),
    Fault("ddb_throughput", "dynamodb", "DynamoDB ProvisionedThroughputExceededException"),
    Fault("ddb_throttling", "dynamodb", "DynamoDB ThrottlingException"),
    Fault(
        "ddb_condition",
        "dynamodb",
        "DynamoDB conditions fail: ConditionalCheckFailedException, or TransactionCanceledException",
    ),
    Fault(
        "ddb_transaction_conflict",
        "dynamodb",
        f"DynamoDB TransactionConflict cancels the first {TRANSIENT_CONFLICTS} transaction attempts",
    ),
]
FAULT_BY_KEY: Final = {fault.key: fault for fault in FAULTS}


@dataclass(frozen=True)
class Expect:
    """``answer``: the directive's response name or error type; the webhook's "<status> <word>"; the
    voice answer's string key ("answered" for a regular answer). ``stored``: changes to the table
    (vocabulary above). ``delivered``: webhook only, Event Gateway messages accepted."""

    answer: str
    stored: tuple[str, ...] = ()
    delivered: int | None = None


class _Untouched:
    def __repr__(self) -> str:
        return "UNTOUCHED"


UNTOUCHED: Final = _Untouched()
Cell = Expect | _Untouched


@dataclass(frozen=True)
class Path:
    key: str
    kind: str  # directive | webhook | voice
    limit: float
    cells: dict[str, Cell]

    def expect(self, fault: str) -> Expect:
        """The outcome under ``fault`` (the undisturbed one where the fault cannot reach the path)."""
        cell = self.cells.get(fault, UNTOUCHED)
        return self.cells["none"] if isinstance(cell, _Untouched) else cell  # type: ignore[return-value]

    def untouched(self, fault: str) -> bool:
        return fault != "none" and isinstance(self.cells.get(fault, UNTOUCHED), _Untouched)


REPORT_PAGE_2 = "ReportData page 2 (cursor call faulted)"
DELETE_DATA = "DeleteData (delete call faulted)"
ACCLOUD_FAULTS = (
    "accloud_5xx",
    "accloud_hang",
    "accloud_malformed",
    "accloud_tls_plain",
    "accloud_tls_self_signed",
)
DDB_THROTTLES = ("ddb_throughput", "ddb_throttling")
GATEWAY_RETRYABLE = ("gateway_429", "gateway_5xx")


def _directive(
    key: str, ok: str, *, stream: bool, stored: tuple[str, ...] = (), dynamodb: dict[str, Cell] | None = None
) -> Path:
    """A directive needing ACCloud: slow is fine, unreachable is BRIDGE_UNREACHABLE (never an auth error)."""
    cells: dict[str, Cell] = {"none": Expect(ok, stored), "accloud_latency": Expect(ok, stored)}
    cells.update({fault: Expect("BRIDGE_UNREACHABLE") for fault in ACCLOUD_FAULTS})
    cells.update(dynamodb or {})
    return Path(key, "directive", STREAM_LIMIT if stream else DEFAULT_LIMIT, cells)


def _data_controller(key: str, ok: str, performed: tuple[str, ...] = ()) -> Path:
    """An Alexa.DataController directive whose ACCloud faults are aimed at one request, the cursor
    request of a second page or the delete call (the device list before it answers; the TLS faults
    still meet the first call). Every error is an Alexa.DataController.ErrorResponse.
    ``performed``: the ACCloud-side change when ACCloud performed the call whatever it answered."""
    path = _directive(key, ok, stream=False, stored=performed)
    if performed:  # ACCloud deleted, then its every answer came back truncated: never a success
        path.cells["accloud_malformed"] = Expect("BRIDGE_UNREACHABLE", performed)
    return path


def _webhook(key: str, kept: tuple[str, ...] = (), *, index: tuple[str, ...] = ()) -> Path:
    """A webhook event for Alice, whose Event Gateway token is due for a refresh (30 s left).

    ``index``: what it does to the endpoint index when Alexa accepted the message; ``kept``: what it
    does to the index whatever Alexa answered (device.removed)."""
    accepted = ("+claim", *kept)
    cells: dict[str, Cell] = {
        "none": Expect("202 accepted", (*accepted, *index), 1),
        "lwa_down": Expect("503 retry_later", kept, 0),
        "lwa_invalid_grant": Expect("202 accepted", (*accepted, "-grant"), 0),
        "gateway_401": Expect("202 accepted", accepted, 0),
        "gateway_403_disabled": Expect("202 accepted", ("+claim", "erased"), 0),
        "gateway_403_permission": Expect("202 accepted", (*accepted, "-grant", "-events"), 0),
        "ddb_condition": Expect("200 duplicate", (), 0),
    }
    if index:  # the index write after delivery is a fenced transaction: conflicts are retried
        cells["ddb_transaction_conflict"] = Expect("202 accepted", (*accepted, *index), 1)
    cells.update({fault: Expect("503 retry_later", kept, 0) for fault in GATEWAY_RETRYABLE})
    cells.update({fault: Expect("503 unavailable", (), 0) for fault in DDB_THROTTLES})
    return Path(key, "webhook", DEFAULT_LIMIT, cells)


def _voice(key: str, stored: tuple[str, ...], dynamodb: dict[str, Cell]) -> Path:
    cells: dict[str, Cell] = {
        "none": Expect("answered", stored),
        "accloud_latency": Expect("answered", stored),
    }
    cells.update({fault: Expect("error_cloud_unavailable") for fault in ACCLOUD_FAULTS})
    cells.update(dynamodb)
    return Path(key, "voice", DEFAULT_LIMIT, cells)


PATHS: Final = [
    _directive(
        "Discover",
        "Discover.Response",
        stream=False,
        stored=("+index",),
        # The index is a cache of what Alexa knows: DynamoDB trouble must not cost the answer. A
        # refused fence check (the user erased meanwhile) stores nothing either; conflicts are retried.
        dynamodb={
            **{fault: Expect("Discover.Response") for fault in (*DDB_THROTTLES, "ddb_condition")},
            "ddb_transaction_conflict": Expect("Discover.Response", ("+index",)),
        },
    ),
    _directive("InitializeCameraStreams", "Response", stream=True),
    _directive("InitiateSessionWithOffer", "AnswerGeneratedForSession", stream=True),
    _directive("SessionConnected", "SessionConnected", stream=True),
    _directive("SessionDisconnected", "SessionDisconnected", stream=True),
    _directive("ReportState", "StateReport", stream=False),
    _data_controller(REPORT_PAGE_2, "DataReport"),
    _data_controller(DELETE_DATA, "DeleteDataResponse", ("-det",)),
    Path(
        "AcceptGrant",
        "directive",
        DEFAULT_LIMIT,
        {
            "none": Expect("AcceptGrant.Response", ("+grant",)),
            "accloud_latency": Expect("AcceptGrant.Response", ("+grant",)),
            **{fault: Expect("ACCEPT_GRANT_FAILED") for fault in ACCLOUD_FAULTS},
            "lwa_down": Expect("ACCEPT_GRANT_FAILED"),
            "lwa_invalid_grant": Expect("ACCEPT_GRANT_FAILED"),
            **{fault: Expect("ACCEPT_GRANT_FAILED") for fault in (*DDB_THROTTLES, "ddb_condition")},
            "ddb_transaction_conflict": Expect("AcceptGrant.Response", ("+grant",)),
        },
    ),
    _webhook("webhook doorbell.pressed"),
    _webhook("webhook motion.detected"),
    _webhook("webhook device.added", index=("+ep:new",)),
    _webhook("webhook device.removed", kept=("-ep:garage",)),
    _voice(
        "voice LaunchRequest",
        ("activity",),
        {
            **{fault: Expect("error_generic") for fault in DDB_THROTTLES},
            # The activity update is conditional on the profile existing; losing it loses nothing else.
            "ddb_condition": Expect("answered"),
        },
    ),
    _voice("voice CameraStatus", (), {}),
]
PATH_BY_KEY: Final = {path.key: path for path in PATHS}
UNREACHABLE: Final = "unreachable"  # the test case that covers every fault a path cannot meet
_REPRESENTATIVES = ("accloud_5xx", "lwa_down", "gateway_5xx", "ddb_throughput", "ddb_condition")


def cases() -> list[tuple[str, str]]:
    """(path, fault) for every cell a fault reaches, plus (path, UNREACHABLE) per path that has others."""
    found = []
    for path in PATHS:
        found += [(path.key, fault.key) for fault in FAULTS if not path.untouched(fault.key)]
        if any(path.untouched(fault.key) for fault in FAULTS):
            found.append((path.key, UNREACHABLE))
    return found


def representatives(path: Path) -> list[Fault]:
    """One unreachable fault per service the path never calls, injected together: zero calls to each
    service proves every fault of it unreachable (a throttle, where possible, also covers conditions)."""
    chosen: dict[str, Fault] = {}
    for key in (*_REPRESENTATIVES, *(fault.key for fault in FAULTS)):
        fault = FAULT_BY_KEY[key]
        if path.untouched(key) and fault.service not in chosen:
            chosen[fault.service] = fault
    return list(chosen.values())


AUTH_ERRORS: Final = frozenset({"INVALID_AUTHORIZATION_CREDENTIAL", "EXPIRED_AUTHORIZATION_CREDENTIAL"})

# Besides the table's words: ``-det`` is ACCloud's change, the detection deleted there.
_STORED_WORDS = {
    "+index": "endpoint index written",
    "+grant": "grant (encrypted) + profile",
    "+claim": "claim kept",
    "+ep:new": "endpoint added to index",
    "-ep:garage": "endpoint removed from index",
    "-grant": "grant deleted",
    "-events": "events stopped",
    "erased": "partition erased",
    "activity": "activity recorded",
    "-det": "nothing; ACCloud deleted the detection",
}


def describe(expect: Expect, kind: str) -> tuple[str, str]:
    answer = expect.answer
    if kind == "webhook":
        answer += f", {expect.delivered} delivered"
    stored = ", ".join(_STORED_WORDS[word] for word in expect.stored) or "nothing"
    return answer, stored


def render() -> str:
    """The markdown table of docs/reliability.md: one row per cell a fault can reach, then per path
    the faults that cannot reach it (zero calls to that service, asserted)."""
    lines = [
        "| path | fault | answer | stored | limit |",
        "|---|---|---|---|---|",
    ]
    for path in PATHS:
        for fault in FAULTS:
            if path.untouched(fault.key):
                continue
            answer, stored = describe(path.expect(fault.key), path.kind)
            lines.append(f"| {path.key} | {fault.label} | {answer} | {stored} | {path.limit:g} s |")
        detail = ", ".join(f.key for f in FAULTS if path.untouched(f.key))
        if detail:
            lines.append(f"| {path.key} | *unreachable:* {detail} | as without fault | as without fault | "
                         f"{path.limit:g} s |")  # fmt: skip
    return "\n".join(lines) + "\n"


# --- socket-level faults (tests/reliability/test_deadlines.py) ------------------------------------
#
# A proxy in front of one upstream (harness.FaultProxy) misbehaves at the socket: the answer is
# trickled one byte every 50 ms (each read well inside the read timeout), never comes, or the
# connection is reset; DynamoDB also answers 500 / throttling through it. Each case runs with
# Lambda's remaining time shortened (small deadlines keep the suite fast) and asserts the answer
# came inside that time, what is stored, and - for the webhook - that the redelivery ACCloud then
# makes is processed (the ring is delivered once, not lost as a "duplicate").

SOCKET_FAULTS: Final = {
    "trickle": "answer trickled, one byte per 50 ms",
    "hang": "request taken, no answer ever",
    "reset": "connection reset (TCP RST)",
    "5xx": "500 InternalServerError",
    "throttling": "400 ThrottlingException",
    "lease": "a dead container holds the grant-refresh lease",
}


@dataclass(frozen=True)
class SocketCase:
    path: str
    upstream: str  # accloud | lwa | gateway | dynamodb
    fault: str  # a key of SOCKET_FAULTS
    answer: str
    stored: str
    redelivery: str  # what ACCloud's redelivery (after the fault) gets; "" for directives
    limit: float

    @property
    def key(self) -> str:
        return f"{self.path}-{self.upstream}-{self.fault}"


_TRANSPORT = ("trickle", "hang", "reset")
_RINGS = "202 accepted, rings once"
SENT_AGAIN = "202 accepted, sent again"
SOCKET_CASES: Final = [
    *(
        SocketCase("InitializeCameraStreams", "accloud", f, "BRIDGE_UNREACHABLE", "nothing", "", STREAM_LIMIT)
        for f in _TRANSPORT
    ),
    *(
        SocketCase("AcceptGrant", "lwa", f, "ACCEPT_GRANT_FAILED", "nothing", "", DEFAULT_LIMIT)
        for f in _TRANSPORT
    ),
    # A trickled answer is cut at the deadline: Amazon may have taken the message (it was sent in
    # full), but the skill cannot know, so the redelivery sends it again - at least once, never lost.
    SocketCase(
        "webhook doorbell.pressed", "gateway", "trickle", "503 retry_later", "claim released", SENT_AGAIN, 8.0
    ),
    *(
        SocketCase("webhook doorbell.pressed", "gateway", f, "503 retry_later", "claim released", _RINGS, 8.0)
        for f in ("hang", "reset")
    ),
    *(
        SocketCase("webhook doorbell.pressed", "dynamodb", f, "503 unavailable", "nothing", _RINGS, 8.0)
        for f in (*_TRANSPORT, "5xx", "throttling")
    ),
    SocketCase(
        "webhook doorbell.pressed", "dynamodb", "lease", "503 retry_later", "claim released", _RINGS, 8.0
    ),
    # A linked user's launch reads (and touches) the profile: the request's deadline bounds it too.
    *(
        SocketCase("voice LaunchRequest", "dynamodb", f, "error_generic", "nothing new", "", DEFAULT_LIMIT)
        for f in (*_TRANSPORT, "5xx", "throttling")
    ),
]


def render_socket_cases() -> str:
    """The socket-fault table of docs/reliability.md."""
    lines = [
        "| path | upstream | fault | answer | stored | redelivery | limit |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in SOCKET_CASES:
        lines.append(
            f"| {case.path} | {case.upstream} | {SOCKET_FAULTS[case.fault]} | {case.answer} | "
            f"{case.stored} | {case.redelivery or '-'} | {case.limit:g} s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
    print()
    print(render_socket_cases(), end="")
