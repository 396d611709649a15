"""skill.amazon.grants: the LWA grant lifecycle against moto and the LWA stand-in."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.lwa_server import LwaServer
from models import store
from skill import aws, warm
from skill.amazon import grants, lwa
from skill.amazon.lwa import LwaTokens
from skill.config import settings
from skill.privacy import envelope, pseudonyms
from tests.moto_stack import Aws, DynamoCalls

pytestmark = pytest.mark.usefixtures("aws_stack")

USER, OTHER_USER = "usr_grant_1", "usr_grant_2"
LINK, OTHER_LINK = "lnk_grant_1", "lnk_grant_2"


@pytest.fixture
def keys() -> tuple[str, str]:
    return pseudonyms.user_key(USER), pseudonyms.link_key(LINK)


def now() -> datetime:
    return datetime.now(UTC)


def granted(
    server: LwaServer, user_key: str, link_key: str, *, expires_in: timedelta | None = None
) -> LwaTokens:
    """An AcceptGrant: a real code exchanged with the stand-in and stored (optionally expiring sooner)."""
    tokens = lwa.exchange_code(server.issue_grant_code())
    if expires_in is not None:
        tokens = LwaTokens(tokens.access_token, tokens.refresh_token, now() + expires_in)
    grants.store_grant(user_key, link_key, tokens, "NA")
    return tokens


def stored_tokens(user_key: str, link_key: str) -> LwaTokens | None:
    link = store.get_link(user_key, link_key)
    if link is None or link.grant_ciphertext is None:
        return None
    return grants._decode(envelope.unseal(link.grant_ciphertext, grants._binding(user_key, link_key)), link)


def table_text() -> str:
    """Every stored byte, as text, to search for plaintext tokens."""
    client = aws.client("dynamodb")
    items = client.scan(TableName=settings().table_name)["Items"]
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                parts.append(str(k))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, bytes):
            parts.append(value.decode("latin-1"))
        else:
            parts.append(str(value))

    walk(items)
    return "\n".join(parts)


# --- happy paths --------------------------------------------------------------------------------


def test_a_fresh_grant_is_used_without_refresh(
    lwa_standin: LwaServer, keys: tuple[str, str], dynamo_calls: DynamoCalls
) -> None:
    tokens = granted(lwa_standin, *keys)
    dynamo_calls.clear()
    assert grants.valid_access_token(*keys) == tokens.access_token
    assert dynamo_calls.operations == ["GetItem"]
    link = store.get_link(*keys)
    dynamo_calls.clear()
    assert grants.valid_access_token(*keys, link=link) == tokens.access_token
    assert dynamo_calls.operations == []
    assert lwa_standin.refresh_count == 0


def test_no_link_or_no_grant_means_no_token(lwa_standin: LwaServer, keys: tuple[str, str]) -> None:
    assert grants.valid_access_token(*keys) is None
    store.upsert_link(*keys, region="NA")
    assert grants.valid_access_token(*keys) is None
    assert grants.force_refresh(*keys, "Atza|whatever") is None
    assert lwa_standin.refresh_count == 0


def test_no_stored_item_contains_a_plaintext_token(lwa_standin: LwaServer, keys: tuple[str, str]) -> None:
    first = granted(lwa_standin, *keys, expires_in=timedelta(minutes=1))
    second_access = grants.valid_access_token(*keys)  # refreshes and stores the new pair
    second = stored_tokens(*keys)
    assert second is not None and second.access_token == second_access
    text = table_text()
    for secret in (first.access_token, first.refresh_token, second.access_token, second.refresh_token):
        assert secret not in text
        assert secret[5:40] not in text  # not even a fragment of the random part
    assert "Atza|" not in text and "Atzr|" not in text


@pytest.mark.parametrize("rotate", [True, False], ids=["rotating refresh tokens", "stable refresh tokens"])
def test_a_token_close_to_expiry_is_refreshed_and_stored(
    lwa_standin: LwaServer, keys: tuple[str, str], rotate: bool
) -> None:
    lwa_standin.rotate_refresh_tokens = rotate
    old = granted(lwa_standin, *keys, expires_in=timedelta(minutes=4))
    fresh = grants.valid_access_token(*keys)
    assert fresh is not None and fresh != old.access_token
    assert lwa_standin.is_valid_access_token(fresh)
    stored = stored_tokens(*keys)
    assert stored is not None and stored.access_token == fresh
    assert (stored.refresh_token != old.refresh_token) == rotate
    assert stored.expires_at > now() + timedelta(minutes=55)
    link = store.get_link(*keys)
    assert link is not None and link.refresh_lease_owner is None and link.refresh_lease_until is None
    assert grants.valid_access_token(*keys) == fresh  # the stored one is used from now on
    assert lwa_standin.refresh_count == 1


# --- the refresh race -----------------------------------------------------------------------------


@pytest.mark.parametrize("rotate", [True, False], ids=["rotating refresh tokens", "stable refresh tokens"])
def test_concurrent_refreshers_make_exactly_one_lwa_call(
    lwa_standin: LwaServer, keys: tuple[str, str], atomic_moto: None, rotate: bool
) -> None:
    lwa_standin.rotate_refresh_tokens = rotate
    lwa_standin.delay_seconds = 0.3  # keep the winner inside LWA while the others arrive
    old = granted(lwa_standin, *keys, expires_in=timedelta(seconds=-1))  # expired: nobody may use it
    threads_count = 10
    barrier = threading.Barrier(threads_count)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def refresher() -> None:
        barrier.wait()
        try:
            results.append(grants.valid_access_token(*keys))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=refresher) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert lwa_standin.refresh_count == 1
    assert len(results) == threads_count and len(set(results)) == 1
    winner = results[0]
    assert winner is not None and winner != old.access_token
    assert lwa_standin.is_valid_access_token(winner)
    stored = stored_tokens(*keys)
    assert stored is not None and stored.access_token == winner
    # The stored refresh token is the live one: another refresh works.
    assert lwa.refresh(stored.refresh_token).access_token


def test_an_abandoned_lease_is_taken_over_after_it_expires(
    lwa_standin: LwaServer, keys: tuple[str, str]
) -> None:
    granted(lwa_standin, *keys, expires_in=timedelta(seconds=-1))
    link = store.get_link(*keys)
    assert link is not None
    # A container took the lease and died.
    assert store.acquire_refresh_lease(link, owner="crashed", until=now() + timedelta(seconds=0.5))
    fresh = grants.valid_access_token(*keys)
    assert fresh is not None and lwa_standin.is_valid_access_token(fresh)
    assert lwa_standin.refresh_count == 1


def test_while_another_refreshes_a_still_usable_token_is_used(
    lwa_standin: LwaServer, keys: tuple[str, str]
) -> None:
    old = granted(lwa_standin, *keys, expires_in=timedelta(minutes=3))
    link = store.get_link(*keys)
    assert link is not None and store.acquire_refresh_lease(
        link, owner="busy", until=now() + timedelta(seconds=15)
    )
    assert grants.valid_access_token(*keys) == old.access_token
    assert lwa_standin.refresh_count == 0


def test_waiting_for_another_refresher_is_bounded(
    lwa_standin: LwaServer, keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grants, "WAIT_LIMIT_SECONDS", 0.3)
    granted(lwa_standin, *keys, expires_in=timedelta(seconds=-1))
    link = store.get_link(*keys)
    assert link is not None and store.acquire_refresh_lease(
        link, owner="stuck", until=now() + timedelta(minutes=1)
    )
    with pytest.raises(lwa.LwaUnavailable):
        grants.valid_access_token(*keys)
    assert lwa_standin.refresh_count == 0


def test_a_new_grant_during_a_refresh_wins(
    lwa_standin: LwaServer, keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    granted(lwa_standin, *keys, expires_in=timedelta(seconds=-1))
    accepted_again: list[LwaTokens] = []
    real_refresh = lwa.refresh

    def refresh_while_user_regrants(refresh_token: str) -> LwaTokens:
        fresh = real_refresh(refresh_token)
        accepted_again.append(granted(lwa_standin, *keys))  # AcceptGrant lands in another container
        return fresh

    monkeypatch.setattr(grants.lwa, "refresh", refresh_while_user_regrants)
    token = grants.valid_access_token(*keys)
    assert token == accepted_again[0].access_token
    stored = stored_tokens(*keys)
    assert stored is not None and stored.access_token == accepted_again[0].access_token


# --- failures ---------------------------------------------------------------------------------


def test_invalid_grant_deletes_the_grant_but_not_the_link(
    lwa_standin: LwaServer, keys: tuple[str, str]
) -> None:
    store.upsert_link(*keys, region="EU", alexa_user_key=pseudonyms.alexa_user_key("amzn1.ask.account.A"))
    granted(lwa_standin, *keys, expires_in=timedelta(seconds=-1))
    lwa_standin.revoke_all()  # the user disabled the skill
    assert grants.valid_access_token(*keys) is None
    link = store.get_link(*keys)
    assert link is not None
    assert (link.grant_ciphertext, link.grant_expires_at, link.refresh_lease_owner) == (None, None, None)
    assert link.alexa_user_key is not None
    assert grants.valid_access_token(*keys) is None  # and LWA is not asked again
    assert lwa_standin.counts["refresh_token"] == 0


@pytest.mark.parametrize("status", [503, 429])
def test_lwa_outage_with_a_usable_token_returns_it(
    lwa_standin: LwaServer, keys: tuple[str, str], status: int
) -> None:
    old = granted(lwa_standin, *keys, expires_in=timedelta(minutes=4))
    lwa_standin.fail_next(status)
    assert grants.valid_access_token(*keys) == old.access_token
    link = store.get_link(*keys)
    assert link is not None and link.refresh_lease_owner is None  # lease given back for the next try
    assert grants.valid_access_token(*keys) != old.access_token  # LWA is back: refreshed now


def test_lwa_outage_with_an_expired_token_raises_and_releases_the_lease(
    lwa_standin: LwaServer, keys: tuple[str, str]
) -> None:
    granted(lwa_standin, *keys, expires_in=timedelta(seconds=-1))
    lwa_standin.fail_next(500)
    with pytest.raises(lwa.LwaUnavailable):
        grants.valid_access_token(*keys)
    link = store.get_link(*keys)
    assert link is not None and link.refresh_lease_owner is None and link.grant_ciphertext is not None
    assert grants.valid_access_token(*keys) is not None


def test_force_refresh_replaces_a_rejected_token_once(lwa_standin: LwaServer, keys: tuple[str, str]) -> None:
    old = granted(lwa_standin, *keys)  # valid for an hour, but the gateway said 401
    replaced = grants.force_refresh(*keys, old.access_token)
    assert replaced is not None and replaced != old.access_token
    # A second container that got the same 401 uses the replacement, no second refresh.
    assert grants.force_refresh(*keys, old.access_token) == replaced
    assert lwa_standin.refresh_count == 1


def test_a_ciphertext_swapped_between_rows_does_not_decrypt(
    lwa_standin: LwaServer, keys: tuple[str, str]
) -> None:
    other = (pseudonyms.user_key(OTHER_USER), pseudonyms.link_key(OTHER_LINK))
    granted(lwa_standin, *keys)
    granted(lwa_standin, *other)
    mine, theirs = store.get_link(*keys), store.get_link(*other)
    assert mine is not None and theirs is not None
    store.save_grant(
        *keys, region="NA", ciphertext=theirs.grant_ciphertext, expires_at=now() + timedelta(hours=1)
    )
    store.save_grant(
        *other, region="NA", ciphertext=mine.grant_ciphertext, expires_at=now() + timedelta(hours=1)
    )
    for pair in (keys, other):
        with pytest.raises(envelope.CiphertextInvalid):
            grants.valid_access_token(*pair)
        warm.reset()  # and not because of a cached key either
        with pytest.raises(envelope.CiphertextInvalid):
            grants.valid_access_token(*pair)


def test_delete_grant(lwa_standin: LwaServer, keys: tuple[str, str], aws_stack: Aws) -> None:
    assert grants.delete_grant(*keys) is False
    granted(lwa_standin, *keys)
    assert grants.delete_grant(*keys) is True
    assert grants.valid_access_token(*keys) is None
    assert store.get_link(*keys) is not None
