"""skill.voice.dispatch.handle's ``cloud_factory`` seam: who builds a voice request's ACCloud client.

Mirrors ``skill.smarthome.dispatch.handle``: the factory gets the turn's deadline (settings it reads itself),
is used for that call only, and is not called by a turn that never needs ACCloud.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from devstack.accloud import AccloudServer
from skill.cloud import contract
from skill.cloud.client import Deadline
from skill.voice import dispatch, strings
from skill.voice.turn import ACCLOUD_BUDGET_SECONDS
from tests.bombs import nest
from tests.voice.envelopes import camera_slot, intent, launch, stack

# The shared fixtures (registered here by assignment, as test_handlers.py does).
accloud_server = stack.accloud_server
voice_stack = stack.voice_stack

GAZEBO = contract.Device(
    id="dev_gazebo01",
    name="Gazebo",
    kind="camera",
    model="C190",
    firmware="v5.2.1",
    online=True,
    privacy_mode=False,
)


@dataclass
class FakeCloud:
    """The two calls a voice request makes, answered in process; records every client built."""

    failure: Exception | None = None
    built: list[Deadline] = field(default_factory=list)

    def factory(self, deadline: Deadline) -> FakeCloud:
        self.built.append(deadline)
        return self

    def me(self, token: str) -> contract.CloudUser:
        if self.failure is not None:
            raise self.failure
        return contract.CloudUser("usr_fakevoice1", "lnk_fakevoice1")

    def devices(self, token: str) -> list[contract.Device]:
        return [GAZEBO]


def fresh_token() -> str:
    """A token no cache has seen (``users`` remembers resolved tokens per container)."""
    return "fake-" + uuid.uuid4().hex


def gazebo_status(token: str) -> dict[str, Any]:
    return intent("CameraStatus", token=token, slots=camera_slot("gazebo"))


def speech(answer: dict[str, Any]) -> str:
    return str(answer["response"]["outputSpeech"]["ssml"]).removeprefix("<speak>").removesuffix("</speak>")


def test_the_given_factory_builds_the_client_with_the_turns_deadline(voice_stack: AccloudServer) -> None:
    fake = FakeCloud()
    answer = dispatch.handle(gazebo_status(fresh_token()), None, cloud_factory=fake.factory)
    assert speech(answer) == strings.render("en-US", "camera_status_online", name="Gazebo")
    [deadline] = fake.built  # one client per turn
    assert 0 < deadline.remaining() <= ACCLOUD_BUDGET_SECONDS


def test_the_factory_is_used_for_that_call_only(voice_stack: AccloudServer) -> None:
    token = fresh_token()
    dispatch.handle(gazebo_status(token), None, cloud_factory=FakeCloud().factory)
    # Without a factory the real client asks the reference ACCloud, which has never seen the token.
    answer = dispatch.handle(gazebo_status(token), None)
    assert answer["response"]["card"] == {"type": "LinkAccount"}


def test_a_turn_that_needs_no_accloud_builds_no_client(voice_stack: AccloudServer) -> None:
    fake = FakeCloud()
    answer = dispatch.handle(launch(token=None), None, cloud_factory=fake.factory)
    assert answer["response"]["card"] == {"type": "LinkAccount"}
    assert fake.built == []


# what the factory's client raises -> (the speech key, the card) the user gets
FAILURES: dict[str, tuple[Exception, str, dict[str, Any] | None]] = {
    "token rejected": (
        contract.InvalidToken("token_unknown"),
        "link_account_required",
        {"type": "LinkAccount"},
    ),
    "token expired": (
        contract.ExpiredToken("token_expired"),
        "link_account_required",
        {"type": "LinkAccount"},
    ),
    "ACCloud unreachable": (contract.Transient("timeout"), "error_cloud_unavailable", None),
}


@pytest.mark.parametrize("case", list(FAILURES), ids=list(FAILURES))
def test_the_factory_clients_failures_reach_the_one_exception_handler(
    voice_stack: AccloudServer, case: str
) -> None:
    failure, key, card = FAILURES[case]
    answer = dispatch.handle(gazebo_status(fresh_token()), None, cloud_factory=FakeCloud(failure).factory)
    assert speech(answer) == strings.render("en-US", key)
    assert answer["response"].get("card") == card


def test_a_request_whose_intent_is_not_an_intent_object_is_routed_without_error(
    voice_stack: AccloudServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Some request types (an APL UserEvent) carry ``intent`` as a plain dict; routing must not
    trip over it (found by the long fuzz profile: an AttributeError in the interceptor)."""
    envelope = launch(token=None)
    envelope["request"]["type"] = "Alexa.Presentation.APL.UserEvent"
    envelope["request"]["intent"] = {"name": "CameraStatus"}
    with caplog.at_level(logging.DEBUG):
        answer = dispatch.handle(envelope, None)
    assert "response" in answer
    failures = [r.__dict__.get("fields", {}).get("error_code") for r in caplog.records]
    assert "AttributeError" not in failures  # (no handler takes the type: that is a DispatchException)


DEEP_ENVELOPES = {
    "request type 5,000 deep": lambda e: e["request"].update(type=nest(5000)),
    "a context field 5,000 deep": lambda e: e["context"].update(Extra=nest(5000)),
    "slot value just past the limit": lambda e: e["request"]["intent"]["slots"]["camera"].update(
        value=nest(40)
    ),
    "20,000 slots": lambda e: e["request"]["intent"]["slots"].update({f"s{i}": {} for i in range(20_000)}),
}


@pytest.mark.parametrize("mutate", DEEP_ENVELOPES.values(), ids=DEEP_ENVELOPES.keys())
def test_a_deep_or_huge_envelope_is_answered_generically_before_anything_reads_it(
    voice_stack: AccloudServer, mutate: Any
) -> None:
    """Was a RecursionError out of the handler (str() of the type) or deep in ask-sdk's deserializer."""
    import lambda_handler

    envelope = gazebo_status(fresh_token())
    mutate(envelope)
    cloud = FakeCloud()
    assert dispatch.handle(envelope, None, cloud.factory) == dispatch.generic_error_answer("en-US")
    assert cloud.built == []  # refused before a turn (or its ACCloud client) existed
    assert lambda_handler.handler(envelope, None) == dispatch.generic_error_answer("en-US")
