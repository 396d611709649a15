"""AcceptGrant: the grant code is exchanged with Login with Amazon and stored encrypted, or the
answer is ACCEPT_GRANT_FAILED, never a false success; nothing is stored on failure."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

import lambda_handler
from devstack.lwa_server import LwaServer
from models import store
from skill import aws, warm
from skill.amazon import grants
from skill.privacy import pseudonyms
from tests.reliability.harness import CONDITION_FAILED, THROUGHPUT_EXCEEDED, DynamoFaults
from tests.smarthome.conftest import invoke


@pytest.fixture
def lwa_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LwaServer]:
    from skill import warm

    with LwaServer() as server:
        monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", server.token_url)
        warm.reset()
        yield server


def accept_grant(code: str, token: str) -> dict:
    return {
        "directive": {
            "header": {
                "namespace": "Alexa.Authorization",
                "name": "AcceptGrant",
                "messageId": str(uuid.uuid4()),
                "payloadVersion": "3",
            },
            "payload": {
                "grant": {"type": "OAuth2.AuthorizationCode", "code": code},
                "grantee": {"type": "BearerToken", "token": token},
            },
        }
    }


def table_dump() -> str:
    from skill.config import settings

    items = aws.client("dynamodb").scan(TableName=settings().table_name)["Items"]
    return json.dumps(items, default=str)


def table_items() -> list[dict]:
    from skill.config import settings

    return aws.client("dynamodb").scan(TableName=settings().table_name, ConsistentRead=True)["Items"]


def _accept_grant_under(faults: DynamoFaults, accloud, lwa_server, alexa_schema) -> dict:
    event = accept_grant(lwa_server.issue_grant_code(), accloud.issue_token("alice")["access_token"])
    with faults.installed():
        answer = invoke(event, alexa_schema)  # schema-valid, whatever failed
    return answer


@pytest.mark.parametrize("error", [THROUGHPUT_EXCEEDED, CONDITION_FAILED])
@pytest.mark.parametrize("profile_before", [False, True], ids=["first grant", "grant again"])
def test_a_failure_on_any_dynamodb_call_stores_nothing(
    accloud, lwa_server, alexa_schema, error, profile_before
) -> None:
    """Each DynamoDB call of AcceptGrant fails in turn (that call and every later one): the answer is
    ACCEPT_GRANT_FAILED and the table holds exactly what it held before - no grant without a profile."""
    user_key = pseudonyms.user_key(accloud.user_id("alice"))
    clean = DynamoFaults()
    assert _accept_grant_under(clean, accloud, lwa_server, alexa_schema)["event"]["header"]["name"] == (
        "AcceptGrant.Response"
    )
    assert clean.calls == {"TransactWriteItems": 1}  # grant, link and profile: one round trip
    if not profile_before:
        store.erase_user(user_key)
    before = sorted(json.dumps(item, sort_keys=True, default=str) for item in table_items())

    for failing in range(1, clean.total + 1):
        faults = DynamoFaults(error=error, skip=failing - 1)
        answer = _accept_grant_under(faults, accloud, lwa_server, alexa_schema)
        assert faults.failed >= 1, f"call {failing} did not fail"
        assert answer["event"]["header"]["name"] == "ErrorResponse", f"call {failing} failed"
        assert answer["event"]["payload"]["type"] == "ACCEPT_GRANT_FAILED"
        after = sorted(json.dumps(item, sort_keys=True, default=str) for item in table_items())
        assert after == before, f"call {failing} failing left a change behind"


def test_granting_again_keeps_the_consent_record_and_records_activity(
    accloud, lwa_server, alexa_schema
) -> None:
    user_key = pseudonyms.user_key(accloud.user_id("alice"))
    token = accloud.issue_token("alice")["access_token"]
    invoke(accept_grant(lwa_server.issue_grant_code(), token), alexa_schema)
    first = store.get_profile(user_key)
    time.sleep(0.01)
    invoke(accept_grant(lwa_server.issue_grant_code(), token), alexa_schema)
    again = store.get_profile(user_key)
    assert first is not None and again is not None
    assert (again.consented_at, again.linked_at) == (first.consented_at, first.linked_at)
    assert again.accepted_policy_version == first.accepted_policy_version
    assert again.last_active_at > first.last_active_at


def test_the_grant_records_the_policy_version_the_environment_sets(
    accloud, lwa_server, alexa_schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How a test changes a setting (docs/architecture.md, "Configuration: one way"): the
    # environment, then the warm reset; handlers read skill.config.settings(), not their context.
    monkeypatch.setenv("ZOSI_POLICY_VERSION", "2031-02-03")
    warm.reset()
    token = accloud.issue_token("alice")["access_token"]
    invoke(accept_grant(lwa_server.issue_grant_code(), token), alexa_schema)
    profile = store.get_profile(pseudonyms.user_key(accloud.user_id("alice")))
    assert profile is not None and profile.accepted_policy_version == "2031-02-03"


class LambdaContext:
    """Lambda's ``context`` with a fixed time left (the directive's budget is taken from it once)."""

    aws_request_id = "test-accept-grant"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def silent_lwa(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An LWA token URL whose socket takes the connection (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/auth/o2/token"


# case -> (Lambda time left in ms, how LWA behaves). A 2 s Lambda remainder leaves the directive
# 1.5 s (skill/smarthome/context.py): less than LWA's own 2 s read timeout, so only a call clipped to
# the deadline answers in time; 1.4 s leaves 0.9 s, less than storing the grant needs, so LWA is not
# even asked.
SLOW_LWA: dict[str, tuple[int, str]] = {
    "LWA answers after the deadline": (2000, "late"),
    "LWA takes the connection and never answers": (2000, "silent"),
    "no time left to exchange the code": (1400, "prompt"),
}


@pytest.mark.parametrize(("remaining_ms", "lwa_behaviour"), SLOW_LWA.values(), ids=SLOW_LWA.keys())
def test_a_slow_lwa_still_fails_the_grant_before_the_deadline(
    accloud, lwa_server, silent_lwa, alexa_schema, monkeypatch, remaining_ms, lwa_behaviour
) -> None:
    token = accloud.issue_token("alice")["access_token"]
    event = accept_grant(lwa_server.issue_grant_code(), token)
    if lwa_behaviour == "late":
        lwa_server.delay_seconds = 2.5  # beyond LWA's fixed 2 s read timeout too
    elif lwa_behaviour == "silent":
        monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", silent_lwa)
        warm.reset()
    deadline = remaining_ms / 1000 - 0.5  # what skill/smarthome/context.py budgets from it

    started = time.monotonic()
    answer = lambda_handler.handler(event, LambdaContext(remaining_ms))
    elapsed = time.monotonic() - started

    alexa_schema.assert_valid(answer)
    assert answer["event"]["header"]["name"] == "ErrorResponse"
    assert answer["event"]["payload"]["type"] == "ACCEPT_GRANT_FAILED"
    # The exchange gets the time left minus a 1 s reserve for storing: a wide margin to the deadline.
    assert elapsed < deadline, f"answered after {elapsed:.2f} s, deadline {deadline:.2f} s"
    assert store.links_of(pseudonyms.user_key(accloud.user_id("alice"))) == []
    assert store.get_profile(pseudonyms.user_key(accloud.user_id("alice"))) is None
    if lwa_behaviour == "prompt":
        assert lwa_server.counts.total() == 0


def test_two_alexa_accounts_on_one_zosi_account_get_two_links(accloud, lwa_server, alexa_schema) -> None:
    for _ in range(2):
        token = accloud.issue_token("alice")["access_token"]
        invoke(accept_grant(lwa_server.issue_grant_code(), token), alexa_schema)
    links = store.links_of(pseudonyms.user_key(accloud.user_id("alice")))
    assert len(links) == 2
    assert all(grants.valid_access_token(link.pk, link.link_key) for link in links)


def test_discovery_keeps_the_endpoint_index_of_linked_accounts(accloud, lwa_server, alexa_schema) -> None:
    from tests.smarthome.conftest import discover

    token = accloud.issue_token("alice")["access_token"]
    bob = accloud.issue_token("bob")["access_token"]
    discover(bob, alexa_schema)  # bob never granted anything: nothing is stored about him
    assert store.export_user(pseudonyms.user_key(accloud.user_id("bob"))) == []

    invoke(accept_grant(lwa_server.issue_grant_code(), token), alexa_schema)
    found = discover(token, alexa_schema)
    user_key = pseudonyms.user_key(accloud.user_id("alice"))
    index = store.endpoint_index(user_key)
    assert set(index) == {e["endpointId"] for e in found.values()}
    assert index[found["Front Door"]["endpointId"]].categories == ("CAMERA", "DOORBELL")

    from devstack import demo_data

    accloud.remove_device(demo_data.GARAGE)
    discover(token, alexa_schema)
    assert found["Garage"]["endpointId"] not in store.endpoint_index(user_key)
