"""Unidentified links and truthful erasure answers, end to end on the embedded stack (policy V.2, V.4).

The case of issue 15: a link whose SkillAccountLinked never arrived goes with the last identified
link of its ZOSI account, or by the retention job after its grace period. Every erasure answer is
checked against a table scan. Details: docs/privacy.md, "V.2 - Deletion (and backups)".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.demo_data import FRONT_DOOR
from models import store, table
from skill import config, warm
from skill.amazon import grants
from skill.privacy import erasure, retention
from skill.voice import strings
from tests.privacy.conftest import Local
from tests.privacy.localstack import (
    Alexa,
    message_name,
    partition,
    table_items,
    wipe_table,
)
from tests.voice import envelopes

HOUSEMATE = "amzn1.ask.account.PRIVACYHOUSEMATE"


@dataclass
class Household:
    """alice's ZOSI account and the links to it: link key -> the access token its grant gives."""

    alexa: Alexa
    user_key: str
    tokens: dict[str, str]
    rows_before: list[dict[str, Any]]

    def link_keys(self) -> set[str]:
        return {
            i["sk"]["S"][len("link#") :] for i in partition(self.user_key) if i["sk"]["S"].startswith("link#")
        }

    def reported_links(self) -> list[str]:
        """The links whose Alexa account received a DeleteReport, in order (accepted ones only)."""
        by_token = {token: link for link, token in self.tokens.items()}
        return [
            by_token[r.message["event"]["payload"]["scope"]["token"]]
            for r in self.alexa.received()
            if message_name(r) == "DeleteReport" and r.accepted
        ]


def _grant_tokens(user_key: str) -> dict[str, str]:
    tokens = {}
    for link in store.links_of(user_key):
        token = grants.valid_access_token(user_key, link.link_key)
        assert token is not None
        tokens[link.link_key] = token
    return tokens


def _set_up(local: Local, *, unidentified: bool, housemate: bool) -> tuple[Household, dict[str, str]]:
    """alice linked from A (identified), optionally from X (no SkillAccountLinked) and from a housemate."""
    wipe_table()
    alexa = Alexa(local.stack)
    names: dict[str, str] = {}
    user_key = alexa.user_key("alice")
    if unidentified:
        alexa.link_at_accloud("alice")
        assert alexa.accept_grant("alice")["event"]["header"]["name"] == "AcceptGrant.Response"
        (names["X"],) = {link.link_key for link in store.links_of(user_key)}
    if housemate:
        alexa.link_at_accloud("alice")
        token = alexa.tokens["alice"]
        alexa.custom(envelopes.skill_event("SkillAccountLinked", body={"accessToken": token}, user=HOUSEMATE))
        alexa.accept_grant("alice")
        (names["H"],) = {link.link_key for link in store.links_of(user_key)} - set(names.values())
    alexa.fully_linked("alice")  # Alexa account A: SkillAccountLinked, AcceptGrant, Discover
    (names["A"],) = {link.link_key for link in store.links_of(user_key)} - set(names.values())
    household = Household(alexa, user_key, _grant_tokens(user_key), partition(user_key))
    local.stack.gateway.clear()
    local.capture.clear()
    return household, names


def _identified(user_key: str) -> dict[str, bool]:
    return {link.link_key: erasure.is_identified(link) for link in store.links_of(user_key)}


def speech(answer: dict[str, Any]) -> str:
    return str(answer["response"]["outputSpeech"]["ssml"])


def rendered(key: str, **values: Any) -> str:
    return strings.render("en-US", key, **values)


# --- every trigger: the unidentified link does not outlive the last identified one ------------------


def test_the_issue_case_delete_my_data_erases_the_unidentified_link_too(local: Local) -> None:
    household, links = _set_up(local, unidentified=True, housemate=False)
    assert _identified(household.user_key) == {links["X"]: False, links["A"]: True}

    answer = household.alexa.intent("alice", "DeleteMyData", confirmation="CONFIRMED")

    # The claim: everything erased. The table: nothing of alice's ZOSI account is left.
    assert rendered("delete_confirmed") in speech(answer)
    assert answer["response"]["card"]["title"] == rendered("delete_card_title")
    assert partition(household.user_key) == []
    assert not [i for i in table_items() if household.user_key in json.dumps(i, default=str)]
    # Both Alexa accounts were told to forget the cameras, each with its own grant, before the erasure.
    assert sorted(household.reported_links()) == sorted([links["X"], links["A"]])
    # A doorbell press reaches nobody afterwards.
    before = len(household.alexa.received())
    household.alexa.webhook("doorbell.pressed", "alice", FRONT_DOOR)
    assert household.alexa.received()[before:] == []


@pytest.mark.parametrize("trigger", ["skill-disabled", "accloud-account-deleted"])
def test_other_triggers_erase_the_unidentified_link_with_the_last_identified_one(
    local: Local, trigger: str
) -> None:
    household, links = _set_up(local, unidentified=True, housemate=False)
    if trigger == "skill-disabled":
        household.alexa.disabled("alice")
        # A disabled the skill (Alexa dropped its cameras); X may still show them: it alone is told.
        expected_reports = [links["X"]]
    else:
        assert household.alexa.webhook("account.deleted", "alice")[0] == 202
        expected_reports = sorted([links["X"], links["A"]])
    assert partition(household.user_key) == []
    assert sorted(household.reported_links()) == expected_reports


# --- a household: what stays, and why, is said ------------------------------------------------------


