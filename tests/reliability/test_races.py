"""Races (issue 10.3): grants, refreshes, discovery, webhook retries and erasure interleaved across threads.

Each thread is one Lambda container on the embedded stack. moto's server does not apply a
conditional write atomically, so it runs serialized (``devstack.load.serialized_moto``): these
tests fail on the skill's behaviour, not moto's. Stress rounds start all parties on a barrier;
pinned interleavings hold one party in flight. Details: docs/reliability.md, "Races".
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

import lambda_handler
from devstack import directives
from devstack.demo_data import ALICE, FRONT_DOOR, GARAGE
from devstack.load import serialized_moto
from devstack.stack import LocalStack
from skill import warm
from skill.privacy import pseudonyms
from tests.alexa_schema import AlexaSchema
from tests.voice import envelopes

ALEXA_USER = "amzn1.ask.account.RACEALICE"
THREADS = 8
ROUNDS = 4
JOIN_SECONDS = 30.0

# --- the stack and a player for Alexa ----------------------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    skill_log = logging.getLogger("skill")
    level = skill_log.level
    with _requests_reach_moto_server(), serialized_moto(), LocalStack(webrtc=False) as running:
        skill_log.setLevel(logging.ERROR)  # thousands of INFO lines say nothing here
        yield running
    skill_log.setLevel(level)


@contextlib.contextmanager
def _requests_reach_moto_server() -> Iterator[None]:
    """Another suite's in-process moto (``mock_aws``, e.g. the package-scoped fuzz world) may still be
    active; it would answer the requests meant for moto's server. Pause it for this module."""
    from moto.core.models import botocore_stubber

    was_enabled = botocore_stubber.enabled
    botocore_stubber.enabled = False
    try:
        yield
    finally:
        botocore_stubber.enabled = was_enabled


@pytest.fixture
def alexa(stack: LocalStack) -> Iterator[Alexa]:
    """A clean world: empty table, ACCloud back to its seed, nothing received, no LWA delay."""
    for item in table_items():
        _dynamodb().delete_item(TableName=_table(), Key={"pk": item["pk"], "sk": item["sk"]})
    stack.accloud.reset()
    stack.gateway.clear()
    stack.lwa.delay_seconds = 0.0
    warm.reset()
    yield Alexa(stack)
    stack.lwa.delay_seconds = 0.0


