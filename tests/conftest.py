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

from tests.alexa_schema import AlexaSchema

TEST_USER_HASH_KEY = base64.b64encode(b"u" * 32).decode()
TEST_ENDPOINT_KEY = base64.b64encode(b"e" * 64).decode()


@pytest.fixture(scope="session")
def alexa_schema() -> AlexaSchema:
    """Validates outbound Alexa messages against Amazon's official schema (and ours for DeleteReport)."""
    return AlexaSchema.load()


def reset_caches() -> None:
    """Forget everything a warm container caches: settings, clients, secrets, keys, users."""
    from skill import aws, config, secrets
    from skill.cloud import users
    from skill.privacy import pseudonyms

    config.reset()
    aws.reset()
    secrets.reset()
    pseudonyms.reset()
    users.reset()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch):
    """moto in-process AWS with the skill's secrets created, and a clean container state."""
    import json

    import boto3
    from moto import mock_aws

    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        sm.create_secret(
            Name="test/pseudonym-keys",
            SecretString=json.dumps({"user_hash_key": TEST_USER_HASH_KEY, "endpoint_key": TEST_ENDPOINT_KEY}),
        )
        sm.create_secret(
            Name="test/lwa-client",
            SecretString=json.dumps(
                {"client_id": "amzn1.application-oa2-client.test", "client_secret": "lwa-secret"}
            ),
        )
        sm.create_secret(
            Name="test/accloud-webhook", SecretString=json.dumps({"signing_secret": "whsec-test"})
        )
        monkeypatch.setenv("ZOSI_PSEUDONYM_SECRET_ID", "test/pseudonym-keys")
        monkeypatch.setenv("ZOSI_LWA_SECRET_ID", "test/lwa-client")
        monkeypatch.setenv("ZOSI_WEBHOOK_SECRET_ID", "test/accloud-webhook")
        monkeypatch.setenv("ZOSI_TABLE_NAME", "zosi-test")
        reset_caches()
        yield
        reset_caches()
