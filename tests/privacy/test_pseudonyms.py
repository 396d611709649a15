"""Pseudonyms (skill/privacy/pseudonyms.py): endpointIds stable, opaque, bound to their owner and
spelled one way only; keyed hashes apart per id space; the keys handed over or read from the secret."""

from __future__ import annotations

import string

import pytest

from skill import warm
from skill.privacy import pseudonyms
from tests.conftest import TEST_ENDPOINT_KEY, TEST_USER_HASH_KEY

pytestmark = pytest.mark.usefixtures("pseudonym_keys")


def test_endpoint_ids_are_stable_opaque_and_bound_to_their_owner() -> None:
    first = pseudonyms.endpoint_id("usr_alice", "dev_SN1234567890")
    assert first == pseudonyms.endpoint_id("usr_alice", "dev_SN1234567890")
    assert "SN1234567890" not in first and "dev_" not in first
    assert pseudonyms.device_id_for("usr_alice", first) == "dev_SN1234567890"
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_bob", first)
    tampered = first[:-2] + ("A" if first[-2] != "A" else "B") + first[-1]
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_alice", tampered)


@pytest.mark.parametrize("bogus", ["", "abc", "z1_", "z1_!!!!", "z1_" + "A" * 300, None, 42])
def test_bogus_endpoint_ids_are_unknown(bogus: object) -> None:
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_alice", bogus)  # type: ignore[arg-type]


_PREFIX = pseudonyms.ENDPOINT_ID_PREFIX
_BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _spare_bit_set(endpoint: str) -> str:
    """The last character with an unused low bit set: lenient base64 decodes it to the same bytes."""
    assert (len(endpoint) - len(_PREFIX)) % 4 in (2, 3), "no spare bits"
    return endpoint[:-1] + _BASE64URL[_BASE64URL.index(endpoint[-1]) ^ 1]


# Other spellings of one sealed device id; before the decoding was strict each opened the device.
NON_CANONICAL_SPELLINGS = {
    "padding appended": lambda e: e + "=",
    "two paddings appended": lambda e: e + "==",
    "junk appended": lambda e: e + "&&",
    "junk inside": lambda e: e[:10] + "##" + e[10:],
    "a spare bit of the last character set": _spare_bit_set,
    "standard base64 alphabet": lambda e: _PREFIX + e[len(_PREFIX) :].replace("-", "+").replace("_", "/"),
}


@pytest.mark.parametrize("spell", NON_CANONICAL_SPELLINGS.values(), ids=NON_CANONICAL_SPELLINGS.keys())
def test_only_the_canonical_spelling_of_an_endpoint_id_opens_the_device(spell) -> None:
    canonical = pseudonyms.endpoint_id("usr_alice", "dev_SN1234567890")
    spelling = spell(canonical)
    assert spelling != canonical and spelling.startswith(_PREFIX)
    assert pseudonyms.device_id_for("usr_alice", canonical) == "dev_SN1234567890"
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_alice", spelling)


def test_user_keys_differ_per_id_space() -> None:
    assert pseudonyms.user_key("x") != pseudonyms.alexa_user_key("x") != pseudonyms.link_key("x")
    assert pseudonyms.user_key("x") == pseudonyms.user_key("x")


def test_handed_keys_are_fetched_once_and_forgotten_with_the_container() -> None:
    handed = []

    def source() -> pseudonyms.PseudonymKeys:
        handed.append(1)
        return pseudonyms.PseudonymKeys(b"k" * 32, b"e" * 64)

    before = pseudonyms.user_key("usr_alice")
    pseudonyms.use_keys(source)
    after = pseudonyms.user_key("usr_alice")
    assert after != before  # neither the old keys nor a user key derived from them is kept
    assert pseudonyms.endpoint_id("usr_alice", "dev_1") == pseudonyms.endpoint_id("usr_alice", "dev_1")
    assert handed == [1]
    warm.reset()
    assert pseudonyms._source is pseudonyms.from_secrets_manager


@pytest.mark.usefixtures("aws_env")
def test_by_default_the_keys_come_from_the_secret(pseudonym_keys: pseudonyms.PseudonymKeys) -> None:
    """aws_env's secret holds the keys the fixture hands over, so the moved unit tests prove the same."""
    warm.reset()
    assert pseudonyms.keys() == pseudonym_keys


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"user_hash_key": TEST_USER_HASH_KEY},
        {"user_hash_key": "not base64!", "endpoint_key": TEST_ENDPOINT_KEY},
        {"user_hash_key": TEST_ENDPOINT_KEY[:20], "endpoint_key": TEST_ENDPOINT_KEY},
        {"user_hash_key": TEST_USER_HASH_KEY, "endpoint_key": TEST_USER_HASH_KEY},
    ],
)
def test_malformed_key_secrets_are_unavailable(raw: dict[str, str]) -> None:
    from skill.secrets import SecretUnavailable

    with pytest.raises(SecretUnavailable):
        pseudonyms.PseudonymKeys.from_secret(raw)