@dataclasses.dataclass
class Alexa:
    """Plays Alexa and the user for ``alice`` against the skill on the local stack."""

    stack: LocalStack
    token: str = ""

    @property
    def user_key(self) -> str:
        return pseudonyms.user_key(self.stack.accloud.user_id(ALICE))

    def link(self) -> None:
        """Account linking at ACCloud (OAuth) and the SkillAccountLinked event."""
        self.token = self.stack.accloud.issue_token(ALICE)["access_token"]
        self.account_linked()

    def account_linked(self) -> dict[str, Any]:
        return self.skill_event("SkillAccountLinked", {"accessToken": self.token}, token=self.token)

    def fully_linked(self) -> None:
        self.link()
        assert self.accept_grant()["event"]["header"]["name"] == "AcceptGrant.Response"
        self.discover()

    def accept_grant(self) -> dict[str, Any]:
        answer: dict[str, Any] = lambda_handler.handler(
            directives.accept_grant(self.token, self.stack.lwa.issue_grant_code()), None
        )
        return answer

    def discover(self) -> set[str]:
        answer = lambda_handler.handler(directives.discover(self.token), None)
        assert answer["event"]["header"]["name"] == "Discover.Response", answer
        return {e["endpointId"] for e in answer["event"]["payload"]["endpoints"]}

    def skill_event(self, name: str, body: dict[str, Any], *, token: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = lambda_handler.handler(
            envelopes.skill_event(name, body=body, token=token, user=ALEXA_USER), None
        )
        return answer

    def disable(self) -> None:
        """The user disables the skill: Amazon revokes the skill's LWA grants and sends SkillDisabled
        (without an access token: Alexa has already dropped the account link)."""
        self.stack.lwa.revoke_all()
        self.skill_event("SkillDisabled", {"userInformationPersistenceStatus": "NOT_PERSISTED"})

    def webhook(self, event: dict[str, Any]) -> int:
        status, _ = self.stack.accloud.send_built_event(event)
        return status

    def link_keys(self) -> list[str]:
        from models import store

        return [link.link_key for link in store.links_of(self.user_key)]

    def indexed_endpoints(self) -> set[str]:
        from models import store

        return set(store.endpoint_index(self.user_key))


def table_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": _table(), "ConsistentRead": True}
    while True:
        page = _dynamodb().scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def partition(user_key: str) -> list[str]:
    """Sort keys of what is stored under ``user_key`` (empty after an erasure)."""
    return sorted(item["sk"]["S"] for item in table_items() if item["pk"]["S"] == user_key)


def _dynamodb() -> Any:
    from skill import aws

    return aws.client("dynamodb")


def _table() -> str:
    from skill.config import settings

    return settings().table_name


def gateway_names(stack: LocalStack) -> list[str]:
    return [m["event"]["header"]["name"] for m in stack.gateway.messages()]


# --- running parties together ------------------------------------------------------------------


def together(*parties: Callable[[], Any]) -> list[Any]:
    """Run every party in its own thread, released at once by a barrier; their results in order.

    An exception in any party fails the test (after all have finished)."""
    barrier = threading.Barrier(len(parties))

    def start(party: Callable[[], Any]) -> Any:
        barrier.wait(timeout=JOIN_SECONDS)
        return party()

    with ThreadPoolExecutor(max_workers=len(parties)) as pool:
        futures = [pool.submit(start, party) for party in parties]
        return [future.result(timeout=JOIN_SECONDS) for future in futures]


class Gate:
    """Holds the first caller of a wrapped function right after it returns, until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()
        self._taken = threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            if self._taken.acquire(blocking=False):  # only the first call is held
                self.reached.set()
                assert self.released.wait(JOIN_SECONDS), "gate never released"
            return result

        return held


def in_flight_while(party: Callable[[], Any], gate: Gate, meanwhile: Callable[[], Any]) -> tuple[Any, Any]:
    """Start ``party``; once it is held at ``gate``, run ``meanwhile`` to completion; then let it go."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(party)
        assert gate.reached.wait(JOIN_SECONDS), "the party never reached the gate"
        try:
            done = meanwhile()
        finally:
            gate.released.set()
        return pending.result(timeout=JOIN_SECONDS), done


# --- LWA token lineage ----------------------------------------------------------------------------


class Lineage:
    """Which grant (AcceptGrant code exchange) every LWA token the skill obtained descends from."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from skill.amazon import lwa

        self._lock = threading.Lock()
        self.grant_of_access: dict[str, int] = {}
        self._grant_of_refresh: dict[str, int] = {}
        self.exchanges = 0
        exchange, refresh = lwa.exchange_code, lwa.refresh

        def recorded_exchange(code: str, **kwargs: Any) -> lwa.LwaTokens:
            tokens = exchange(code, **kwargs)
            with self._lock:
                self.exchanges += 1
                self._remember(tokens, self.exchanges)
            return tokens

        def recorded_refresh(refresh_token: str) -> lwa.LwaTokens:
            tokens = refresh(refresh_token)
            with self._lock:
                self._remember(tokens, self._grant_of_refresh[refresh_token])
            return tokens

        monkeypatch.setattr(lwa, "exchange_code", recorded_exchange)
        monkeypatch.setattr(lwa, "refresh", recorded_refresh)

    def _remember(self, tokens: Any, grant: int) -> None:
        self.grant_of_access[tokens.access_token] = grant
        self._grant_of_refresh[tokens.refresh_token] = grant


def expire_stored_grant(alexa: Alexa, *, by: timedelta = timedelta(seconds=1)) -> tuple[str, str]:
    """Make the stored grant's access token expired (as an hour later) without touching LWA."""
    from models import store
    from skill.amazon import grants, lwa
    from skill.privacy import envelope

    user_key = alexa.user_key
    [link] = store.links_of(user_key)
    assert link.grant_ciphertext is not None
    plain = envelope.unseal(link.grant_ciphertext, grants._binding(user_key, link.link_key))
    tokens = grants._decode(plain, link)
    expired = lwa.LwaTokens(tokens.access_token, tokens.refresh_token, datetime.now(UTC) - by)
    grants.store_grant(user_key, link.link_key, expired, link.region)
    return user_key, link.link_key


# --- webhook retries: one ring per event id ------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "device_id", "message_name"),
    [("doorbell.pressed", FRONT_DOOR, "DoorbellPress"), ("motion.detected", GARAGE, "ChangeReport")],
)
def test_concurrent_redeliveries_of_one_event_reach_alexa_once(
    alexa: Alexa, event_type: str, device_id: str, message_name: str
) -> None:
    alexa.fully_linked()
    for round_number in range(1, ROUNDS + 1):
        event = alexa.stack.accloud.build_event(event_type, ALICE, device_id)
        statuses = together(*[partial(alexa.webhook, event)] * THREADS)
        assert sorted(statuses) == [200] * (THREADS - 1) + [202], (
            statuses
        )  # one accepted, the rest duplicates
        assert gateway_names(alexa.stack) == [message_name] * round_number


