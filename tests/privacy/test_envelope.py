"""skill.privacy.envelope: KMS data keys + AES-GCM, bound to the row that stores the ciphertext."""

from __future__ import annotations

from typing import Any

import pytest

from skill import aws, warm
from skill.privacy import envelope
from skill.privacy.envelope import Binding, CiphertextInvalid, KeyServiceUnavailable
from tests.moto_stack import Aws

SECRET = b'{"access_token": "Atza|secret-access", "refresh_token": "Atzr|secret-refresh"}'
ROW = Binding("u_" + "1" * 32, "AccountLink.grant", "link#l_" + "a" * 32)


class KmsCalls(list[str]):
    """KMS operations made by the envelope code, in order, on the client of the current container."""

    def attach(self) -> None:
        """Count on the current client (again after ``warm.reset()``, which drops the old one)."""
        aws.client("kms").meta.events.register("before-call.kms", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.append(model.name)


@pytest.fixture
def kms_calls(aws_stack: Aws) -> KmsCalls:
    calls = KmsCalls()
    calls.attach()
    return calls


def test_round_trip_and_blob_layout(aws_stack: Aws) -> None:
    blob = envelope.seal(SECRET, ROW)
    assert blob[0] == envelope.FORMAT_V1
    assert aws_stack.kms_key_arn.encode() in blob  # the ARN KMS returned, not the configured alias/id
    assert SECRET not in blob and b"Atza|" not in blob
    assert envelope.unseal(blob, ROW) == SECRET
    warm.reset()  # a cold container: the data key comes back from KMS Decrypt
    assert envelope.unseal(blob, ROW) == SECRET


def test_two_seals_of_the_same_secret_differ(aws_stack: Aws) -> None:
    assert envelope.seal(SECRET, ROW) != envelope.seal(SECRET, ROW)  # fresh nonce each time


OTHER_ROWS = {
    "other partition": Binding("u_" + "2" * 32, ROW.item_kind, ROW.sort_key),
    "other item kind": Binding(ROW.partition_key, "AccountProfile.grant", ROW.sort_key),
    "other sort key": Binding(ROW.partition_key, ROW.item_kind, "link#l_" + "b" * 32),
}


@pytest.mark.parametrize("cold", [True, False], ids=["cold container", "warm container"])
@pytest.mark.parametrize("other", OTHER_ROWS.values(), ids=OTHER_ROWS.keys())
def test_a_ciphertext_moved_to_another_row_does_not_decrypt(
    aws_stack: Aws, other: Binding, cold: bool
) -> None:
    blob = envelope.seal(SECRET, ROW)
    if cold:
        warm.reset()
    else:
        envelope.seal(b"the other row's own secret", other)  # the other row has a cached key of its own
    with pytest.raises(CiphertextInvalid):
        envelope.unseal(blob, other)


@pytest.mark.parametrize("other", OTHER_ROWS.values(), ids=OTHER_ROWS.keys())
def test_associated_data_binds_the_row_even_if_kms_ignored_the_context(
    aws_stack: Aws, other: Binding
) -> None:
    blob = envelope.seal(SECRET, ROW)
    # Simulate a KMS that would hand out the data key regardless of the encryption context.
    envelope._remember(other, envelope._cache[ROW])
    with pytest.raises(CiphertextInvalid):
        envelope.unseal(blob, other)


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


TAMPERING = {
    "empty": lambda b: b"",
    "unknown version": lambda b: b"\x02" + b[1:],
    "truncated header": lambda b: b[:10],
    "truncated body": lambda b: b[:-20],
    "flipped key id": lambda b: _flip(b, 5),
    "flipped ciphertext": lambda b: _flip(b, len(b) - 20),
    "flipped tag": lambda b: _flip(b, len(b) - 1),
    "flipped nonce": lambda b: _flip(b, len(b) - len(SECRET) - 16 - 3),
}


@pytest.mark.parametrize("cold", [True, False], ids=["cold container", "warm container"])
@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampered_blobs_are_rejected(aws_stack: Aws, tamper, cold: bool) -> None:
    blob = envelope.seal(SECRET, ROW)
    if cold:
        warm.reset()
    with pytest.raises(CiphertextInvalid) as caught:
        envelope.unseal(tamper(blob), ROW)
    assert "Atz" not in str(caught.value)


def test_warm_refresh_needs_no_kms_call(aws_stack: Aws, kms_calls: KmsCalls) -> None:
    blob = envelope.seal(SECRET, ROW)
    assert kms_calls == ["GenerateDataKey"]
    envelope.unseal(blob, ROW)
    envelope.unseal(envelope.seal(b"refreshed tokens", ROW), ROW)
    assert kms_calls == ["GenerateDataKey"]
    warm.reset()
    kms_calls.attach()
    envelope.unseal(blob, ROW)
    envelope.seal(b"refreshed again", ROW)
    assert kms_calls == ["GenerateDataKey", "Decrypt"]


def test_data_key_cache_is_bounded_in_size_and_age(
    aws_stack: Aws, kms_calls: KmsCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(envelope, "DATA_KEY_CACHE_ENTRIES", 3)
    rows = [Binding(f"u_{n}", ROW.item_kind, ROW.sort_key) for n in range(5)]
    blobs = [envelope.seal(SECRET, row) for row in rows]
    assert len(envelope._cache) == 3
    assert list(envelope._cache) == rows[2:]  # least recently used went first
    kms_calls.clear()
    envelope.unseal(blobs[4], rows[4])
    assert kms_calls == []
    clock = [envelope.time.monotonic() + envelope.DATA_KEY_CACHE_SECONDS + 1]
    monkeypatch.setattr(envelope.time, "monotonic", lambda: clock[0])
    envelope.unseal(blobs[4], rows[4])
    assert kms_calls == ["Decrypt"]


def _client_error(code: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "Atza|leaked? " + ROW.partition_key}}, "Decrypt")


