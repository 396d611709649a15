"""Fixtures for the storage-level tests (models, amazon, privacy): moto (DynamoDB, KMS, Secrets
Manager) in-process, the LWA stand-in, a DynamoDB call counter. Each test package's conftest
imports the ones it uses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto import mock_aws

from devstack.lwa_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LwaServer
from skill import aws, warm
from tests.conftest import TEST_ENDPOINT_KEY, TEST_USER_HASH_KEY

TABLE_NAME = "zosi-storage-test"
PSEUDONYM_SECRET_ID = "test/pseudonym-keys"
LWA_SECRET_ID = "test/lwa-client"


@dataclass(frozen=True)
class Aws:
    kms_key_id: str
    kms_key_arn: str


@pytest.fixture
def aws_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """Fresh moto backends with the table, a KMS key and both secrets; every cache reset around the test."""
    from models.store import create_table_for_local

    monkeypatch.setenv("ZOSI_TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("ZOSI_PSEUDONYM_SECRET_ID", PSEUDONYM_SECRET_ID)
    monkeypatch.setenv("ZOSI_LWA_SECRET_ID", LWA_SECRET_ID)
    warm.reset()
    with mock_aws():
        key = aws.client("kms").create_key(Description="zosi test")["KeyMetadata"]
        monkeypatch.setenv("ZOSI_KMS_KEY_ID", key["KeyId"])
        manager = aws.client("secretsmanager")
        manager.create_secret(
            Name=PSEUDONYM_SECRET_ID,
            SecretString=json.dumps({"user_hash_key": TEST_USER_HASH_KEY, "endpoint_key": TEST_ENDPOINT_KEY}),
        )
        manager.create_secret(
            Name=LWA_SECRET_ID,
            SecretString=json.dumps({"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}),
        )
        warm.reset()
        create_table_for_local()
        yield Aws(kms_key_id=key["KeyId"], kms_key_arn=key["Arn"])
    warm.reset()


@pytest.fixture
def lwa_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[LwaServer]:
    """The LWA stand-in, configured as the skill's token URL (local mode allows http to loopback)."""
    with LwaServer() as server:
        monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", server.token_url)
        monkeypatch.setenv("ZOSI_LOCAL_MODE", "1")
        warm.reset()
        yield server
    warm.reset()


class DynamoCalls:
    """DynamoDB operations made through pynamodb, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.operations: list[str] = []

    def record(self, operation: str) -> None:
        with self._lock:
            self.operations.append(operation)

    def clear(self) -> None:
        with self._lock:
            self.operations.clear()


@pytest.fixture
def dynamo_calls(monkeypatch: pytest.MonkeyPatch) -> DynamoCalls:
    """Counts real DynamoDB round trips by wrapping pynamodb's single point of dispatch."""
    from pynamodb.connection.base import Connection

    calls = DynamoCalls()
    original = Connection._make_api_call

    def counting(self: Connection, operation_name: str, operation_kwargs: dict) -> dict:
        calls.record(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    return calls


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialize moto's request handling: DynamoDB applies a conditional write atomically, moto's
    in-process backend does not guarantee that between threads."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def serialized(self: BotocoreStubber, request):
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", serialized)