def test_a_refused_first_delivery_is_redelivered_exactly_once(alexa: Alexa) -> None:
    """The gateway fails the first attempt past its retries: the claim is released, and of the
    concurrent redeliveries that follow exactly one rings."""
    from skill.amazon import gateway

    alexa.fully_linked()
    event = alexa.stack.accloud.build_event("doorbell.pressed", ALICE, FRONT_DOOR)
    alexa.stack.gateway.fail_next(503, times=gateway.MAX_RETRIES + 1)
    assert alexa.webhook(event) == 503  # nothing reached Alexa: ACCloud is asked to redeliver
    statuses = together(*[partial(alexa.webhook, event)] * THREADS)
    assert sorted(statuses) == [200] * (THREADS - 1) + [202]
    assert gateway_names(alexa.stack) == ["DoorbellPress"]


# --- token refresh -----------------------------------------------------------------------------


def test_concurrent_refreshes_call_lwa_once_and_agree(alexa: Alexa, monkeypatch: pytest.MonkeyPatch) -> None:
    from skill.amazon import grants

    lineage = Lineage(monkeypatch)
    alexa.fully_linked()
    alexa.stack.lwa.delay_seconds = 0.05  # a refresh takes a while, as LWA's does
    for round_number in range(1, ROUNDS + 1):
        user_key, link_key = expire_stored_grant(alexa)
        before = alexa.stack.lwa.refresh_count
        tokens = together(*[partial(grants.valid_access_token, user_key, link_key)] * THREADS)
        assert alexa.stack.lwa.refresh_count - before == 1, f"round {round_number}"
        assert len(set(tokens)) == 1 and alexa.stack.lwa.is_valid_access_token(tokens[0])
        assert grants.valid_access_token(user_key, link_key) == tokens[0]  # what is stored is what they got
        assert lineage.grant_of_access[tokens[0]] == 1


