"""Smart Home directives as data: one table per interface (``<interface>.py``, a list ``CASES``),
all run by ``tests/smarthome/test_cases.py`` against the real handler and the reference ACCloud.

A case is what Alexa sends (``Send``), the ACCloud state it meets (``seed`` before discovery,
``given`` after it) and the answer it must get (``Expect``). The runner asserts for every case what
every answer owes Alexa (schema, correlationToken echo, UUID4 messageId, payloadVersion), then the
case's namespace, name, error type and fields, then its ``check`` (stored state, ACCloud calls,
logs). Adding a case is adding a row; a new interface is a new module listed in ``TABLES``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from devstack.accloud import AccloudServer
from devstack.lwa_server import LwaServer
from tests.alexa_schema import AlexaSchema
from tests.smarthome.canned import Canned, CannedServer

Hook = Callable[["World"], object]
Payload = Mapping[str, Any] | Callable[["World"], Mapping[str, Any]] | None


@dataclass
class World:
    """What a case's hooks and checks see: the servers, Alice's discovered endpoints, the event sent
    and the answer received."""

    accloud: AccloudServer
    tokens: dict[str, str]
    schema: AlexaSchema
    canned: CannedServer
    monkeypatch: pytest.MonkeyPatch
    caplog: pytest.LogCaptureFixture
    lwa: LwaServer | None = None
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    camera: str | None = None
    event: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=dict)
    canned_before: int = 0  # requests the canned server had met when the directive was sent
    notes: dict[str, Any] = field(default_factory=dict)  # what a hook keeps for the case's check

    @property
    def endpoint(self) -> dict[str, Any]:
        """The endpoint the directive addresses, as Alice's discovery described it."""
        assert self.camera is not None, "the case addresses no camera"
        return self.endpoints[self.camera]

    def point_accloud_at(self, base_url: str) -> None:
        """What a changed DNS answer or a WAF in front of ACCloud does. The settings are read again;
        the warm container's token -> user cache stays."""
        from skill import warm

        self.monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", base_url)
        warm.reset(keep=("skill.cloud.users.",))

    def answer_with(self, canned: Canned) -> None:
        """Whatever sits at ZOSI_ACCLOUD_BASE_URL answers every request with ``canned``."""
        self.canned.answer = canned
        self.point_accloud_at(self.canned.base_url)

    def logged(self, message: str) -> list[logging.LogRecord]:
        return [r for r in self.caplog.records if r.getMessage() == message]


@dataclass(frozen=True)
class Send:
    """A directive as Alexa sends it (devstack/directives.py builds it).

    ``camera``: addressed to Alice's endpoint of that friendlyName, with its cookie; ``caller``: whose
    token is in the scope (``token``: a function of the world giving another one); ``payload``: the
    payload, or a function of the world (the endpoint's advertised streams, say); ``mutate``: applied
    to the built event; ``raw``: an envelope sent as it is, no builder; ``instance``: the header's
    capability instance."""

    namespace: str
    name: str
    camera: str | None = None
    caller: str = "alice"
    payload: Payload = None
    payload_version: str = "3"
    token: Callable[[World], str] | None = None
    mutate: Callable[[dict[str, Any]], object] | None = None
    raw: Any = None
    instance: str | None = None


@dataclass(frozen=True)
class Expect:
    """The answer: its header namespace and name, the ErrorResponse type, fields by path
    ("event/payload/cameraStreams/0/audioCodec"), and a check of anything else."""

    name: str = "Response"
    namespace: str = "Alexa"
    error: str | None = None
    payload_version: str = "3"
    fields: Mapping[str, Any] = field(default_factory=dict)
    check: Hook | None = None


def error(
    type_: str, *, namespace: str = "Alexa", payload_version: str = "3", check: Hook | None = None
) -> Expect:
    return Expect("ErrorResponse", namespace, type_, payload_version, check=check)


@dataclass(frozen=True)
class Case:
    id: str
    send: Send
    expect: Expect
    seed: Hook | None = None  # ACCloud state before discovery
    given: Hook | None = None  # ACCloud state (faults, removals) after discovery, before the directive
    uses: frozenset[str] = frozenset()  # fixtures beyond the default ones: "lwa"


def fresh_token(user: str = "alice") -> Callable[[World], str]:
    """A token ACCloud just issued, which the container has never seen (nothing cached)."""
    return lambda world: str(world.accloud.issue_token(user)["access_token"])


def dig(message: Any, path: str) -> Any:
    """``message`` at a slash-separated path; list indices are numbers."""
    for key in path.split("/"):
        message = message[int(key)] if isinstance(message, list) else message[key]
    return message


def stream_of(world: World) -> dict[str, Any]:
    """The one stream an InitializeCameraStreams answer carries."""
    (stream,) = world.answer["event"]["payload"]["cameraStreams"]
    return dict(stream)


def capability(endpoint: dict[str, Any], interface: str) -> dict[str, Any]:
    (found,) = [c for c in endpoint["capabilities"] if c["interface"] == interface]
    return dict(found)
