"""Every operation on the table. No other module queries DynamoDB.

Each function documents its DynamoDB round trips (tests/models/test_store.py counts them).
Failures other than the expected conditional ones raise ``StoreUnavailable`` with the
operation name and AWS error code only. Times are timezone-aware UTC datetimes; functions that
depend on the clock take an optional ``now`` so callers and tests can pin it.

Every write that can create a row of a user is fenced against erasure (``models.fence``): when
the user's data was erased after the request began, it raises ``ErasedDuringRequest`` and
writes nothing.

Partition layout (see models/items.py): ``pk = user_key`` for everything about a user
(``profile``, ``link#<link_key>``, ``ep#<endpointId>``), and
``pk = dedupe#<event hash>``, ``sk = dedupe`` for webhook deduplication, ``pk = fence#<hash of
the user key>``, ``sk = fence`` for erasure fences.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError

from models.base import TableModel, ensure_bound
from models.errors import ErasedDuringRequest, StoreUnavailable
from models.fence import ERASED, ERASING, FENCE_LIFETIME, request_started
from models.items import (
    ALEXA_USER_INDEX,
    FENCE_SK,
    TTL_ATTRIBUTE,
    AccountLink,
    AccountProfile,
    EndpointEntry,
    ErasureFence,
    WebhookDedupe,
    kind_of,
)
from skill.privacy import pseudonyms

BATCH_WRITE_LIMIT = 25
TRANSACTION_LIMIT = 100  # actions per TransactWriteItems
FENCED_WRITES_PER_TRANSACTION = TRANSACTION_LIMIT - 1  # one action is the fence check
_BATCH_RETRIES = 5
_CONFLICT_RETRIES = 3
_CONDITION_FAILED = "ConditionalCheckFailedException"

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


@dataclass(frozen=True)
class LinkRef:
    """Keys of an account link found through the Alexa-user index."""

    user_key: str
    link_key: str


@dataclass(frozen=True)
class EndpointRecord:
    """What the skill last reported to Alexa for one endpoint."""

    categories: tuple[str, ...]
    capability_digest: str


# --- profile ----------------------------------------------------------------------------------


def get_profile(user_key: str) -> AccountProfile | None:
    """The user's profile, or None. Round trips: 1 GetItem (consistent)."""
    return _get(AccountProfile, user_key, AccountProfile.sort_key())


def put_profile(
    user_key: str,
    *,
    consented_at: datetime,
    accepted_policy_version: str,
    linked_at: datetime | None = None,
    last_active_at: datetime | None = None,
    consent_withdrawn_at: datetime | None = None,
) -> AccountProfile:
    """Create or replace the user's profile (fenced). Round trips: 1 TransactWriteItems.

    A replacement must carry over ``consent_withdrawn_at``: the row is written whole."""
    profile = AccountProfile(
        user_key,
        AccountProfile.sort_key(),
        consented_at=consented_at,
        accepted_policy_version=accepted_policy_version,
        linked_at=linked_at,
        last_active_at=last_active_at or consented_at,
        consent_withdrawn_at=consent_withdrawn_at,
    )
    with _guard("put_profile"):
        ensure_bound()
        _fenced_write("put_profile", user_key, puts=[profile.get_save_kwargs_from_instance()])
    return profile


def touch_profile(user_key: str, *, now: datetime | None = None) -> bool:
    """Record activity (for inactivity erasure); False without a profile. Round trips: 1 UpdateItem."""
    actions = [AccountProfile.last_active_at.set(now or _now())]
    return (
        _update(AccountProfile, user_key, AccountProfile.sort_key(), actions, AccountProfile.pk.exists())
        is not None
    )


def set_consent_withdrawn(user_key: str, withdrawn_at: datetime | None) -> bool:
    """Record ACCloud's consent withdrawal (a time) or consent given again (None) on the profile;
    False without a profile. Round trips: 1 UpdateItem (conditional on the profile existing)."""
    actions = [
        AccountProfile.consent_withdrawn_at.set(withdrawn_at)
        if withdrawn_at is not None
        else AccountProfile.consent_withdrawn_at.remove()
    ]
    return (
        _update(AccountProfile, user_key, AccountProfile.sort_key(), actions, AccountProfile.pk.exists())
        is not None
    )


