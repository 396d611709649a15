"""ACCloud's webhook signature (docs/accloud-openapi.yaml): HMAC-SHA256 over "<t>.<raw body>".

Kept apart from the HTTP handling (skill/proactive/webhook.py) because it is the vendor's contract,
the same for every receiver; the reference ACCloud signs with its own code (devstack/webhook_sender.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "x-accloud-signature"
_SIGNATURE = re.compile(r"^t=([0-9]{1,12}),v1=([0-9a-f]{64})$")


class SignatureInvalid(Exception):
    """The delivery is not provably from ACCloud. ``reason`` is a fixed word, safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_signature(raw: bytes, header: str | None, secret: bytes, *, now: float, tolerance: int) -> int:
    """Check ``header`` against ``raw``; returns the signing time, or raises SignatureInvalid."""
    if not header:
        raise SignatureInvalid("missing")
    match = _SIGNATURE.match(header.strip())
    if match is None:
        raise SignatureInvalid("malformed")
    signed_at, received = int(match.group(1)), match.group(2)
    expected = hmac.new(secret, match.group(1).encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    # Compare first, then judge the time: the answer's timing says nothing about the digest.
    matches = hmac.compare_digest(expected, received)
    if signed_at < now - tolerance:
        raise SignatureInvalid("stale")
    if signed_at > now + tolerance:
        raise SignatureInvalid("future")
    if not matches:
        raise SignatureInvalid("mismatch")
    return signed_at
