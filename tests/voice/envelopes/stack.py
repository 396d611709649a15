"""Fixtures for custom-side tests: the reference ACCloud on loopback, moto with the table, the Lambda.

Import the fixtures into a test module (``from tests.voice.envelopes.stack import ...``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import lambda_handler
from devstack.accloud import AccloudServer
from devstack.demo_data import demo_seed
from skill import warm
from tests.voice.envelopes import SKILL_ID

POLICY_VERSION = "2024-05-01"


@pytest.fixture(scope="module")
def accloud_server() -> Iterator[AccloudServer]:
    with AccloudServer(demo_seed()) as server:
        yield server


@pytest.fixture
def voice_stack(
    accloud_server: AccloudServer, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> AccloudServer:
    """Seeded ACCloud, moto (``aws_env``: secrets, KMS key, table), skill id and policy set, caches clean."""

    accloud_server.reset()
    monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", accloud_server.base_url)
    monkeypatch.setenv("ZOSI_LOCAL_MODE", "1")
    monkeypatch.setenv("ZOSI_ACCLOUD_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("ZOSI_ACCLOUD_READ_TIMEOUT", "1.0")
    monkeypatch.setenv("ZOSI_SKILL_ID", SKILL_ID)
    monkeypatch.setenv("ZOSI_POLICY_VERSION", POLICY_VERSION)
    monkeypatch.setenv("ZOSI_POLICY_URL", "https://www.zositech.com/privacy-policy?lang=x&v=2")
    warm.reset()
    return accloud_server


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """Through the real Lambda entry point."""
    answer: dict[str, Any] = lambda_handler.handler(event, None)
    return answer


def table_items() -> list[dict[str, Any]]:
    """Every item in the table (raw DynamoDB JSON), for "nothing of that user is left" assertions."""
    from skill import aws
    from skill.config import settings

    client = aws.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": settings().table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def partition(user_key: str) -> list[dict[str, Any]]:
    return [item for item in table_items() if item["pk"]["S"] == user_key]
