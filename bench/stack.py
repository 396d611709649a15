"""The loopback stack the benchmark runs against, started once and prepared like a real account.

``devstack.stack.LocalStack`` (moto's server for DynamoDB, KMS and Secrets Manager; the
reference ACCloud; the Login-with-Amazon and Event Gateway stand-ins) on 127.0.0.1, with a
canned WebRTC answerer instead of a real camera peer. Alice has linked her account, accepted the
grant (so doorbell presses go to the Event Gateway) and discovered once (so the endpoint index
is current and a later discovery needs no writes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from bench import events
from devstack.demo_data import ALICE, FRONT_DOOR
from devstack.stack import LocalStack

CAMERA = "Front Door"  # alice's doorbell: RTSP and WebRTC, a DoorbellEventSource


class CannedAnswerer:
    """The camera side of WebRTC signalling, answering at once (the benchmark measures the skill)."""

    def answer(self, session_id: str, offer_sdp: str, device: Any) -> str:
        return events.ANSWER_SDP

    def connected(self, session_id: str) -> None:
        return None

    def close(self, session_id: str) -> None:
        return None


@dataclass
class BenchStack:
    local: LocalStack = field(default_factory=lambda: LocalStack(webrtc=False))
    token: str = ""
    user_id: str = ""
    endpoint: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> BenchStack:
        import lambda_handler

        self.local.start()
        self.local.accloud.set_answerer(CannedAnswerer())
        self.token = self.local.accloud.issue_token(ALICE)["access_token"]
        self.user_id = self.local.accloud.user_id(ALICE)
        granted = lambda_handler.handler(events.accept_grant(self.token, self.grant_code()), None)
        if granted["event"]["header"]["name"] != "AcceptGrant.Response":
            raise RuntimeError(f"benchmark setup: AcceptGrant answered {granted['event']['payload']}")
        found = lambda_handler.handler(events.discover(self.token), None)
        by_name = {e["friendlyName"]: e for e in found["event"]["payload"]["endpoints"]}
        self.endpoint = by_name[CAMERA]
        return self

    def __exit__(self, *exc: object) -> None:
        self.local.stop()

    # --- what the measurements need --------------------------------------------------------------

    def grant_code(self) -> str:
        return self.local.lwa.issue_grant_code()

    def press(self) -> dict[str, Any]:
        return events.doorbell_press(self.local.webhook_secret, self.user_id, FRONT_DOOR)

    def child_env(self) -> dict[str, str]:
        """The environment of a fresh container: this machine's, plus the stack's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOSI_", "AWS_"))}
        env.update(self.local.env())
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode is cached, as in a built package
        return env

    def counters(self) -> dict[str, int]:
        """Requests the stand-ins received so far: ACCloud (API and OAuth), LWA, Event Gateway."""
        return {
            "accloud": sum(self.local.accloud.request_counts().values()),
            "lwa": sum(self.local.lwa.counts.values()),
            "gateway": len(self.local.gateway.received()),
        }