def test_delete_my_data_says_what_stays_for_a_housemate_and_the_table_agrees(local: Local) -> None:
    household, links = _set_up(local, unidentified=False, housemate=True)

    answer = household.alexa.intent("alice", "DeleteMyData", confirmation="CONFIRMED")

    assert rendered("delete_partly", others=1) in speech(answer)
    assert answer["response"]["card"] == {
        "type": "Simple",
        "title": rendered("delete_partly_card_title"),
        "content": rendered("delete_partly_card_text", others=1),
    }
    # Erased: A's link with its grant. Kept: the housemate's link, the profile, the camera index.
    assert household.link_keys() == {links["H"]}
    kinds_left = sorted({i["sk"]["S"].split("#")[0] for i in partition(household.user_key)})
    assert kinds_left == ["ep", "link", "profile"]
    endpoints_before = [i for i in household.rows_before if i["sk"]["S"].startswith("ep#")]
    assert [i for i in partition(household.user_key) if i["sk"]["S"].startswith("ep#")] == endpoints_before
    # Issue 16: the link erased alone gets its DeleteReport (A keeps the skill); the housemate none.
    assert household.reported_links() == [links["A"]]

    # The housemate then erases too: now nothing is left, and the answer says so.
    last = household.alexa.custom(
        envelopes.intent("DeleteMyData", token=None, user=HOUSEMATE, confirmation="CONFIRMED")
    )
    assert rendered("delete_confirmed") in speech(last)
    assert partition(household.user_key) == []


def test_delete_my_data_with_nothing_stored_says_so(local: Local) -> None:
    wipe_table()
    answer = Alexa(local.stack).custom(
        envelopes.intent("DeleteMyData", token=None, user=HOUSEMATE, confirmation="CONFIRMED")
    )
    assert rendered("delete_nothing") in speech(answer)
    assert table_items() == []


# --- the retention job ------------------------------------------------------------------------------


def test_the_grace_period_is_a_setting_of_24_hours_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOSI_UNIDENTIFIED_LINK_GRACE_HOURS", raising=False)
    warm.reset()
    assert config.settings().unidentified_link_grace_hours == config.UNIDENTIFIED_LINK_GRACE_HOURS == 24
    monkeypatch.setenv("ZOSI_UNIDENTIFIED_LINK_GRACE_HOURS", "2")
    warm.reset()
    assert config.settings().unidentified_link_grace_hours == 2
    warm.reset()


def test_retention_erases_a_lone_unidentified_link_after_its_grace_period(local: Local) -> None:
    wipe_table()
    alexa = Alexa(local.stack)
    alexa.link_at_accloud("alice")
    alexa.accept_grant("alice")  # X: a grant, never a SkillAccountLinked
    alexa.discover("alice")
    user_key = alexa.user_key("alice")
    tokens = _grant_tokens(user_key)
    local.stack.gateway.clear()
    local.capture.clear()
    now = datetime.now(UTC)

    assert retention.run(now=now + timedelta(hours=23))["unidentified_links_erased"] == 0
    assert partition(user_key) != []

    result = retention.run(now=now + timedelta(hours=25))

    assert result["unidentified_links_erased"] == 1 and result["accounts_erased"] == 1
    assert partition(user_key) == []
    household = Household(alexa, user_key, tokens, [])
    assert household.reported_links() == list(tokens)  # X may still show the cameras: told first
    (record,) = local.capture.erasure_records()
    assert (record["trigger"], record["scope"], record["delete_report"]) == (
        "unidentified_link",
        "account",
        True,
    )


def test_retention_erases_only_the_unidentified_link_while_an_identified_one_stays(local: Local) -> None:
    household, links = _set_up(local, unidentified=True, housemate=False)

    result = retention.run(now=datetime.now(UTC) + timedelta(hours=25))

    assert result["unidentified_links_erased"] == 1 and result["accounts_erased"] == 0
    assert household.link_keys() == {links["A"]}
    assert {i["sk"]["S"] for i in partition(household.user_key)} == {
        i["sk"]["S"] for i in household.rows_before if not i["sk"]["S"].endswith(links["X"])
    }
    assert household.reported_links() == [links["X"]]


# --- the voice deadline -----------------------------------------------------------------------------

SLOW_STORE_SECONDS = 1.2  # per DynamoDB call: the erasure needs more than Alexa's 8 s


def test_a_slow_erasure_answers_in_time_says_it_has_started_and_then_finishes(local: Local) -> None:
    from models.items import ErasureFence
    from tests.reliability.harness import DynamoFaults

    household, links = _set_up(local, unidentified=True, housemate=False)
    fence = table.fence_key(household.user_key)

    with DynamoFaults(delay=SLOW_STORE_SECONDS).installed() as slow:
        started = time.monotonic()
        answer = household.alexa.intent("alice", "DeleteMyData", confirmation="CONFIRMED")
        answered_after = time.monotonic() - started
        calls_by_then = slow.total

        # In time for Alexa, and true: the erasure is under way (its fence is up), not finished.
        assert answered_after < 8.0
        assert rendered("delete_started") in speech(answer)
        assert answer["response"]["card"]["title"] == rendered("delete_started_card_title")
        assert ErasureFence.get(fence, ErasureFence.sort_key()).state == "erasing"

        # It goes on after the answer and finishes.
        for _ in range(100):
            if not partition(household.user_key):
                break
            time.sleep(0.2)
    assert partition(household.user_key) == []
    assert slow.total > calls_by_then  # it did go on after the answer
    assert sorted(household.reported_links()) == sorted([links["X"], links["A"]])
    for _ in range(50):  # the fence is completed last
        if ErasureFence.get(fence, ErasureFence.sort_key()).state == "erased":
            break
        time.sleep(0.2)
    assert ErasureFence.get(fence, ErasureFence.sort_key()).state == "erased"
    (record,) = local.capture.erasure_records()
    assert (record["scope"], record["delete_report"]) == ("account", True)
