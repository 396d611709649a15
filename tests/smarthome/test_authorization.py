"""AcceptGrant: the grant code is exchanged with Login with Amazon and stored encrypted, or the
answer is ACCEPT_GRANT_FAILED, never a false success; nothing is stored on failure."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from models import store
from skill import aws
from skill.local.lwa_server import LwaServer
from skill.privacy import pseudonyms
from skill.proactive import grants
from tests.smarthome.conftest import invoke


@pytest.fixture
def lwa_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LwaServer]:
    from tests.conftest import reset_caches

    with LwaServer() as server:
        monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", server.token_url)
        reset_caches()
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


def test_grant_is_exchanged_and_stored_encrypted(accloud, lwa_server, alexa_schema) -> None:
    issued = accloud.issue_token("alice")
    answer = invoke(accept_grant(lwa_server.issue_grant_code(), issued["access_token"]), alexa_schema)
    assert answer["event"]["header"]["name"] == "AcceptGrant.Response"
    assert answer["event"]["payload"] == {}
    assert lwa_server.exchange_count == 1

    user_key = pseudonyms.user_key(accloud.user_id("alice"))
    (link,) = store.links_of(user_key)
    assert link.region == "NA"
    token = grants.valid_access_token(user_key, link.link_key)
    assert token and token.startswith("Atza|") and lwa_server.is_valid_access_token(token)
    dumped = table_dump()
    assert token not in dumped and "Atzr|" not in dumped and issued["access_token"] not in dumped
    assert store.get_profile(user_key) is not None


@pytest.mark.parametrize(
    ("case", "setup"),
    [
        (
            "expired code",
            lambda accloud, lwa: (lwa.advance(301), lwa.issue_grant_code())[1] if False else None,
        ),
        ("reused code", None),
        ("LWA down", lambda accloud, lwa: lwa.fail_next(503, times=3)),
        ("LWA rejects the client", lambda accloud, lwa: lwa.fail_next(401, "invalid_client")),
        ("ACCloud token invalid", lambda accloud, lwa: accloud.set_fault("invalid_token")),
        ("ACCloud down", lambda accloud, lwa: accloud.set_fault("status", 503)),
    ],
)
def test_every_failure_is_accept_grant_failed_and_stores_nothing(
    accloud, lwa_server, alexa_schema, case, setup
):
    token = accloud.issue_token("alice")["access_token"]
    code = lwa_server.issue_grant_code()
    if case == "expired code":
        lwa_server.advance(lwa_server.code_ttl + 1)
    elif case == "reused code":
        invoke(accept_grant(code, token), alexa_schema)
        store.erase_user(pseudonyms.user_key(accloud.user_id("alice")))
    else:
        setup(accloud, lwa_server)
    try:
        answer = invoke(accept_grant(code, token), alexa_schema)
    finally:
        accloud.clear_faults()
    assert answer["event"]["header"]["namespace"] == "Alexa.Authorization"
    assert answer["event"]["header"]["name"] == "ErrorResponse"
    assert answer["event"]["payload"]["type"] == "ACCEPT_GRANT_FAILED"
    assert store.links_of(pseudonyms.user_key(accloud.user_id("alice"))) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"grant": {"type": "OAuth2.AuthorizationCode"}, "grantee": {"type": "BearerToken", "token": "t"}},
        {"grant": {"type": "Other", "code": "c"}, "grantee": {"type": "BearerToken", "token": "t"}},
        {"grant": {"type": "OAuth2.AuthorizationCode", "code": "c"}},
        {},
    ],
)
def test_malformed_grants(accloud, lwa_server, alexa_schema, payload) -> None:
    event = accept_grant("c", "t")
    event["directive"]["payload"] = payload
    answer = invoke(event, alexa_schema)
    assert answer["event"]["payload"]["type"] == "ACCEPT_GRANT_FAILED"
    assert lwa_server.exchange_count == 0


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

    from skill.local import demo_data

    accloud.remove_device(demo_data.GARAGE)
    discover(token, alexa_schema)
    assert found["Garage"]["endpointId"] not in store.endpoint_index(user_key)