def _connection_error(code: str) -> Exception:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com/Atza|x")


KMS_FAILURES = [
    (_client_error, "ThrottlingException", KeyServiceUnavailable, KeyServiceUnavailable),
    (_client_error, "DisabledException", KeyServiceUnavailable, KeyServiceUnavailable),
    (_client_error, "AccessDeniedException", KeyServiceUnavailable, KeyServiceUnavailable),
    (_connection_error, "", KeyServiceUnavailable, KeyServiceUnavailable),
    (_client_error, "InvalidCiphertextException", KeyServiceUnavailable, CiphertextInvalid),
    (_client_error, "NotFoundException", KeyServiceUnavailable, CiphertextInvalid),
]


class _FailingKms:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def generate_data_key(self, **_: object) -> dict:
        raise self.error

    def decrypt(self, **_: object) -> dict:
        raise self.error


@pytest.mark.parametrize(
    ("make", "code", "on_seal", "on_unseal"),
    KMS_FAILURES,
    ids=[f[1] or "no connection" for f in KMS_FAILURES],
)
def test_kms_failures_are_typed_and_carry_no_secret(
    aws_stack: Aws,
    monkeypatch: pytest.MonkeyPatch,
    make,
    code: str,
    on_seal: type,
    on_unseal: type,
) -> None:
    blob = envelope.seal(SECRET, ROW)
    warm.reset()
    monkeypatch.setattr(envelope.aws, "client", lambda service: _FailingKms(make(code)))
    with pytest.raises(on_seal) as sealing:
        envelope.seal(SECRET, ROW)
    with pytest.raises(on_unseal) as unsealing:
        envelope.unseal(blob, ROW)
    for caught in (sealing, unsealing):
        message = str(caught.value)
        assert "Atz" not in message and ROW.partition_key not in message and "https" not in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_missing_key_id_is_a_key_service_error(aws_stack: Aws, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("ZOSI_KMS_KEY_ID", "")
    warm.reset()
    with pytest.raises(KeyServiceUnavailable, match="ZOSI_KMS_KEY_ID"):
        envelope.seal(SECRET, ROW)
