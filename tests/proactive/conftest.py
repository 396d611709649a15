"""The proactive side's stack: moto (DynamoDB, KMS, Secrets Manager), the LWA and Event Gateway
stand-ins over loopback, a signed-webhook helper, a gateway client whose sleeps do not wait, and
captured EMF metrics."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from devstack import webhook_sender
from devstack.gateway_server import GatewayServer
from devstack.lwa_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LwaServer
from skill import aws, metrics, warm
from skill.amazon import lwa
from skill.amazon.gateway import GatewayClient
from skill.privacy import pseudonyms
from tests.alexa_schema import AlexaSchema
from tests.conftest import TEST_ENDPOINT_KEY, TEST_USER_HASH_KEY

TABLE_NAME = "zosi-proactive-test"
WEBHOOK_SECRET = "whsec-test"
SECRET_IDS = {
    "ZOSI_PSEUDONYM_SECRET_ID": (
        "test/pseudonym-keys",
        {"user_hash_key": TEST_USER_HASH_KEY, "endpoint_key": TEST_ENDPOINT_KEY},
    ),
    "ZOSI_LWA_SECRET_ID": (
        "test/lwa-client",
        {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET},
    ),
    "ZOSI_WEBHOOK_SECRET_ID": ("test/accloud-webhook", {"signing_secret": WEBHOOK_SECRET}),
}


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Stack:
    lwa: LwaServer
    gateway: GatewayServer
    time: FakeTime
    metric_lines: list[dict[str, Any]] = field(default_factory=list)

    def client(self) -> GatewayClient:
        return GatewayClient(sleep=self.time.sleep, clock=self.time.clock)

    def link(self, user_id: str, link_id: str, region: str = "NA", *, grant: bool = True) -> str:
        """Link an Alexa account to ``user_id`` (with an Event Gateway grant unless ``grant=False``).

        Returns the link's current access token ("" without a grant).
        """
        from models import store
        from skill.amazon import grants

        user_key, link_key = pseudonyms.user_key(user_id), pseudonyms.link_key(link_id)
        if not grant:
            store.upsert_link(user_key, link_key, region=region)
            return ""
        tokens = lwa.exchange_code(self.lwa.issue_grant_code())
        grants.store_grant(user_key, link_key, tokens, region)
        return tokens.access_token

    def metrics_named(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.metric_lines if name in line]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, alexa_schema: AlexaSchema) -> Iterator[Stack]:
    from models.store import create_table_for_local

    monkeypatch.setenv("ZOSI_TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("ZOSI_LOCAL_MODE", "1")
    for env, (secret_id, _) in SECRET_IDS.items():
        monkeypatch.setenv(env, secret_id)
    warm.reset()
    with mock_aws(), LwaServer() as lwa_server:
        monkeypatch.setenv("ZOSI_LWA_TOKEN_URL", lwa_server.token_url)
        key = aws.client("kms").create_key(Description="zosi proactive test")["KeyMetadata"]
        monkeypatch.setenv("ZOSI_KMS_KEY_ID", key["KeyId"])
        manager = aws.client("secretsmanager")
        for secret_id, value in SECRET_IDS.values():
            manager.create_secret(Name=secret_id, SecretString=json.dumps(value))
        with GatewayServer(lwa_server.is_valid_access_token, schemas=alexa_schema.schemas) as gateway_server:
            for name, url in gateway_server.environment().items():
                monkeypatch.setenv(name, url)
            warm.reset()
            create_table_for_local()
            built = Stack(lwa_server, gateway_server, FakeTime())
            monkeypatch.setattr(metrics, "sink", lambda line: built.metric_lines.append(json.loads(line)))
            yield built
    warm.reset()


# --- webhook deliveries -------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(seconds: float = 0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)


def http_event(
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    path: str = "/webhooks/accloud",
    base64_body: bool = False,
) -> dict[str, Any]:
    """A minimal API Gateway HTTP API payload-2.0 event."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.9"}},
        "isBase64Encoded": base64_body,
    }
    if body:
        try:
            text = None if base64_body else body.decode("utf-8")
        except UnicodeDecodeError:  # API Gateway base64-encodes what is not text
            text = None
        event["isBase64Encoded"] = text is None
        event["body"] = base64.b64encode(body).decode() if text is None else text
    return event


def signed_event(
    payload: dict[str, Any] | bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    t: int | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    body = payload if isinstance(payload, bytes) else webhook_sender.encode_event(payload)
    signature = webhook_sender.sign(secret.encode(), body, int(time.time()) if t is None else t)
    return http_event(body, {"x-accloud-signature": signature}, base64_body=base64_body)


# A device as ACCloud sends it in device.added/updated, private fields included.
DEVICE_WIRE = {
    "id": "dev_7a7a7a7a7a7a",
    "name": "Side Door!",
    "kind": "doorbell",
    "parent_id": None,
    "model": "D190",
    "firmware": "v3.4.0",
    "online": True,
    "privacy_mode": False,
    "capabilities": {
        "motion_detection": True,
        "person_detection": True,
        "two_way_audio": True,
        "webrtc": True,
    },
    "stream_profiles": [
        {"protocol": "RTSP", "width": 1920, "height": 1080, "video_codec": "H264", "audio_codec": "AAC"},
        {"protocol": "WEBRTC", "width": 1920, "height": 1080, "video_codec": "H264", "audio_codec": "AAC"},
    ],
    "serial_number": "ZSD190SERIAL0042",
    "mac": "02:aa:bb:cc:dd:ee",
    "wifi_ssid": "Maple-Home",
    "wifi_bssid": "02:11:22:33:44:55",
    "lan_ip": "192.168.1.77",
    "location": "12 Example Lane",
}


def accloud_event(
    event_type: str, user_id: str, device_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "evt_" + uuid.uuid4().hex,
        "type": event_type,
        "occurred_at": rfc3339(ago()),
        "user_id": user_id,
    }
    if device_id is not None:
        event["device_id"] = device_id
    event.update(extra)
    return event
