"""Alexa.Authorization.AcceptGrant: the grant code is exchanged with Login with Amazon and stored
encrypted, or the answer is ACCEPT_GRANT_FAILED, never a false success; nothing is stored on failure.
The DynamoDB failure walk, the deadline cases and the multi-step ones stay in test_authorization.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.smarthome.cases import Case, Expect, Send, World

NAMESPACE = "Alexa.Authorization"
LWA = frozenset({"lwa"})


def lwa(world: World) -> Any:
    assert world.lwa is not None
    return world.lwa


def user_key(world: World) -> str:
    from skill.privacy import pseudonyms

    return pseudonyms.user_key(world.accloud.user_id("alice"))


def table_items() -> list[dict[str, Any]]:
    from skill import aws
    from skill.config import settings

    items: list[dict[str, Any]] = aws.client("dynamodb").scan(
        TableName=settings().table_name, ConsistentRead=True
    )["Items"]
    return items


def grant(code: str) -> dict[str, Any]:
    return {"grant": {"type": "OAuth2.AuthorizationCode", "code": code}}


def new_code(world: World) -> dict[str, Any]:
    return grant(lwa(world).issue_grant_code())


def expired_code(world: World) -> dict[str, Any]:
    code = lwa(world).issue_grant_code()
    lwa(world).advance(lwa(world).code_ttl + 1)
    return grant(code)


def reused_code(world: World) -> dict[str, Any]:
    """A code already exchanged by an AcceptGrant whose user was erased since."""
    import lambda_handler
    from devstack import directives
    from models import store

    code = lwa(world).issue_grant_code()
    lambda_handler.handler(directives.accept_grant(world.tokens["alice"], code), None)
    store.erase_user(user_key(world))
    return grant(code)


def accept_grant(payload: Callable[[World], dict[str, Any]] | dict[str, Any] = new_code, **send: Any) -> Send:
    return Send(NAMESPACE, "AcceptGrant", payload=payload, **send)


def failed(check: Callable[[World], None] | None = None) -> Expect:
    return Expect("ErrorResponse", NAMESPACE, "ACCEPT_GRANT_FAILED", check=check)


def stores_nothing(world: World) -> None:
    from models import store

    assert store.links_of(user_key(world)) == []


def exchanged_and_stored_encrypted(world: World) -> None:
    from models import store
    from skill.amazon import grants

    assert world.answer["event"]["payload"] == {}
    assert lwa(world).exchange_count == 1
    (link,) = store.links_of(user_key(world))
    assert link.region == "NA"
    token = grants.valid_access_token(user_key(world), link.link_key)
    assert token and token.startswith("Atza|") and lwa(world).is_valid_access_token(token)
    dumped = json.dumps(table_items(), default=str)
    assert token not in dumped and "Atzr|" not in dumped and world.tokens["alice"] not in dumped
    assert store.get_profile(user_key(world)) is not None


def known_then_revoked(world: World) -> None:
    """The container's user cache knows the token (a discovery), then ACCloud revokes it."""
    from tests.smarthome.conftest import discover

    assert discover(world.tokens["alice"], world.schema)
    world.accloud.revoke_all("alice")


def refused_before_the_exchange(world: World) -> None:
    assert lwa(world).exchange_count == 0  # refused before the code was even exchanged
    assert table_items() == []


def never_exchanged(world: World) -> None:
    assert lwa(world).exchange_count == 0


FAILURES: dict[str, tuple[Callable[[World], dict[str, Any]], Callable[[World], object] | None]] = {
    "expired code": (expired_code, None),
    "reused code": (reused_code, None),
    "LWA down": (new_code, lambda world: lwa(world).fail_next(503, times=3)),
    "LWA rejects the client": (new_code, lambda world: lwa(world).fail_next(401, "invalid_client")),
    "ACCloud token invalid": (new_code, lambda world: world.accloud.set_fault("invalid_token")),
    "ACCloud down": (new_code, lambda world: world.accloud.set_fault("status", 503)),
}

MALFORMED = {
    "no code": {
        "grant": {"type": "OAuth2.AuthorizationCode"},
        "grantee": {"type": "BearerToken", "token": "t"},
    },
    "other grant type": {
        "grant": {"type": "Other", "code": "c"},
        "grantee": {"type": "BearerToken", "token": "t"},
    },
    "no grantee": {"grant": {"type": "OAuth2.AuthorizationCode", "code": "c"}},
    "empty payload": {},
}


def replace_payload(payload: dict[str, Any]) -> Callable[[dict[str, Any]], object]:
    return lambda e: e["directive"].update(payload=json.loads(json.dumps(payload)))


CASES = [
    Case(
        "grant exchanged and stored encrypted",
        accept_grant(),
        Expect("AcceptGrant.Response", NAMESPACE, check=exchanged_and_stored_encrypted),
        uses=LWA,
    ),
    *(
        Case(f"grant failed: {label}", accept_grant(payload), failed(stores_nothing), given=given, uses=LWA)
        for label, (payload, given) in FAILURES.items()
    ),
    Case(
        "a token ACCloud revoked creates no grant though the container knew it",
        accept_grant(),
        failed(refused_before_the_exchange),
        given=known_then_revoked,
        uses=LWA,
    ),
    *(
        Case(
            f"malformed grant: {label}",
            accept_grant(mutate=replace_payload(payload)),
            failed(never_exchanged),
            uses=LWA,
        )
        for label, payload in MALFORMED.items()
    ),
]
