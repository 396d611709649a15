"""Smart-home tests run the real handler against the reference ACCloud server on loopback.

Directives are built by devstack/directives.py; ``invoke`` is the one place an answer is checked
against the schema, and the case runner (test_cases.py) uses it too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import lambda_handler
from devstack import directives
from devstack.accloud import AccloudServer
from devstack.demo_data import demo_seed
from devstack.lwa_server import LwaServer
from skill import warm
from tests.alexa_schema import AlexaSchema
from tests.smarthome.canned import CannedServer


@pytest.fixture(scope="session")
def accloud_server() -> Iterator[AccloudServer]:
    with AccloudServer(demo_seed()) as server:
        yield server


@pytest.fixture
def accloud(accloud_server: AccloudServer, aws_env, monkeypatch: pytest.MonkeyPatch) -> AccloudServer:
    """A clean reference ACCloud (seed state, no faults) the handler is configured to use."""

    accloud_server.reset()
    monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", accloud_server.base_url)
    monkeypatch.setenv("ZOSI_LOCAL_MODE", "1")
    monkeypatch.setenv("ZOSI_ACCLOUD_READ_TIMEOUT", "0.6")
    monkeypatch.setenv("ZOSI_ACCLOUD_CONNECT_TIMEOUT", "0.5")
    warm.reset()
    return accloud_server


@pytest.fixture(scope="module")
def canned_server() -> Iterator[CannedServer]:
    """A loopback server answering every request with one fixed answer (tests/smarthome/canned.py)."""
    with CannedServer() as server:
        yield server


@pytest.fixture
def lwa_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LwaServer]:
    """The LWA stand-in as the skill's token URL."""
    with LwaServer() as server:
        monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", server.token_url)
        warm.reset()
        yield server


@pytest.fixture
def tokens(accloud: AccloudServer) -> dict[str, str]:
    return {user: accloud.issue_token(user)["access_token"] for user in ("alice", "bob")}


def invoke(event: dict[str, Any], schema: AlexaSchema, payload_version: str = "3") -> dict[str, Any]:
    """Run the Lambda entry point and insist the answer is valid Alexa: schema, the correlationToken
    echoed, the payloadVersion, a UUID4 messageId."""
    answer = lambda_handler.handler(event, None)
    schema.assert_valid(answer)
    header = answer["event"]["header"]
    sent = (event.get("directive") or {}).get("header") if isinstance(event.get("directive"), dict) else None
    if isinstance(sent, dict) and "correlationToken" in sent:
        assert header["correlationToken"] == sent["correlationToken"]
    assert header["payloadVersion"] == payload_version
    uuid.UUID(header["messageId"], version=4)
    return answer


def discover(token: str, schema: AlexaSchema) -> dict[str, dict[str, Any]]:
    """Discovery as Alexa would run it: friendlyName -> endpoint."""
    answer = invoke(directives.discover(token), schema)
    return {e["friendlyName"]: e for e in answer["event"]["payload"]["endpoints"]}
