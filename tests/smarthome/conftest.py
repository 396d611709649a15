"""Smart-home tests run the real handler against the reference ACCloud server on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import lambda_handler
from devstack.accloud import AccloudServer
from devstack.demo_data import demo_seed
from skill import warm


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


@pytest.fixture
def tokens(accloud: AccloudServer) -> dict[str, str]:
    return {user: accloud.issue_token(user)["access_token"] for user in ("alice", "bob")}


def directive(
    namespace: str,
    name: str,
    token: str | None,
    *,
    endpoint_id: str | None = None,
    cookie: dict[str, str] | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    header = {"namespace": namespace, "name": name, "payloadVersion": "3", "messageId": str(uuid.uuid4())}
    body: dict[str, Any] = {"header": header, "payload": dict(payload or {})}
    if namespace == "Alexa.Discovery":
        body["payload"]["scope"] = {"type": "BearerToken", "token": token}
    else:
        header["correlationToken"] = "corr-" + uuid.uuid4().hex
        body["endpoint"] = {
            "scope": {"type": "BearerToken", "token": token},
            "endpointId": endpoint_id,
            "cookie": cookie or {},
        }
    return {"directive": body}


def invoke(event: dict[str, Any], schema) -> dict[str, Any]:
    """Run the Lambda entry point and insist the answer is valid Alexa."""
    answer = lambda_handler.handler(event, None)
    schema.assert_valid(answer)
    header = answer["event"]["header"]
    sent = (event.get("directive") or {}).get("header") or {}
    if "correlationToken" in sent:
        assert header["correlationToken"] == sent["correlationToken"]
    assert header["payloadVersion"] == "3"
    uuid.UUID(header["messageId"], version=4)
    return answer


def discover(token: str, schema) -> dict[str, dict[str, Any]]:
    """Discovery as Alexa would run it: friendlyName -> endpoint."""
    answer = invoke(directive("Alexa.Discovery", "Discover", token), schema)
    return {e["friendlyName"]: e for e in answer["event"]["payload"]["endpoints"]}
