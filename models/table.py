"""The table and the plumbing every aggregate's operations share: error mapping, fenced
transactions, conflict retries, partition pages, batch deletes.

Failures other than the expected conditional ones raise ``StoreUnavailable`` with the operation
name and AWS error code only. Every write that can create a row of a user goes through
``fenced_write`` (see ``models.fence``). The layout is in docs/architecture.md ("Storage")."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError

from models.base import TableModel, ensure_bound
from models.errors import ErasedDuringRequest, StoreUnavailable
from models.fence import ERASED, request_started
from models.items import (
    ALEXA_USER_INDEX,
    FENCE_SK,
    TTL_ATTRIBUTE,
    AccountProfile,
    ErasureFence,
    kind_of,
)
from skill.privacy import pseudonyms

BATCH_WRITE_LIMIT = 25


TRANSACTION_LIMIT = 100  # actions per TransactWriteItems


FENCED_WRITES_PER_TRANSACTION = TRANSACTION_LIMIT - 1  # one action is the fence check


_BATCH_RETRIES = 5


_CONFLICT_RETRIES = 3


CONDITION_FAILED = "ConditionalCheckFailedException"


# The CreateTable definition (without TableName). template.yaml must match it; the local stack
# and tests create the table from it. TTL is enabled separately on ``TTL_ATTRIBUTE``.
TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "alexa_user_key", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": ALEXA_USER_INDEX,
            "KeySchema": [{"AttributeName": "alexa_user_key", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def create_table_for_local(table_name: str | None = None) -> None:
    """Create the table (PAY_PER_REQUEST, GSI, TTL) for the local stack and tests. Never called in Lambda."""
    from skill import aws
    from skill.config import settings

    name = table_name or settings().table_name
    client = aws.client("dynamodb")
    client.create_table(TableName=name, **TABLE_DEFINITION)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def keyed_hash(domain: bytes, value: str) -> str:
    # Same key as the user pseudonyms, separate domains, so ids in these rows cannot be correlated.
    return pseudonyms.keyed_hash(domain, value)


def aws_code(exc: PynamoDBException) -> str | None:
    """DynamoDB's error code behind a pynamodb error; None when no answer came (timeout, reset, cut at
    the deadline). pynamodb's own ``cause_response_code`` raises AttributeError then: botocore's
    transport errors carry ``response=None``, and that would skip every StoreUnavailable fallback."""
    response = getattr(exc.cause, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


@contextmanager
def guard(op: str) -> Iterator[None]:
    try:
        yield
    except PynamoDBException as exc:
        raise StoreUnavailable(f"{op} failed: {aws_code(exc) or type(exc).__name__}") from None
    except ClientError as exc:
        error = exc.response.get("Error") if isinstance(exc.response, dict) else None
        code = error.get("Code") if isinstance(error, dict) else None
        raise StoreUnavailable(f"{op} failed: {code or 'ClientError'}") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"{op} failed: {type(exc).__name__}") from None


def get_item(model: type[TableModel], pk: str, sk: str) -> Any:
    with guard(f"get {model.__name__}"):
        ensure_bound()
        try:
            return model.get(pk, sk, consistent_read=True)
        except DoesNotExist:
            return None


def update_item(
    model: type[TableModel], pk: str, sk: str, actions: list[Any], condition: Any
) -> dict[str, Any] | None:
    """One UpdateItem returning the new item's raw attributes; None when ``condition`` fails."""
    with guard(f"update {model.__name__}"):
        ensure_bound()
        try:
            answer = model._get_connection().update_item(
                pk, range_key=sk, actions=actions, condition=condition, return_values="ALL_NEW"
            )
        except PynamoDBException as exc:
            if aws_code(exc) == CONDITION_FAILED:
                return None
            raise
    return answer["Attributes"]


def fence_key(user_key: str) -> str:
    # Its own domain: the fence neither holds nor reveals the erased partition key.
    return ErasureFence.partition_key(keyed_hash(b"erasure-fence", user_key))