# --- account links ------------------------------------------------------------------------------


def upsert_link(
    user_key: str,
    link_key: str,
    *,
    region: str,
    alexa_user_key: str | None = None,
    linked_at: datetime | None = None,
) -> None:
    """Create the link or update region (and the Alexa user key when given); keeps any grant.

    ``linked_at`` is only set when the link is new. Fenced. Round trips: 1 TransactWriteItems.
    """
    actions = [
        AccountLink.region.set(region),
        AccountLink.linked_at.set(AccountLink.linked_at | (linked_at or _now())),
        AccountLink.events_permitted.set(AccountLink.events_permitted | False),
    ]
    if alexa_user_key is not None:
        actions.append(AccountLink.alexa_user_key.set(alexa_user_key))
    _fenced_link_update(user_key, link_key, actions, op="upsert_link")


def set_events_permitted(user_key: str, link_key: str, permitted: bool) -> bool:
    """Record the 'Send Alexa Events' permission of an existing link. Round trips: 1 UpdateItem."""
    actions = [AccountLink.events_permitted.set(permitted)]
    return (
        _update_link(user_key, link_key, actions, AccountLink.pk.exists(), op="set_events_permitted")
        is not None
    )


def get_link(user_key: str, link_key: str) -> AccountLink | None:
    """One link, or None. Round trips: 1 GetItem (consistent)."""
    return _get(AccountLink, user_key, AccountLink.sort_key(link_key))


def links_of(user_key: str) -> list[AccountLink]:
    """All links of a user. Round trips: 1 Query (consistent; one more per 1 MB page)."""
    with _guard("links_of"):
        ensure_bound()
        return list(
            AccountLink.query(
                user_key, AccountLink.sk.startswith(AccountLink.sort_key("")), consistent_read=True
            )
        )


def find_links_by_alexa_user(alexa_user_key: str) -> list[LinkRef]:
    """Links recorded for an Alexa user (GSI, eventually consistent). Round trips: 1 Query."""
    with _guard("find_links_by_alexa_user"):
        ensure_bound()
        return [LinkRef(hit.pk, hit.link_key) for hit in AccountLink.by_alexa_user.query(alexa_user_key)]


def delete_link(user_key: str, link_key: str) -> bool:
    """Delete one link (and with it its grant); False if there was none. Round trips: 1 DeleteItem."""
    link = AccountLink(user_key, AccountLink.sort_key(link_key))
    with _guard("delete_link"):
        ensure_bound()
        try:
            link.delete(condition=AccountLink.pk.exists(), add_version_condition=False)
        except PynamoDBException as exc:
            if _aws_code(exc) == _CONDITION_FAILED:
                return False
            raise
    return True


# --- the LWA grant on a link (used by skill.amazon.grants) ------------------------------------


def save_grant(
    user_key: str,
    link_key: str,
    *,
    region: str,
    ciphertext: bytes,
    expires_at: datetime,
    policy_version: str | None = None,
    now: datetime | None = None,
) -> None:
    """Store a new grant (AcceptGrant), creating the link if needed; cancels any refresh in flight.

    With ``policy_version`` the same transaction creates the user's profile (consent and link
    time now, that policy version accepted) or, if it exists, only records activity: the grant
    and the profile are stored together or not at all, so a grant never lives in a partition the
    retention job cannot see. Fenced. Round trips: 1 TransactWriteItems.
    """
    now = now or _now()
    actions = [
        AccountLink.region.set(region),
        AccountLink.linked_at.set(AccountLink.linked_at | now),
        AccountLink.events_permitted.set(True),
        AccountLink.grant_ciphertext.set(ciphertext),
        AccountLink.grant_expires_at.set(expires_at),
        AccountLink.refresh_lease_owner.remove(),
        AccountLink.refresh_lease_until.remove(),
    ]
    with _guard("save_grant"):
        ensure_bound()  # before the profile's operation kwargs are built
        profile = [] if policy_version is None else [_profile_upsert(user_key, policy_version, now)]
    _fenced_link_update(user_key, link_key, actions, op="save_grant", also=profile)


