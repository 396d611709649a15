"""ACCloud's webhook signature (skill/cloud/signing.py), checked against the reference ACCloud's signer."""

from __future__ import annotations

import contextlib

import pytest

from devstack import webhook_sender
from skill.cloud import signing


def test_verify_signature_names_each_failure() -> None:
    body, secret = b'{"x":1}', b"k"
    good = webhook_sender.sign(secret, body, 1000)
    assert signing.verify_signature(body, good, secret, now=1000, tolerance=300) == 1000
    for header, now, reason in [
        (None, 1000, "missing"),
        ("t=1000", 1000, "malformed"),
        (good, 1301, "stale"),
        (good, 699, "future"),
        (webhook_sender.sign(b"other", body, 1000), 1000, "mismatch"),
    ]:
        with pytest.raises(signing.SignatureInvalid) as caught:
            signing.verify_signature(body, header, secret, now=now, tolerance=300)
        assert caught.value.reason == reason


def test_the_digest_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every verdict on a digest comes from ``hmac.compare_digest``, also for a stale signature."""
    compared: list[tuple[str, str]] = []
    real = signing.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    body, secret = b'{"x":1}', b"k"
    good = webhook_sender.sign(secret, body, 1000)
    forged = webhook_sender.sign(b"other", body, 1000)
    for header, now in [(good, 1000), (forged, 1000), (good, 5000)]:
        with contextlib.suppress(signing.SignatureInvalid):
            signing.verify_signature(body, header, secret, now=now, tolerance=300)
    assert [received for _, received in compared] == [h.rsplit("v1=", 1)[1] for h in (good, forged, good)]
