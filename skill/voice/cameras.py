"""The user's cameras in the voice model: per-user slot values and matching what was said.

Dynamic entities give the ``CAMERA_NAME`` slot the user's own camera names for the session (ids:
the opaque endpointIds Alexa knows from discovery, never ACCloud device ids). The static values
carry language-neutral ids (GARAGE, DOORBELL, ...), matched by meaning: 「ガレージ」 finds a camera
named "Garage", "Haustür" one named "Front Door", "the doorbell" the only doorbell. Names compare
case- and diacritics-insensitively; several fits are never guessed between (``candidates``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from skill.alexa.endpoints import UndescribableDevice, fallback_names, friendly_name
from skill.cloud.contract import Device
from skill.privacy import pseudonyms
from skill.voice import readings

SLOT_TYPE = "CAMERA_NAME"
MAX_DYNAMIC_ENTITIES = 100  # Alexa's limit per Dialog.UpdateDynamicEntities, values and synonyms together
READING_LANGUAGES = ("ja",)  # transcribed in another script than the app's Latin names
# The static CAMERA_NAME values' words in every shipped locale, generated from the voice models
# (tests/voice/test_camera_words.py regenerates and checks it): the Lambda package has no models.
CAMERA_WORDS_PATH = Path(__file__).with_name("camera_words.json")
# Static value ids that name a kind of device rather than a place: the only doorbell is "the doorbell".
CATEGORIES = {"DOORBELL": "doorbell"}
DYNAMIC_AUTHORITY_MARK = ".er-authority.echo-sdk.dynamic."
_NON_WORD = re.compile(r"[\W_]+")
_KANA_VOICING = "\u3099\u309a"  # combining (han)dakuten: part of the kana, not a diacritic


@dataclass(frozen=True)
class Camera:
    """A device as the voice side needs it: the spoken name and the opaque endpointId."""

    device: Device
    endpoint_id: str
    # What discovery reported to Alexa (``endpoints.friendly_name``: letters, digits and single
    # spaces, at most 128 characters), or the fallback it gave a name with nothing to say
    # ("ZOSI Camera 2"). Speech uses only this: the raw ZOSI name may hold control characters
    # (ill-formed SSML) or run to any length (over Alexa's speech limit).
    spoken_name: str

    @property
    def name(self) -> str:
        """The name Alexa knows the camera by, the one the Alexa app shows."""
        return self.spoken_name


def cameras_of(owner_user_id: str, devices: Iterable[Device]) -> list[Camera]:
    devices = list(devices)
    fallbacks = fallback_names(devices)  # the names discovery gives devices without one
    found = []
    for device in devices:
        endpoint_id = pseudonyms.endpoint_id(owner_user_id, device.id)
        try:
            found.append(Camera(device, endpoint_id, friendly_name(device.name)))
        except UndescribableDevice:
            found.append(Camera(device, endpoint_id, fallbacks[device.id]))
    return found


def normalize(text: str) -> str:
    """Casefolded, without diacritics or punctuation, single spaces ("Cámara-Jardín" -> "camara jardin").
    Kana keep their voicing marks: 「ガレージ」 is not 「カレーシ」, 「バス」 not 「ハス」."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch in _KANA_VOICING)
    return _NON_WORD.sub(" ", unicodedata.normalize("NFC", bare).casefold()).strip()


class Heard(NamedTuple):
    """What the slot carries: dynamic entity ids (endpointIds), static value ids, words."""

    entity_ids: list[str]
    meaning_ids: list[str]
    phrases: list[str]


def match(
    cameras: Sequence[Camera],
    *,
    ids: Iterable[str] = (),
    meanings: Iterable[str] = (),
    phrases: Iterable[str] = (),
) -> Camera | None:
    """The one camera the slot means, or None if none or several fit."""
    found = candidates(cameras, Heard(list(ids), list(meanings), list(phrases)))
    return found[0] if len(found) == 1 else None


