"""Test-wide setup: no real AWS, fake credentials, the official Alexa schema as an oracle."""

from __future__ import annotations

import base64
import os

# Before anything imports botocore: never reach instance metadata or real AWS.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import pytest

from skill import warm
from tests.alexa_schema import AlexaSchema

TEST_USER_HASH_KEY = base64.b64encode(b"u" * 32).decode()
TEST_ENDPOINT_KEY = base64.b64encode(b"e" * 64).decode()
TEST_WEBHOOK_SECRET = "whsec-test"
TEST_SKILL_ID = "amzn1.ask.skill.00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="session")
def alexa_schema() -> AlexaSchema:
    """Validates outbound Alexa messages against Amazon's official schema (and ours for DeleteReport)."""
    return AlexaSchema.load()


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_loader():
    """One botocore data loader for the whole run: every test still gets fresh sessions and
    clients, but the service-model JSON is parsed once instead of once per test."""
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()
    original = botocore.session.create_loader
    botocore.session.create_loader = lambda *args, **kwargs: shared
    yield
    botocore.session.create_loader = original


@pytest.fixture
def pseudonym_keys():
    """The pseudonym keys aws_env's secret holds, handed to skill.privacy.pseudonyms directly
    (``use_keys``): unit tests of keyed hashes and endpointIds need no Secrets Manager. Yields them."""
    from skill.privacy import pseudonyms

    warm.reset()
    keys = pseudonyms.PseudonymKeys.from_secret(
        {"user_hash_key": TEST_USER_HASH_KEY, "endpoint_key": TEST_ENDPOINT_KEY}
    )
    pseudonyms.use_keys(lambda: keys)
    yield keys
    warm.reset()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch):
    """moto in-process AWS with everything a deployment has (the table, a KMS key, the three
    secrets), the settings pointing at them, and a clean container state. Yields the key ARN."""
    import json

    from moto import mock_aws

    from devstack.lwa_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from skill import aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("ZOSI_LOCAL_MODE", raising=False)
    monkeypatch.setenv("ZOSI_PSEUDONYM_SECRET_ID", "test/pseudonym-keys")
    monkeypatch.setenv("ZOSI_LWA_SECRET_ID", "test/lwa-client")
    monkeypatch.setenv("ZOSI_WEBHOOK_SECRET_ID", "test/accloud-webhook")
    monkeypatch.setenv("ZOSI_TABLE_NAME", "zosi-test")
    monkeypatch.setenv("ZOSI_SKILL_ID", TEST_SKILL_ID)
    warm.reset()
    with mock_aws():
        sm = aws.client("secretsmanager")
        secrets = {
            "test/pseudonym-keys": {"user_hash_key": TEST_USER_HASH_KEY, "endpoint_key": TEST_ENDPOINT_KEY},
            "test/lwa-client": {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET},
            "test/accloud-webhook": {"signing_secret": TEST_WEBHOOK_SECRET},
        }
        for name, value in secrets.items():
            sm.create_secret(Name=name, SecretString=json.dumps(value))
        key_arn = aws.client("kms").create_key(Description="zosi test")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("ZOSI_KMS_KEY_ID", key_arn)
        warm.reset()
        from models.store import create_table_for_local

        create_table_for_local()
        yield key_arn
    warm.reset()
