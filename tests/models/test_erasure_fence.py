"""The erasure fence (models/fence.py): no create-write of a request that began before an erasure
completed may store anything; requests that began after it may. On moto's DynamoDB (mock_aws).

Times are pinned relative to the real clock: the fence's own expiry is checked against the time
of the write, so the erasure must lie within ``FENCE_LIFETIME`` of now (except where a case says).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import fence, store
from models.inventory import INVENTORY
from models.items import ErasureFence
from models.store import EndpointRecord
from skill import aws
from skill.config import settings
from skill.privacy import erasure, pseudonyms
from tests.moto_stack import DynamoCalls

ACCLOUD_USER = "usr_fenced"
CAMERA = EndpointRecord(("CAMERA",), "c4a3e1d2b5f60718")


def user() -> str:
    return pseudonyms.user_key(ACCLOUD_USER)


def raw_items() -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=settings().table_name, ConsistentRead=True)["Items"]


def partition() -> list[str]:
    return sorted(item["sk"]["S"] for item in raw_items() if item["pk"]["S"] == user())


def fences() -> list[dict[str, Any]]:
    return [item for item in raw_items() if item["sk"]["S"] == "fence"]


# --- every create-write of a user's data ----------------------------------------------------------

CREATE_WRITES: dict[str, Callable[[], object]] = {
    "put_profile": lambda: store.put_profile(user(), consented_at=_now(), accepted_policy_version="v1"),
    "upsert_link": lambda: store.upsert_link(user(), pseudonyms.link_key("lnk_1"), region="NA"),
    "save_grant": lambda: store.save_grant(
        user(), pseudonyms.link_key("lnk_1"), region="NA", ciphertext=b"\x01" * 40, expires_at=_now()
    ),
    "apply_endpoint_diff": lambda: store.apply_endpoint_diff(user(), upserts={"z1_cam": CAMERA}),
    "apply_endpoint_diff 150 (two transactions)": lambda: store.apply_endpoint_diff(
        user(), upserts={f"z1_cam{n}": CAMERA for n in range(150)}
    ),
}


# --- when the request began, relative to the erasure ---------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """Offsets in seconds from a base one minute ago. ``completed`` None: the erasure is still running."""

    request: float
    erasure_started: float | None = 10
    completed: float | None = 20
    base_ago: timedelta = timedelta(minutes=1)

    def clock(self) -> Callable[[float], datetime]:
        base = _now() - self.base_ago
        return lambda offset: base + timedelta(seconds=offset)


# case -> (timeline, whether the write is allowed)
CASES: dict[str, tuple[Timeline, bool]] = {
    "no erasure ever": (Timeline(request=0, erasure_started=None, completed=None), True),
    "began before the erasure, writes while it runs": (Timeline(request=0, completed=None), False),
    "began before the erasure, writes after it completed": (Timeline(request=0), False),
    "began while it ran, writes while it runs": (Timeline(request=15, completed=None), False),
    "began while it ran, writes after it completed": (Timeline(request=15), False),
    "began the instant it completed": (Timeline(request=20), False),
    "began after it completed (re-link)": (Timeline(request=21), True),
    # An erasure that crashed half-way blocks the user only until its fence expires.
    "erasure never completed, within the fence's lifetime": (
        Timeline(request=30, completed=None, base_ago=timedelta(minutes=19)),
        False,
    ),
    "erasure never completed, fence expired": (
        Timeline(request=30, completed=None, base_ago=timedelta(minutes=21)),
        True,
    ),
}


@pytest.mark.parametrize("write", CREATE_WRITES)
@pytest.mark.parametrize("case", CASES)
def test_a_create_write_is_refused_exactly_when_the_request_began_before_the_erasure_completed(
    aws_stack: object, case: str, write: str
) -> None:
    timeline, allowed = CASES[case]
    at = timeline.clock()
    if timeline.erasure_started is not None:
        started = store.begin_erasure(user(), now=at(timeline.erasure_started))
        if timeline.completed is not None:
            assert store.complete_erasure(user(), started, now=at(timeline.completed))
    fence_before = fences()

    with fence.request_starting(at(timeline.request)):
        if allowed:
            CREATE_WRITES[write]()
        else:
            with pytest.raises(store.ErasedDuringRequest) as refused:
                CREATE_WRITES[write]()
            assert isinstance(refused.value, store.StoreUnavailable)  # callers unaware of erasure fail safe
            assert user() not in str(refused.value)

    assert (partition() != []) is allowed, "a refused write stores nothing, an allowed one stores"
    assert fences() == fence_before  # checked, never changed, by the write


def test_outside_a_request_the_write_itself_is_the_start(aws_stack: object) -> None:
    started = store.begin_erasure(user())
    store.complete_erasure(user(), started)
    store.put_profile(user(), consented_at=_now(), accepted_policy_version="v1")  # a fresh request
    assert partition() == ["profile"]


def test_writes_that_only_change_existing_rows_need_no_fence(aws_stack: object) -> None:
    """They are conditional on the row existing, so after an erasure they find nothing to change."""
    link_key = pseudonyms.link_key("lnk_1")
    with fence.request_starting(_now() - timedelta(seconds=5)):
        store.begin_erasure(user())
        assert store.touch_profile(user()) is False
        assert store.set_events_permitted(user(), link_key, True) is False
        assert store.clear_grant(user(), link_key) is False
        # Removals alone are unfenced: deleting cannot bring anything back.
        assert store.apply_endpoint_diff(user(), upserts={}, removals=["z1_gone"]) == 1
    assert partition() == []


# --- the fence row ----------------------------------------------------------------------------


def test_erase_account_fences_first_completes_last_and_the_fence_holds_no_identifier(
    aws_stack: object, dynamo_calls: DynamoCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_profile(user(), consented_at=_now(), accepted_policy_version="v1")
    store.upsert_link(user(), pseudonyms.link_key("lnk_1"), region="NA")
    store.apply_endpoint_diff(user(), upserts={"z1_cam": CAMERA})
    seen_while_deleting: list[str] = []
    erase_user = store.erase_user

    def deleting(user_key: str) -> int:
        seen_while_deleting.extend(item["state"]["S"] for item in fences())
        return erase_user(user_key)

    monkeypatch.setattr(store, "erase_user", deleting)
    dynamo_calls.clear()
    before = _now()

    erasure.erase_account(user(), erasure.Trigger.SKILL_DISABLED)

    after = _now()
    assert seen_while_deleting == ["erasing"]  # raised before anything was deleted
    assert dynamo_calls.operations == ["PutItem", "Query", "BatchWriteItem", "UpdateItem"]
    assert partition() == []
    (row,) = fences()
    assert set(row) == set(INVENTORY["ErasureFence"])
    assert row["state"] == {"S": "erased"}
    started, completed = (
        ErasureFence.started_at.deserialize(row[a]["S"]) for a in ("started_at", "completed_at")
    )
    assert before <= started <= completed <= after
    # TTL: the table's attribute, epoch seconds, the fence's lifetime after completion.
    expires = datetime.fromtimestamp(int(row["expires_at"]["N"]), UTC)
    assert abs(expires - (completed + fence.FENCE_LIFETIME)) < timedelta(seconds=1)
    assert timedelta(minutes=15) < fence.FENCE_LIFETIME  # Lambda's longest invocation
    # Outside the partition, and no identifier of the user in it: not the raw id, not the partition key.
    text = json.dumps(row)
    assert row["pk"]["S"].startswith("fence#") and row["pk"]["S"] != "fence#" + user()
    assert ACCLOUD_USER not in text and user() not in text


def test_a_fence_is_completed_only_by_the_erasure_that_raised_it(aws_stack: object) -> None:
    first = store.begin_erasure(user(), now=_now() - timedelta(seconds=2))
    second = store.begin_erasure(user(), now=_now() - timedelta(seconds=1))  # overlapping erasure
    assert store.complete_erasure(user(), first) is False
    assert [row["state"]["S"] for row in fences()] == ["erasing"]  # the second is still deleting
    with fence.request_starting(), pytest.raises(store.ErasedDuringRequest):
        CREATE_WRITES["put_profile"]()
    assert store.complete_erasure(user(), second) is True
    with fence.request_starting():
        CREATE_WRITES["put_profile"]()
    assert partition() == ["profile"]


def test_the_request_clock_is_set_for_one_invocation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from skill import app

    seen: list[datetime] = []
    monkeypatch.setattr(app, "_route", lambda event, context: seen.append(fence.request_started()))
    first = _now()
    app.route({"directive": {}})
    time_between = _now()
    app.route({"directive": {}})
    assert first <= seen[0] <= time_between <= seen[1]
    assert fence.request_started() >= seen[1]  # outside an invocation: now, not the last start


# --- transaction conflicts --------------------------------------------------------------------


class Conflicts:
    """Answers the next ``times`` calls of ``operation`` as DynamoDB does under a transaction conflict."""

    def __init__(self, operation: str, times: int) -> None:
        self.operation, self.left, self.answered = operation, times, 0

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        if not event_name.endswith("." + self.operation) or self.left == 0:
            return None
        self.left -= 1
        self.answered += 1
        if self.operation == "TransactWriteItems":
            body: dict[str, Any] = {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled [None, TransactionConflict]",
                "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "c"}],
            }
        else:
            body = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException", "message": "c"}
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fence-test"}
        request.url = "https://conflict-injected.invalid/"  # so moto leaves this attempt alone
        return AWSResponse(request.url, 400, headers, MockRawResponse(json.dumps(body).encode()))


@pytest.fixture
def conflicts(aws_stack: object) -> Iterator[Callable[[str, int], Conflicts]]:
    installed: list[Conflicts] = []
    events = aws.client("dynamodb").meta.events

    def install(operation: str, times: int) -> Conflicts:
        injector = Conflicts(operation, times)
        events.register_first("before-send.dynamodb", injector)
        installed.append(injector)
        return injector

    yield install
    for injector in installed:
        events.unregister("before-send.dynamodb", injector)


@pytest.mark.parametrize(
    ("operation", "times", "outcome"),
    [
        ("TransactWriteItems", 2, "written"),  # two fenced transactions overlapped: ours goes again
        ("TransactWriteItems", 9, "unavailable"),  # never clears: a storage failure, not an erasure
        ("PutItem", 2, "fenced"),  # the fence waited for a transaction holding its item
    ],
)
def test_transaction_conflicts_are_retried(
    conflicts: Callable[[str, int], Conflicts], operation: str, times: int, outcome: str
) -> None:
    injector = conflicts(operation, times)
    if operation == "PutItem":
        store.begin_erasure(user())
        assert [row["state"]["S"] for row in fences()] == ["erasing"]
    elif outcome == "written":
        CREATE_WRITES["put_profile"]()
        assert partition() == ["profile"]
    else:
        with pytest.raises(store.StoreUnavailable) as failed:
            CREATE_WRITES["put_profile"]()
        assert not isinstance(failed.value, store.ErasedDuringRequest)
        assert "TransactionCanceledException" in str(failed.value)
        assert partition() == []
    assert injector.answered == min(times, 4)


def _now() -> datetime:
    return datetime.now(UTC)
