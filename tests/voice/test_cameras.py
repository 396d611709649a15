"""skill/voice/cameras.py: which of the user's cameras a CAMERA_NAME slot means, and the dynamic entities.

Matching by meaning, in order: the dynamic entity's endpointId; a name equal to the heard words or to
the static value id's words in any shipped language; a name containing them; the id's category.
The ask-which answer for several fits is
tests/voice/test_handlers.py::test_camera_status_does_not_guess_between_two_matches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from ask_sdk_model import Slot
from ask_sdk_model_runtime import DefaultSerializer

from skill.cloud.contract import Device, DeviceKind
from skill.voice import cameras
from skill.voice.cameras import MAX_DYNAMIC_ENTITIES, Camera, Heard, candidates, match, slot_candidates
from tests.voice.envelopes import camera_slot


def camera(name: str, kind: DeviceKind = "camera") -> Camera:
    endpoint_id = "ep-" + name.casefold().replace(" ", "-")
    device = Device(f"dev-{endpoint_id}", name, kind, "C1", "v1", online=True, privacy_mode=False)
    return Camera(device, endpoint_id, name)


def names(found: Sequence[Camera]) -> list[str]:
    return [c.name for c in found]


def heard(*, ids: Sequence[str] = (), meanings: Sequence[str] = (), phrases: Sequence[str] = ()) -> Heard:
    return Heard(list(ids), list(meanings), list(phrases))


HOME = [camera("Front Door", "doorbell"), camera("Garage"), camera("Garage Side"), camera("Back Yard")]


# --- order of the tests ---------------------------------------------------------------------------


def test_the_dynamic_entity_id_wins_over_a_name_that_equals_the_words() -> None:
    # Alexa resolved the user's own "Garage Side"; the words alone would pick "Garage".
    found = candidates(HOME, heard(ids=["ep-garage-side"], meanings=["GARAGE"], phrases=["garage"]))
    assert names(found) == ["Garage Side"]


def test_an_entity_id_of_no_current_camera_falls_back_to_the_words() -> None:
    found = candidates(HOME, heard(ids=["ep-removed-yesterday"], phrases=["back yard"]))
    assert names(found) == ["Back Yard"]


def test_a_name_equal_to_the_words_wins_over_names_containing_them() -> None:
    assert names(candidates(HOME, heard(phrases=["Garage"]))) == ["Garage"]


def test_a_name_containing_the_words_or_contained_in_them() -> None:
    assert names(candidates(HOME, heard(phrases=["side"]))) == ["Garage Side"]
    assert names(candidates(HOME, heard(phrases=["the back yard camera"]))) == ["Back Yard"]


def test_names_compare_without_case_diacritics_or_punctuation() -> None:
    found = candidates([camera("Jardín Trasero"), camera("Garage")], heard(phrases=["JARDIN-trasero"]))
    assert names(found) == ["Jardín Trasero"]


def test_kana_keep_their_voicing_marks() -> None:
    # Stripping diacritics must not turn 「バス」 (the reading of "Bath") into 「ハス」.
    assert cameras.normalize("ガレージ") == "ガレージ"
    assert cameras.normalize("ｶﾞﾚｰｼﾞ") == "ガレージ"  # half-width katakana
    assert names(candidates([camera("Bath"), camera("ハス")], heard(phrases=["バス"]))) == ["Bath"]


# --- the static value's meaning in any locale -------------------------------------------------------


@pytest.mark.parametrize(
    ("meaning", "said", "expected"),
    [
        ("GARAGE", "ガレージ", "Garage"),  # ja-JP: the word is the katakana reading of the app name
        ("GARAGE", "車庫", "Garage"),  # ja-JP: a synonym with no reading in common
        ("FRONT_DOOR", "Haustür", "Front Door"),  # de-DE
        ("FRONT_DOOR", "玄関", "Front Door"),
        ("GARDEN", "Garten", "Back Yard"),  # en-GB's "back yard" is one of GARDEN's words
    ],
)
def test_a_static_id_finds_the_camera_named_in_another_language(
    meaning: str, said: str, expected: str
) -> None:
    one_each = [camera("Front Door", "doorbell"), camera("Garage"), camera("Back Yard")]
    assert names(candidates(one_each, heard(meanings=[meaning], phrases=[said]))) == [expected]


def test_a_static_id_finds_a_name_containing_its_words() -> None:
    found = candidates(
        [camera("Front Door Cam"), camera("Patio")], heard(meanings=["FRONT_DOOR"], phrases=["玄関"])
    )
    assert names(found) == ["Front Door Cam"]


def test_a_latin_name_matches_the_japanese_words_around_it() -> None:
    # 「ガレージのカメラ」: the slot took the particle and the noun as well.
    found = candidates([camera("Garage"), camera("Back Yard")], heard(phrases=["ガレージのカメラ"]))
    assert names(found) == ["Garage"]


def test_meaning_words_come_from_every_shipped_locale() -> None:
    assert {"garage", "garaje", "ガレージ", "車庫"} <= set(cameras.meaning_words("GARAGE"))
    assert cameras.meaning_words("NO_SUCH_ID") == []


# --- category --------------------------------------------------------------------------------------


def test_doorbell_means_the_only_doorbell_whatever_its_name() -> None:
    found = candidates(HOME, heard(meanings=["DOORBELL"], phrases=["ドアホン"]))
    assert names(found) == ["Front Door"]
    assert match(HOME, meanings=["DOORBELL"], phrases=["the doorbell"]) == HOME[0]


def test_two_doorbells_are_both_candidates_and_no_single_match() -> None:
    two = [camera("Front Door", "doorbell"), camera("Back Door", "doorbell"), camera("Garage")]
    found = candidates(two, heard(meanings=["DOORBELL"], phrases=["doorbell"]))
    assert names(found) == ["Front Door", "Back Door"]
    assert match(two, meanings=["DOORBELL"], phrases=["doorbell"]) is None


def test_a_place_id_has_no_category_fallback() -> None:
    assert candidates(HOME, heard(meanings=["NURSERY"], phrases=["子供部屋"])) == []


def test_nothing_fits_means_not_found() -> None:
    assert candidates(HOME, heard(phrases=["attic"])) == []
    assert match(HOME, phrases=["attic"]) is None
    assert candidates(HOME, heard()) == []


# --- what the slot carries -------------------------------------------------------------------------


def _slot(body: dict[str, Any]) -> Slot:
    slot: Slot = DefaultSerializer().deserialize(json.dumps(body["camera"]), Slot)
    return slot


def test_slot_candidates_split_dynamic_ids_static_ids_and_words() -> None:
    slot = _slot(camera_slot("ガレージ", static=("GARAGE", "ガレージ"), dynamic=("ep-garage", "Garage")))
    assert slot_candidates(slot) == Heard(["ep-garage"], ["GARAGE"], ["Garage", "ガレージ", "ガレージ"])


def test_slot_candidates_skip_authorities_without_a_match() -> None:
    assert slot_candidates(_slot(camera_slot("物置"))) == Heard([], [], ["物置"])
    assert slot_candidates(_slot(camera_slot())) == Heard([], [], [])
    assert slot_candidates(None) == Heard([], [], [])


# --- dynamic entities within Alexa's limit ----------------------------------------------------------


def _entities(directives: list[Any]) -> list[dict[str, Any]]:
    (directive,) = [DefaultSerializer().serialize(d) for d in directives]
    assert directive["type"] == "Dialog.UpdateDynamicEntities"
    assert directive["updateBehavior"] == "REPLACE"
    (slot_type,) = directive["types"]
    assert slot_type["name"] == "CAMERA_NAME"
    entities: list[dict[str, Any]] = slot_type["values"]
    return entities


def _count(entities: list[dict[str, Any]]) -> int:
    """Values and synonyms together, as Alexa counts them."""
    return sum(1 + len(entity["name"].get("synonyms") or []) for entity in entities)


def test_ja_jp_adds_the_katakana_reading_as_a_synonym() -> None:
    entities = _entities(cameras.dynamic_entities(HOME, "ja-JP"))
    by_id = {entity["id"]: entity["name"] for entity in entities}
    assert by_id["ep-front-door"] == {"value": "Front Door", "synonyms": ["フロントドア"]}
    assert by_id["ep-garage-side"] == {"value": "Garage Side", "synonyms": ["ガレージサイド"]}


def test_other_locales_send_the_names_only() -> None:
    entities = _entities(cameras.dynamic_entities(HOME, "de-DE"))
    assert [(e["name"]["value"], e["name"].get("synonyms") or []) for e in entities] == [
        ("Front Door", []),
        ("Garage", []),
        ("Garage Side", []),
        ("Back Yard", []),
    ]


@pytest.mark.parametrize("count", [1, 60, 99, 100, 101, 250])
def test_values_and_synonyms_stay_within_alexas_limit(count: int) -> None:
    # Every name has a reading, so each camera would bring two entries.
    many = [
        camera(name)
        for name in (
            f"{a} {b}"
            for a in ("Front", "Back", "Side", "Rear", "Top")
            for b in ("Door", "Yard", "Gate", "Garage", "Garden", "Patio", "Porch", "Deck", "Shed", "Pool")
        )
    ]
    many = [Camera(c.device._replace(id=f"{c.device.id}-{i}"), f"{c.endpoint_id}-{i}", c.spoken_name)
            for i in range(count // len(many) + 1) for c in many][:count]  # fmt: skip
    entities = _entities(cameras.dynamic_entities(many, "ja-JP"))
    assert _count(entities) == min(2 * count, MAX_DYNAMIC_ENTITIES)
    # The names come first: a reading never takes the place of a camera.
    assert len(entities) == min(count, MAX_DYNAMIC_ENTITIES)


def test_the_cap_is_alexas_documented_limit() -> None:
    assert MAX_DYNAMIC_ENTITIES == 100


def test_no_speakable_name_sends_no_directive() -> None:
    assert cameras.dynamic_entities([], "ja-JP") == []
