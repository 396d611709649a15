"""Log lines never carry tokens, URLs, SDP, names or raw ids."""

from __future__ import annotations

import io
import json
import logging

import pytest

from skill.privacy import logs

SECRETS = [
    "Atza|IwEBIJr8kGx3v",
    "Atzr|IwEBIKm2nq",
    "rtsps://relay.zosi.example:443/live/abc123",
    "https://snap.zosi.example/snap/x.jpg",
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\n",
    "alice@example.com",
    "z1_AbCdEfGhIjKlMnOpQrStUv",
]


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("DEBUG", stream=stream)
    yield stream
    logs.configure("INFO", stream=io.StringIO())


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("secret", SECRETS)
def test_patterns_are_scrubbed_from_messages_and_fields(captured: io.StringIO, secret: str) -> None:
    log = logging.getLogger("test.redaction")
    log.info("value %s seen", secret)
    logs.log(log, logging.INFO, "fielded", note=f"see {secret}", nested={"list": [secret]})
    text = captured.getvalue()
    assert secret not in text
    assert secret.split("|")[-1] not in text
    assert all(line["message"] for line in lines(captured))


@pytest.mark.parametrize(
    "key", ["token", "accessToken", "user_id", "friendlyName", "streamUri", "offer_sdp", "device_id", "email"]
)
def test_sensitive_field_names_are_redacted_whatever_the_value(captured: io.StringIO, key: str) -> None:
    logs.log(logging.getLogger("test"), logging.INFO, "field", **{key: "Front Door"})
    (line,) = lines(captured)
    assert line["fields"][key] == logs.REDACTED


def test_safe_fields_and_correlation_id_survive(captured: io.StringIO) -> None:
    logs.correlation_id.set("msg-123")
    logs.log(
        logging.getLogger("test"), logging.INFO, "directive handled", outcome="ok", duration_ms=1.5, count=3
    )
    (line,) = lines(captured)
    assert line["fields"] == {"outcome": "ok", "duration_ms": 1.5, "count": 3}
    assert line["correlation_id"] == "msg-123"
    logs.correlation_id.set(None)


@pytest.mark.parametrize("secret", SECRETS)
def test_correlation_ids_pass_redaction(captured: io.StringIO, secret: str) -> None:
    """A messageId is whatever the caller sent: one holding an e-mail or URL is not echoed."""
    logs.correlation_id.set(f"msg {secret}")
    try:
        logging.getLogger("test").info("directive handled")
    finally:
        logs.correlation_id.set(None)
    (line,) = lines(captured)
    assert line["correlation_id"] == f"msg {logs.REDACTED}"
    assert secret.split("|")[-1] not in captured.getvalue()


def test_records_in_fields_are_logged_as_their_type_only(captured: io.StringIO) -> None:
    """A Device or StreamProfile is a NamedTuple: logged by mistake, it would otherwise read as a
    list of its values, a camera's name and raw ACCloud id among them."""
    from skill.cloud.contract import Device, StreamProfile

    device = Device("dev_raw_123", "Front Door", "doorbell", "C190", "v1", True, False)
    logs.log(logging.getLogger("test"), logging.INFO, "oops", thing=device, many=[device])
    logs.log(
        logging.getLogger("test"), logging.INFO, "oops", profile=StreamProfile("RTSP", 1, 1, "H264", "AAC")
    )
    first, second = lines(captured)
    assert first["fields"] == {"thing": "Device", "many": ["Device"]}
    assert second["fields"] == {"profile": "StreamProfile"}
    assert "dev_raw_123" not in captured.getvalue() and "Front Door" not in captured.getvalue()
    plain = ("Front", 2)  # a plain tuple is still a sequence of values, each scrubbed
    logs.log(logging.getLogger("test"), logging.INFO, "pair", pair=plain)
    assert lines(captured)[-1]["fields"] == {"pair": ["Front", 2]}


def test_exceptions_are_logged_without_their_message(captured: io.StringIO) -> None:
    try:
        raise ValueError("token Atza|leak and Front Door")
    except ValueError:
        logging.getLogger("test").exception("failed")
    (line,) = lines(captured)
    assert "leak" not in captured.getvalue() and "Front Door" not in captured.getvalue()
    assert line["exception"]["type"] == "ValueError"
    assert line["exception"]["frames"]