def fence_allows(started: datetime, now: datetime) -> Any:
    """The condition a fenced write puts on the user's fence row (see ``models.fence``): no fence,
    an erasure that completed before the request ``started``, or a fence past its lifetime."""
    return (
        ErasureFence.pk.does_not_exist()
        | ((ErasureFence.state == ERASED) & (ErasureFence.completed_at < started))
        | (ErasureFence.expires_at < now)
    )


def fenced_write(
    op: str,
    user_key: str,
    *,
    puts: Sequence[dict[str, Any]] = (),
    updates: Sequence[dict[str, Any]] = (),
    deletes: Sequence[dict[str, Any]] = (),
) -> None:
    """One TransactWriteItems: the writes (pynamodb operation kwargs) and a ConditionCheck on the
    user's fence row. Raises ``ErasedDuringRequest`` (nothing written) when the fence refuses.

    Call inside ``guard`` after ``ensure_bound``. Concurrent transactions of one user share the
    fence item and may cancel each other (TransactionConflict): retried like the fence write.
    """
    started = request_started()
    connection = ErasureFence._get_connection()

    def attempt() -> None:
        check = connection.get_operation_kwargs(
            fence_key(user_key), range_key=FENCE_SK, condition=fence_allows(started, utcnow())
        )
        try:
            connection.connection.transact_write_items(
                condition_check_items=[check], delete_items=deletes, put_items=puts, update_items=updates
            )
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                raise ErasedDuringRequest(f"{op} refused: the user was erased during this request") from None
            raise

    retrying_conflicts(attempt)


def retrying_conflicts(write: Callable[[], Any]) -> Any:
    """Run ``write``, again after a transaction conflict (botocore does not retry those).

    DynamoDB refuses a write to an item an ongoing transaction holds, and cancels one of two
    transactions that overlap on an item; the other finishes within milliseconds.
    """
    for attempt in range(_CONFLICT_RETRIES + 1):
        try:
            return write()
        except PynamoDBException as exc:
            if attempt == _CONFLICT_RETRIES or not _is_transaction_conflict(exc):
                raise
        time.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


def _is_transaction_conflict(exc: PynamoDBException) -> bool:
    if aws_code(exc) == "TransactionConflictException":
        return True
    reasons = exc.cancellation_reasons if isinstance(exc, TransactWriteError) else []
    return any(reason is not None and reason.code == "TransactionConflict" for reason in reasons)


def partition_pages(user_key: str, *, keys_only: bool) -> Iterator[list[dict[str, Any]]]:
    connection = AccountProfile._get_connection()
    start_key: dict[str, Any] | None = None
    while True:
        answer = connection.query(
            user_key,
            attributes_to_get=["pk", "sk"] if keys_only else None,
            consistent_read=True,
            exclusive_start_key=start_key,
        )
        yield answer.get("Items", [])
        start_key = answer.get("LastEvaluatedKey")
        if not start_key:
            return


def partition_items(user_key: str) -> Iterator[tuple[type[TableModel] | None, dict[str, Any]]]:
    """Every raw item of the user's partition with its model (None for an unknown kind)."""
    for page in partition_pages(user_key, keys_only=False):
        for raw in page:
            yield kind_of(raw["sk"]["S"]), raw


def batch_delete(keys: list[dict[str, Any]]) -> None:
    connection = AccountProfile._get_connection().connection
    table = AccountProfile.Meta.table_name
    pending = [{"DeleteRequest": {"Key": key}} for key in keys]
    for attempt in range(_BATCH_RETRIES + 1):
        answer = connection.dispatch("BatchWriteItem", {"RequestItems": {table: pending}})
        pending = answer.get("UnprocessedItems", {}).get(table, [])
        if not pending:
            return
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise StoreUnavailable("erase_user failed: unprocessed items after retries")
