"""The loopback stack the benchmark runs against, started once and prepared like a real account.

``devstack.stack.LocalStack`` (moto's server for DynamoDB, KMS and Secrets Manager; the
reference ACCloud; the Login-with-Amazon and Event Gateway stand-ins) on 127.0.0.1, with a
canned WebRTC answerer instead of a real camera peer. Alice is linked the way the load run links
its accounts (``devstack.load.link_account``: OAuth, SkillAccountLinked, AcceptGrant so doorbell
presses go to the Event Gateway, one discovery so a later one needs no writes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from bench import events
from devstack import load
from devstack.demo_data import ALICE, FRONT_DOOR
from devstack.stack import LocalStack

ALEXA_USER = "amzn1.ask.account.BENCH"  # the user of events.launch()
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
        self.local.start()
        self.local.accloud.set_answerer(CannedAnswerer())
        account = load.link_account(self.local, ALICE, alexa_user_id=ALEXA_USER)
        self.token, self.user_id = account.token, account.user_id
        by_name = {e["friendlyName"]: e for e in account.endpoints.values()}
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
