"""Pseudonymous identifiers: keyed hashes of user ids and opaque, owner-bound endpointIds.

User ids become keyed hashes (HMAC-SHA256); device and detection ids become AES-SIV ciphertexts
bound to their owner, so the stream path finds the device without a database read and a foreign
endpointId is simply "not yours". Details: docs/privacy.md, "III.3 - Encryption and isolation".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from skill import secrets, warm
from skill.config import settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

ENDPOINT_ID_PREFIX = "z1_"  # format version 1; a new key or scheme gets a new prefix
_ENDPOINT_AD = b"zosi-endpoint-v1"
MAX_ENDPOINT_ID = 256
DETECTION_REF_PREFIX = "d1_"
_DETECTION_AD = b"zosi-detection-v1"


class Unopenable(ValueError):
    """A sealed value that is malformed, altered, bound to someone or something else, or from another key."""


class UnknownEndpoint(Unopenable):
    """The endpointId is malformed, from another owner, or from another key."""


@dataclass(frozen=True)
class PseudonymKeys:
    user_hash_key: bytes
    endpoint_key: bytes

    @classmethod
    def from_secret(cls, raw: Mapping[str, Any]) -> PseudonymKeys:
        """The keys in the secret's form: ``{"user_hash_key": <base64, >= 32 bytes>, "endpoint_key":
        <base64, 64 bytes>}``; SecretUnavailable (naming no value) when malformed."""
        try:
            user_key = base64.b64decode(raw["user_hash_key"])
            endpoint_key = base64.b64decode(raw["endpoint_key"])
        except (KeyError, ValueError, TypeError):
            raise secrets.SecretUnavailable("pseudonym keys malformed") from None
        if len(user_key) < 32 or len(endpoint_key) != 64:
            raise secrets.SecretUnavailable("pseudonym keys have the wrong length")
        return cls(user_key, endpoint_key)

    @cached_property
    def _siv(self) -> AESSIV:
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        return AESSIV(self.endpoint_key)


KeySource = Callable[[], PseudonymKeys]


def from_secrets_manager() -> PseudonymKeys:
    """The default source: the secret ``ZOSI_PSEUDONYM_SECRET_ID`` through skill.secrets."""
    return PseudonymKeys.from_secret(secrets.get(settings().pseudonym_secret_id))


_lock = threading.Lock()
_source: KeySource = from_secrets_manager
_keys: PseudonymKeys | None = None
# user_key per ACCloud user id, for the keys above: discovery derives one endpointId per device
# from the same owner, and each derivation needs the owner's user key.
_user_keys: dict[str, str] = {}
_USER_KEYS_MAX = 4096


def use_keys(source: KeySource) -> None:
    """Take this container's keys from ``source`` (called once, on first use) instead of Secrets
    Manager: unit tests hand the keys over directly. ``warm.reset()`` restores the default."""
    global _source, _keys
    with _lock:
        _source = source
        _keys = None
        _user_keys.clear()


def keys() -> PseudonymKeys:
    global _keys
    if _keys is None:
        with _lock:
            if _keys is None:
                _keys = _source()
    return _keys


@warm.register
def reset() -> None:
    global _source, _keys
    with _lock:
        _source = from_secrets_manager
        _keys = None
        _user_keys.clear()


def keyed_hash(domain: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` in its own ``domain``, truncated to 128 bits (hex)."""
    digest = hmac.new(keys().user_hash_key, domain + b"\0" + value.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:32]


def user_key(accloud_user_id: str) -> str:
    """The partition key of everything stored about an ACCloud user."""
    found = _user_keys.get(accloud_user_id)
    if found is None:
        found = "u_" + keyed_hash(b"accloud-user", accloud_user_id)
        if len(_user_keys) >= _USER_KEYS_MAX:
            _user_keys.clear()
        _user_keys[accloud_user_id] = found
    return found


ALEXA_USER_PREFIX = "a_"


