"""Alexa Skill Events end to end: lambda_handler.handler -> skill.voice.skill_events -> ACCloud + moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.accloud import AccloudServer
from models import store
from skill.privacy import pseudonyms
from skill.voice import dispatch
from tests.voice.envelopes import ALEXA_USER, OTHER_ALEXA_USER, REPO_ROOT, SKILL_ID, skill_event, stack
from tests.voice.envelopes.stack import POLICY_VERSION, invoke, partition, table_items

accloud_server = stack.accloud_server
voice_stack = stack.voice_stack

MINIMAL = {"version": "1.0", "response": {}}
EVENTS_SCOPE = {"scope": "alexa::async_event:write"}
WRONG_SKILL = "amzn1.ask.skill.22222222-2222-2222-2222-222222222222"


def token_for(server: AccloudServer, username: str) -> str:
    token: str = server.issue_token(username)["access_token"]
    return token


def user_key(server: AccloudServer, username: str) -> str:
    return pseudonyms.user_key(server.user_id(username))


def account_linked(token: str, alexa_user: str = ALEXA_USER, **kwargs: Any) -> dict[str, Any]:
    return skill_event(
        "SkillAccountLinked", body={"accessToken": token}, token=token, user=alexa_user, **kwargs
    )


def disabled(alexa_user: str = ALEXA_USER, token: str | None = None) -> dict[str, Any]:
    return skill_event(
        "SkillDisabled",
        body={"userInformationPersistenceStatus": "NOT_PERSISTED"},
        token=token,
        user=alexa_user,
    )


def add_grant(key: str, link_key: str) -> None:
    store.save_grant(
        key, link_key, region="NA", ciphertext=b"\x01" * 64, expires_at=datetime.now(UTC) + timedelta(hours=1)
    )


def test_skill_enabled_stores_nothing(voice_stack: AccloudServer) -> None:
    assert invoke(skill_event("SkillEnabled")) == MINIMAL
    assert table_items() == []
    assert voice_stack.request_counts() == {}


def test_account_linked_records_the_keyed_alexa_user_and_consent(voice_stack: AccloudServer) -> None:
    token = token_for(voice_stack, "alice")
    assert invoke(account_linked(token)) == MINIMAL

    key = user_key(voice_stack, "alice")
    (link,) = store.links_of(key)
    assert link.alexa_user_key == pseudonyms.alexa_user_key(ALEXA_USER)
    assert link.region == "NA"
    assert link.has_grant is False
    profile = store.get_profile(key)
    assert profile is not None
    assert profile.accepted_policy_version == POLICY_VERSION
    assert profile.linked_at == profile.consented_at
    # Only keyed hashes: neither the Alexa userId nor any ACCloud id is stored.
    stored = repr(table_items())
    for raw in (ALEXA_USER, voice_stack.user_id("alice"), token):
        assert raw not in stored


@pytest.mark.parametrize(
    ("api_endpoint", "region"),
    [
        ("https://api.amazonalexa.com", "NA"),
        ("https://api.eu.amazonalexa.com", "EU"),
        ("https://api.fe.amazonalexa.com", "FE"),
        ("https://unknown.example", "NA"),  # the deployment's home region (us-east-1 in tests)
        ("https://API.EU.AMAZONALEXA.COM", "EU"),
        # No URL at all: urlsplit raised ValueError, so the link was never recorded and the failed
        # invocation made Alexa redeliver the event. The home region, like an unknown host.
        ("https://[api.eu.amazonalexa.com", "NA"),
        ("https://api.fe.amazonalexa.com]/", "NA"),
        ("https://api.eu.amazonalexa.com\uff03@evil.example", "NA"),  # fullwidth "#": NFKC makes it "#"
        ("", "NA"),
    ],
)
def test_account_linked_takes_the_region_from_the_api_endpoint(
    voice_stack: AccloudServer, api_endpoint: str, region: str
) -> None:
    event = account_linked(token_for(voice_stack, "alice"))
    event["context"]["System"]["apiEndpoint"] = api_endpoint
    invoke(event)
    (link,) = store.links_of(user_key(voice_stack, "alice"))
    assert link.region == region


def test_account_linked_keeps_an_existing_profile(voice_stack: AccloudServer) -> None:
    key = user_key(voice_stack, "alice")
    consented = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.put_profile(key, consented_at=consented, linked_at=consented, accepted_policy_version="2019-06-01")
    invoke(account_linked(token_for(voice_stack, "alice")))
    profile = store.get_profile(key)
    assert profile is not None
    assert (profile.consented_at, profile.accepted_policy_version) == (consented, "2019-06-01")


def test_account_linked_keeps_a_grant_that_arrived_first(voice_stack: AccloudServer) -> None:
    token = token_for(voice_stack, "alice")
    from skill.voice import identity

    ref = identity.link_of(identity.resolve_token(token))
    add_grant(ref.user_key, ref.link_key)  # AcceptGrant came before the skill event
    invoke(account_linked(token))
    link = store.get_link(ref.user_key, ref.link_key)
    assert (
        link is not None and link.has_grant and link.alexa_user_key == pseudonyms.alexa_user_key(ALEXA_USER)
    )


def test_relinking_the_same_alexa_account_drops_its_earlier_link(voice_stack: AccloudServer) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))
    invoke(account_linked(token_for(voice_stack, "alice")))  # a new OAuth grant: a new link_id
    links = store.links_of(user_key(voice_stack, "alice"))
    assert len(links) == 1
    assert len(store.find_links_by_alexa_user(pseudonyms.alexa_user_key(ALEXA_USER))) == 1


def test_account_linked_with_a_token_accloud_rejects_stores_nothing(voice_stack: AccloudServer) -> None:
    assert invoke(account_linked("not-a-real-token")) == MINIMAL
    assert table_items() == []


def test_account_linked_with_a_token_accloud_revoked_stores_nothing_though_the_container_knew_it(
    voice_stack: AccloudServer,
) -> None:
    from tests.voice.envelopes import intent

    token = token_for(voice_stack, "alice")
    assert invoke(intent("ListCameras", token=token))["response"]["outputSpeech"]  # the token is now cached
    voice_stack.revoke_all("alice")
    assert invoke(account_linked(token)) == MINIMAL
    assert table_items() == []


def test_linked_then_disabled_leaves_nothing_of_the_user(voice_stack: AccloudServer) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))
    bob = token_for(voice_stack, "bob")
    invoke(account_linked(bob, OTHER_ALEXA_USER))
    key = user_key(voice_stack, "alice")
    store.apply_endpoint_diff(key, upserts={"z1_endpointAAAAAAAA": store.EndpointRecord(("CAMERA",), "d")})
    bob_before = partition(user_key(voice_stack, "bob"))

    assert invoke(disabled()) == MINIMAL

    assert partition(key) == []
    assert store.find_links_by_alexa_user(pseudonyms.alexa_user_key(ALEXA_USER)) == []
    assert partition(user_key(voice_stack, "bob")) == bob_before


def test_disabling_one_of_two_alexa_accounts_keeps_the_other(voice_stack: AccloudServer) -> None:
    invoke(account_linked(token_for(voice_stack, "alice"), ALEXA_USER))
    invoke(account_linked(token_for(voice_stack, "alice"), OTHER_ALEXA_USER))
    key = user_key(voice_stack, "alice")
    assert len(store.links_of(key)) == 2

    invoke(disabled(ALEXA_USER))

    (remaining,) = store.links_of(key)
    assert remaining.alexa_user_key == pseudonyms.alexa_user_key(OTHER_ALEXA_USER)
    assert store.get_profile(key) is not None

    invoke(disabled(OTHER_ALEXA_USER))
    assert partition(key) == []


def test_disabled_finds_a_link_made_before_the_event_subscription_through_its_token(
    voice_stack: AccloudServer,
) -> None:
    token = token_for(voice_stack, "alice")
    from skill.voice import identity

    ref = identity.link_of(identity.resolve_token(token))
    store.upsert_link(ref.user_key, ref.link_key, region="NA")  # e.g. from AcceptGrant: no Alexa user key
    invoke(disabled(token=token))
    assert partition(ref.user_key) == []


def test_disabled_for_an_unknown_alexa_user_touches_nothing(voice_stack: AccloudServer) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))
    before = table_items()
    assert invoke(disabled(OTHER_ALEXA_USER)) == MINIMAL
    assert table_items() == before


def test_disabled_logs_an_erasure_record_without_personal_data(
    voice_stack: AccloudServer, caplog: pytest.LogCaptureFixture
) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))
    key = user_key(voice_stack, "alice")
    caplog.set_level("INFO")
    invoke(disabled())
    (record,) = [r for r in caplog.records if r.getMessage() == "erasure"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["trigger"] == "skill_disabled"
    assert fields["scope"] == "account"
    assert fields["items"] == 2  # profile + link
    assert fields["user"] == pseudonyms.log_key(key)
    datetime.fromisoformat(fields["erased_at"].replace("Z", "+00:00"))
    assert key not in repr(fields) and ALEXA_USER not in repr(fields)


@pytest.mark.parametrize("event_name", ["SkillPermissionChanged", "SkillPermissionAccepted"])
def test_withdrawn_event_permission_deletes_the_grant_only(
    voice_stack: AccloudServer, event_name: str
) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))
    key = user_key(voice_stack, "alice")
    (link,) = store.links_of(key)
    add_grant(key, link.link_key)
    before = {item["sk"]["S"] for item in partition(key)}

    body = {"acceptedPermissions": [{"scope": "alexa::profile:email:read"}]}
    assert invoke(skill_event(event_name, body=body)) == MINIMAL

    after = store.get_link(key, link.link_key)
    assert after is not None
    assert after.has_grant is False and after.events_permitted is False
    assert {item["sk"]["S"] for item in partition(key)} == before  # the link and profile stay


def test_granted_event_permission_is_recorded_and_the_grant_kept(voice_stack: AccloudServer) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))
    key = user_key(voice_stack, "alice")
    (link,) = store.links_of(key)
    add_grant(key, link.link_key)
    store.set_events_permitted(key, link.link_key, False)

    invoke(skill_event("SkillPermissionChanged", body={"acceptedPermissions": [EVENTS_SCOPE]}))

    after = store.get_link(key, link.link_key)
    assert after is not None and after.has_grant and after.events_permitted is True


def test_permission_change_of_another_alexa_user_touches_nothing(voice_stack: AccloudServer) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))
    key = user_key(voice_stack, "alice")
    (link,) = store.links_of(key)
    add_grant(key, link.link_key)
    before = table_items()
    invoke(skill_event("SkillPermissionChanged", body={"acceptedPermissions": []}, user=OTHER_ALEXA_USER))
    assert table_items() == before


@pytest.mark.parametrize(
    "make",
    [
        lambda token: account_linked(token, skill_id=WRONG_SKILL),
        lambda token: skill_event("SkillDisabled", skill_id=WRONG_SKILL),
        lambda token: skill_event(
            "SkillPermissionChanged", body={"acceptedPermissions": []}, skill_id=WRONG_SKILL
        ),
    ],
    ids=["account-linked", "disabled", "permission-changed"],
)
def test_an_event_for_another_skill_is_refused_and_changes_nothing(
    voice_stack: AccloudServer, make: Any
) -> None:
    invoke(account_linked(token_for(voice_stack, "bob")))
    key = user_key(voice_stack, "bob")
    (link,) = store.links_of(key)
    add_grant(key, link.link_key)
    before = table_items()
    token = token_for(voice_stack, "alice")
    voice_stack.reset_request_counts()
    with pytest.raises(dispatch.RequestRefused):
        invoke(make(token))
    assert table_items() == before
    assert voice_stack.request_counts() == {}


@pytest.mark.parametrize(
    "event",
    [
        skill_event("SkillProactiveSubscriptionChanged", body={"subscriptions": []}),
        {
            **skill_event("SkillDisabled"),
            "context": {"System": {"application": skill_event("x")["context"]["System"]["application"]}},
        },
        skill_event("SkillAccountLinked", body={}),
    ],
    ids=["unsubscribed-type", "no-user-id", "no-access-token"],
)
def test_events_that_cannot_be_acted_on_get_the_minimal_answer(
    voice_stack: AccloudServer, event: dict[str, Any]
) -> None:
    assert invoke(event) == MINIMAL
    assert table_items() == []


def test_a_storage_failure_fails_the_invocation_so_the_event_can_be_redelivered(
    voice_stack: AccloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke(account_linked(token_for(voice_stack, "alice")))

    def unavailable(alexa_user_key: str) -> list[Any]:
        raise store.StoreUnavailable("find_links_by_alexa_user failed: InternalServerError")

    monkeypatch.setattr(store, "find_links_by_alexa_user", unavailable)
    with pytest.raises(store.StoreUnavailable):
        invoke(disabled())


SKILL_EVENT_PROBE = """
import json, sys
import lambda_handler
answer = lambda_handler.handler(json.loads(sys.argv[1]), None)
loaded = sorted(m for m in sys.modules if m.startswith("ask_sdk"))
from skill.voice import dispatch
built_once = dispatch.voice_skill() is dispatch.voice_skill()
print(json.dumps({"answer": answer, "loaded_before": loaded, "built_once": built_once}))
"""


def test_skill_events_never_load_ask_sdk_and_the_voice_skill_is_built_once() -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "ZOSI_SKILL_ID": SKILL_ID, "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(  # noqa: S603  (this interpreter, our own probe)
        [sys.executable, "-c", SKILL_EVENT_PROBE, json.dumps(skill_event("SkillEnabled"))],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"answer": MINIMAL, "loaded_before": [], "built_once": True}