def _profile_upsert(user_key: str, policy_version: str, now: datetime) -> dict[str, Any]:
    """The profile's UpdateItem (transaction kwargs): create it as of ``now``, or record activity."""
    actions = [
        AccountProfile.consented_at.set(AccountProfile.consented_at | now),
        AccountProfile.accepted_policy_version.set(AccountProfile.accepted_policy_version | policy_version),
        AccountProfile.linked_at.set(AccountProfile.linked_at | now),
        AccountProfile.last_active_at.set(now),
    ]
    return cast(
        dict[str, Any],
        AccountProfile._get_connection().get_operation_kwargs(
            user_key, range_key=AccountProfile.sort_key(), actions=actions
        ),
    )


def clear_grant(user_key: str, link_key: str, *, lease_owner: str | None = None) -> bool:
    """Remove the grant but keep the link. With ``lease_owner``, only while that refresher holds the lease.

    Returns False if the link is gone (or the lease moved on). Round trips: 1 UpdateItem.
    """
    actions = [
        AccountLink.grant_ciphertext.remove(),
        AccountLink.grant_expires_at.remove(),
        AccountLink.refresh_lease_owner.remove(),
        AccountLink.refresh_lease_until.remove(),
    ]
    condition = (
        AccountLink.pk.exists() if lease_owner is None else AccountLink.refresh_lease_owner == lease_owner
    )
    return _update_link(user_key, link_key, actions, condition, op="clear_grant") is not None


def acquire_refresh_lease(link: AccountLink, *, owner: str, until: datetime) -> AccountLink | None:
    """Take the refresh lease if the row is unchanged since ``link`` was read (optimistic lock on version).

    The caller has checked that ``link`` shows no live lease. None if another writer got there
    first: re-read and decide again. Round trips: 1 UpdateItem.
    """
    actions = [AccountLink.refresh_lease_owner.set(owner), AccountLink.refresh_lease_until.set(until)]
    condition = AccountLink.version == link.version
    return _update_link(link.pk, link.link_key, actions, condition, op="acquire_refresh_lease")


def finish_refresh(
    user_key: str, link_key: str, *, owner: str, ciphertext: bytes, expires_at: datetime
) -> AccountLink | None:
    """Store refreshed tokens and release the lease, only if ``owner`` still holds it.

    None means the grant was replaced or deleted meanwhile: the refreshed tokens must be dropped.
    Round trips: 1 UpdateItem.
    """
    actions = [
        AccountLink.grant_ciphertext.set(ciphertext),
        AccountLink.grant_expires_at.set(expires_at),
        AccountLink.refresh_lease_owner.remove(),
        AccountLink.refresh_lease_until.remove(),
    ]
    condition = AccountLink.refresh_lease_owner == owner
    return _update_link(user_key, link_key, actions, condition, op="finish_refresh")


def release_refresh_lease(user_key: str, link_key: str, *, owner: str) -> bool:
    """Give the lease back after a failed refresh (no-op if it moved on). Round trips: 1 UpdateItem."""
    actions = [AccountLink.refresh_lease_owner.remove(), AccountLink.refresh_lease_until.remove()]
    condition = AccountLink.refresh_lease_owner == owner
    return _update_link(user_key, link_key, actions, condition, op="release_refresh_lease") is not None


# --- endpoint index -------------------------------------------------------------------------------


def endpoint_index(user_key: str) -> dict[str, EndpointRecord]:
    """endpointId -> what was last reported to Alexa. Round trips: 1 Query (consistent; +1 per 1 MB page)."""
    with _guard("endpoint_index"):
        ensure_bound()
        entries = EndpointEntry.query(
            user_key, EndpointEntry.sk.startswith(EndpointEntry.sort_key("")), consistent_read=True
        )
        return {
            e.endpoint_id: EndpointRecord(tuple(cast(list[str], e.categories or [])), e.capability_digest)
            for e in entries
        }


