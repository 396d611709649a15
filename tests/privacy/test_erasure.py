"""The one erasure path and the access export, on moto's DynamoDB and KMS (tests/conftest.py aws_env).

After every erasure: nothing of that user is left in the table, other users are untouched, and
one erasure record (pseudonymous key, trigger, scope, item count, time) is logged.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import erasure as models_erasure
from models import store
from models import table as models_table
from models.store import EndpointRecord, LinkRef
from skill.amazon import grants, lwa
from skill.privacy import access, erasure, pseudonyms
from skill.privacy.erasure import Trigger
from tests.voice.envelopes import intent, skill_event
from tests.voice.envelopes import stack as voice

pytestmark = pytest.mark.usefixtures("aws_env")

ACCESS_TOKEN = "Atza|access-token-that-must-never-show"
REFRESH_TOKEN = "Atzr|refresh-token-that-must-never-show"


def table() -> list[dict[str, Any]]:
    from skill import aws
    from skill.config import settings

    return aws.client("dynamodb").scan(TableName=settings().table_name, ConsistentRead=True)["Items"]


def fence_of(user_key: str) -> list[dict[str, Any]]:
    """The erasure fence an account erasure leaves outside the partition (models/fence.py)."""
    from models.items import FENCE_SK

    return [
        item
        for item in table()
        if item["sk"]["S"] == FENCE_SK and item["pk"]["S"] == models_table.fence_key(user_key)
    ]


def partition(user_key: str) -> list[dict[str, Any]]:
    return sorted((item for item in table() if item["pk"]["S"] == user_key), key=lambda item: item["sk"]["S"])


def populate(
    accloud_user: str, *, links: dict[str, str | None], endpoints: int, grant_on: str | None = None
) -> str:
    """A user as the skill leaves one: profile, links (link id -> Alexa user), endpoints, a session."""
    key = pseudonyms.user_key(accloud_user)
    now = datetime.now(UTC)
    store.put_profile(key, consented_at=now, linked_at=now, accepted_policy_version="2024-05-01")
    for link_id, alexa_user in links.items():
        store.upsert_link(
            key,
            pseudonyms.link_key(link_id),
            region="EU",
            alexa_user_key=pseudonyms.alexa_user_key(alexa_user) if alexa_user else None,
        )
    if grant_on is not None:
        tokens = lwa.LwaTokens(ACCESS_TOKEN, REFRESH_TOKEN, now + timedelta(hours=1))
        grants.store_grant(key, pseudonyms.link_key(grant_on), tokens, "EU")
    store.apply_endpoint_diff(
        key,
        upserts={
            pseudonyms.endpoint_id(accloud_user, f"dev_{n:04d}"): EndpointRecord(("CAMERA",), f"d{n}")
            for n in range(endpoints)
        },
    )
    return key


@pytest.fixture
def two_users() -> tuple[str, str]:
    alice = populate(
        "usr_alice",
        links={"lnk_a1": "amzn1.ask.account.A1", "lnk_a2": "amzn1.ask.account.A2"},
        endpoints=3,
        grant_on="lnk_a1",
    )
    bob = populate("usr_bob", links={"lnk_b1": "amzn1.ask.account.B1"}, endpoints=2, grant_on="lnk_b1")
    store.claim_event("evt_global_row", 600)
    return alice, bob


def erasure_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.getMessage() == "erasure"]  # type: ignore[attr-defined]


# --- whole account --------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", list(Trigger))
def test_erase_account_leaves_nothing_of_the_user_and_everything_of_others(
    two_users: tuple[str, str], trigger: Trigger, caplog: pytest.LogCaptureFixture
) -> None:
    alice, _ = two_users
    alice_items = len(partition(alice))
    others = [item for item in table() if item["pk"]["S"] != alice]
    caplog.set_level(logging.INFO)

    record = erasure.erase_account(alice, trigger, notify_alexa=lambda user_key: None)

    assert partition(alice) == []
    # Only the short-lived fence is new: it holds no id of alice (tests/models/test_erasure_fence.py).
    (fence,) = fence_of(alice)
    assert fence["state"] == {"S": "erased"} and alice not in repr(fence) and "usr_alice" not in repr(fence)
    assert sorted(map(repr, table())) == sorted(map(repr, [*others, fence]))
    assert (record.trigger, record.scope, record.items) == (trigger, "account", alice_items)
    assert record.user == pseudonyms.log_key(alice)
    (logged,) = erasure_records(caplog)
    assert logged["user"] == pseudonyms.log_key(alice)
    assert logged["trigger"] == trigger.value
    assert logged["items"] == alice_items
    assert abs(
        datetime.fromisoformat(logged["erased_at"].replace("Z", "+00:00")) - datetime.now(UTC)
    ) < timedelta(minutes=1)
    everything_logged = " ".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    for private in (alice, "usr_alice", "amzn1.ask.account", ACCESS_TOKEN):
        assert private not in everything_logged


def test_the_delete_report_goes_out_first_while_the_grant_still_exists(two_users: tuple[str, str]) -> None:
    alice, _ = two_users
    seen: list[tuple[str, bool]] = []

    def report(user_key: str) -> None:
        link = store.get_link(user_key, pseudonyms.link_key("lnk_a1"))
        seen.append((user_key, link is not None and link.has_grant))

    record = erasure.erase_account(alice, Trigger.OPERATOR_CLI, notify_alexa=report)
    assert seen == [(alice, True)]
    assert record.delete_report is True
    assert partition(alice) == []


def test_a_failing_delete_report_never_blocks_the_erasure(
    two_users: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    alice, _ = two_users

    def broken(user_key: str) -> None:
        raise ConnectionError("gateway unreachable")

    caplog.set_level(logging.INFO)
    record = erasure.erase_account(alice, Trigger.ACCLOUD_ACCOUNT_DELETED, notify_alexa=broken)
    assert record.delete_report is False
    assert partition(alice) == []
    assert erasure_records(caplog)[0]["delete_report"] is False


def test_a_missing_delete_report_sender_is_logged_where_the_skill_stays_enabled(
    two_users: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = two_users
    caplog.set_level(logging.INFO)
    assert erasure.erase_account(alice, Trigger.VOICE_DELETE_REQUEST).delete_report is None
    assert erasure.erase_account(bob, Trigger.SKILL_DISABLED).delete_report is None
    warnings = [r for r in caplog.records if r.getMessage() == "erasure without DeleteReport sender"]
    assert [w.fields["trigger"] for w in warnings] == ["voice_delete_request"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("trigger", "needed"),
    [
        (Trigger.VOICE_DELETE_REQUEST, True),
        (Trigger.OPERATOR_CLI, True),
        (Trigger.ACCLOUD_ACCOUNT_DELETED, True),
        (Trigger.SKILL_DISABLED, False),
        (Trigger.GATEWAY_SKILL_DISABLED, False),
        (Trigger.LWA_INVALID_GRANT, False),
        (Trigger.INACTIVITY, False),  # live view needs no stored data: Alexa keeps the cameras
    ],
)
def test_which_triggers_need_a_delete_report(trigger: Trigger, needed: bool) -> None:
    assert erasure.needs_delete_report(trigger) is needed


def test_erasing_an_empty_partition_records_zero_items(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    record = erasure.erase_account(pseudonyms.user_key("usr_nobody"), Trigger.INACTIVITY)
    assert record.items == 0
    assert erasure_records(caplog)[0]["items"] == 0


# --- one Alexa account's link --------------------------------------------------------------


def test_a_link_goes_alone_while_another_alexa_account_stays(two_users: tuple[str, str]) -> None:
    alice, bob = two_users
    bob_before = partition(bob)
    reported: list[str] = []

    first = erasure.erase_alexa_link(
        alice, pseudonyms.link_key("lnk_a1"), Trigger.SKILL_DISABLED, notify_alexa=reported.append
    )
    assert (first.scope, first.items) == ("link", 1)
    assert reported == []  # the endpoints stay for the other Alexa account: nothing to report
    remaining = {item["sk"]["S"] for item in partition(alice)}
    assert f"link#{pseudonyms.link_key('lnk_a2')}" in remaining
    assert f"link#{pseudonyms.link_key('lnk_a1')}" not in remaining
    assert "profile" in remaining

    last = erasure.erase_alexa_link(
        alice, pseudonyms.link_key("lnk_a2"), Trigger.GATEWAY_SKILL_DISABLED, notify_alexa=reported.append
    )
    assert last.scope == "account"
    assert reported == []  # that Alexa account disabled the skill, and no unidentified link went along
    assert partition(alice) == []
    assert partition(bob) == bob_before


class Reports:
    """A DeleteReport sender that records whom it was asked to tell (None: every link)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, frozenset[str] | None]] = []

    def __call__(self, user_key: str, *, only_links: frozenset[str] | None = None) -> None:
        self.calls.append((user_key, only_links))


