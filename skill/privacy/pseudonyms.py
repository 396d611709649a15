"""Pseudonymous identifiers: keyed hashes of user ids and opaque, owner-bound endpointIds.

* ``user_key`` / ``alexa_user_key``: HMAC-SHA256 under a secret key, truncated to 128 bits.
  Stable, not reversible without the key, different for the two id spaces.
* ``endpoint_id`` / ``device_id_for``: deterministic authenticated encryption (AES-SIV) of the
  ACCloud device id, with the owner's user key as associated data. The id is stable across
  discoveries, reveals no serial or MAC, and only decrypts for its owner, so the stream path
  finds the device without a database read and a foreign endpointId is simply "not yours".

Keys come from the Secrets Manager secret ``ZOSI_PSEUDONYM_SECRET_ID``:
``{"user_hash_key": <base64, >= 32 bytes>, "endpoint_key": <base64, 64 bytes>}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from skill import secrets, warm
from skill.config import settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

ENDPOINT_ID_PREFIX = "z1_"  # format version 1; a new key or scheme gets a new prefix
_ENDPOINT_AD = b"zosi-endpoint-v1"
MAX_ENDPOINT_ID = 256


class UnknownEndpoint(ValueError):
    """The endpointId is malformed, from another owner, or from another key."""


@dataclass(frozen=True)
class PseudonymKeys:
    user_hash_key: bytes
    endpoint_key: bytes

    @cached_property
    def _siv(self) -> AESSIV:
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        return AESSIV(self.endpoint_key)


_lock = threading.Lock()
_keys: PseudonymKeys | None = None
# user_key per ACCloud user id, for the keys above: discovery derives one endpointId per device
# from the same owner, and each derivation needs the owner's user key.
_user_keys: dict[str, str] = {}
_USER_KEYS_MAX = 4096


def keys() -> PseudonymKeys:
    global _keys
    if _keys is None:
        with _lock:
            if _keys is None:
                raw = secrets.get(settings().pseudonym_secret_id)
                try:
                    user_key = base64.b64decode(raw["user_hash_key"])
                    endpoint_key = base64.b64decode(raw["endpoint_key"])
                except (KeyError, ValueError, TypeError):
                    raise secrets.SecretUnavailable("pseudonym keys malformed") from None
                if len(user_key) < 32 or len(endpoint_key) != 64:
                    raise secrets.SecretUnavailable("pseudonym keys have the wrong length")
                _keys = PseudonymKeys(user_key, endpoint_key)
    return _keys


@warm.register
def reset() -> None:
    global _keys
    with _lock:
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


def endpoint_id(owner_user_id: str, device_id: str) -> str:
    sealed = keys()._siv.encrypt(device_id.encode("utf-8"), [_ENDPOINT_AD, user_key(owner_user_id).encode()])
    encoded = ENDPOINT_ID_PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")
    if len(encoded) > MAX_ENDPOINT_ID:
        raise ValueError("device id too long for an endpointId")
    return encoded


def device_id_for(owner_user_id: str, endpoint: str) -> str:
    """The ACCloud device id behind ``endpoint``, or UnknownEndpoint if it is not the owner's."""
    if not isinstance(endpoint, str) or not endpoint.startswith(ENDPOINT_ID_PREFIX):
        raise UnknownEndpoint("not a ZOSI endpointId")
    if len(endpoint) > MAX_ENDPOINT_ID:
        raise UnknownEndpoint("endpointId too long")
    body = endpoint[len(ENDPOINT_ID_PREFIX) :]
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, TypeError):
        raise UnknownEndpoint("endpointId is not base64") from None
    # Only the spelling endpoint_id() produces opens a device: lenient base64 skips junk and extra
    # padding and ignores the last character's spare bits, so other spellings would decode alike.
    if base64.urlsafe_b64encode(sealed).rstrip(b"=") != body.encode("ascii"):
        raise UnknownEndpoint("endpointId is not in canonical form")
    from cryptography.exceptions import InvalidTag

    try:
        plain = keys()._siv.decrypt(sealed, [_ENDPOINT_AD, user_key(owner_user_id).encode()])
    except (InvalidTag, ValueError):
        raise UnknownEndpoint("endpointId does not belong to this owner") from None
    return plain.decode("utf-8")