@dataclass(frozen=True)
class AccountView:
    """What discovery and account-wide events need to know about a user, read in one Query."""

    links: tuple[AccountLink, ...]
    endpoints: Mapping[str, EndpointRecord]
    has_profile: bool
    last_active_at: datetime | None = None
    consent_withdrawn: bool = False  # ACCloud reported the user's consent withdrawn (policy V.3)


def account_view(user_key: str) -> AccountView:
    """Links, endpoint index and whether a profile exists. Round trips: 1 Query (consistent; +1 per 1 MB)."""
    links: list[AccountLink] = []
    endpoints: dict[str, EndpointRecord] = {}
    has_profile = False
    last_active_at = None
    consent_withdrawn = False
    with _guard("account_view"):
        ensure_bound()
        for page in _partition_pages(user_key, keys_only=False):
            for raw in page:
                model = kind_of(raw["sk"]["S"])
                if model is AccountLink:
                    links.append(AccountLink.from_raw_data(raw))
                elif model is EndpointEntry:
                    entry = EndpointEntry.from_raw_data(raw)
                    endpoints[entry.endpoint_id] = EndpointRecord(
                        tuple(cast(list[str], entry.categories or [])), entry.capability_digest
                    )
                elif model is AccountProfile:
                    has_profile = True
                    profile = AccountProfile.from_raw_data(raw)
                    last_active_at = profile.last_active_at
                    consent_withdrawn = profile.consent_withdrawn_at is not None
    return AccountView(tuple(links), endpoints, has_profile, last_active_at, consent_withdrawn)


def apply_endpoint_diff(
    user_key: str, *, upserts: Mapping[str, EndpointRecord], removals: Iterable[str] = ()
) -> int:
    """Write added/changed endpoints and delete removed ones; returns the number of item writes.

    With upserts the writes are fenced, in chunks of 99 (each chunk is atomic, the diff is not):
    ceil(writes / 99) TransactWriteItems. Removals alone cannot bring anything back, so they go
    unfenced: ceil(removals / 25) BatchWriteItem (plus retries of unprocessed items).
    """
    removed = [endpoint for endpoint in removals if endpoint not in upserts]
    with _guard("apply_endpoint_diff"):
        ensure_bound()
        if not upserts:
            with EndpointEntry.batch_write() as batch:
                for endpoint in removed:
                    batch.delete(EndpointEntry(user_key, EndpointEntry.sort_key(endpoint)))
            return len(removed)
        writes = [
            (
                "put",
                EndpointEntry(
                    user_key,
                    EndpointEntry.sort_key(endpoint),
                    categories=list(record.categories),
                    capability_digest=record.capability_digest,
                ).get_save_kwargs_from_instance(),
            )
            for endpoint, record in upserts.items()
        ] + [
            (
                "delete",
                EndpointEntry(user_key, EndpointEntry.sort_key(endpoint)).get_delete_kwargs_from_instance(),
            )
            for endpoint in removed
        ]
        for start in range(0, len(writes), FENCED_WRITES_PER_TRANSACTION):
            chunk = writes[start : start + FENCED_WRITES_PER_TRANSACTION]
            _fenced_write(
                "apply_endpoint_diff",
                user_key,
                puts=[kwargs for kind, kwargs in chunk if kind == "put"],
                deletes=[kwargs for kind, kwargs in chunk if kind == "delete"],
            )
    return len(writes)


# --- erasure and export ------------------------------------------------------------------------


def begin_erasure(user_key: str, *, now: datetime | None = None) -> datetime:
    """Raise the user's erasure fence (state "erasing") before anything is deleted; its start time.

    Replaces any earlier fence of the user. From here on, fenced writes of requests that began
    before the erasure completes are refused (``models.fence``). Round trips: 1 PutItem.
    """
    started = now or _now()
    row = ErasureFence(
        _fence_key(user_key),
        FENCE_SK,
        state=ERASING,
        started_at=started,
        expires_at=started + FENCE_LIFETIME,  # an erasure that never completes stops blocking then
    )
    with _guard("begin_erasure"):
        ensure_bound()
        _retrying_conflicts(row.save)
    return started