def populate_with_unidentified(accloud_user: str) -> tuple[str, str, str]:
    """One identified link, one whose SkillAccountLinked never came (it holds the grant)."""
    user = populate(
        accloud_user,
        links={"lnk_known": "amzn1.ask.account.KNOWN", "lnk_unknown": None},
        endpoints=2,
        grant_on="lnk_unknown",
    )
    return user, pseudonyms.link_key("lnk_known"), pseudonyms.link_key("lnk_unknown")


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger.SKILL_DISABLED,
        Trigger.GATEWAY_SKILL_DISABLED,
        Trigger.ACCOUNT_RELINKED,
        Trigger.VOICE_DELETE_REQUEST,
    ],
)
def test_unidentified_links_go_with_the_last_identified_link(trigger: Trigger) -> None:
    user, known, unknown = populate_with_unidentified("usr_carol")
    reports = Reports()

    record = erasure.erase_alexa_link(user, known, trigger, notify_alexa=reports)

    assert record.scope == "account" and partition(user) == []
    # Where the skill stays enabled every link hears the DeleteReport; after a disable only the
    # unidentified link erased along (its Alexa account may still show the cameras).
    expected = None if erasure.needs_delete_report(trigger) else frozenset({unknown})
    assert reports.calls == [(user, expected)]


