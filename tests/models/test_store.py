"""models.store: every operation against moto's DynamoDB, with its round trips counted."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import store
from models.base import all_models
from models.items import AccountLink
from models.store import EndpointRecord, LinkRef
from skill import aws, warm
from skill.config import settings
from skill.privacy import pseudonyms
from tests.moto_stack import DynamoCalls

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CAMERA = EndpointRecord(("CAMERA",), "c4a3e1d2b5f60718")
DOORBELL = EndpointRecord(("CAMERA", "DOORBELL"), "0f9e8d7c6b5a4132")


def user(n: int) -> str:
    return pseudonyms.user_key(f"usr_{n}")


def link(n: int) -> str:
    return pseudonyms.link_key(f"lnk_{n}")


def alexa(n: int) -> str:
    return pseudonyms.alexa_user_key(f"amzn1.ask.account.{n}")


def raw_items() -> list[dict[str, Any]]:
    """Everything in the table, straight from DynamoDB (test-only Scan)."""
    client = aws.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": settings().table_name}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def canonical(item: dict[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, default=lambda b: b.hex())


def saved_grant(user_key: str, link_key: str, ciphertext: bytes) -> AccountLink:
    """Store a grant (AcceptGrant) and read the link back, as a refresher would find it."""
    store.save_grant(user_key, link_key, region="NA", ciphertext=ciphertext, expires_at=NOW)
    found = store.get_link(user_key, link_key)
    assert found is not None
    return found


def populate(user_key: str, *, endpoints: int = 3) -> None:
    store.put_profile(user_key, consented_at=NOW, accepted_policy_version="2019-06-01", linked_at=NOW)
    for n in (1, 2):
        store.upsert_link(user_key, f"l_{user_key}_{n}", region="NA", alexa_user_key=f"a_{user_key}_{n}")
        store.save_grant(
            user_key, f"l_{user_key}_{n}", region="NA", ciphertext=b"\x01" + bytes(40), expires_at=NOW
        )
    store.apply_endpoint_diff(user_key, upserts={f"z1_{user_key}_{i}": CAMERA for i in range(endpoints)})


# --- round trips -----------------------------------------------------------------------------

ROUND_TRIPS: list[tuple[str, Callable[[], object], list[str]]] = [
    ("get_profile", lambda: store.get_profile(user(1)), ["GetItem"]),
    (
        "put_profile",
        lambda: store.put_profile(user(1), consented_at=NOW, accepted_policy_version="v2"),
        ["TransactWriteItems"],  # fenced: the write and the erasure fence check in one call
    ),
    ("touch_profile", lambda: store.touch_profile(user(1)), ["UpdateItem"]),
    ("upsert_link", lambda: store.upsert_link(user(1), link(1), region="EU"), ["TransactWriteItems"]),
    ("set_events_permitted", lambda: store.set_events_permitted(user(1), link(1), False), ["UpdateItem"]),
    ("get_link", lambda: store.get_link(user(1), link(1)), ["GetItem"]),
    ("links_of", lambda: store.links_of(user(1)), ["Query"]),
    ("find_links_by_alexa_user", lambda: store.find_links_by_alexa_user(alexa(1)), ["Query"]),
    ("delete_link", lambda: store.delete_link(user(1), link(1)), ["DeleteItem"]),
    (
        "save_grant",
        lambda: store.save_grant(user(1), link(1), region="NA", ciphertext=b"x", expires_at=NOW),
        ["TransactWriteItems"],
    ),
    ("clear_grant", lambda: store.clear_grant(user(1), link(1)), ["UpdateItem"]),
    (
        "release_refresh_lease",
        lambda: store.release_refresh_lease(user(1), link(1), owner="o"),
        ["UpdateItem"],
    ),
    ("endpoint_index", lambda: store.endpoint_index(user(1)), ["Query"]),
    (
        "apply_endpoint_diff 30 up + 5 down",
        lambda: store.apply_endpoint_diff(
            user(1),
            upserts={f"z1_new{i}": CAMERA for i in range(30)},
            removals=[f"z1_old{i}" for i in range(5)],
        ),
        ["TransactWriteItems"],
    ),
    (
        "apply_endpoint_diff 150 up + 60 down",
        lambda: store.apply_endpoint_diff(
            user(1),
            upserts={f"z1_new{i}": CAMERA for i in range(150)},
            removals=[f"z1_old{i}" for i in range(60)],
        ),
        ["TransactWriteItems"] * 3,  # 99 writes and the fence check per call
    ),
    (
        "apply_endpoint_diff 30 down only (unfenced)",
        lambda: store.apply_endpoint_diff(user(1), upserts={}, removals=[f"z1_old{i}" for i in range(30)]),
        ["BatchWriteItem", "BatchWriteItem"],
    ),
    ("export_user", lambda: store.export_user(user(1)), ["Query"]),
    ("erase_user (3 items)", lambda: store.erase_user(user(1)), ["Query", "BatchWriteItem"]),
    ("claim_event", lambda: store.claim_event("evt_1", 300), ["PutItem"]),
    ("begin_erasure", lambda: store.begin_erasure(user(1)), ["PutItem"]),
    ("complete_erasure", lambda: store.complete_erasure(user(1), NOW), ["UpdateItem"]),
]


@pytest.mark.parametrize(("name", "operation", "expected"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_round_trips(
    aws_stack: object,
    dynamo_calls: DynamoCalls,
    name: str,
    operation: Callable[[], object],
    expected: list[str],
) -> None:
    store.put_profile(user(1), consented_at=NOW, accepted_policy_version="v1")
    store.upsert_link(user(1), link(1), region="NA", alexa_user_key=alexa(1))
    dynamo_calls.clear()
    operation()
    assert dynamo_calls.operations == expected


def test_acquire_and_finish_lease_are_one_update_each(aws_stack: object, dynamo_calls: DynamoCalls) -> None:
    current = saved_grant(user(1), link(1), b"old")
    dynamo_calls.clear()
    leased = store.acquire_refresh_lease(current, owner="me", until=NOW + timedelta(seconds=15))
    store.finish_refresh(user(1), link(1), owner="me", ciphertext=b"new", expires_at=NOW)
    assert leased is not None
    assert dynamo_calls.operations == ["UpdateItem", "UpdateItem"]


def test_erase_pages_batch_deletes_in_25s(aws_stack: object, dynamo_calls: DynamoCalls) -> None:
    populate(user(1), endpoints=60)  # profile + 2 links + 60 endpoints = 63 items
    dynamo_calls.clear()
    assert store.erase_user(user(1)) == 63
    assert dynamo_calls.operations == ["Query", *["BatchWriteItem"] * 3]


# --- profile --------------------------------------------------------------------------------


def test_profile_round_trip_and_touch(aws_stack: object) -> None:
    assert store.get_profile(user(1)) is None
    assert store.touch_profile(user(1), now=NOW) is False
    assert raw_items() == []  # touching never creates a profile
    store.put_profile(user(1), consented_at=NOW, accepted_policy_version="2019-06-01", linked_at=NOW)
    later = NOW + timedelta(days=3)
    assert store.touch_profile(user(1), now=later) is True
    profile = store.get_profile(user(1))
    assert profile is not None
    assert (profile.consented_at, profile.linked_at, profile.accepted_policy_version) == (
        NOW,
        NOW,
        "2019-06-01",
    )
    assert profile.last_active_at == later


# --- links ----------------------------------------------------------------------------------


def test_upsert_link_creates_then_updates_keeping_what_it_is_not_given(aws_stack: object) -> None:
    store.upsert_link(user(1), link(1), region="NA", alexa_user_key=alexa(1), linked_at=NOW)
    first = store.get_link(user(1), link(1))
    store.save_grant(user(1), link(1), region="NA", ciphertext=b"grant", expires_at=NOW)
    store.upsert_link(user(1), link(1), region="EU", linked_at=NOW + timedelta(days=1))
    second = store.get_link(user(1), link(1))
    assert first is not None and second is not None
    assert first.version == 1 and second.version == 3
    assert second.region == "EU"
    assert second.linked_at == NOW  # only set when the link is new
    assert second.alexa_user_key == alexa(1)
    assert second.grant_ciphertext == b"grant"
    assert second.events_permitted is True  # set by the grant, not reset by the upsert
    assert second.link_key == link(1)


def test_links_of_lists_only_that_users_links(aws_stack: object) -> None:
    populate(user(1))
    store.upsert_link(user(2), link(9), region="FE")
    found = store.links_of(user(1))
    assert sorted(lk.link_key for lk in found) == [f"l_{user(1)}_1", f"l_{user(1)}_2"]
    assert all(isinstance(lk, AccountLink) and lk.pk == user(1) for lk in found)


def test_alexa_user_index_is_sparse_and_finds_links_across_users(aws_stack: object) -> None:
    store.upsert_link(user(1), link(1), region="NA", alexa_user_key=alexa(7))
    store.upsert_link(user(2), link(2), region="NA", alexa_user_key=alexa(7))
    store.upsert_link(user(3), link(3), region="NA")  # Alexa user not known yet: not in the index
    found = store.find_links_by_alexa_user(alexa(7))
    assert sorted(found, key=lambda r: r.user_key) == sorted(
        [LinkRef(user(1), link(1)), LinkRef(user(2), link(2))], key=lambda r: r.user_key
    )
    assert store.find_links_by_alexa_user(alexa(8)) == []


def test_delete_link_and_set_events_permitted_on_missing_links(aws_stack: object) -> None:
    assert store.set_events_permitted(user(1), link(1), True) is False
    assert store.delete_link(user(1), link(1)) is False
    assert raw_items() == []
    store.upsert_link(user(1), link(1), region="NA")
    assert store.set_events_permitted(user(1), link(1), True) is True
    found = store.get_link(user(1), link(1))
    assert found is not None and found.events_permitted is True
    assert store.delete_link(user(1), link(1)) is True
    assert store.get_link(user(1), link(1)) is None


# --- the grant and its refresh lease ------------------------------------------------------------

LEASE_UNTIL = NOW + timedelta(seconds=15)


def test_lease_is_only_taken_on_an_unchanged_row(aws_stack: object) -> None:
    read = saved_grant(user(1), link(1), b"old")
    store.upsert_link(user(1), link(1), region="NA", alexa_user_key=alexa(1))  # someone else writes
    assert store.acquire_refresh_lease(read, owner="late", until=LEASE_UNTIL) is None
    fresh = store.get_link(user(1), link(1))
    assert fresh is not None
    leased = store.acquire_refresh_lease(fresh, owner="me", until=LEASE_UNTIL)
    assert leased is not None and leased.refresh_lease_owner == "me"
    assert store.acquire_refresh_lease(fresh, owner="other", until=LEASE_UNTIL) is None


@pytest.mark.parametrize(
    ("interruption", "grant_after"),
    [
        ("new grant", b"accepted-again"),
        ("grant deleted", None),
        ("link deleted", "no link"),
    ],
)
def test_a_refresh_cannot_store_over_a_newer_grant_or_a_deletion(
    aws_stack: object, interruption: str, grant_after: object
) -> None:
    read = saved_grant(user(1), link(1), b"old")
    assert store.acquire_refresh_lease(read, owner="slow", until=LEASE_UNTIL) is not None
    if interruption == "new grant":
        store.save_grant(user(1), link(1), region="NA", ciphertext=b"accepted-again", expires_at=NOW)
    elif interruption == "grant deleted":
        assert store.clear_grant(user(1), link(1)) is True
    else:
        store.delete_link(user(1), link(1))
    assert store.finish_refresh(user(1), link(1), owner="slow", ciphertext=b"stale", expires_at=NOW) is None
    after = store.get_link(user(1), link(1))
    if grant_after == "no link":
        assert after is None  # the failed refresh did not resurrect the row
    else:
        assert after is not None and after.grant_ciphertext == grant_after


def test_clear_grant_keeps_the_link_and_respects_the_lease_owner(aws_stack: object) -> None:
    read = saved_grant(user(1), link(1), b"g")
    store.acquire_refresh_lease(read, owner="me", until=LEASE_UNTIL)
    assert store.clear_grant(user(1), link(1), lease_owner="someone-else") is False
    assert store.clear_grant(user(1), link(1), lease_owner="me") is True
    after = store.get_link(user(1), link(1))
    assert after is not None
    assert (after.grant_ciphertext, after.grant_expires_at, after.refresh_lease_owner) == (None, None, None)
    assert after.region == "NA"


# --- endpoint index -----------------------------------------------------------------------------


def test_endpoint_diff_adds_changes_and_removes(aws_stack: object) -> None:
    assert store.endpoint_index(user(1)) == {}
    store.apply_endpoint_diff(user(1), upserts={"z1_a": CAMERA, "z1_b": CAMERA})
    store.apply_endpoint_diff(user(2), upserts={"z1_a": DOORBELL})
    written = store.apply_endpoint_diff(
        user(1), upserts={"z1_b": DOORBELL, "z1_c": CAMERA}, removals=["z1_a"]
    )
    assert written == 3
    assert store.endpoint_index(user(1)) == {"z1_b": DOORBELL, "z1_c": CAMERA}
    assert store.endpoint_index(user(2)) == {"z1_a": DOORBELL}


def test_endpoint_index_ignores_other_item_kinds(aws_stack: object) -> None:
    populate(user(1), endpoints=2)
    assert set(store.endpoint_index(user(1))) == {f"z1_{user(1)}_0", f"z1_{user(1)}_1"}


def test_removal_of_an_endpoint_that_is_also_upserted_keeps_it(aws_stack: object) -> None:
    store.apply_endpoint_diff(user(1), upserts={"z1_a": CAMERA}, removals=["z1_a"])
    assert store.endpoint_index(user(1)) == {"z1_a": CAMERA}


# --- erasure and export ---------------------------------------------------------------------------


def test_erase_leaves_nothing_of_the_user_and_everything_of_others(aws_stack: object) -> None:
    populate(user(1), endpoints=30)
    populate(user(2), endpoints=2)
    store.claim_event("evt_1", 300)
    others_before = [i for i in raw_items() if i["pk"]["S"] != user(1)]

    assert store.erase_user(user(1)) == 1 + 2 + 30

    remaining = raw_items()
    assert [i for i in remaining if i["pk"]["S"] == user(1)] == []
    assert sorted(map(canonical, remaining)) == sorted(map(canonical, others_before))
    assert store.find_links_by_alexa_user(f"a_{user(1)}_1") == []
    assert store.erase_user(user(1)) == 0


def test_export_lists_every_item_with_ciphertexts_masked(aws_stack: object) -> None:
    populate(user(1), endpoints=1)
    exported = store.export_user(user(1))
    assert sorted(e["kind"] for e in exported) == [
        "AccountLink",
        "AccountLink",
        "AccountProfile",
        "EndpointEntry",
    ]
    text = json.dumps(exported)  # plain JSON, no bytes anywhere
    links = [e for e in exported if e["kind"] == "AccountLink"]
    assert all(e["grant_ciphertext"] == "<encrypted 41 bytes>" for e in links)
    profile = next(e for e in exported if e["kind"] == "AccountProfile")
    assert profile["consented_at"] == "2026-03-01T12:00:00Z"
    assert "session-" not in text  # only a keyed hash of the WebRTC session id is stored
    assert store.export_user(user(2)) == []


def test_export_masks_binary_of_unknown_item_kinds(aws_stack: object) -> None:
    aws.client("dynamodb").put_item(
        TableName=settings().table_name,
        Item={"pk": {"S": user(1)}, "sk": {"S": "future#1"}, "blob": {"B": b"secret"}, "n": {"N": "3"}},
    )
    assert store.export_user(user(1)) == [
        {"kind": "unknown", "pk": user(1), "sk": "future#1", "blob": "<encrypted 6 bytes>", "n": "3"}
    ]


# --- short-lived rows ----------------------------------------------------------------------------


def test_an_event_is_claimed_once_until_its_row_expires(aws_stack: object) -> None:
    assert store.claim_event("evt_1", 300, now=NOW) is True
    assert store.claim_event("evt_1", 300, now=NOW + timedelta(seconds=299)) is False
    assert store.claim_event("evt_2", 300, now=NOW) is True
    # DynamoDB (and moto) may keep the expired row for days: it must count as free.
    assert store.claim_event("evt_1", 300, now=NOW + timedelta(seconds=301)) is True
    assert store.claim_event("evt_1", 300, now=NOW + timedelta(seconds=302)) is False
    assert all("evt_" not in canonical(i) for i in raw_items())  # only keyed hashes stored


def test_concurrent_claims_have_one_winner(aws_stack: object, atomic_moto: None) -> None:
    store.claim_event("warm-up", 60)  # create the connection before the threads race
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def claim() -> None:
        barrier.wait()
        results.append(store.claim_event("evt_race", 300))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


# --- table and failures ---------------------------------------------------------------------------


def test_local_table_has_gsi_ttl_and_on_demand_billing(aws_stack: object) -> None:
    client = aws.client("dynamodb")
    table = client.describe_table(TableName=settings().table_name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["by_alexa_user"]
    assert table["GlobalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    ttl = client.describe_time_to_live(TableName=settings().table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_failures_are_typed_and_name_no_user(aws_stack: object) -> None:
    aws.client("dynamodb").delete_table(TableName=settings().table_name)
    for operation in (
        lambda: store.get_link(user(1), link(1)),
        lambda: store.upsert_link(user(1), link(1), region="NA"),
        lambda: store.erase_user(user(1)),
        lambda: store.claim_event("evt_1", 60),
    ):
        with pytest.raises(store.StoreUnavailable) as caught:
            operation()
        assert user(1) not in str(caught.value) and link(1) not in str(caught.value)
        assert "ResourceNotFoundException" in str(caught.value)


def test_models_share_the_functions_dynamodb_client(aws_stack: object) -> None:
    store.get_profile(user(1))
    for model in all_models():
        assert model._get_connection().connection.client is aws.client("dynamodb")
    warm.reset()  # a new client (tests, CLI) is picked up on the next operation
    store.get_profile(user(1))
    assert AccountLink._get_connection().connection.client is aws.client("dynamodb")