def complete_erasure(user_key: str, started_at: datetime, *, now: datetime | None = None) -> bool:
    """Mark the fence "erased" once everything is deleted: requests that begin later may store again.

    Only the erasure that raised the fence completes it (a later, overlapping one replaced it and
    completes it itself): False then. The fence expires ``FENCE_LIFETIME`` after completion.
    Round trips: 1 UpdateItem.
    """
    done = now or _now()
    actions = [
        ErasureFence.state.set(ERASED),
        ErasureFence.completed_at.set(done),
        ErasureFence.expires_at.set(done + FENCE_LIFETIME),
    ]
    condition = ErasureFence.started_at == started_at
    with _guard("complete_erasure"):
        ensure_bound()
        connection = ErasureFence._get_connection()
        try:
            _retrying_conflicts(
                lambda: connection.update_item(
                    _fence_key(user_key), range_key=FENCE_SK, actions=actions, condition=condition
                )
            )
        except PynamoDBException as exc:
            if _aws_code(exc) == _CONDITION_FAILED:
                return False
            raise
    return True


def fence_allows(started: datetime, now: datetime) -> Any:
    """The condition a fenced write puts on the user's fence row (see ``models.fence``): no fence,
    an erasure that completed before the request ``started``, or a fence past its lifetime."""
    return (
        ErasureFence.pk.does_not_exist()
        | ((ErasureFence.state == ERASED) & (ErasureFence.completed_at < started))
        | (ErasureFence.expires_at < now)
    )


def erase_user(user_key: str) -> int:
    """Delete every item in the user's partition; returns how many were deleted.

    Links (with their grants) and the profile go in the first batch: an erasure cut short after
    it leaves a partition without link or profile, which the retention job finishes
    (``retention_census``). Round trips: 1 Query per 1 MB page of keys (keys only, consistent),
    then ceil(items / 25) BatchWriteItem.
    """
    with _guard("erase_user"):
        ensure_bound()
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for page in _partition_pages(user_key, keys_only=True)
            for item in page
        ]
        keys.sort(key=lambda key: kind_of(key["sk"]["S"]) not in (AccountLink, AccountProfile))
        for start in range(0, len(keys), BATCH_WRITE_LIMIT):
            _batch_delete(keys[start : start + BATCH_WRITE_LIMIT])
    return len(keys)


@dataclass(frozen=True)
class RetentionCensus:
    """What the retention job finds beyond inactivity (``retention_census``)."""

    unidentified_links: tuple[LinkRef, ...]  # no Alexa user key, linked before the cutoff
    headless_partitions: tuple[str, ...]  # user partitions with neither a link nor a profile


def retention_census(linked_before: datetime) -> RetentionCensus:
    """One paginated Scan (keys, ``alexa_user_key`` and ``linked_at`` only) for the daily retention job.

    Finds links whose Alexa account was never identified and that were linked before
    ``linked_before``, and user partitions left without link and profile (an erasure cut short
    after its first batch; see ``erase_user``). Off the request path. Round trips: 1 Scan per 1 MB page.
    """
    unidentified: list[LinkRef] = []
    users: set[str] = set()
    headed: set[str] = set()
    with _guard("retention_census"):
        ensure_bound()
        connection = AccountLink._get_connection()
        start_key: dict[str, Any] | None = None
        while True:
            answer = connection.scan(
                attributes_to_get=["pk", "sk", "alexa_user_key", "linked_at"],
                exclusive_start_key=cast(Any, start_key),  # pynamodb types it as str; it is the key map
            )
            for raw in answer.get("Items", []):
                pk, kind = raw["pk"]["S"], kind_of(raw["sk"]["S"])
                if kind not in (AccountLink, AccountProfile, EndpointEntry):
                    continue  # short-lived global rows (dedupe, fences)
                users.add(pk)
                if kind is AccountProfile:
                    headed.add(pk)
                elif kind is AccountLink:
                    headed.add(pk)
                    link = AccountLink.from_raw_data(raw)
                    if not pseudonyms.is_alexa_user_key(link.alexa_user_key) and (
                        link.linked_at is None or link.linked_at < linked_before
                    ):
                        unidentified.append(LinkRef(pk, link.link_key))
            start_key = answer.get("LastEvaluatedKey")
            if not start_key:
                break
    return RetentionCensus(tuple(unidentified), tuple(sorted(users - headed)))


