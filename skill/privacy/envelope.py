"""Envelope encryption of secrets stored in DynamoDB (LWA tokens), bound to the row that holds them.

A KMS data key encrypts the secret with AES-GCM; the row's identity is both the KMS
EncryptionContext and part of the associated data, so a ciphertext copied to another row - or
another user - does not decrypt. Exceptions and logs never carry plaintext, keys or ciphertext.
Details (blob layout, data-key cache): docs/privacy.md, "III.3 - Encryption and isolation".
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from skill import aws, warm
from skill.config import settings

FORMAT_V1 = 1
NONCE_BYTES = 12
DATA_KEY_CACHE_SECONDS = 300.0
DATA_KEY_CACHE_ENTRIES = 256
_AAD_DOMAIN = b"zosi-envelope-v1"
# KMS answers meaning "this blob will never decrypt" (wrong row, altered blob, key gone) as opposed
# to outages and configuration problems (throttling, access denied, disabled key).
_PERMANENT_DECRYPT_FAILURES = frozenset(
    {"InvalidCiphertextException", "IncorrectKeyException", "NotFoundException", "ValidationException"}
)


class EnvelopeError(Exception):
    """Base of envelope failures; messages never contain secrets."""


class CiphertextInvalid(EnvelopeError):
    """Malformed, tampered, or bound to another row."""


class KeyServiceUnavailable(EnvelopeError):
    """KMS could not be reached or refused for a reason other than the ciphertext itself."""


@dataclass(frozen=True)
class Binding:
    """The row a ciphertext belongs to."""

    partition_key: str
    item_kind: str
    sort_key: str

    def encryption_context(self) -> dict[str, str]:
        return {"zosi:pk": self.partition_key, "zosi:kind": self.item_kind, "zosi:sk": self.sort_key}

    def associated_data(self, header: bytes) -> bytes:
        parts = [
            _AAD_DOMAIN,
            header,
            *(p.encode("utf-8") for p in (self.partition_key, self.item_kind, self.sort_key)),
        ]
        return b"".join(struct.pack(">I", len(p)) + p for p in parts)


@dataclass(frozen=True)
class _DataKey:
    key_arn: str
    encrypted_key: bytes
    plaintext_key: bytes
    created: float


_lock = threading.Lock()
_cache: OrderedDict[Binding, _DataKey] = OrderedDict()


def seal(plaintext: bytes, binding: Binding) -> bytes:
    """Encrypt ``plaintext`` for the row ``binding`` (at most one KMS call)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = _cached(binding) or _generate(binding)
    header = _header(data_key.key_arn, data_key.encrypted_key)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key.plaintext_key).encrypt(nonce, plaintext, binding.associated_data(header))
    return header + nonce + sealed


def unseal(blob: bytes, binding: Binding) -> bytes:
    """Decrypt a blob from :func:`seal`; CiphertextInvalid if it belongs to another row or was altered."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key_arn, encrypted_key, header_len = _parse_header(blob)
    body = blob[header_len:]
    if len(body) < NONCE_BYTES + 16:
        raise CiphertextInvalid("envelope too short")
    cached = _cached(binding)
    if cached is not None and cached.encrypted_key == encrypted_key:
        plaintext_key = cached.plaintext_key
    else:
        plaintext_key = _decrypt_data_key(key_arn, encrypted_key, binding)
    try:
        return AESGCM(plaintext_key).decrypt(
            body[:NONCE_BYTES], body[NONCE_BYTES:], binding.associated_data(blob[:header_len])
        )
    except InvalidTag:
        raise CiphertextInvalid("envelope does not authenticate for this row") from None


@warm.register
def reset() -> None:
    """Forget cached data keys (tests; a key rotation)."""
    with _lock:
        _cache.clear()


# --- internals ------------------------------------------------------------------------------


def _header(key_arn: str, encrypted_key: bytes) -> bytes:
    arn = key_arn.encode("utf-8")
    return (
        bytes([FORMAT_V1])
        + struct.pack(">H", len(arn))
        + arn
        + struct.pack(">H", len(encrypted_key))
        + encrypted_key
    )


def _parse_header(blob: bytes) -> tuple[str, bytes, int]:
    try:
        if not blob or blob[0] != FORMAT_V1:
            raise CiphertextInvalid("unknown envelope format")
        (arn_len,) = struct.unpack_from(">H", blob, 1)
        arn_end = 3 + arn_len
        key_arn = blob[3:arn_end].decode("utf-8")
        (key_len,) = struct.unpack_from(">H", blob, arn_end)
        key_end = arn_end + 2 + key_len
        encrypted_key = bytes(blob[arn_end + 2 : key_end])
    except (struct.error, UnicodeDecodeError, IndexError):
        raise CiphertextInvalid("malformed envelope header") from None
    if not key_arn.startswith("arn:") or len(encrypted_key) != key_len or key_end > len(blob):
        raise CiphertextInvalid("malformed envelope header")
    return key_arn, encrypted_key, key_end


def _cached(binding: Binding) -> _DataKey | None:
    with _lock:
        found = _cache.get(binding)
        if found is None:
            return None
        if time.monotonic() - found.created >= DATA_KEY_CACHE_SECONDS:
            del _cache[binding]
            return None
        _cache.move_to_end(binding)
        return found


def _remember(binding: Binding, data_key: _DataKey) -> None:
    with _lock:
        _cache[binding] = data_key
        _cache.move_to_end(binding)
        while len(_cache) > DATA_KEY_CACHE_ENTRIES:
            _cache.popitem(last=False)


def _generate(binding: Binding) -> _DataKey:
    key_id = settings().kms_key_id
    if not key_id:
        raise KeyServiceUnavailable("ZOSI_KMS_KEY_ID is not set")
    try:
        answer = aws.client("kms").generate_data_key(
            KeyId=key_id, KeySpec="AES_256", EncryptionContext=binding.encryption_context()
        )
    except Exception as exc:  # botocore ClientError / connection errors
        raise KeyServiceUnavailable(f"KMS GenerateDataKey failed: {_error_code(exc)}") from None
    data_key = _DataKey(answer["KeyId"], answer["CiphertextBlob"], answer["Plaintext"], time.monotonic())
    _remember(binding, data_key)
    return data_key


def _decrypt_data_key(key_arn: str, encrypted_key: bytes, binding: Binding) -> bytes:
    try:
        answer = aws.client("kms").decrypt(
            CiphertextBlob=encrypted_key, KeyId=key_arn, EncryptionContext=binding.encryption_context()
        )
    except Exception as exc:
        code = _error_code(exc)
        if code in _PERMANENT_DECRYPT_FAILURES:
            raise CiphertextInvalid(f"data key does not decrypt for this row ({code})") from None
        raise KeyServiceUnavailable(f"KMS Decrypt failed: {code}") from None
    plaintext_key = answer["Plaintext"]
    _remember(binding, _DataKey(key_arn, encrypted_key, plaintext_key, time.monotonic()))
    return plaintext_key


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__
