"""Erasure on every trigger, end to end on the embedded stack (privacy policy V.2, V.3, V.4).

Each case pulls one trigger for alice through the real entry points and checks from the outside
that nothing of her stays, bob is untouched, DeleteReport went out where it must, and one erasure
record was logged. Details: docs/privacy.md, "V.2 - Deletion (and backups)".
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from devstack.demo_data import FRONT_DOOR, PORCH
from devstack.stack import LocalStack
from models import store
from models.items import AccountLink
from skill.privacy import pseudonyms
from tests.privacy.localstack import (
    ALEXA_USERS,
    Alexa,
    LogCapture,
    deleted_endpoints,
    item_text,
    message_name,
    partition,
    running_stack,
    table_items,
    wipe_table,
)

RECORD_FIELDS = {"user", "trigger", "scope", "items", "erased_at", "delete_report"}


@dataclass
class Local:
    stack: LocalStack
    capture: LogCapture
    env_file: Path


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with running_stack() as (stack, capture):
        env_file = tmp_path_factory.mktemp("erasure-triggers") / "local.env"
        stack.write_env_file(env_file)
        yield Local(stack, capture, env_file)


@dataclass
class World:
    """alice and bob fully set up; what happened since (gateway messages, erasures, log lines)."""

    local: Local
    alexa: Alexa
    alice_before: list[dict[str, Any]]
    bob_before: list[dict[str, Any]]
    erasures: list[tuple[str, int, int]] = field(default_factory=list)  # (user key, messages, items)

    @property
    def alice(self) -> str:
        return self.alexa.user_key("alice")

    @property
    def bob(self) -> str:
        return self.alexa.user_key("bob")

    def alice_endpoints(self) -> set[str]:
        return {i["sk"]["S"][3:] for i in self.alice_before if i["sk"]["S"].startswith("ep#")}

    def alice_identifiers(self) -> set[str]:
        """Everything that would tie an item or a log line to alice."""
        links = {i["sk"]["S"][5:] for i in self.alice_before if i["sk"]["S"].startswith("link#")}
        return {
            self.alice,
            self.alexa.user_id("alice"),
            ALEXA_USERS["alice"],
            pseudonyms.alexa_user_key(ALEXA_USERS["alice"]),
            *links,
            *self.local.stack.accloud.active_links("alice"),
            *self.alice_endpoints(),
        }

    def doorbell(self, username: str) -> int:
        """alice's doorbell rings, or bob's camera (he has no doorbell) sees motion."""
        if username == "alice":
            status, _ = self.alexa.webhook("doorbell.pressed", "alice", FRONT_DOOR)
        else:
            status, _ = self.alexa.webhook("motion.detected", "bob", PORCH)
        return status

    def erasure_records(self) -> list[dict[str, Any]]:
        return self.local.capture.erasure_records()


@pytest.fixture
def world(local: Local, monkeypatch: pytest.MonkeyPatch) -> World:
    wipe_table()
    alexa = Alexa(local.stack)
    for username in ("alice", "bob"):
        alexa.fully_linked(username)
    built = World(local, alexa, partition(alexa.user_key("alice")), partition(alexa.user_key("bob")))
    assert len(built.alice_before) == 10 and len(built.bob_before) == 3  # profile, link, endpoints
    assert all(
        "grant_ciphertext" in i for i in built.alice_before + built.bob_before if i["sk"]["S"][:5] == "link#"
    )

    erase_user = store.erase_user

    def recording(user_key: str) -> int:
        # When the partition goes: how many gateway messages had arrived, how many items were still there.
        built.erasures.append((user_key, len(local.stack.gateway.received()), len(partition(user_key))))
        return erase_user(user_key)

    monkeypatch.setattr(store, "erase_user", recording)
    local.stack.gateway.clear()
    local.capture.clear()
    return built


# --- the triggers -------------------------------------------------------------------------------


def skill_disabled(world: World) -> None:
    world.alexa.disabled("alice")


def gateway_skill_disabled(world: World) -> None:
    world.local.stack.gateway.fail_next(403, "SKILL_DISABLED_EXCEPTION")
    assert world.doorbell("alice") == 202


def gateway_permission_revoked(world: World) -> None:
    world.local.stack.gateway.fail_next(403, "INSUFFICIENT_PERMISSION_EXCEPTION")
    assert world.doorbell("alice") == 202


def lwa_invalid_grant(world: World) -> None:
    """Amazon revoked the grant; the stored access token is due, so the skill refreshes -> invalid_grant."""
    world.local.stack.lwa.revoke_all()
    (link,) = store.links_of(world.alice)
    link.update(actions=[AccountLink.grant_expires_at.set(datetime.now(UTC) - timedelta(minutes=1))])
    world.doorbell("alice")


def accloud_account_deleted(world: World) -> None:
    status, _ = world.alexa.webhook("account.deleted", "alice")
    assert status == 202


def accloud_consent_withdrawn(world: World) -> None:
    status, _ = world.alexa.webhook("account.consent_withdrawn", "alice")
    assert status == 202


def events_permission_withdrawn(world: World) -> None:
    world.alexa.permissions("alice", events=False)


def voice_delete_my_data(world: World) -> None:
    answer = world.alexa.intent("alice", "DeleteMyData", confirmation="CONFIRMED")
    assert answer["response"]["card"]["type"] == "Simple"


def operator_cli(world: World) -> None:
    from devstack import cli

    out = io.StringIO()
    capture = world.local.capture
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(capture.buffer):
        status = cli.main(
            [
                "--env-file",
                str(world.local.env_file),
                "privacy",
                "erase",
                "--accloud-user",
                world.alexa.user_id("alice"),
                "--yes",
            ]
        )
    capture.install()  # the CLI pointed logging at its stderr
    assert status == 0
    printed = out.getvalue()
    assert set(json.loads(printed)) == RECORD_FIELDS
    assert not any(identifier in printed for identifier in world.alice_identifiers())


@dataclass(frozen=True)
class Case:
    trigger: str  # erasure.Trigger value expected in the record
    act: Callable[[World], None]
    scope: Literal["account", "grant"]
    delete_report_first: bool  # the skill stays enabled for alice: Alexa must hear a DeleteReport first
    bob_still_served: bool = True  # False where the stand-in can only revoke every grant at once (LWA)


CASES = {
    "skill-disabled": Case("skill_disabled", skill_disabled, "account", False),
    "gateway-403-skill-disabled": Case("gateway_skill_disabled", gateway_skill_disabled, "account", False),
    "lwa-invalid-grant": Case("lwa_invalid_grant", lwa_invalid_grant, "grant", False, bob_still_served=False),
    "accloud-account-deleted": Case("accloud_account_deleted", accloud_account_deleted, "account", True),
    "voice-delete-my-data": Case("voice_delete_request", voice_delete_my_data, "account", True),
    "operator-cli-erase": Case("operator_cli", operator_cli, "account", True),
    "accloud-consent-withdrawn": Case("accloud_consent_withdrawn", accloud_consent_withdrawn, "grant", False),
    "events-permission-withdrawn": Case("permission_withdrawn", events_permission_withdrawn, "grant", False),
    "gateway-403-insufficient-permission": Case(
        "permission_withdrawn", gateway_permission_revoked, "grant", False
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_erasure_trigger(world: World, name: str) -> None:
    case = CASES[name]
    case.act(world)

    # Nothing of alice is left (account scope), or nothing of her grant (grant scope).
    items = table_items()
    if case.scope == "account":
        assert partition(world.alice) == []
        traces = {i for i in world.alice_identifiers() for item in items if i in item_text(item)}
        assert traces == set()
    else:
        remaining = partition(world.alice)
        assert [i["sk"]["S"] for i in remaining] == [i["sk"]["S"] for i in world.alice_before]
        assert not [i for i in remaining if "grant_ciphertext" in i or "grant_expires_at" in i]
        unchanged = [i for i in world.alice_before if not i["sk"]["S"].startswith("link#")]
        kept = [i for i in remaining if not i["sk"]["S"].startswith("link#")]
        if name == "accloud-consent-withdrawn":  # recorded on the profile until ACCloud reports consent given
            (profile,) = [i for i in kept if i["sk"]["S"] == "profile"]
            assert "consent_withdrawn_at" in profile
            kept = [{k: v for k, v in i.items() if k != "consent_withdrawn_at"} for i in kept]
        assert kept == unchanged

    # bob's items are exactly as they were.
    assert partition(world.bob) == world.bob_before

    # DeleteReport first where the skill stays enabled; none where it cannot reach Alexa anyway.
    received = world.alexa.received()  # the stand-in was cleared after the setup
    reports = [r for r in received if message_name(r) == "DeleteReport"]
    if case.delete_report_first:
        ((erased_user, messages_then, items_then),) = world.erasures
        assert erased_user == world.alice and items_then == len(world.alice_before)
        before_erasure = [r for r in received[:messages_then] if message_name(r) == "DeleteReport"]
        assert [(r.status, deleted_endpoints(r)) for r in before_erasure] == [(202, world.alice_endpoints())]
    else:
        assert reports == []

    # One erasure record, without personal data.
    (record,) = [r for r in world.erasure_records() if r["trigger"] == case.trigger]
    assert set(record) == RECORD_FIELDS
    assert record["user"] == pseudonyms.log_key(world.alice)
    assert record["scope"] == case.scope
    assert record["items"] == (len(world.alice_before) if case.scope == "account" else 1)
    erased_at = datetime.fromisoformat(record["erased_at"].replace("Z", "+00:00"))
    assert abs(erased_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert record["delete_report"] is (True if case.delete_report_first else None)
    record_lines = [line for line in world.local.capture.lines() if '"message":"erasure"' in line]
    assert not {i for i in world.alice_identifiers() for line in record_lines if i in line}

    # Processing stopped for alice, and an erased account stays erased; bob is still served.
    before = len(world.alexa.received())
    world.doorbell("alice")
    assert world.alexa.received()[before:] == []
    if case.scope == "account":
        world.alexa.discover("alice")  # stateless without a link: nothing is written again
        assert partition(world.alice) == []
    if case.bob_still_served:
        world.doorbell("bob")
        assert [(message_name(r), r.status) for r in world.alexa.received()[before:]] == [
            ("ChangeReport", 202)
        ]


# --- withdrawal of consent (V.3): the processing it covers stops --------------------------------

# case name -> whether the rest of the service (directives, voice) stays: withdrawing the "Send
# Alexa Events" permission covers proactive events only. ACCloud's account.consent_withdrawn stops
# the skill's own processing (grants, events, the endpoint index); ACCloud itself then refuses the
# user's tokens, so directives end there, not here.
WITHDRAWALS = {"accloud-consent-withdrawn": False, "events-permission-withdrawn": True}


@pytest.mark.parametrize("name", WITHDRAWALS)
def test_withdrawn_consent_stops_proactive_events(world: World, name: str) -> None:
    assert world.doorbell("alice") == 202
    assert [message_name(r) for r in world.alexa.received()] == ["DoorbellPress"]  # served before

    CASES[name].act(world)
    assert world.doorbell("alice") == 202  # acknowledged to ACCloud, but nothing goes to Alexa
    assert [message_name(r) for r in world.alexa.received()] == ["DoorbellPress"]
    (link,) = store.links_of(world.alice)
    assert link.events_permitted is False and not link.has_grant
    # Earlier processing stays lawful: the record of consent is kept (V.3).
    profile = store.get_profile(world.alice)
    assert profile is not None and profile.consented_at is not None

    if WITHDRAWALS[name]:
        assert len(world.alexa.discover("alice")["event"]["payload"]["endpoints"]) == 8


def test_a_withdrawal_at_accloud_holds_over_a_new_grant_until_consent_is_given_again(
    world: World, alexa_schema: Any
) -> None:
    """V.3: once ACCloud reports the consent withdrawn, a later AcceptGrant (Alexa handing over a
    new grant) does not bring proactive events back; only ACCloud's account.consent_given does."""
    assert world.alexa.webhook("account.consent_withdrawn", "alice")[0] == 202
    granted = world.alexa.accept_grant("alice")
    alexa_schema.assert_valid(granted)
    assert granted["event"]["header"]["name"] == "AcceptGrant.Response"  # the grant itself is Amazon's
    assert world.doorbell("alice") == 202
    assert world.alexa.received() == []  # nothing reached the Event Gateway
    (link,) = store.links_of(world.alice)
    assert link.has_grant  # held, not used
    profile = store.get_profile(world.alice)
    assert profile is not None and profile.consent_withdrawn_at is not None

    assert world.alexa.webhook("account.consent_given", "alice")[0] == 202
    profile = store.get_profile(world.alice)
    assert profile is not None and profile.consent_withdrawn_at is None
    assert world.doorbell("alice") == 202
    assert [(message_name(r), r.status) for r in world.alexa.received()] == [("DoorbellPress", 202)]
    assert world.doorbell("bob") == 202  # bob was never affected
    assert [message_name(r) for r in world.alexa.received()] == ["DoorbellPress", "ChangeReport"]
