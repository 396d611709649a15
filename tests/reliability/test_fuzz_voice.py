"""Fuzzing custom-skill envelopes (voice requests and skill events) through lambda_handler.handler.

An envelope without the configured skill id is refused with ``RequestRefused`` before anything is
read; every other envelope, however mangled, gets a response envelope and never an exception,
and none writes to the table. Details: docs/reliability.md, "Fuzzing", "Custom envelopes".
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import lambda_handler
from skill.voice.dispatch import RequestRefused, generic_error_answer
from skill.voice.skill_events import is_skill_event
from tests.reliability.harness import DynamoFaults, World, rows
from tests.reliability.strategies import bombs, json_values, odd_text
from tests.voice import envelopes
from tests.voice.envelopes import SKILL_ID, camera_slot

BOGUS_TOKEN = "not-a-token-accloud-issued"
SKILL_EVENTS = ["SkillEnabled", "SkillAccountLinked", "SkillDisabled", "SkillPermissionAccepted",
                "SkillPermissionChanged", "SkillSomethingNew"]  # fmt: skip
INTENTS = ["ListCameras", "CameraStatus", "HowToView", "PrivacyInfo", "DeleteMyData", "AMAZON.HelpIntent",
           "AMAZON.FallbackIntent", "AMAZON.StopIntent", "NoSuchIntent"]  # fmt: skip
APPLICATION_PATHS = (
    ("context", "System", "application", "applicationId"),
    ("session", "application", "applicationId"),
)


def bases(token: str) -> dict[str, dict[str, Any]]:
    """Real envelopes: voice requests of the user ``token`` belongs to; skill events with a bogus token."""
    found: dict[str, dict[str, Any]] = {
        "LaunchRequest": envelopes.launch(token=token),
        "SessionEndedRequest": envelopes.session_ended(token=token),
        "LaunchRequest (unlinked)": envelopes.launch(token=None),
    }
    for name in INTENTS:
        found[f"IntentRequest {name}"] = envelopes.intent(name, token=token, slots=camera_slot("garage"))
    for name in SKILL_EVENTS:
        found[f"AlexaSkillEvent.{name}"] = envelopes.skill_event(
            name,
            body={"accessToken": BOGUS_TOKEN, "acceptedPermissions": [{"scope": "alexa::async_event:write"}]},
            token=BOGUS_TOKEN,
        )
    return found


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in ``tree`` (dict keys and list indexes), parents before children."""
    found = []
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


