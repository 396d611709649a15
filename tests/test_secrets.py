"""skill/secrets.py: each secret is fetched on first use and kept per container for CACHE_SECONDS.

GetSecretValue calls are counted where they leave botocore (moto answers them), and the cache's
clock is a fake one, so "5 minutes" takes no time.
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

import lambda_handler
from devstack import webhook_sender
from skill import aws, secrets
from skill.privacy import pseudonyms

pytestmark = pytest.mark.usefixtures("aws_env")

# The three secrets of a deployment, as tests/conftest.py::aws_env creates them.
PSEUDONYM, LWA, WEBHOOK = "test/pseudonym-keys", "test/lwa-client", "test/accloud-webhook"
SECRET_IDS = (PSEUDONYM, LWA, WEBHOOK)


@pytest.fixture
def fetches() -> list[str]:
    """SecretId of every GetSecretValue call that reaches Secrets Manager, in order."""
    seen: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["SecretId"])

    aws.client("secretsmanager").meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue", count
    )
    return seen


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's monotonic clock (only skill.secrets sees it); move it with ``clock[0] += s``."""
    now = [1000.0]
    monkeypatch.setattr(secrets, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def rotate(secret_id: str, value: dict[str, Any]) -> None:
    aws.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))


def test_each_secret_is_fetched_once_per_container_across_many_invocations(
    fetches: list[str], clock: list[float]
) -> None:
    for _ in range(100):  # 100 warm invocations over 297 s, each reading every secret
        clock[0] += 2.97
        for secret_id in SECRET_IDS:
            secrets.get(secret_id)
    assert sorted(fetches) == sorted(SECRET_IDS)


def test_concurrent_first_reads_in_a_cold_container_make_one_call(fetches: list[str]) -> None:
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        secrets.get(LWA)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetches == [LWA]


def test_webhook_invocations_share_one_fetch_of_the_signing_secret(fetches: list[str]) -> None:
    """Through the Lambda entry point: every delivery checks its signature with the cached secret."""
    body = b'{"id": "evt_1"}'
    for n in range(20):
        signature = webhook_sender.sign(b"not-the-secret", body, int(time.time()))
        event = {
            "version": "2.0",
            "routeKey": "POST /webhooks/accloud",
            "rawPath": "/webhooks/accloud",
            "headers": {"content-type": "application/json", "x-accloud-signature": signature},
            "requestContext": {"http": {"method": "POST", "path": "/webhooks/accloud"}},
            "isBase64Encoded": False,
            "body": body.decode(),
        }
        assert lambda_handler.handler(event, None)["statusCode"] == 401, n
    assert fetches == [WEBHOOK]


# A rotated secret: the container keeps the value it read for the rest of the cache period, then
# reads the new one once.
@pytest.mark.parametrize(
    ("seconds_after_first_read", "sees_rotated_value", "fetch_count"),
    [
        (0.0, False, 1),
        (299.9, False, 1),
        (300.0, True, 2),
        (3600.0, True, 2),
    ],
)
def test_a_rotated_secret_is_read_again_after_the_cache_period(
    fetches: list[str],
    clock: list[float],
    seconds_after_first_read: float,
    sees_rotated_value: bool,
    fetch_count: int,
) -> None:
    assert secrets.get(WEBHOOK) == {"signing_secret": "whsec-test"}
    rotate(WEBHOOK, {"signing_secret": "whsec-rotated"})
    clock[0] += seconds_after_first_read
    expected = "whsec-rotated" if sees_rotated_value else "whsec-test"
    assert secrets.get(WEBHOOK) == {"signing_secret": expected}
    assert secrets.get(WEBHOOK) == {"signing_secret": expected}  # and that is cached again
    assert fetches == [WEBHOOK] * fetch_count


def test_a_failed_read_is_not_cached_and_names_no_value(fetches: list[str]) -> None:
    missing = "test/not-yet-set"
    for _ in range(2):
        with pytest.raises(secrets.SecretUnavailable) as failure:
            secrets.get(missing)
        assert str(failure.value) == "secret 'test/not-yet-set' unavailable: ResourceNotFoundException"
    aws.client("secretsmanager").create_secret(
        Name=missing, SecretString='{"signing_secret": "s3cr3t-v4lue"}'
    )
    assert secrets.get(missing) == {"signing_secret": "s3cr3t-v4lue"}  # set by the operator: used at once
    assert fetches == [missing] * 3


def test_pseudonym_keys_are_read_once_for_the_containers_life(fetches: list[str], clock: list[float]) -> None:
    """The keys behind every partition key and endpointId are not swapped under a warm container:
    a new key is a new scheme (pseudonyms.ENDPOINT_ID_PREFIX) and a migration, not a rotation."""
    before = pseudonyms.user_key("usr_alice")
    rotate(PSEUDONYM, {"user_hash_key": "A" * 44, "endpoint_key": "B" * 88})
    clock[0] += 3600.0
    # keyed_hash reads the keys afresh (user_key() memoises its answers): still the first keys.
    assert pseudonyms.keyed_hash(b"accloud-user", "usr_alice") == before[len("u_") :]
    assert fetches == [PSEUDONYM]
