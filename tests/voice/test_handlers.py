"""Voice requests end to end: lambda_handler.handler -> ask-sdk-core skill -> reference ACCloud + moto.

Every handler is exercised in en-US and de-DE (Launch in a third locale too), linked and unlinked,
with real request envelopes (tests/voice/envelopes). Speech is parsed as XML, so a camera name
that smuggled markup into the SSML would fail every test that speaks it.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ElementTree
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import demo_data as demo
from devstack.accloud import AccloudServer
from models import store
from models.store import EndpointRecord
from skill import warm
from skill.privacy import pseudonyms
from skill.voice import dispatch, handlers, strings
from tests.voice import envelopes
from tests.voice.envelopes import (
    ALEXA_USER,
    OTHER_ALEXA_USER,
    camera_slot,
    intent,
    launch,
    skill_event,
    spoken,
    stack,
)
from tests.voice.envelopes.stack import POLICY_VERSION, invoke, partition, table_items

# Fixtures shared with test_skill_events.py (registered here by assignment).
accloud_server = stack.accloud_server
voice_stack = stack.voice_stack

REPO = Path(__file__).resolve().parents[2]
LOCALES = ("en-US", "de-DE")
ALICE_NAMES = ["Front Door", "Garage", "Back Yard", "Nursery", "Shed", "Driveway", "Side Gate", "Workshop"]


# --- helpers ----------------------------------------------------------------------------------


def token_for(server: AccloudServer, username: str) -> str:
    token: str = server.issue_token(username)["access_token"]
    return token


def link(server: AccloudServer, username: str, alexa_user: str = ALEXA_USER) -> str:
    """Link as Alexa does: OAuth at ACCloud, then the SkillAccountLinked event. Returns the access token."""
    token = token_for(server, username)
    invoke(skill_event("SkillAccountLinked", body={"accessToken": token}, token=token, user=alexa_user))
    return token


def user_key(server: AccloudServer, username: str) -> str:
    return pseudonyms.user_key(server.user_id(username))


def ssml_of(answer: dict[str, Any], part: str = "outputSpeech") -> str:
    container = answer["response"] if part == "outputSpeech" else answer["response"]["reprompt"]
    speech = container["outputSpeech"]
    assert speech["type"] == "SSML"
    ssml: str = speech["ssml"]
    return ssml


def say(locale: str, key: str, **values: object) -> str:
    return strings.render(locale, key, **values)


def directive_types(answer: dict[str, Any]) -> list[str]:
    return [d["type"] for d in answer["response"].get("directives", [])]


def directive(answer: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in answer["response"]["directives"] if d["type"] == kind)
    return found


def ends_session(answer: dict[str, Any]) -> bool | None:
    return answer["response"].get("shouldEndSession")


def assert_link_account(answer: dict[str, Any], locale: str, key: str = "link_account_required") -> None:
    assert spoken(answer) == say(locale, key)
    assert answer["response"]["card"] == {"type": "LinkAccount"}
    assert ends_session(answer) is True


def entity_values(answer: dict[str, Any]) -> list[dict[str, Any]]:
    update = directive(answer, "Dialog.UpdateDynamicEntities")
    assert update["updateBehavior"] == "REPLACE"
    (camera_type,) = update["types"]
    assert camera_type["name"] == "CAMERA_NAME"
    values: list[dict[str, Any]] = camera_type["values"]
    return values


def alice_endpoint(device_id: str) -> str:
    return pseudonyms.endpoint_id(demo.ALICE_ID, device_id)


# --- Launch -----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "ja-JP", "fr-FR"])
def test_launch_linked_counts_cameras_and_loads_their_names(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    answer = invoke(launch(token=token, locale=locale))

    assert answer["version"] == "1.0"
    assert spoken(answer) == strings.render_count(locale, "launch_linked", len(ALICE_NAMES))
    assert spoken(answer, "reprompt") == say(locale, "reprompt")
    assert ends_session(answer) is False
    assert "card" not in answer["response"]  # the accepted policy is current: no notice
    values = entity_values(answer)
    assert [v["name"]["value"] for v in values] == ALICE_NAMES
    assert all(v["id"].startswith("z1_") for v in values)
    # Entity ids are the opaque endpointIds, never ACCloud device ids.
    assert "dev_" not in json.dumps(values)
    assert values[1]["id"] == alice_endpoint(demo.GARAGE)


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "fr-FR"])
def test_launch_unlinked_sends_a_link_account_card_and_stores_nothing(
    voice_stack: AccloudServer, locale: str
) -> None:
    answer = invoke(launch(token=None, locale=locale))
    assert_link_account(answer, locale, "launch_unlinked")
    assert table_items() == []


def test_launch_with_one_camera_uses_the_singular(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "bob")
    answer = invoke(launch(token=token, locale="de-DE"))
    assert spoken(answer) == say("de-DE", "launch_linked_one")
    assert [v["name"]["value"] for v in entity_values(answer)] == ["Porch"]


@pytest.mark.parametrize("locale", LOCALES)
def test_launch_without_cameras_ends_the_session(voice_stack: AccloudServer, locale: str) -> None:
    voice_stack.remove_device(demo.PORCH)
    token = link(voice_stack, "bob")
    answer = invoke(launch(token=token, locale=locale))
    assert spoken(answer) == say(locale, "launch_no_cameras")
    assert ends_session(answer) is True
    assert "directives" not in answer["response"]


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "it-IT"])
def test_launch_announces_a_newer_policy_once_and_records_it(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    key = user_key(voice_stack, "alice")
    profile = store.get_profile(key)
    assert profile is not None
    store.put_profile(
        key,
        consented_at=profile.consented_at,
        linked_at=profile.linked_at,
        accepted_policy_version="2019-06-01",
    )

    first = invoke(launch(token=token, locale=locale))
    expected = strings.render_count(locale, "launch_linked", len(ALICE_NAMES))
    notice = say(locale, "policy_updated", version=POLICY_VERSION)
    joiner = "" if locale.startswith("ja") else " "
    assert spoken(first) == notice + joiner + expected
    assert first["response"]["card"] == {
        "type": "Simple",
        "title": say(locale, "policy_card_title"),
        "content": say(locale, "policy_card_text", url="https://www.zositech.com/privacy-policy?lang=x&v=2"),
    }
    updated = store.get_profile(key)
    assert updated is not None
    assert updated.accepted_policy_version == POLICY_VERSION
    assert updated.consented_at == profile.consented_at  # consent time is not rewritten

    second = invoke(launch(token=token, locale=locale))
    assert spoken(second) == expected
    assert "card" not in second["response"]


def test_a_policy_notice_keeps_a_consent_withdrawal_recorded(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "alice")
    key = user_key(voice_stack, "alice")
    profile = store.get_profile(key)
    assert profile is not None
    withdrawn = profile.consented_at + timedelta(seconds=1)
    store.put_profile(
        key,
        consented_at=profile.consented_at,
        accepted_policy_version="2019-06-01",
        consent_withdrawn_at=withdrawn,
    )
    invoke(launch(token=token))  # announces the newer policy and rewrites the profile
    updated = store.get_profile(key)
    assert updated is not None and updated.accepted_policy_version == POLICY_VERSION
    assert updated.consent_withdrawn_at == withdrawn


def test_launch_of_a_user_without_profile_announces_nothing_and_stores_nothing(
    voice_stack: AccloudServer,
) -> None:
    token = token_for(voice_stack, "alice")  # linked at ACCloud, but no SkillAccountLinked event seen
    answer = invoke(launch(token=token))
    assert spoken(answer) == strings.render_count("en-US", "launch_linked", len(ALICE_NAMES))
    assert table_items() == []


def test_launch_records_activity(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "alice")
    key = user_key(voice_stack, "alice")
    before = store.get_profile(key)
    invoke(launch(token=token))
    after = store.get_profile(key)
    assert before is not None and after is not None
    assert after.last_active_at > before.last_active_at


@pytest.mark.parametrize(
    ("current", "accepted", "newer"),
    [
        ("2024-05-01", "2019-06-01", True),
        ("2019-06-01", "2024-05-01", False),
        ("2024-05-01", "2024-05-01", False),
        ("2.10", "2.9", True),
        ("v3", "v2", True),
        ("spring", "winter", True),
        ("same", "same", False),
        ("2024-05-01", None, True),
    ],
)
def test_policy_versions_compare_by_their_numbers(current: str, accepted: str | None, newer: bool) -> None:
    assert handlers.version_is_newer(current, accepted) is newer


# --- ListCameras ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_list_cameras_speaks_the_first_names_and_asks_which_to_check(
    voice_stack: AccloudServer, locale: str
) -> None:
    token = link(voice_stack, "alice")
    answer = invoke(intent("ListCameras", token=token, locale=locale))
    listing = say(
        locale,
        "list_cameras_many",
        count=8,
        names=strings.join_names(locale, ALICE_NAMES[: handlers.LIST_LIMIT]),
        more=8 - handlers.LIST_LIMIT,
    )
    assert spoken(answer) == f"{listing} {say(locale, 'camera_status_which')}"
    assert spoken(answer, "reprompt") == say(locale, "camera_status_which")
    assert directive_types(answer) == ["Dialog.UpdateDynamicEntities", "Dialog.ElicitSlot"]
    elicit = directive(answer, "Dialog.ElicitSlot")
    assert elicit["slotToElicit"] == "camera"
    assert elicit["updatedIntent"]["name"] == "CameraStatus"
    assert ends_session(answer) is False
    assert len(entity_values(answer)) == 8


def test_list_cameras_of_a_few_names_them_all(voice_stack: AccloudServer) -> None:
    for device_id in (demo.SHED, demo.DRIVEWAY, demo.SIDE_GATE, demo.WORKSHOP, demo.NURSERY):
        voice_stack.remove_device(device_id)
    token = link(voice_stack, "alice")
    answer = invoke(intent("ListCameras", token=token))
    assert spoken(answer).startswith("You have 3 cameras: Front Door, Garage and Back Yard.")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en-US", "You have one camera: Porch."), ("de-DE", "Du hast eine Kamera: Porch.")],
)
def test_list_cameras_with_one_camera_just_names_it(
    voice_stack: AccloudServer, locale: str, expected: str
) -> None:
    token = link(voice_stack, "bob")
    answer = invoke(intent("ListCameras", token=token, locale=locale))
    assert spoken(answer) == expected
    assert ends_session(answer) is True


@pytest.mark.parametrize("locale", LOCALES)
def test_list_cameras_without_cameras(voice_stack: AccloudServer, locale: str) -> None:
    voice_stack.remove_device(demo.PORCH)
    token = link(voice_stack, "bob")
    answer = invoke(intent("ListCameras", token=token, locale=locale))
    assert spoken(answer) == say(locale, "list_cameras_none")


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ('Garage <2> & "Co"', "Garage 2 Co"),
        ("</speak><audio src='x'/>", "speak audio src x"),
        ("Kid's & Baby's <Room>", "Kid s Baby s Room"),
        ("Gar\x07age\x00 \x1b[31mCam", "Gar age 31mCam"),  # control characters: ill-formed XML as they are
    ],
)
def test_camera_names_are_spoken_as_discovery_names_them(
    voice_stack: AccloudServer, name: str, said: str
) -> None:
    from skill.alexa.endpoints import friendly_name

    assert friendly_name(name) == said  # the name the Alexa app shows for the camera
    voice_stack.rename_device(demo.GARAGE, name)
    token = link(voice_stack, "alice")
    answer = invoke(intent("ListCameras", token=token))
    assert said in spoken(answer)  # the SSML parses as XML
    assert "<audio" not in ssml_of(answer) and "<2>" not in ssml_of(answer)
    status = invoke(intent("CameraStatus", token=token, slots=camera_slot(name.lower())))
    assert spoken(status) == say("en-US", "camera_status_online", name=said)


def _assert_within_alexa_limits(answer: dict[str, Any]) -> None:
    """Alexa's response limits: outputSpeech and reprompt SSML at most 8000 characters each, well-formed
    XML; a card's title and text together at most 8000; at most 100 dynamic entity values."""
    response = answer["response"]
    for part in ("outputSpeech", "reprompt"):
        if part == "outputSpeech" and "outputSpeech" not in response:
            continue
        if part == "reprompt" and "reprompt" not in response:
            continue
        assert len(ssml_of(answer, part)) <= 8000, (part, len(ssml_of(answer, part)))
        spoken(answer, part)  # parses with an XML parser, and holds no element
    card = response.get("card") or {}
    assert len(card.get("title", "")) + len(card.get("content", "") or card.get("text", "")) <= 8000
    for update in (d for d in response.get("directives", []) if d["type"] == "Dialog.UpdateDynamicEntities"):
        assert sum(len(t["values"]) for t in update["types"]) <= 100


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "ja-JP"])
@pytest.mark.parametrize("count", [1, 5, 8, 40])
def test_many_long_names_keep_every_answer_within_alexas_limits(
    voice_stack: AccloudServer, locale: str, count: int
) -> None:
    """Names of up to 2000 characters with markup, entities and control characters, on accounts of
    one to 40 cameras: every answer that speaks names stays valid SSML within Alexa's limits."""
    alice = [device["id"] for device in voice_stack.devices("alice")]
    for device_id in alice[count:]:
        voice_stack.remove_device(device_id)
    for extra in range(count - len(alice)):
        voice_stack.add_device("alice", f"Extra {extra}")
    filler = "Überwachungskamera & <Garten> \x07 Nord-Ost " * 50  # 2000 characters
    for number, device in enumerate(voice_stack.devices("alice")):
        voice_stack.rename_device(device["id"], f"{number} {filler}"[:2000])
    token = link(voice_stack, "alice")
    asked = [
        launch(token=token, locale=locale),
        intent("ListCameras", token=token, locale=locale),
        intent("CameraStatus", token=token, locale=locale),
        intent("CameraStatus", token=token, locale=locale, slots=camera_slot("0 überwachungskamera garten")),
        intent("HowToView", token=token, locale=locale),
        intent("PrivacyInfo", token=token, locale=locale),
    ]
    for event in asked:
        answer = invoke(event)
        _assert_within_alexa_limits(answer)
    listing = spoken(invoke(intent("ListCameras", token=token, locale=locale)))
    assert "Überwachungskamera Garten Nord Ost" in listing  # the discovery name, not the raw one


