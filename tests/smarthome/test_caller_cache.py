"""The warm container's token -> caller cache across directives: a warm stream directive costs one
ACCloud call, and only ACCloud's own auth failure (never an outage) forgets the cached caller.

Multi-step, so not rows of the case tables (tests/smarthome/cases/); every answer is schema-checked.
"""

from __future__ import annotations

import pytest

from devstack import directives
from tests.smarthome.canned import Canned, bearer, html
from tests.smarthome.cases.camera_stream import (
    INVALID,
    OUTAGE,
    STREAM_REQUEST,
    TOKEN_UNKNOWN,
    UNKNOWN_CHALLENGE,
)
from tests.smarthome.conftest import discover, invoke


def test_warm_stream_directive_makes_one_accloud_call(accloud, tokens, alexa_schema) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    event = directives.initialize_streams(tokens["alice"], endpoint, STREAM_REQUEST)
    invoke(event, alexa_schema)  # the token is now cached from discovery as well
    accloud.reset_request_counts()
    invoke(event, alexa_schema)
    assert sum(accloud.request_counts().values()) == 1


def point_accloud_at(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a changed DNS answer or a WAF in front of ACCloud does: the settings are read again,
    the warm container's token -> caller cache stays."""
    from skill import warm

    monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", base_url)
    warm.reset(keep=("skill.cloud.users.",))


@pytest.mark.parametrize(
    ("answer", "forgotten"),
    [
        (html(403), False),
        (Canned(401), False),
        (bearer(401, UNKNOWN_CHALLENGE, TOKEN_UNKNOWN), True),
    ],
    ids=["403 HTML page", "401 empty", "401 Bearer invalid_token"],
)
def test_only_an_auth_failure_forgets_the_cached_caller(
    accloud, canned_server, tokens, alexa_schema, monkeypatch, answer, forgotten
) -> None:
    """A warm stream directive resolves its caller from the cache; an outage must not drop it, or
    every user would cost an extra ACCloud call (and face the outage twice) right after it."""
    endpoint = discover(tokens["alice"], alexa_schema)["Garage"]  # caches alice's token
    canned_server.answer = answer
    point_accloud_at(canned_server.base_url, monkeypatch)
    refused = invoke(directives.initialize_streams(tokens["alice"], endpoint), alexa_schema)
    assert refused["event"]["payload"]["type"] == (INVALID if forgotten else OUTAGE)

    point_accloud_at(accloud.base_url, monkeypatch)
    accloud.reset_request_counts()
    streamed = invoke(directives.initialize_streams(tokens["alice"], endpoint), alexa_schema)
    assert streamed["event"]["header"]["name"] == "Response"
    assert accloud.request_counts().get("GET /v1/me", 0) == (1 if forgotten else 0)