def test_a_link_whose_alexa_user_key_is_not_one_counts_as_unidentified() -> None:
    user, known, unknown = populate_with_unidentified("usr_dave")
    store.upsert_link(user, unknown, region="EU", alexa_user_key="amzn1.ask.account.RAW")  # not a key
    assert erasure.erase_alexa_link(user, known, Trigger.SKILL_DISABLED).scope == "account"
    assert partition(user) == []


def test_a_link_erased_alone_on_request_gets_its_own_delete_report(two_users: tuple[str, str]) -> None:
    alice, _ = two_users
    reports = Reports()
    record = erasure.erase_alexa_link(
        alice, pseudonyms.link_key("lnk_a1"), Trigger.VOICE_DELETE_REQUEST, notify_alexa=reports
    )
    assert (record.scope, record.items, record.links_staying, record.delete_report) == ("link", 1, 1, True)
    # Only the erased link's Alexa account is told: the other one keeps the cameras.
    assert reports.calls == [(alice, frozenset({pseudonyms.link_key("lnk_a1")}))]


def test_erase_alexa_user_finds_the_links_through_the_index(two_users: tuple[str, str]) -> None:
    alice, bob = two_users
    bob_before = partition(bob)
    records = erasure.erase_alexa_user(
        pseudonyms.alexa_user_key("amzn1.ask.account.A2"), Trigger.SKILL_DISABLED
    )
    assert [(r.scope, r.items) for r in records] == [("link", 1)]
    assert len(store.links_of(alice)) == 1
    assert partition(bob) == bob_before


def test_erase_alexa_user_spans_partitions_and_adds_links_known_otherwise(two_users: tuple[str, str]) -> None:
    alice, bob = two_users
    # The same Alexa account once linked Bob's ZOSI account too (a stale link).
    store.upsert_link(
        bob,
        pseudonyms.link_key("lnk_b_old"),
        region="EU",
        alexa_user_key=pseudonyms.alexa_user_key("amzn1.ask.account.A1"),
    )
    token_link = LinkRef(alice, pseudonyms.link_key("lnk_a2"))  # resolved from an access token
    records = erasure.erase_alexa_user(
        pseudonyms.alexa_user_key("amzn1.ask.account.A1"), Trigger.SKILL_DISABLED, also=[token_link]
    )
    assert sorted(r.scope for r in records) == ["account", "link"]
    assert partition(alice) == []
    assert [link.link_key for link in store.links_of(bob)] == [pseudonyms.link_key("lnk_b1")]