# --- CameraStatus -----------------------------------------------------------------------------

STATUS_CASES = [
    # (heard, static resolution, dynamic resolution device, expected key, expected name)
    ("garage", ("GARAGE", "garage"), None, "camera_status_online", "Garage"),
    ("the nursery", None, None, "camera_status_privacy", "Nursery"),
    ("shed", None, None, "camera_status_offline", "Shed"),
    ("workshop", None, None, "camera_status_offline", "Workshop"),  # its NVR is offline
    ("gate", ("GATE", "side gate"), None, "camera_status_online", "Side Gate"),
    ("backyard", ("GARDEN", "back yard"), None, "camera_status_online", "Back Yard"),
    ("drive way", None, demo.DRIVEWAY, "camera_status_online", "Driveway"),
    ("FRONT-DOOR", None, None, "camera_status_online", "Front Door"),
    ("the front door camera", ("FRONT_DOOR", "front door"), None, "camera_status_online", "Front Door"),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("heard", "static", "dynamic", "key", "name"), STATUS_CASES)
def test_camera_status_by_name(
    voice_stack: AccloudServer,
    locale: str,
    heard: str,
    static: tuple[str, str] | None,
    dynamic: str | None,
    key: str,
    name: str,
) -> None:
    token = link(voice_stack, "alice")
    dynamic_value = (alice_endpoint(dynamic), name) if dynamic else None
    slots = camera_slot(heard, static=static, dynamic=dynamic_value)
    answer = invoke(intent("CameraStatus", token=token, locale=locale, slots=slots))
    assert spoken(answer) == say(locale, key, name=name)
    assert ends_session(answer) is True