def _dig(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if isinstance(tree, dict):
            tree = tree.get(step)
        elif isinstance(tree, list) and isinstance(step, int) and step < len(tree):
            tree = tree[step]
        else:
            return None
    return tree


def refused(event: dict[str, Any]) -> bool:
    """The documented rule: refused unless some application id is presented and every one is ours."""
    presented = [value for value in (_dig(event, p) for p in APPLICATION_PATHS) if value is not None]
    return not presented or any(value != SKILL_ID for value in presented)


@dataclass
class Fixture:
    world: World
    token: str


@pytest.fixture(scope="module")
def fx(world: World) -> Iterator[Fixture]:
    world.fresh()
    yield Fixture(world, world.token("alice"))


def check(fx: Fixture, event: dict[str, Any]) -> dict[str, Any] | None:
    """Invoke the Lambda; returns the answer, or None when it was (rightly) refused."""
    before = rows()
    calls_before = sum(fx.world.accloud.request_counts().values())
    if refused(event):
        with pytest.raises(RequestRefused), DynamoFaults().installed() as dynamodb:
            lambda_handler.handler(event, None)
        assert dynamodb.total == 0, "refused, yet DynamoDB was called"
        assert sum(fx.world.accloud.request_counts().values()) == calls_before, (
            "refused, yet ACCloud was called"
        )
        assert rows() == before, "refused, yet something was stored"
        return None
    with DynamoFaults().installed() as dynamodb:
        answer = lambda_handler.handler(event, None)
    assert dynamodb.writes == 0, "a fuzzed envelope wrote to the table"
    assert isinstance(answer, dict) and answer.get("version") == "1.0", answer
    assert isinstance(answer.get("response"), dict), answer
    speech = answer["response"].get("outputSpeech")
    if speech is not None:  # well-formed SSML: nothing from the envelope smuggled markup in
        root = ElementTree.fromstring(speech["ssml"])  # noqa: S314  (our own output; parsing it is the point)
        assert root.tag == "speak" and list(root) == []
    assert rows() == before, "a fuzzed envelope wrote to the table"
    return answer


# --- mangled envelopes ---------------------------------------------------------------------------


@st.composite
def mangled(draw: st.DrawFn) -> tuple[str, list[tuple[tuple[Any, ...], str, Any]]]:
    """A base envelope's name and 1-4 mutations: (path, "delete" | "replace", new value)."""
    name = draw(st.sampled_from(list(bases("token"))))
    # The top-level "version" and "request" make the envelope a custom one (skill/app.py); they stay.
    candidates = [p for p in paths(bases("token")[name]) if p not in (("version",), ("request",))]
    mutations = draw(
        st.lists(
            st.tuples(
                st.sampled_from(candidates),
                st.sampled_from(["delete", "replace"]),
                json_values | odd_text,
            ),
            min_size=1,
            max_size=4,
        )
    )
    return name, mutations


def apply(event: dict[str, Any], mutations: list[tuple[tuple[Any, ...], str, Any]]) -> dict[str, Any]:
    for path, how, value in mutations:
        parent, leaf = (_dig(event, path[:-1]) if len(path) > 1 else event), path[-1]
        present = (
            leaf in parent
            if isinstance(parent, dict)
            else isinstance(parent, list) and isinstance(leaf, int) and leaf < len(parent)
        )
        if not present:
            continue  # an earlier mutation removed or replaced the way there
        if how == "delete":
            del parent[leaf]
        else:
            parent[leaf] = value
    return event


@given(case=mangled())
@example(case=("IntentRequest CameraStatus", [(("request", "intent", "slots"), "replace", "garage")]))
@example(case=("LaunchRequest", [(("request", "locale"), "replace", 5)]))
@example(case=("LaunchRequest", [(("context", "System", "user", "accessToken"), "replace", "tökén")]))
@example(case=("AlexaSkillEvent.SkillAccountLinked", [(("request", "body", "accessToken"), "replace", "ĀĀ")]))
@example(case=("AlexaSkillEvent.SkillEnabled", [(("context", "System", "user"), "replace", "0")]))
@example(
    case=(
        "AlexaSkillEvent.SkillPermissionChanged",
        [(("request", "body", "acceptedPermissions", 0, "scope"), "replace", ["alexa::async_event:write"])],
    )
)
@example(  # raised UnicodeEncodeError: the keyed hash of a userId that is no text
    case=("AlexaSkillEvent.SkillDisabled", [(("context", "System", "user", "userId"), "replace", "\ud800")])
)
def test_mangled_envelopes_are_answered_or_refused_never_raised(fx: Fixture, case) -> None:
    name, mutations = case
    check(fx, apply(copy.deepcopy(bases(fx.token)[name]), mutations))


@given(case=mangled(), request_type=odd_text | st.sampled_from(["IntentRequest", "LaunchRequest",
       "CanFulfillIntentRequest", "Connections.Response", "Alexa.Presentation.APL.UserEvent",
       "AlexaSkillEvent.", "AlexaSkillEvent.SkillDisabled"]))  # fmt: skip
# A voice envelope made a SkillDisabled carried alice's real token, and really erased her (a write):
@example(
    case=("LaunchRequest", [(("session",), "delete", None)]), request_type="AlexaSkillEvent.SkillDisabled"
)
def test_any_request_type_is_answered(fx: Fixture, case, request_type: str) -> None:
    name, mutations = case
    event = apply(copy.deepcopy(bases(fx.token)[name]), mutations)
    if isinstance(event.get("request"), dict):
        event["request"]["type"] = request_type
    if is_skill_event(request_type):  # tokens in skill events are never real here (module docstring)
        event = _with_token_replaced(event, fx.token, BOGUS_TOKEN)
    check(fx, event)


@given(name=st.sampled_from(list(bases("token"))), data=st.data(), replace=st.booleans(), bomb=bombs)
def test_depth_and_size_bombs_are_answered_generically_before_anything_reads_them(
    fx: Fixture, name: str, data: st.DataObject, replace: bool, bomb: Any
) -> None:
    """Nesting past 32 levels or over 10,000 members, as an extra field or in place of one the skill
    reads: ``error_generic`` (or the refusal of a foreign envelope), ACCloud never asked."""
    event = copy.deepcopy(bases(fx.token)[name])
    candidates = [p for p in paths(event) if p not in (("version",), ("request",))]
    path = data.draw(st.sampled_from(candidates))
    parent = _dig(event, path[:-1]) if len(path) > 1 else event
    if replace or not isinstance(parent, dict):
        parent[path[-1]] = bomb
    else:
        parent["zqExtra"] = bomb
    calls = sum(fx.world.accloud.request_counts().values())
    answer = check(fx, event)
    assert answer is None or answer == generic_error_answer(_dig(event, ("request", "locale")))
    assert sum(fx.world.accloud.request_counts().values()) == calls


def _with_token_replaced(tree: Any, token: str, replacement: str) -> Any:
    if isinstance(tree, dict):
        return {key: _with_token_replaced(value, token, replacement) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_with_token_replaced(value, token, replacement) for value in tree]
    return replacement if tree == token else tree


# --- application ids -----------------------------------------------------------------------------

_ABSENT = object()
application_ids = st.just(SKILL_ID) | st.just(_ABSENT) | odd_text | json_values


@given(name=st.sampled_from(list(bases("token"))), system_app=application_ids, session_app=application_ids)
@example(name="LaunchRequest", system_app=SKILL_ID, session_app="amzn1.ask.skill.other")
@example(name="AlexaSkillEvent.SkillDisabled", system_app=_ABSENT, session_app=_ABSENT)
def test_only_envelopes_for_this_skill_are_processed(fx: Fixture, name: str, system_app, session_app) -> None:
    event = copy.deepcopy(bases(fx.token)[name])
    for path, value in zip(APPLICATION_PATHS, (system_app, session_app), strict=True):
        parent = _dig(event, path[:-1])
        if not isinstance(parent, dict):
            continue  # skill events have no session
        if value is _ABSENT:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    check(fx, event)