def test_a_partition_without_any_link_goes_whole(two_users: tuple[str, str]) -> None:
    orphan = pseudonyms.user_key("usr_orphan")
    store.apply_endpoint_diff(orphan, upserts={"z1_orphanendpoint": EndpointRecord(("CAMERA",), "d")})
    (record,) = erasure.erase_links(
        [LinkRef(orphan, pseudonyms.link_key("lnk_never_stored"))], Trigger.OPERATOR_CLI
    )
    assert (record.scope, record.items) == ("account", 1)
    assert partition(orphan) == []


# --- grant only -------------------------------------------------------------------------------


def test_erase_grant_keeps_the_link_and_stops_events(two_users: tuple[str, str]) -> None:
    alice, _ = two_users
    link_key = pseudonyms.link_key("lnk_a1")
    before = {item["sk"]["S"] for item in partition(alice)}

    record = erasure.erase_grant(alice, link_key, Trigger.PERMISSION_WITHDRAWN)

    link = store.get_link(alice, link_key)
    assert link is not None and not link.has_grant and link.events_permitted is False
    assert {item["sk"]["S"] for item in partition(alice)} == before
    assert (record.scope, record.items) == ("grant", 1)
    assert erasure.erase_grant(alice, link_key, Trigger.PERMISSION_WITHDRAWN).items == 0


def test_erase_grant_for_a_refresher_that_lost_its_lease_changes_nothing(two_users: tuple[str, str]) -> None:
    alice, _ = two_users
    link_key = pseudonyms.link_key("lnk_a1")
    record = erasure.erase_grant(alice, link_key, Trigger.LWA_INVALID_GRANT, lease_owner="someone-else")
    link = store.get_link(alice, link_key)
    assert record.items == 0
    assert link is not None and link.has_grant and link.events_permitted is True


# --- access -----------------------------------------------------------------------------------


def test_export_lists_everything_with_secrets_masked(two_users: tuple[str, str]) -> None:
    alice, _ = two_users
    exported = access.export(alice)
    assert exported["format"] == access.EXPORT_FORMAT
    assert exported["user_key"] == alice
    assert len(exported["items"]) == len(partition(alice)) == 6  # profile, 2 links, 3 endpoints
    kinds = sorted(item["kind"] for item in exported["items"])
    assert kinds == ["AccountLink"] * 2 + ["AccountProfile"] + ["EndpointEntry"] * 3
    text = repr(exported)
    assert ACCESS_TOKEN not in text and REFRESH_TOKEN not in text and "Atz" not in text
    granted = next(item for item in exported["items"] if "grant_ciphertext" in item)
    assert granted["grant_ciphertext"].startswith("<encrypted ")
    assert exported["summary"] == {
        "stored": True,
        "items": 6,
        "links": 2,
        "endpoints": 3,
        "grant": True,
        "events_permitted": True,
        "accepted_policy_version": "2024-05-01",
        "consented_at": next(i for i in exported["items"] if i["kind"] == "AccountProfile")["consented_at"],
    }


def test_summary_of_nothing_stored() -> None:
    assert access.summary(pseudonyms.user_key("usr_nobody")) == {
        "stored": False,
        "items": 0,
        "links": 0,
        "endpoints": 0,
        "grant": False,
        "events_permitted": False,
        "accepted_policy_version": None,
        "consented_at": None,
    }


def test_export_masks_a_secret_attribute_stored_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    leaked = [{"kind": "AccountLink", "pk": "u_x", "sk": "link#l_x", "grant_ciphertext": "plaintext?"}]
    monkeypatch.setattr(store, "export_user", lambda user_key: leaked)
    assert access.export("u_x")["items"][0]["grant_ciphertext"] == access.MASKED


# --- access through the operator CLI and the voice model (V.1) ------------------------------------


@pytest.fixture
def logging_restored() -> Any:
    """The CLI points the JSON log handler and the metric sink at its own stderr; put both back afterwards."""
    from skill import metrics
    from skill.privacy import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs._configured, metrics.sink)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logs._configured = saved[2]
    metrics.sink = saved[3]