def candidates(cameras: Sequence[Camera], heard: Heard) -> list[Camera]:
    """The cameras the slot may mean, from the first test that any camera passes, in this order:
    the dynamic entity's endpointId (the user's own name, as loaded); a name equal to the heard words
    or to a word of the static value's meaning in any shipped language ("Garage" for GARAGE said as
    「ガレージ」); a name containing such words ("Front Door Cam"); the meaning's category (the
    doorbells for DOORBELL). One camera is the answer; several mean "ask which"."""
    by_endpoint = {camera.endpoint_id: camera for camera in cameras}
    dynamic = [by_endpoint[entity_id] for entity_id in heard.entity_ids if entity_id in by_endpoint]
    if dynamic:
        return dynamic[:1]
    forms = [(camera, _forms(camera)) for camera in cameras]
    said = [phrase for phrase in (normalize(p) for p in heard.phrases) if phrase]
    meant = [word for meaning in heard.meaning_ids for word in meaning_words(meaning)]
    exact = set(said + meant)
    found = [camera for camera, names in forms if names & exact]
    if not found:
        found = [
            camera
            for camera, names in forms
            if any(_overlaps(name, phrase) for name in names for phrase in said)
            or any(_holds(name, word) for name in names for word in meant)
        ]
    if found:
        return found
    kinds = {CATEGORIES[meaning] for meaning in heard.meaning_ids if meaning in CATEGORIES}
    return [camera for camera in cameras if camera.device.kind in kinds]


def _forms(camera: Camera) -> set[str]:
    """The camera's names as compared: the ZOSI and Alexa names and, for Latin names, the katakana reading."""
    names = {camera.device.name, camera.spoken_name}
    names |= {reading for reading in map(readings.katakana, names) if reading}
    return {normalize(name) for name in names} - {""}


def _overlaps(name: str, said: str) -> bool:
    """Heard words and a name, either within the other: "garage" for "Garage Cam", "the garage camera"
    for "Garage"; without spaces (ja-JP) by characters: 「ガレージのカメラ」 for 「ガレージ」."""
    return _holds(name, said) or _holds(said, name)


def _holds(name: str, word: str) -> bool:
    """The name contains the word ("Front Door Cam" holds "front door"; 「玄関カメラ」 holds 「玄関」).
    Only this way round for a meaning's words: "allée du garage" (a driveway) holds "garage"."""
    if set(word.split()) <= set(name.split()):
        return True
    return " " not in name and " " not in word and word in name


def meaning_words(meaning_id: str) -> list[str]:
    """The words of a static value id in every shipped locale (value and synonyms), normalized."""
    return [normalize(word) for word in _camera_words().get(meaning_id, [])]


@cache
def _camera_words() -> dict[str, list[str]]:
    words: dict[str, list[str]] = json.loads(CAMERA_WORDS_PATH.read_text(encoding="utf-8"))["ids"]
    return words


def slot_candidates(slot: Any) -> Heard:
    """What an ask-sdk Slot carries: resolved dynamic and static ids, then canonical and heard words."""
    heard = Heard([], [], [])
    if slot is None:
        return heard
    resolutions = getattr(slot, "resolutions", None)
    for authority in getattr(resolutions, "resolutions_per_authority", None) or []:
        status = getattr(getattr(authority, "status", None), "code", None)
        if getattr(status, "value", status) != "ER_SUCCESS_MATCH":
            continue
        ids = heard.entity_ids if DYNAMIC_AUTHORITY_MARK in (authority.authority or "") else heard.meaning_ids
        for wrapper in authority.values or []:
            value = wrapper.value
            if value is None:
                continue
            if value.id:
                ids.append(value.id)
            if value.name:
                heard.phrases.append(value.name)
    if getattr(slot, "value", None):
        heard.phrases.append(slot.value)
    return heard


def dynamic_entities(cameras: Sequence[Camera], locale: str = "") -> list[Any]:
    """``[Dialog.UpdateDynamicEntities]`` (REPLACE) with the camera names; ``[]`` if none is speakable.

    In ja-JP a Latin name also gets its katakana reading as a synonym (how Japanese speech is
    transcribed). Values and synonyms together stay within Alexa's 100 per update: the names first,
    then readings while room is left.
    """
    from ask_sdk_model.dialog import DynamicEntitiesDirective
    from ask_sdk_model.er.dynamic import Entity, EntityListItem, EntityValueAndSynonyms, UpdateBehavior

    named = [camera for camera in cameras if camera.spoken_name][:MAX_DYNAMIC_ENTITIES]
    if not named:
        return []
    room = MAX_DYNAMIC_ENTITIES - len(named)
    values = []
    for camera in named:
        reading = readings.katakana(camera.spoken_name) if locale.startswith(READING_LANGUAGES) else None
        synonyms: list[object] = [reading] if reading and room > 0 else []
        room -= len(synonyms)
        values.append(
            Entity(
                id=camera.endpoint_id,
                name=EntityValueAndSynonyms(value=camera.spoken_name, synonyms=synonyms),
            )
        )
    return [
        DynamicEntitiesDirective(
            update_behavior=UpdateBehavior.REPLACE, types=[EntityListItem(name=SLOT_TYPE, values=values)]
        )
    ]
