"""Real custom-skill envelopes (the JSON files here) and a small factory that varies them.

The files are what Alexa sends (LaunchRequest, IntentRequest, SessionEndedRequest, an
AlexaSkillEvent); the factory sets the token, locale, Alexa user, skill id, intent and slots.
``token=None`` removes the access token, as Alexa does for an unlinked user.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ElementTree
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REPO_ROOT = HERE.parents[2]
SKILL_ID = "amzn1.ask.skill.00000000-0000-0000-0000-000000000000"
ALEXA_USER = "amzn1.ask.account.TESTUSERALPHA"
OTHER_ALEXA_USER = "amzn1.ask.account.TESTUSERBRAVO"
STATIC_AUTHORITY = f"amzn1.er-authority.echo-sdk.{SKILL_ID}.CAMERA_NAME"
DYNAMIC_AUTHORITY = f"amzn1.er-authority.echo-sdk.dynamic.{SKILL_ID}.CAMERA_NAME"


@cache
def _template(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def _fill(
    envelope: dict[str, Any], *, token: str | None, user: str, skill_id: str, locale: str | None
) -> dict[str, Any]:
    users = [envelope["context"]["System"]["user"]]
    applications = [envelope["context"]["System"]["application"]]
    if "session" in envelope:
        users.append(envelope["session"]["user"])
        applications.append(envelope["session"]["application"])
    for entry in users:
        entry["userId"] = user
        if token is None:
            entry.pop("accessToken", None)
        else:
            entry["accessToken"] = token
    for application in applications:
        application["applicationId"] = skill_id
    if locale is not None:
        envelope["request"]["locale"] = locale
    return envelope


def launch(
    *, token: str | None, locale: str = "en-US", user: str = ALEXA_USER, skill_id: str = SKILL_ID
) -> dict[str, Any]:
    return _fill(copy.deepcopy(_template("launch")), token=token, user=user, skill_id=skill_id, locale=locale)


def intent(
    name: str,
    *,
    token: str | None,
    locale: str = "en-US",
    slots: dict[str, Any] | None = None,
    confirmation: str = "NONE",
    user: str = ALEXA_USER,
    skill_id: str = SKILL_ID,
    new_session: bool = False,
) -> dict[str, Any]:
    envelope = _fill(
        copy.deepcopy(_template("intent")), token=token, user=user, skill_id=skill_id, locale=locale
    )
    envelope["session"]["new"] = new_session
    envelope["request"]["intent"] = {"name": name, "confirmationStatus": confirmation, "slots": slots or {}}
    return envelope


def session_ended(*, token: str | None, locale: str = "en-US", user: str = ALEXA_USER) -> dict[str, Any]:
    return _fill(
        copy.deepcopy(_template("session_ended")), token=token, user=user, skill_id=SKILL_ID, locale=locale
    )


def skill_event(
    event_name: str,
    *,
    body: dict[str, Any] | None = None,
    token: str | None = None,
    user: str = ALEXA_USER,
    skill_id: str = SKILL_ID,
) -> dict[str, Any]:
    """An ``AlexaSkillEvent.<event_name>``; ``token`` is the context's accessToken (linked users only)."""
    envelope = _fill(
        copy.deepcopy(_template("skill_event")), token=token, user=user, skill_id=skill_id, locale=None
    )
    envelope["request"]["type"] = f"AlexaSkillEvent.{event_name}"
    envelope["request"]["body"] = body or {}
    return envelope


def camera_slot(
    heard: str | None = None,
    *,
    static: tuple[str, str] | None = None,
    dynamic: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The ``camera`` slot as Alexa fills it: heard words plus entity-resolution results (id, name)."""
    slot: dict[str, Any] = {"name": "camera", "confirmationStatus": "NONE"}
    if heard is None:
        return {"camera": slot}
    slot["value"] = heard
    slot["source"] = "USER"
    authorities = []
    if dynamic is not None:
        authorities.append(_authority(DYNAMIC_AUTHORITY, dynamic))
    else:
        authorities.append({"authority": DYNAMIC_AUTHORITY, "status": {"code": "ER_SUCCESS_NO_MATCH"}})
    if static is not None:
        authorities.append(_authority(STATIC_AUTHORITY, static))
    else:
        authorities.append({"authority": STATIC_AUTHORITY, "status": {"code": "ER_SUCCESS_NO_MATCH"}})
    slot["resolutions"] = {"resolutionsPerAuthority": authorities}
    return {"camera": slot}


def _authority(authority: str, value: tuple[str, str]) -> dict[str, Any]:
    entity_id, name = value
    return {
        "authority": authority,
        "status": {"code": "ER_SUCCESS_MATCH"},
        "values": [{"value": {"name": name, "id": entity_id}}],
    }


# --- answers --------------------------------------------------------------------------------------

MAX_SPEECH_CHARACTERS = 8000  # outputSpeech and reprompt SSML, <speak></speak> included


def spoken(answer: dict[str, Any], part: str = "outputSpeech") -> str:
    """The text inside <speak>; fails if the SSML is malformed or carries any element."""
    container = answer["response"] if part == "outputSpeech" else answer["response"]["reprompt"]
    speech = container["outputSpeech"]
    assert speech["type"] == "SSML"
    root = ElementTree.fromstring(speech["ssml"])  # noqa: S314  (our own output, and the point is to parse it)
    assert root.tag == "speak"
    assert list(root) == [], "speech must not contain SSML elements"
    return root.text or ""


def response_errors(answer: dict[str, Any]) -> list[str]:
    """Where a custom-skill answer breaks the response envelope: what ask-sdk-model's ResponseEnvelope
    drops, adds or changes on a round trip (unknown or misspelt keys, wrong types), and Alexa's limits."""
    from ask_sdk_model import ResponseEnvelope
    from ask_sdk_model_runtime import DefaultSerializer

    from tests.voice.test_interaction_model import json_diff

    serializer = DefaultSerializer()
    read = serializer.serialize(serializer.deserialize(json.dumps(answer), ResponseEnvelope))
    errors = json_diff(answer, read)
    if answer.get("version") != "1.0":
        errors.append(f"/version: {answer.get('version')!r}")
    response = answer.get("response") or {}
    for where, container in (("outputSpeech", response), ("reprompt", response.get("reprompt") or {})):
        ssml = (container.get("outputSpeech") or {}).get("ssml", "")
        if len(ssml) > MAX_SPEECH_CHARACTERS:
            errors.append(f"/{where}: {len(ssml)} SSML characters")
    return errors