def test_operator_export_prints_every_stored_item_with_secrets_masked(
    two_users: tuple[str, str], tmp_path: Any, capsys: pytest.CaptureFixture[str], logging_restored: None
) -> None:
    from devstack import cli

    alice, _ = two_users
    no_local_stack = tmp_path / "absent.env"  # the ambient (moto) environment, as in AWS
    status = cli.main(["--env-file", str(no_local_stack), "privacy", "export", "--accloud-user", "usr_alice"])
    printed = capsys.readouterr().out
    exported = json.loads(printed)

    assert status == 0
    stored = partition(alice)
    assert sorted((i["pk"], i["sk"]) for i in exported["items"]) == sorted(
        (i["pk"]["S"], i["sk"]["S"]) for i in stored
    )
    for item, raw in zip(
        sorted(exported["items"], key=lambda i: i["sk"]),
        sorted(stored, key=lambda i: i["sk"]["S"]),
        strict=True,
    ):
        assert set(item) - {"kind"} == set(raw)  # every stored attribute is shown
    masked = [i["grant_ciphertext"] for i in exported["items"] if "grant_ciphertext" in i]
    assert masked and all(value.startswith("<encrypted ") for value in masked)
    assert ACCESS_TOKEN not in printed and REFRESH_TOKEN not in printed and "Atz" not in printed
    assert exported["summary"] == access.summary(alice)


# PrivacyInfo runs against the reference ACCloud (fixtures shared with tests/voice).
accloud_server = voice.accloud_server
voice_stack = voice.voice_stack


def test_privacy_info_speaks_what_access_summary_reports(
    voice_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xml.etree.ElementTree as ElementTree

    from skill.voice import strings

    token = voice_stack.issue_token("alice")["access_token"]
    voice.invoke(skill_event("SkillAccountLinked", body={"accessToken": token}, token=token))
    key = pseudonyms.user_key(voice_stack.user_id("alice"))
    (link,) = store.links_of(key)
    grants.store_grant(
        key, link.link_key, lwa.LwaTokens(ACCESS_TOKEN, REFRESH_TOKEN, datetime.now(UTC)), "NA"
    )
    store.apply_endpoint_diff(
        key, upserts={f"z1_endpoint{n}": EndpointRecord(("CAMERA",), "d") for n in range(3)}
    )
    asked: list[str] = []
    summarize = access.summary

    def recording_summary(user_key: str) -> dict[str, Any]:
        asked.append(user_key)
        return summarize(user_key)

    monkeypatch.setattr(access, "summary", recording_summary)

    answer = voice.invoke(intent("PrivacyInfo", token=token))

    summary = summarize(key)
    assert asked == [key]  # the voice answer is read through the same code as the operator export
    assert (summary["links"], summary["endpoints"], summary["grant"]) == (1, 3, True)
    spoken = ElementTree.fromstring(answer["response"]["outputSpeech"]["ssml"]).text  # noqa: S314 (our output)
    assert spoken == strings.render(
        "en-US",
        "privacy_info",
        links=summary["links"],
        endpoints=summary["endpoints"],
        grant_state=strings.render("en-US", "privacy_grant_yes"),
        version=summary["accepted_policy_version"],
    )


# --- an erasure cut short -------------------------------------------------------------------------


def test_an_erasure_cut_short_after_its_first_batch_is_finished_by_the_retention_job(
    two_users: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from skill.privacy import retention

    alice, bob = two_users
    store.apply_endpoint_diff(
        alice,
        upserts={f"ep_extra_{n}": EndpointRecord(("CAMERA",), "d") for n in range(store.BATCH_WRITE_LIMIT)},
    )
    bob_before = partition(bob)
    batch_delete = models_erasure.batch_delete
    batches: list[int] = []

    def cut_short(keys: list[dict[str, Any]]) -> None:
        if batches:
            raise store.StoreUnavailable("erase_user failed: the invocation ran out of time")
        batches.append(len(keys))
        batch_delete(keys)

    monkeypatch.setattr(models_erasure, "batch_delete", cut_short)
    with pytest.raises(store.StoreUnavailable):
        erasure.erase_account(alice, Trigger.VOICE_DELETE_REQUEST)
    monkeypatch.setattr(models_erasure, "batch_delete", batch_delete)

    # The first batch took the links (with the grant) and the profile: nothing names anyone any more,
    # and the retention job recognises what is left.
    left = {item["sk"]["S"].split("#")[0] for item in partition(alice)}
    assert left == {"ep"}
    assert store.retention_census(datetime.now(UTC)).headless_partitions == (alice,)

    result = retention.run()

    assert result["accounts_erased"] == 1
    assert partition(alice) == [] and partition(bob) == bob_before