def export_user(user_key: str) -> list[dict[str, Any]]:
    """Everything stored for the user as plain JSON-ready dicts, ciphertexts masked.

    Each dict has ``kind`` (model name) and the stored attributes. Round trips: 1 Query per 1 MB page.
    """
    exported: list[dict[str, Any]] = []
    with _guard("export_user"):
        ensure_bound()
        for page in _partition_pages(user_key, keys_only=False):
            for raw in page:
                model = kind_of(raw["sk"]["S"])
                if model is None:
                    exported.append({"kind": "unknown", **{k: _plain_raw(v) for k, v in raw.items()}})
                else:
                    exported.append({"kind": model.__name__, **_plain_item(model.from_raw_data(raw))})
    return exported


def inactive_users(cutoff: datetime) -> Iterator[str]:
    """Partition keys of users whose last activity is older than ``cutoff``.

    For the daily retention job only: a paginated Scan of profile items (the one place a Scan
    is used; the job runs off the request path). Round trips: 1 Scan per 1 MB page.
    """
    with _guard("inactive_users"):
        ensure_bound()
        condition = (AccountProfile.sk == AccountProfile.sort_key()) & (
            AccountProfile.last_active_at < cutoff
        )
        for profile in AccountProfile.scan(condition, attributes_to_get=["pk"]):
            yield profile.pk


# --- short-lived rows ---------------------------------------------------------------------------