def alexa_user_key(alexa_user_id: str) -> str:
    """Keyed hash of an Alexa userId (skill events carry it; directives do not)."""
    return ALEXA_USER_PREFIX + keyed_hash(b"alexa-user", alexa_user_id)


def is_alexa_user_key(value: object) -> bool:
    """Whether ``value`` has the form ``alexa_user_key`` gives (an empty or foreign value names no one)."""
    prefix = ALEXA_USER_PREFIX
    return isinstance(value, str) and value.startswith(prefix) and len(value) > len(prefix)


def link_key(accloud_link_id: str) -> str:
    """Keyed hash of ACCloud's account-link id (one per Alexa account linked to a ZOSI account)."""
    return "l_" + keyed_hash(b"accloud-link", accloud_link_id)


def log_key(value: str) -> str:
    """A short keyed hash for correlating log lines about one user without naming them."""
    return keyed_hash(b"log", value)[:12]


def seal(prefix: str, plain: str, associated: list[bytes], max_length: int = MAX_ENDPOINT_ID) -> str:
    """``prefix`` + base64url(AES-SIV(plain)) under the endpoint key; opens only with the same
    ``associated`` data (the owner, the camera, ...). Deterministic: equal inputs, equal output."""
    sealed = keys()._siv.encrypt(plain.encode("utf-8"), associated)
    encoded = prefix + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")
    if len(encoded) > max_length:
        raise ValueError("value too long to seal")
    return encoded


def unseal(
    prefix: str,
    sealed_value: object,
    associated: list[bytes],
    max_length: int = MAX_ENDPOINT_ID,
    error: type[Unopenable] = Unopenable,
) -> str:
    """What ``seal`` sealed, or ``error`` when it is malformed or does not open with ``associated``."""
    if not isinstance(sealed_value, str) or not sealed_value.startswith(prefix):
        raise error("not a sealed value of this kind")
    if len(sealed_value) > max_length:
        raise error("sealed value too long")
    body = sealed_value[len(prefix) :]
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, TypeError):
        raise error("sealed value is not base64") from None
    # Only the spelling seal() produces opens: lenient base64 skips junk and extra padding and
    # ignores the last character's spare bits, so other spellings would decode alike.
    if base64.urlsafe_b64encode(sealed).rstrip(b"=") != body.encode("ascii"):
        raise error("sealed value is not in canonical form")
    from cryptography.exceptions import InvalidTag

    try:
        plain = keys()._siv.decrypt(sealed, associated)
    except (InvalidTag, ValueError):
        raise error("sealed value does not open here") from None
    return plain.decode("utf-8")


def endpoint_id(owner_user_id: str, device_id: str) -> str:
    return seal(ENDPOINT_ID_PREFIX, device_id, [_ENDPOINT_AD, user_key(owner_user_id).encode()])


def device_id_for(owner_user_id: str, endpoint: str) -> str:
    """The ACCloud device id behind ``endpoint``, or UnknownEndpoint if it is not the owner's."""
    return unseal(
        ENDPOINT_ID_PREFIX, endpoint, [_ENDPOINT_AD, user_key(owner_user_id).encode()], error=UnknownEndpoint
    )


def detection_ref(owner_user_id: str, device_id: str, detection_id: str) -> str:
    """The opaque id Alexa sees for one of the camera's detections: stable, so Alexa deletes by it."""
    return seal(DETECTION_REF_PREFIX, detection_id, _detection_ad(owner_user_id, device_id))


def detection_id_for(owner_user_id: str, device_id: str, ref: object) -> str:
    """ACCloud's detection id behind ``ref``, or Unopenable if it is not this owner's and camera's."""
    return unseal(DETECTION_REF_PREFIX, ref, _detection_ad(owner_user_id, device_id))


def _detection_ad(owner_user_id: str, device_id: str) -> list[bytes]:
    return [_DETECTION_AD, user_key(owner_user_id).encode(), device_id.encode("utf-8")]