def test_camera_status_prefers_the_dynamic_id_over_the_words(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "alice")
    slots = camera_slot("garage", dynamic=(alice_endpoint(demo.SHED), "Shed"))
    answer = invoke(intent("CameraStatus", token=token, slots=slots))
    assert spoken(answer) == say("en-US", "camera_status_offline", name="Shed")


def test_camera_status_ignores_case_and_diacritics(voice_stack: AccloudServer) -> None:
    voice_stack.rename_device(demo.GARAGE, "Garagé Süd")
    token = link(voice_stack, "alice")
    answer = invoke(intent("CameraStatus", token=token, locale="de-DE", slots=camera_slot("garage sud")))
    assert spoken(answer) == say("de-DE", "camera_status_online", name="Garagé Süd")


@pytest.mark.parametrize("locale", LOCALES)
def test_camera_status_of_an_unknown_camera(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    answer = invoke(intent("CameraStatus", token=token, locale=locale, slots=camera_slot("attic")))
    assert spoken(answer) == say(locale, "camera_status_unknown_camera")
    assert ends_session(answer) is False
    assert "Dialog.UpdateDynamicEntities" in directive_types(answer)


def test_camera_status_does_not_guess_between_two_matches(voice_stack: AccloudServer) -> None:
    voice_stack.rename_device(demo.SHED, "Garage Back")
    token = link(voice_stack, "alice")
    answer = invoke(intent("CameraStatus", token=token, slots=camera_slot("back")))
    assert spoken(answer) == say("en-US", "camera_status_which_of", names="Back Yard and Garage Back")
    assert directive_types(answer) == ["Dialog.UpdateDynamicEntities", "Dialog.ElicitSlot"]


@pytest.mark.parametrize("locale", LOCALES)
def test_camera_status_without_a_name_asks_which_camera(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    answer = invoke(intent("CameraStatus", token=token, locale=locale, slots=camera_slot()))
    assert spoken(answer) == say(locale, "camera_status_which")
    assert directive_types(answer) == ["Dialog.UpdateDynamicEntities", "Dialog.ElicitSlot"]
    assert ends_session(answer) is False


@pytest.mark.parametrize("locale", LOCALES)
def test_camera_status_without_a_name_answers_for_the_only_camera(
    voice_stack: AccloudServer, locale: str
) -> None:
    token = link(voice_stack, "bob")
    answer = invoke(intent("CameraStatus", token=token, locale=locale))
    assert spoken(answer) == say(locale, "camera_status_online", name="Porch")


# --- HowToView --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_how_to_view_uses_the_first_camera_name(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    answer = invoke(intent("HowToView", token=token, locale=locale))
    assert spoken(answer) == say(locale, "how_to_view", example_name="Front Door")


@pytest.mark.parametrize("locale", LOCALES)
def test_how_to_view_unlinked_is_generic(voice_stack: AccloudServer, locale: str) -> None:
    answer = invoke(intent("HowToView", token=None, locale=locale))
    assert spoken(answer) == say(locale, "how_to_view_generic")
    assert "card" not in answer["response"]


def test_how_to_view_stays_helpful_when_accloud_is_down(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "alice")
    voice_stack.set_fault("status", 503)

    warm.reset()
    answer = invoke(intent("HowToView", token=token))
    assert spoken(answer) == say("en-US", "how_to_view_generic")


# --- PrivacyInfo ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_privacy_info_says_what_is_stored(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    answer = invoke(intent("PrivacyInfo", token=token, locale=locale))
    assert spoken(answer) == say(
        locale,
        "privacy_info",
        links=1,
        endpoints=0,
        grant_state=say(locale, "privacy_grant_no"),
        version=POLICY_VERSION,
    )


def test_privacy_info_counts_endpoints_grant_and_every_alexa_account(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "alice")
    link(voice_stack, "alice", alexa_user=OTHER_ALEXA_USER)
    key = user_key(voice_stack, "alice")
    link_key = store.links_of(key)[0].link_key
    store.save_grant(key, link_key, region="NA", ciphertext=b"\x00" * 48, expires_at=_in_an_hour())
    store.apply_endpoint_diff(
        key,
        upserts={
            alice_endpoint(demo.GARAGE): EndpointRecord(("CAMERA",), "d1"),
            alice_endpoint(demo.SHED): EndpointRecord(("CAMERA",), "d2"),
        },
    )
    answer = invoke(intent("PrivacyInfo", token=token))
    assert spoken(answer) == say(
        "en-US",
        "privacy_info",
        links=2,
        endpoints=2,
        grant_state=say("en-US", "privacy_grant_yes"),
        version=POLICY_VERSION,
    )


def test_privacy_info_without_a_profile_names_no_version(voice_stack: AccloudServer) -> None:
    token = token_for(voice_stack, "alice")
    key = user_key(voice_stack, "alice")
    store.upsert_link(key, pseudonyms.link_key("lnk_from_accept_grant"), region="NA")
    answer = invoke(intent("PrivacyInfo", token=token, locale="de-DE"))
    assert spoken(answer) == say(
        "de-DE",
        "privacy_info",
        links=1,
        endpoints=0,
        grant_state=say("de-DE", "privacy_grant_no"),
        version=say("de-DE", "privacy_version_unknown"),
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_privacy_info_unlinked_reads_what_the_alexa_account_left(
    voice_stack: AccloudServer, locale: str
) -> None:
    link(voice_stack, "alice")
    answer = invoke(intent("PrivacyInfo", token=None, locale=locale))
    assert spoken(answer) == say(
        locale,
        "privacy_info",
        links=1,
        endpoints=0,
        grant_state=say(locale, "privacy_grant_no"),
        version=POLICY_VERSION,
    )
    assert "card" not in answer["response"]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("linked", [True, False])
def test_privacy_info_when_nothing_is_stored(voice_stack: AccloudServer, locale: str, linked: bool) -> None:
    token = token_for(voice_stack, "alice") if linked else None
    answer = invoke(intent("PrivacyInfo", token=token, locale=locale))
    assert spoken(answer) == say(locale, "privacy_info_nothing")
    assert table_items() == []


# --- DeleteMyData -----------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_delete_confirmed_erases_the_user_and_confirms_with_a_card(
    voice_stack: AccloudServer, locale: str
) -> None:
    token = link(voice_stack, "alice")
    link(voice_stack, "bob", alexa_user=OTHER_ALEXA_USER)
    bob_before = partition(user_key(voice_stack, "bob"))
    assert partition(user_key(voice_stack, "alice"))

    answer = invoke(intent("DeleteMyData", token=token, locale=locale, confirmation="CONFIRMED"))

    assert spoken(answer) == say(locale, "delete_confirmed")
    assert answer["response"]["card"] == {
        "type": "Simple",
        "title": say(locale, "delete_card_title"),
        "content": say(locale, "delete_card_text"),
    }
    assert ends_session(answer) is True
    assert partition(user_key(voice_stack, "alice")) == []
    assert partition(user_key(voice_stack, "bob")) == bob_before


@pytest.mark.parametrize("locale", LOCALES)
def test_delete_denied_keeps_everything(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    before = table_items()
    answer = invoke(intent("DeleteMyData", token=token, locale=locale, confirmation="DENIED"))
    assert spoken(answer) == say(locale, "delete_cancelled")
    assert table_items() == before


def test_delete_not_yet_confirmed_asks_first(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "alice")
    before = table_items()
    answer = invoke(intent("DeleteMyData", token=token, locale="de-DE", confirmation="NONE"))
    assert spoken(answer) == say("de-DE", "delete_confirm")
    assert directive_types(answer) == ["Dialog.ConfirmIntent"]
    assert ends_session(answer) is False
    assert table_items() == before


@pytest.mark.parametrize("locale", LOCALES)
def test_delete_works_unlinked_through_the_alexa_account(voice_stack: AccloudServer, locale: str) -> None:
    link(voice_stack, "alice")
    answer = invoke(intent("DeleteMyData", token=None, locale=locale, confirmation="CONFIRMED"))
    assert spoken(answer) == say(locale, "delete_confirmed")
    # Nothing but the erasure's short-lived fence, which holds no id (tests/models/test_erasure_fence.py).
    assert [item["sk"]["S"] for item in table_items()] == ["fence"]


def test_delete_keeps_the_account_while_another_alexa_account_uses_it(voice_stack: AccloudServer) -> None:
    token = link(voice_stack, "alice")
    link(voice_stack, "alice", alexa_user=OTHER_ALEXA_USER)
    key = user_key(voice_stack, "alice")
    invoke(intent("DeleteMyData", token=token, confirmation="CONFIRMED"))
    remaining = store.links_of(key)
    assert [link.alexa_user_key for link in remaining] == [pseudonyms.alexa_user_key(OTHER_ALEXA_USER)]
    assert store.get_profile(key) is not None


def test_delete_sends_the_delete_report_first_and_a_failed_report_does_not_block(
    voice_stack: AccloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = link(voice_stack, "alice")
    key = user_key(voice_stack, "alice")
    seen: list[tuple[str, int]] = []

    def failing_report(reported_user_key: str) -> None:
        seen.append((reported_user_key, len(partition(reported_user_key))))
        raise RuntimeError("gateway down")

    monkeypatch.setattr(handlers, "delete_report_sender", lambda: failing_report)
    answer = invoke(intent("DeleteMyData", token=token, confirmation="CONFIRMED"))
    assert seen == [(key, 2)]  # called with the data still there (profile + link)
    assert spoken(answer) == say("en-US", "delete_confirmed")
    assert partition(key) == []


# --- built-in intents and session end ---------------------------------------------------------

BUILT_IN = [
    ("AMAZON.HelpIntent", "help", False),
    ("AMAZON.FallbackIntent", "fallback", False),
    ("AMAZON.StopIntent", "goodbye", True),
    ("AMAZON.CancelIntent", "goodbye", True),
    ("AMAZON.NavigateHomeIntent", "goodbye", True),
    ("SomeIntentFromANewerModel", "fallback", False),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("linked", [True, False])
@pytest.mark.parametrize(("intent_name", "key", "ends"), BUILT_IN)
def test_built_in_intents(
    voice_stack: AccloudServer, locale: str, linked: bool, intent_name: str, key: str, ends: bool
) -> None:
    token = token_for(voice_stack, "alice") if linked else None
    voice_stack.reset_request_counts()
    answer = invoke(intent(intent_name, token=token, locale=locale))
    assert spoken(answer) == say(locale, key)
    assert ends_session(answer) is ends
    if not ends:
        assert spoken(answer, "reprompt") == say(locale, "reprompt")
    assert "card" not in answer["response"]
    assert voice_stack.request_counts() == {}  # answered without ACCloud


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("linked", [True, False])
def test_session_ended_gets_an_empty_response(voice_stack: AccloudServer, locale: str, linked: bool) -> None:
    token = token_for(voice_stack, "alice") if linked else None
    answer = invoke(envelopes.session_ended(token=token, locale=locale))
    assert answer["version"] == "1.0"
    assert "outputSpeech" not in answer["response"]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("intent_name", ["ListCameras", "CameraStatus"])
def test_unlinked_users_get_a_link_account_card(
    voice_stack: AccloudServer, locale: str, intent_name: str
) -> None:
    answer = invoke(intent(intent_name, token=None, locale=locale, slots=camera_slot("garage")))
    assert_link_account(answer, locale)
    assert table_items() == []


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_a_token_accloud_rejects_asks_to_link_again(voice_stack: AccloudServer, locale: str) -> None:
    answer = invoke(intent("ListCameras", token="not-a-token-accloud-knows", locale=locale))
    assert_link_account(answer, locale)


@pytest.mark.parametrize("flow", ["PrivacyInfo", "DeleteMyData"])
def test_a_token_accloud_revoked_reads_and_erases_nothing_though_the_container_knew_it(
    voice_stack: AccloudServer, flow: str
) -> None:
    """The per-container user cache must not outlive a revocation for the flows on stored data:
    the revoked token neither reveals nor erases the partition (the Alexa account knows no link)."""
    from skill.voice import identity

    token = token_for(voice_stack, "alice")
    key = user_key(voice_stack, "alice")
    store.upsert_link(
        key, identity.link_of(identity.resolve_token(token)).link_key, region="NA"
    )  # not indexed
    assert spoken(invoke(intent("PrivacyInfo", token=token))) != say("en-US", "privacy_info_nothing")
    stored = partition(key)
    voice_stack.revoke_all("alice")

    answer = invoke(intent(flow, token=token, confirmation="CONFIRMED" if flow == "DeleteMyData" else "NONE"))

    if flow == "PrivacyInfo":
        assert spoken(answer) == say("en-US", "privacy_info_nothing")
    assert partition(key) == stored


@pytest.mark.parametrize("locale", LOCALES)
def test_accloud_unavailable_is_said_so(voice_stack: AccloudServer, locale: str) -> None:
    token = link(voice_stack, "alice")
    voice_stack.set_fault("status", 503)

    warm.reset()
    answer = invoke(launch(token=token, locale=locale))
    assert spoken(answer) == say(locale, "error_cloud_unavailable")
    assert ends_session(answer) is True
    assert "card" not in answer["response"]


def test_accloud_unreachable_is_said_so(voice_stack: AccloudServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", f"http://127.0.0.1:{closed_port}")
    from skill import warm

    warm.reset()
    answer = invoke(intent("ListCameras", token="any-token"))
    assert spoken(answer) == say("en-US", "error_cloud_unavailable")


@pytest.mark.parametrize("locale", LOCALES)
def test_an_unexpected_failure_gets_the_generic_answer(
    voice_stack: AccloudServer, monkeypatch: pytest.MonkeyPatch, locale: str
) -> None:
    token = link(voice_stack, "alice")

    def broken(user_key: str) -> None:
        raise store.StoreUnavailable("get AccountProfile failed: ProvisionedThroughputExceededException")

    monkeypatch.setattr(store, "get_profile", broken)
    answer = invoke(launch(token=token, locale=locale))
    assert spoken(answer) == say(locale, "error_generic")
    assert ends_session(answer) is True


# --- skill id ---------------------------------------------------------------------------------

WRONG_SKILL = "amzn1.ask.skill.11111111-1111-1111-1111-111111111111"


@pytest.mark.parametrize(
    "make",
    [
        lambda token: launch(token=token, skill_id=WRONG_SKILL),
        lambda token: intent("DeleteMyData", token=token, confirmation="CONFIRMED", skill_id=WRONG_SKILL),
        lambda token: _with_session_app(launch(token=token), WRONG_SKILL),
        lambda token: _without_app_ids(launch(token=token)),
    ],
    ids=["launch", "delete", "session-application-differs", "no-application-id"],
)
def test_a_request_for_another_skill_is_refused_before_anything_happens(
    voice_stack: AccloudServer, make: Any
) -> None:
    token = link(voice_stack, "alice")
    before = table_items()
    voice_stack.reset_request_counts()
    with pytest.raises(dispatch.RequestRefused):
        invoke(make(token))
    assert table_items() == before
    assert voice_stack.request_counts() == {}


def test_no_configured_skill_id_refuses_every_custom_request(
    voice_stack: AccloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZOSI_SKILL_ID")

    warm.reset()
    with pytest.raises(dispatch.RequestRefused):
        invoke(launch(token=None))


def _with_session_app(event: dict[str, Any], skill_id: str) -> dict[str, Any]:
    event["session"]["application"]["applicationId"] = skill_id
    return event


def _without_app_ids(event: dict[str, Any]) -> dict[str, Any]:
    del event["session"]["application"]
    del event["context"]["System"]["application"]
    return event


# --- logs -------------------------------------------------------------------------------------


def test_logs_carry_request_type_and_intent_but_no_user_data(
    voice_stack: AccloudServer, caplog: pytest.LogCaptureFixture
) -> None:
    voice_stack.rename_device(demo.GARAGE, "Secret Garage Name")
    token = link(voice_stack, "alice")
    caplog.set_level("DEBUG")
    invoke(intent("CameraStatus", token=token, slots=camera_slot("secret garage name")))
    invoke(launch(token=token))
    invoke(intent("DeleteMyData", token=token, confirmation="CONFIRMED"))

    lines = [
        record.getMessage() + json.dumps(getattr(record, "fields", {}), default=str)
        for record in caplog.records
    ]
    text = "\n".join(lines)
    assert '"intent_name": "CameraStatus"' in text
    assert '"request_type": "LaunchRequest"' in text
    for secret in (token, ALEXA_USER, "secret garage name", "Secret Garage Name", demo.ALICE_ID, demo.GARAGE):
        assert secret.lower() not in text.lower()
    assert user_key(voice_stack, "alice") not in text


# --- events/ samples for `zosi-skill invoke --token-from alice` -------------------------------

SAMPLES = ["voice_launch", "voice_camera_status", "voice_delete_my_data"]


@pytest.mark.parametrize("sample", SAMPLES)
def test_event_samples_run_with_a_real_token(voice_stack: AccloudServer, sample: str) -> None:
    raw = (REPO / "events" / f"{sample}.json").read_text(encoding="utf-8")
    assert raw.count("access-token-from-skill") >= 1
    assert envelopes.SKILL_ID in raw
    token = link(voice_stack, "alice")
    answer = invoke(json.loads(raw.replace("access-token-from-skill", token)))
    text = spoken(answer)
    if sample == "voice_camera_status":
        assert text == say("en-US", "camera_status_online", name="Garage")
    elif sample == "voice_delete_my_data":
        assert text == say("en-US", "delete_confirmed")
        assert partition(user_key(voice_stack, "alice")) == []
    else:
        assert text == strings.render_count("en-US", "launch_linked", len(ALICE_NAMES))


def _in_an_hour() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(hours=1)


# --- matching (unit) --------------------------------------------------------------------------


def _camera(name: str) -> Any:
    from skill.cloud.contract import Device
    from skill.voice.cameras import Camera

    device = Device(
        id=f"dev_{name}", name=name, kind="camera", model="C1", firmware="1", online=True, privacy_mode=False
    )
    return Camera(device, f"z1_{abs(hash(name))}", name)


MATCH_CASES = [
    # (names, heard, expected)
    (["Front Door", "Back Door"], "front door", "Front Door"),
    (["Front Door", "Back Door"], "door", None),  # two fit: never guess
    (["Garage Cam", "Porch"], "garage", "Garage Cam"),
    (["Garage"], "the garage camera", "Garage"),
    (["Cámara Jardín", "Entrada"], "camara jardin", "Cámara Jardín"),
    (["Kinderzimmer", "Einfahrt"], "KINDERZIMMER", "Kinderzimmer"),
    (["玄関", "ガレージ"], "ガレージのカメラ", "ガレージ"),
    (["玄関", "ガレージ"], "庭", None),
    (["Garage"], "", None),
]


@pytest.mark.parametrize(("names", "heard", "expected"), MATCH_CASES)
def test_spoken_names_match_case_and_diacritics_insensitively(
    names: list[str], heard: str, expected: str | None
) -> None:
    from skill.voice.cameras import match

    found = match([_camera(name) for name in names], phrases=[heard])
    assert (found.name if found else None) == expected


def test_cameras_without_a_sayable_name_get_the_names_discovery_gives_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Voice and the Alexa app agree: a name of emoji or punctuation is spoken, matched and loaded
    as a slot value as the fallback discovery reported ("ZOSI Camera 1", ...)."""
    from skill.alexa.endpoints import fallback_names
    from skill.cloud.contract import Device
    from skill.privacy import pseudonyms
    from skill.voice.cameras import cameras_of, dynamic_entities, match

    monkeypatch.setattr(pseudonyms, "keys", lambda: pseudonyms.PseudonymKeys(b"k" * 32, b"e" * 64))
    warm.reset()  # user keys remembered under other keys must not be reused, nor ours kept
    monkeypatch.setattr(pseudonyms, "_user_keys", {})
    devices = [
        Device(
            id=f"dev_{n}", name=name, kind="camera", model="C1", firmware="1", online=True, privacy_mode=False
        )
        for n, name in enumerate(["🚪", "Garage", "!!!"])
    ]
    cameras = cameras_of("usr_owner", devices)
    expected = fallback_names(devices)
    assert [camera.name for camera in cameras] == [expected["dev_0"], "Garage", expected["dev_2"]]
    assert {camera.name for camera in cameras} == {"ZOSI Camera 1", "Garage", "ZOSI Camera 2"}
    assert [camera.spoken_name for camera in cameras] == [camera.name for camera in cameras]
    assert match(cameras, phrases=["zosi camera 2"]) is cameras[2]
    values = [entity.name.value for entity in dynamic_entities(cameras)[0].types[0].values]
    assert values == ["ZOSI Camera 1", "Garage", "ZOSI Camera 2"]


@pytest.mark.parametrize("text", ["a & b " * 2000, "x" * 9000, "&" * 3000, "ok \x07\x00 <b>\ud800"])
def test_ssml_is_well_formed_and_cut_to_alexas_limit_whatever_the_text(text: str) -> None:
    from skill.voice.turn import MAX_SPEECH_CHARACTERS, ssml

    speech = f"<speak>{ssml(text)}</speak>"
    assert len(speech) <= MAX_SPEECH_CHARACTERS
    root = ElementTree.fromstring(speech)  # noqa: S314  (our own output, and the point is to parse it)
    assert list(root) == []
    kept = root.text or ""
    if len(text) > MAX_SPEECH_CHARACTERS:
        assert kept.endswith("…") and text.startswith(kept[:-1].rstrip())