def test_accept_grant_racing_refreshes_keeps_the_new_grant(
    alexa: Alexa, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresher of the old grant must never store over a grant AcceptGrant just stored."""
    from skill.amazon import grants

    lineage = Lineage(monkeypatch)
    alexa.fully_linked()
    alexa.stack.lwa.delay_seconds = 0.05
    for _ in range(ROUNDS):
        user_key, link_key = expire_stored_grant(alexa)
        refreshers = [partial(grants.valid_access_token, user_key, link_key)] * (THREADS - 1)
        answer, *_ = together(alexa.accept_grant, *refreshers)
        assert answer["event"]["header"]["name"] == "AcceptGrant.Response"
        stored = grants.valid_access_token(user_key, link_key)
        assert stored is not None and alexa.stack.lwa.is_valid_access_token(stored)
        assert lineage.grant_of_access[stored] == lineage.exchanges, "an older grant replaced the new one"


# --- discovery ---------------------------------------------------------------------------------


def test_concurrent_discoveries_converge_to_the_device_set(alexa: Alexa) -> None:
    """Each round changes alice's cameras at ACCloud, then discoveries race: every answer and the
    stored endpoint index equal the cameras she has."""
    alexa.fully_linked()
    accloud = alexa.stack.accloud
    added: list[str] = []
    for round_number in range(ROUNDS):
        if round_number % 2 == 0:
            added.append(accloud.add_device(ALICE, f"Race Cam {round_number}", motion_detection=True).id)
        else:
            accloud.remove_device(added.pop(0))
        truth = alexa.discover()
        assert {pseudonyms.endpoint_id(accloud.user_id(ALICE), d) for d in added} <= truth
        answers = together(*[alexa.discover] * THREADS)
        assert all(answer == truth for answer in answers)
        assert alexa.indexed_endpoints() == truth


def test_discoveries_racing_a_device_change_converge_on_the_next_one(alexa: Alexa) -> None:
    """Discoveries that read before and after a removal interleave their index writes; whatever
    order they land in, the next discovery leaves the index equal to the device set."""
    alexa.fully_linked()
    accloud = alexa.stack.accloud
    for round_number in range(ROUNDS):
        camera = accloud.add_device(ALICE, f"Flicker {round_number}").id
        alexa.discover()
        together(*[alexa.discover] * (THREADS // 2), partial(accloud.remove_device, camera))
        assert alexa.discover() == alexa.indexed_endpoints()
        assert pseudonyms.endpoint_id(accloud.user_id(ALICE), camera) not in alexa.indexed_endpoints()


# --- erasure against everything in flight ----------------------------------------------------------


def _account_deleted_at_accloud(alexa: Alexa) -> None:
    assert alexa.webhook(alexa.stack.accloud.build_event("account.deleted", ALICE)) == 202


ERASURES = [
    pytest.param(Alexa.disable, id="SkillDisabled"),
    pytest.param(_account_deleted_at_accloud, id="ACCloud account.deleted"),
]


@pytest.mark.parametrize("erase", ERASURES)
def test_erasure_racing_refreshes_and_redeliveries_leaves_nothing(
    alexa: Alexa, erase: Callable[[Alexa], None]
) -> None:
    """An erasure, refreshes of an expired grant and redeliveries of one doorbell event, all at
    once: afterwards nothing of alice is stored and the press rang at most once."""
    from skill.amazon import grants

    for _ in range(ROUNDS):
        alexa.stack.lwa.delay_seconds = 0.0
        alexa.fully_linked()
        user_key, link_key = expire_stored_grant(alexa)
        alexa.stack.gateway.clear()
        event = alexa.stack.accloud.build_event("doorbell.pressed", ALICE, FRONT_DOOR)
        alexa.stack.lwa.delay_seconds = 0.02
        refresh = partial(grants.valid_access_token, user_key, link_key)
        ring = partial(alexa.webhook, event)
        together(partial(erase, alexa), refresh, refresh, ring, ring, ring)
        assert partition(user_key) == []
        assert gateway_names(alexa.stack).count("DoorbellPress") <= 1


def _gate_accept_grant(monkeypatch: pytest.MonkeyPatch, gate: Gate) -> None:
    from skill.amazon import lwa

    monkeypatch.setattr(lwa, "exchange_code", gate.wrap(lwa.exchange_code))  # code exchanged, not stored


def _gate_refresh(monkeypatch: pytest.MonkeyPatch, gate: Gate) -> None:
    from skill.amazon import lwa

    monkeypatch.setattr(lwa, "refresh", gate.wrap(lwa.refresh))  # tokens refreshed, not stored


def _gate_discovery(monkeypatch: pytest.MonkeyPatch, gate: Gate) -> None:
    from models import endpoint_index

    monkeypatch.setattr(endpoint_index, "read_digests", gate.wrap(endpoint_index.read_digests))


def _gate_account_linked(monkeypatch: pytest.MonkeyPatch, gate: Gate) -> None:
    from skill.voice import identity

    monkeypatch.setattr(identity, "resolve_token", gate.wrap(identity.resolve_token))


def _gate_webhook(monkeypatch: pytest.MonkeyPatch, gate: Gate) -> None:
    from models import store

    monkeypatch.setattr(store, "account_view", gate.wrap(store.account_view))  # links read, nothing sent


def _refresh_expired(alexa: Alexa) -> Callable[[], Any]:
    from skill.amazon import grants

    user_key, link_key = expire_stored_grant(alexa)
    return lambda: grants.valid_access_token(user_key, link_key)


def _new_camera_discovery(alexa: Alexa) -> Callable[[], Any]:
    alexa.stack.accloud.add_device(ALICE, "Late Cam")  # so the in-flight discovery has a diff to write
    return alexa.discover


def _device_added_webhook(alexa: Alexa) -> Callable[[], Any]:
    camera = alexa.stack.accloud.add_device(ALICE, "Webhook Cam").id
    event = alexa.stack.accloud.build_event("device.added", ALICE, camera)
    return lambda: alexa.webhook(event)


def _grant_failed(answer: Any, schema: AlexaSchema) -> None:
    schema.assert_valid(answer)
    assert answer["event"]["header"]["name"] == "ErrorResponse"
    assert answer["event"]["payload"]["type"] == "ACCEPT_GRANT_FAILED"


def _discovery_answered(answer: Any, schema: AlexaSchema) -> None:
    assert answer, "Discover.Response with the cameras, just not indexed"  # alexa.discover checks the name


def _answered(answer: Any, schema: AlexaSchema) -> None:
    assert answer == {"version": "1.0", "response": {}}


def _no_token(answer: Any, schema: AlexaSchema) -> None:
    assert answer is None  # the refreshed tokens were dropped: the grant is gone


def _accepted(answer: Any, schema: AlexaSchema) -> None:
    assert answer == 202  # processed (Alexa refused the report: the skill is disabled); no redelivery


# (in-flight party, where it is held, what it must answer) -> after SkillDisabled completes and the
# party finishes, nothing of the user may be stored; a fresh link afterwards works again.
IN_FLIGHT = [
    pytest.param(_refresh_expired, _gate_refresh, _no_token, id="grant refresh"),
    pytest.param(_device_added_webhook, _gate_webhook, _accepted, id="device.added webhook"),
    # These three wrote unconditionally before the erasure fence (models.fence, issue 10.3).
    pytest.param(lambda alexa: alexa.accept_grant, _gate_accept_grant, _grant_failed, id="AcceptGrant"),
    pytest.param(_new_camera_discovery, _gate_discovery, _discovery_answered, id="Discover"),
    pytest.param(
        lambda alexa: alexa.account_linked, _gate_account_linked, _answered, id="SkillAccountLinked"
    ),
]


@pytest.mark.parametrize(("prepare", "hold", "answered"), IN_FLIGHT)
def test_nothing_reappears_after_skill_disabled_completes(
    alexa: Alexa,
    monkeypatch: pytest.MonkeyPatch,
    alexa_schema: AlexaSchema,
    prepare: Callable[[Alexa], Callable[[], Any]],
    hold: Callable[[pytest.MonkeyPatch, Gate], None],
    answered: Callable[[Any, AlexaSchema], None],
) -> None:
    alexa.fully_linked()
    user_key = alexa.user_key
    party = prepare(alexa)
    gate = Gate()
    hold(monkeypatch, gate)

    def disable_and_look() -> list[str]:
        alexa.disable()
        return partition(user_key)

    answer, right_after = in_flight_while(party, gate, disable_and_look)
    assert right_after == []
    assert partition(user_key) == [], "rows re-appeared after SkillDisabled completed"
    answered(answer, alexa_schema)

    # The user enables and links the skill again: requests that begin now are not fenced out.
    monkeypatch.undo()
    alexa.fully_linked()
    stored = partition(user_key)
    assert "profile" in stored and len([sk for sk in stored if sk.startswith("link#")]) == 1
    assert alexa.indexed_endpoints() == alexa.discover() != set()
