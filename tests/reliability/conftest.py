"""The fuzz and fault-matrix suites' stack (started once per test module) and the hypothesis profiles.

``HYPOTHESIS_PROFILE``: ``ci`` (default, what ``make test`` runs: 50 examples per fuzz test) or
``long`` (2000, a soak before a release). Details: docs/reliability.md, "Running".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from skill import warm
from tests.reliability.harness import SelfSignedTlsServer, World

_RELAXED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile(
    "ci", max_examples=50, deadline=None, suppress_health_check=_RELAXED, print_blob=True
)
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TABLE_NAME = "zosi-reliability"


@pytest.fixture(scope="module")
def world(alexa_schema) -> Iterator[World]:
    """moto (table, KMS key, the three secrets), reference ACCloud, LWA and Event Gateway stand-ins and a
    self-signed TLS server, wired through the environment exactly as a deployment would be, with the
    production ACCloud timeouts (1 s connect, 2 s read).

    Module scope, not package scope: moto's in-process mock patches botocore for the whole process,
    and other modules here (test_races.py) run against moto's server instead."""
    from moto import mock_aws

    from devstack.accloud import AccloudServer
    from devstack.demo_data import demo_seed
    from devstack.gateway_server import GatewayServer
    from devstack.lwa_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LwaServer
    from models.store import create_table_for_local
    from skill import aws
    from tests.conftest import (
        TEST_ENDPOINT_KEY,
        TEST_SKILL_ID,
        TEST_USER_HASH_KEY,
        TEST_WEBHOOK_SECRET,
    )

    secrets = {
        "ZOSI_PSEUDONYM_SECRET_ID": (
            "reliability/pseudonym-keys",
            {"user_hash_key": TEST_USER_HASH_KEY, "endpoint_key": TEST_ENDPOINT_KEY},
        ),
        "ZOSI_LWA_SECRET_ID": (
            "reliability/lwa-client",
            {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET},
        ),
        "ZOSI_WEBHOOK_SECRET_ID": ("reliability/accloud-webhook", {"signing_secret": TEST_WEBHOOK_SECRET}),
    }
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        AccloudServer(demo_seed()) as accloud,
        LwaServer() as lwa,
        GatewayServer(lwa.is_valid_access_token, schemas=alexa_schema.schemas) as gateway,
        SelfSignedTlsServer() as tls,
    ):
        for name in ("AWS_ENDPOINT_URL", "ZOSI_ACCLOUD_CONNECT_TIMEOUT", "ZOSI_ACCLOUD_READ_TIMEOUT"):
            monkeypatch.delenv(name, raising=False)
        environment = {
            "ZOSI_TABLE_NAME": TABLE_NAME,
            "ZOSI_SKILL_ID": TEST_SKILL_ID,
            "ZOSI_LOCAL_MODE": "1",
            "ZOSI_ACCLOUD_BASE_URL": accloud.base_url,
            "ZOSI_LWA_TOKEN_URL": lwa.token_url,
            **gateway.environment(),
            **{env: secret_id for env, (secret_id, _) in secrets.items()},
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        warm.reset()
        with mock_aws():
            manager = aws.client("secretsmanager")
            for secret_id, value in secrets.values():
                manager.create_secret(Name=secret_id, SecretString=json.dumps(value))
            key_arn = aws.client("kms").create_key(Description="zosi reliability")["KeyMetadata"]["Arn"]
            monkeypatch.setenv("ZOSI_KMS_KEY_ID", key_arn)
            warm.reset()
            create_table_for_local()
            yield World(accloud, lwa, gateway, tls)
        warm.reset()
