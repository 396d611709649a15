"""The privacy tests' view of the embedded local stack: Alexa's side, ACCloud's side, the table, the logs.

Everything goes through ``lambda_handler.handler`` exactly as in production (directives, custom
envelopes, skill events) or through the reference ACCloud's signed webhook and the API Gateway
front. Log lines are captured as the skill's JSON formatter writes them, after redaction
(``skill.privacy.logs.configure(stream=...)``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lambda_handler
from devstack import directives
from devstack.gateway_server import Received
from devstack.stack import LocalStack
from skill import warm
from skill.privacy import logs, pseudonyms
from tests.voice import envelopes
from tests.voice.envelopes.stack import table_items

EVENTS_SCOPE = "alexa::async_event:write"
ALEXA_USERS = {"alice": "amzn1.ask.account.PRIVACYALICE", "bob": "amzn1.ask.account.PRIVACYBOB"}


class LogCapture:
    """The skill's JSON log lines, exactly as its formatter writes them (after redaction), and its
    EMF metric lines (stdout, so CloudWatch Logs too)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.metric_lines: list[str] = []

    def install(self) -> None:
        """(Re)direct the JSON log handler and the metric sink here (the CLI points both at its stderr)."""
        from skill import metrics

        logs.configure("DEBUG", stream=self.buffer)
        metrics.sink = self.metric_lines.append

    def lines(self) -> list[str]:
        """Every line written to the log stream (log records, and EMF lines the CLI sent there)."""
        return [line for line in self.buffer.getvalue().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        parsed = (json.loads(line) for line in self.lines())
        return [record for record in parsed if "message" in record]

    def erasure_records(self) -> list[dict[str, Any]]:
        return [r["fields"] for r in self.records() if r["message"] == "erasure"]

    def clear(self) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.metric_lines.clear()


@contextlib.contextmanager
def running_stack(*, seed: Any = None, webrtc: bool = False) -> Iterator[tuple[LocalStack, LogCapture]]:
    """A started LocalStack and a log capture; the process environment and logging are restored after."""
    from skill import metrics

    saved_env = dict(os.environ)
    root, moto_log = logging.getLogger(), logging.getLogger("moto")
    saved_logging = (list(root.handlers), root.level, logs._configured, moto_log.level)
    saved_sink = metrics.sink
    capture = LogCapture()
    stack = LocalStack(webrtc=webrtc, seed=seed)
    try:
        stack.start()
        capture.install()
        moto_log.setLevel(logging.WARNING)  # moto's DEBUG chatter is the stand-in's, not the skill's
        yield stack, capture
    finally:
        stack.stop()
        metrics.sink = saved_sink
        os.environ.clear()
        os.environ.update(saved_env)
        warm.reset()
        root.handlers[:] = saved_logging[0]
        root.setLevel(saved_logging[1])
        logs._configured = saved_logging[2]
        moto_log.setLevel(saved_logging[3])


def wipe_table() -> None:
    from skill import aws
    from skill.config import settings

    client = aws.client("dynamodb")
    for item in table_items():
        client.delete_item(TableName=settings().table_name, Key={"pk": item["pk"], "sk": item["sk"]})


def item_text(item: dict[str, Any]) -> str:
    """A stored item as searchable text; binary values (ciphertexts) as their raw bytes."""
    return json.dumps(item, default=lambda b: bytes(b).decode("latin-1"), ensure_ascii=False)


def partition(user_key: str) -> list[dict[str, Any]]:
    return sorted((i for i in table_items() if i["pk"]["S"] == user_key), key=lambda i: i["sk"]["S"])


@dataclass
class Alexa:
    """Plays Alexa (and the user) against the skill on the local stack."""

    stack: LocalStack
    tokens: dict[str, str] = field(default_factory=dict)  # username -> ACCloud access token
    issued: list[dict[str, Any]] = field(default_factory=list)  # every ACCloud token answer
    endpoints: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # user -> id -> endpoint
    sent_events: list[dict[str, Any]] = field(default_factory=list)  # every webhook event ACCloud sent
    grant_codes: list[str] = field(default_factory=list)  # every AcceptGrant code

    # --- ACCloud side ------------------------------------------------------------------------

    def link_at_accloud(self, username: str) -> str:
        """The OAuth account linking Alexa does with ACCloud; returns the access token."""
        answer = self.stack.accloud.issue_token(username)
        self.issued.append(answer)
        self.tokens[username] = answer["access_token"]
        return str(answer["access_token"])

    def user_id(self, username: str) -> str:
        return str(self.stack.accloud.user_id(username))

    def user_key(self, username: str) -> str:
        return pseudonyms.user_key(self.user_id(username))

    def webhook(self, event_type: str, username: str, device_id: str | None = None) -> tuple[int, str]:
        event = self.stack.accloud.build_event(event_type, username, device_id)
        self.sent_events.append(event)
        status, body = self.stack.accloud.send_built_event(event)
        return status, body

    # --- Alexa side ---------------------------------------------------------------------------

    def directive(
        self,
        namespace: str,
        name: str,
        username: str,
        *,
        endpoint_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        addressed = self.endpoints[username][endpoint_id] if endpoint_id is not None else None
        event = directives.directive(
            namespace, name, self.tokens[username], endpoint=addressed, payload=payload
        )
        answer: dict[str, Any] = lambda_handler.handler(event, None)
        return answer

    def discover(self, username: str) -> dict[str, Any]:
        answer = self.directive("Alexa.Discovery", "Discover", username)
        found = answer["event"]["payload"]["endpoints"]
        self.endpoints[username] = {e["endpointId"]: e for e in found}
        return answer

    def accept_grant(self, username: str) -> dict[str, Any]:
        code = self.stack.lwa.issue_grant_code()
        self.grant_codes.append(code)
        return self.directive(
            "Alexa.Authorization",
            "AcceptGrant",
            username,
            payload={"grant": {"type": "OAuth2.AuthorizationCode", "code": code}},
        )

    def custom(self, envelope: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = lambda_handler.handler(envelope, None)
        return answer

    def skill_event(
        self, username: str, event_name: str, body: dict[str, Any] | None = None, *, linked: bool = True
    ) -> dict[str, Any]:
        token = self.tokens.get(username) if linked else None
        return self.custom(
            envelopes.skill_event(event_name, body=body, token=token, user=ALEXA_USERS[username])
        )

    def account_linked(self, username: str) -> dict[str, Any]:
        return self.skill_event(username, "SkillAccountLinked", {"accessToken": self.tokens[username]})

    def permissions(self, username: str, *, events: bool, event_name: str = "SkillPermissionChanged") -> Any:
        scopes = [{"scope": EVENTS_SCOPE}] if events else [{"scope": "alexa::profile:email:read"}]
        return self.skill_event(username, event_name, {"acceptedPermissions": scopes})

    def disabled(self, username: str) -> dict[str, Any]:
        return self.skill_event(
            username, "SkillDisabled", {"userInformationPersistenceStatus": "NOT_PERSISTED"}, linked=False
        )

    def intent(self, username: str, name: str, **kwargs: Any) -> dict[str, Any]:
        return self.custom(
            envelopes.intent(name, token=self.tokens[username], user=ALEXA_USERS[username], **kwargs)
        )

    def launch(self, username: str) -> dict[str, Any]:
        return self.custom(envelopes.launch(token=self.tokens[username], user=ALEXA_USERS[username]))

    def fully_linked(self, username: str) -> None:
        """What a user who set everything up leaves: profile, link with grant, endpoint index."""
        self.link_at_accloud(username)
        self.account_linked(username)
        granted = self.accept_grant(username)
        assert granted["event"]["header"]["name"] == "AcceptGrant.Response", granted
        self.discover(username)

    # --- the Event Gateway stand-in ------------------------------------------------------------

    def received(self) -> list[Received]:
        return list(self.stack.gateway.received())


def message_name(received: Received) -> str:
    return str(received.message["event"]["header"]["name"])


def deleted_endpoints(received: Received) -> set[str]:
    return {e["endpointId"] for e in received.message["event"]["payload"]["endpoints"]}