def claim_event(event_id: str, ttl_seconds: int, *, now: datetime | None = None) -> bool:
    """Atomically claim a webhook event id; False if it was already claimed and not yet expired.

    A row whose TTL passed counts as free even if DynamoDB has not deleted it yet.
    Round trips: 1 PutItem (conditional).
    """
    now = now or _now()
    row = WebhookDedupe(
        _dedupe_key(event_id),
        "dedupe",
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    with _guard("claim_event"):
        ensure_bound()
        try:
            row.save(condition=WebhookDedupe.pk.does_not_exist() | (WebhookDedupe.expires_at <= now))
        except PynamoDBException as exc:
            if _aws_code(exc) == _CONDITION_FAILED:
                return False
            raise
    return True


def release_event(event_id: str) -> None:
    """Forget the claim on ``event_id`` so a redelivery is processed. Round trips: 1 DeleteItem."""
    with _guard("release_event"):
        ensure_bound()
        WebhookDedupe(_dedupe_key(event_id), "dedupe").delete()


def _dedupe_key(event_id: str) -> str:
    return WebhookDedupe.partition_key(_keyed_hash(b"webhook-event", event_id))


# --- local stack only ------------------------------------------------------------------------


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


# --- internals ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _keyed_hash(domain: bytes, value: str) -> str:
    # Same key as the user pseudonyms, separate domains, so ids in these rows cannot be correlated.
    return pseudonyms.keyed_hash(domain, value)


def _aws_code(exc: PynamoDBException) -> str | None:
    """DynamoDB's error code behind a pynamodb error; None when no answer came (timeout, reset, cut at
    the deadline). pynamodb's own ``cause_response_code`` raises AttributeError then: botocore's
    transport errors carry ``response=None``, and that would skip every StoreUnavailable fallback."""
    response = getattr(exc.cause, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


@contextmanager
def _guard(op: str) -> Iterator[None]:
    try:
        yield
    except PynamoDBException as exc:
        raise StoreUnavailable(f"{op} failed: {_aws_code(exc) or type(exc).__name__}") from None
    except ClientError as exc:
        error = exc.response.get("Error") if isinstance(exc.response, dict) else None
        code = error.get("Code") if isinstance(error, dict) else None
        raise StoreUnavailable(f"{op} failed: {code or 'ClientError'}") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"{op} failed: {type(exc).__name__}") from None


def _get(model: type[TableModel], pk: str, sk: str) -> Any:
    with _guard(f"get {model.__name__}"):
        ensure_bound()
        try:
            return model.get(pk, sk, consistent_read=True)
        except DoesNotExist:
            return None


def _update(
    model: type[TableModel], pk: str, sk: str, actions: list[Any], condition: Any
) -> dict[str, Any] | None:
    """One UpdateItem returning the new item's raw attributes; None when ``condition`` fails."""
    with _guard(f"update {model.__name__}"):
        ensure_bound()
        try:
            answer = model._get_connection().update_item(
                pk, range_key=sk, actions=actions, condition=condition, return_values="ALL_NEW"
            )
        except PynamoDBException as exc:
            if _aws_code(exc) == _CONDITION_FAILED:
                return None
            raise
    return answer["Attributes"]


def _update_link(
    user_key: str, link_key: str, actions: list[Any], condition: Any, *, op: str
) -> AccountLink | None:
    # Every write of a link bumps its version (ADD creates it at 1), so a reader's version detects any change.
    raw = _update(
        AccountLink,
        user_key,
        AccountLink.sort_key(link_key),
        [*actions, AccountLink.version.add(1)],
        condition,
    )
    return None if raw is None else AccountLink.from_raw_data(raw)


def _fence_key(user_key: str) -> str:
    # Its own domain: the fence neither holds nor reveals the erased partition key.
    return ErasureFence.partition_key(_keyed_hash(b"erasure-fence", user_key))


def _fenced_write(
    op: str,
    user_key: str,
    *,
    puts: Sequence[dict[str, Any]] = (),
    updates: Sequence[dict[str, Any]] = (),
    deletes: Sequence[dict[str, Any]] = (),
) -> None:
    """One TransactWriteItems: the writes (pynamodb operation kwargs) and a ConditionCheck on the
    user's fence row. Raises ``ErasedDuringRequest`` (nothing written) when the fence refuses.

    Call inside ``_guard`` after ``ensure_bound``. Concurrent transactions of one user share the
    fence item and may cancel each other (TransactionConflict): retried like the fence write.
    """
    started = request_started()
    connection = ErasureFence._get_connection()

    def attempt() -> None:
        check = connection.get_operation_kwargs(
            _fence_key(user_key), range_key=FENCE_SK, condition=fence_allows(started, _now())
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

    _retrying_conflicts(attempt)


def _fenced_link_update(
    user_key: str, link_key: str, actions: list[Any], *, op: str, also: Sequence[dict[str, Any]] = ()
) -> None:
    """The link update (and the ``also`` updates of the same user) in one fenced transaction."""
    with _guard(op):
        ensure_bound()
        update = AccountLink._get_connection().get_operation_kwargs(
            user_key,
            range_key=AccountLink.sort_key(link_key),
            actions=[*actions, AccountLink.version.add(1)],  # as _update_link: every write bumps it
        )
        _fenced_write(op, user_key, updates=[update, *also])


def _retrying_conflicts(write: Callable[[], Any]) -> Any:
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
    if _aws_code(exc) == "TransactionConflictException":
        return True
    reasons = exc.cancellation_reasons if isinstance(exc, TransactWriteError) else []
    return any(reason is not None and reason.code == "TransactionConflict" for reason in reasons)


def _partition_pages(user_key: str, *, keys_only: bool) -> Iterator[list[dict[str, Any]]]:
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


def _batch_delete(keys: list[dict[str, Any]]) -> None:
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


def _plain_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return f"<encrypted {len(value)} bytes>"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple | set):
        return [_plain_value(v) for v in value]
    return value


def _plain_item(item: TableModel) -> dict[str, Any]:
    values = {name: getattr(item, name) for name in item.get_attributes()}
    return {name: _plain_value(value) for name, value in sorted(values.items()) if value is not None}


def _plain_raw(value: dict[str, Any]) -> Any:
    """A DynamoDB-typed value of an unknown item kind, as plain JSON (binary masked)."""
    ((type_code, inner),) = value.items()
    if type_code in {"B", "BS"}:
        size = len(inner) if type_code == "B" else sum(len(b) for b in inner)
        return f"<encrypted {size} bytes>"
    if type_code == "L":
        return [_plain_raw(v) for v in inner]
    if type_code == "M":
        return {k: _plain_raw(v) for k, v in inner.items()}
    if type_code == "NULL":
        return None
    if type_code in {"SS", "NS"}:
        return sorted(inner)
    return inner
