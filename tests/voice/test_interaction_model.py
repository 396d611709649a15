"""Offline validation of the skill package: manifest, account linking and the custom voice models.

There is no offline validator from Amazon (ask-cli only validates remotely), so the structure is
checked by a round trip through ask-smapi-model's classes (unknown or misspelt keys are dropped on
deserialization and show up as a diff), and the rules that certification checks are asserted here.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ask_sdk_model_runtime import DefaultSerializer
from ask_smapi_model.v1.skill.account_linking import AccountLinkingRequest
from ask_smapi_model.v1.skill.interaction_model import InteractionModelData
from ask_smapi_model.v1.skill.manifest import SkillManifestEnvelope

from skill.config import AWS_REGION_TO_ALEXA_REGION

REPO = Path(__file__).resolve().parents[2]
# The skill package is where ask-resources.json (ASK CLI v2) points; account linking sits beside it.
ASK_PROFILE = json.loads((REPO / "ask-resources.json").read_text())["profiles"]["default"]
PACKAGE_DIR = REPO / ASK_PROFILE["skillMetadata"]["src"]
MANIFEST_PATH = PACKAGE_DIR / "skill.json"
ACCOUNT_LINKING_PATH = REPO / "interaction_model" / "account-linking.json"
MODEL_DIR = PACKAGE_DIR / "interactionModels" / "custom"
STRINGS_DIR = REPO / "skill" / "voice" / "strings"
EXPECTED_LOCALES = {"en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "ja-JP"}
LOCALES = sorted(path.stem for path in MODEL_DIR.glob("*.json"))
REFERENCE_LOCALE = "en-US"

SKILL_EVENTS = {
    "SKILL_ENABLED",
    "SKILL_DISABLED",
    "SKILL_ACCOUNT_LINKED",
    "SKILL_PERMISSION_ACCEPTED",
    "SKILL_PERMISSION_CHANGED",
}
REQUIRED_BUILT_IN_INTENTS = {
    "AMAZON.HelpIntent",
    "AMAZON.StopIntent",
    "AMAZON.CancelIntent",
    "AMAZON.FallbackIntent",
    "AMAZON.NavigateHomeIntent",
}
CUSTOM_INTENTS = {"ListCameras", "CameraStatus", "PrivacyInfo", "DeleteMyData", "HowToView"}
MIN_SAMPLES_PER_CUSTOM_INTENT = 30
LAMBDA_ARN = re.compile(
    r"arn:aws:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:(?P<function>[\w-]+)"
    r"(?::(?P<qualifier>[\w-]+))?"
)
SLOT_REFERENCE = re.compile(r"\{([^{}]*)\}")

# Invocation-name rules. Latin scripts: lowercase letters, spaces, apostrophes and periods only; no wake
# words, launch phrases or connecting words; a two-word name may not contain an article or preposition.
FORBIDDEN_INVOCATION_WORDS = {
    "alexa", "amazon", "echo", "computer", "skill", "skills", "app", "apps", "application",
    "launch", "ask", "tell", "load", "begin", "enable", "open", "start", "play", "run", "use",
    "to", "from", "by", "if", "and", "whether",
}  # fmt: skip
FORBIDDEN_INVOCATION_WORDS_BY_LANGUAGE = {
    "en": set(),
    "de": {"öffne", "starte", "frag", "frage", "sag", "sage", "aktiviere", "spiele", "und"},
    "fr": {"ouvre", "lance", "demande", "dis", "active", "joue", "et"},
    "es": {"abre", "inicia", "pide", "pregunta", "di", "activa", "juega", "y"},
    "it": {"apri", "avvia", "chiedi", "attiva", "gioca", "e"},
}
TWO_WORD_FORBIDDEN = {
    "en": {"the", "a", "an", "for", "to", "of"},
    "de": {"der", "die", "das", "ein", "eine", "für", "von"},
    "fr": {"le", "la", "les", "un", "une", "des", "de", "pour"},
    "es": {"el", "la", "los", "las", "un", "una", "de", "para"},
    "it": {"il", "lo", "la", "i", "gli", "le", "un", "una", "di", "per"},
}
LATIN_INVOCATION = re.compile(r"[^\W\d_A-Z]+(?:[ '.][^\W\d_A-Z]*)*")
# Japanese: kana, kanji, the long-vowel mark and spaces between words; no Latin letters or digits.
JAPANESE_INVOCATION = re.compile(
    r"[\u3040-\u309f\u30a0-\u30ff\u4e00-\u9fff\u3005]+(?: [\u3040-\u309f\u30a0-\u30ff\u4e00-\u9fff\u3005]+)+"
)
JAPANESE_FORBIDDEN = {
    "アレクサ",
    "アマゾン",
    "エコー",
    "コンピューター",
    "スキル",
    "アプリ",
    "開いて",
    "起動",
}

# How users open the skill in example phrases: wake word, then a launch or a request pattern.
# {inv} is the invocation name, {utt} must be one of the model's sample utterances.
WAKE_WORD = {"ja": "アレクサ、"}
DEFAULT_WAKE_WORD = "alexa, "
LAUNCH_PATTERNS = {
    "en": [r"(?:open|start|launch) {inv}"],
    "de": [r"(?:öffne|starte) {inv}"],
    "fr": [r"(?:ouvre|lance) {inv}"],
    "es": [r"(?:abre|inicia) {inv}"],
    "it": [r"(?:apri|avvia) {inv}"],
    "ja": [r"{inv}を(?:開いて|起動して)"],
}
REQUEST_PATTERNS = {
    "en": [r"(?:ask|tell) {inv},? (?:to )?{utt}"],
    "de": [r"(?:frag|frage|sag|sage) {inv},? {utt}"],
    "fr": [r"(?:demande à|dis à) {inv},? (?:de |d')?{utt}"],
    "es": [r"(?:pregunta a|pide a|pregúntale a|pídele a) {inv},? (?:que )?{utt}"],
    "it": [r"(?:chiedi a|di' a) {inv},? (?:di )?{utt}"],
    "ja": [r"{inv}で{utt}"],
}
TRAILING_PUNCTUATION = ".!?。\uff1f\uff01"  # the last two: full-width ? and !


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _language(locale: str) -> str:
    return locale.split("-")[0]


def json_diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """JSON-pointer-like paths where ``actual`` differs from ``expected`` (keys, lengths, types, values)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        differences = []
        for key in sorted(expected.keys() | actual.keys()):
            where = f"{path}/{key}"
            if key not in actual:
                differences.append(f"{where}: lost")
            elif key not in expected:
                differences.append(f"{where}: added")
            else:
                differences.extend(json_diff(expected[key], actual[key], where))
        return differences
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items became {len(actual)}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in json_diff(e, a, f"{path}/{i}")
        ]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path}: {expected!r} became {actual!r}"]
    return []


def round_trip_diff(document: Any, model_type: type) -> list[str]:
    serializer = DefaultSerializer()
    model = serializer.deserialize(json.dumps(document), model_type)
    return json_diff(document, serializer.serialize(model))


def _manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = _read(MANIFEST_PATH)["manifest"]
    return manifest


def _language_model(locale: str) -> dict[str, Any]:
    language_model: dict[str, Any] = _read(MODEL_DIR / f"{locale}.json")["interactionModel"]["languageModel"]
    return language_model


def _intents(locale: str) -> dict[str, dict[str, Any]]:
    return {intent["name"]: intent for intent in _language_model(locale)["intents"]}


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def _sample_regex(sample: str) -> str:
    """A sample utterance as a regex: its words literally, each {slot} as some words."""
    parts = SLOT_REFERENCE.split(_normalize(sample))
    return "".join(".+?" if index % 2 else re.escape(part) for index, part in enumerate(parts))


# --- round trips through ask-smapi-model ------------------------------------------------------------


def test_every_expected_locale_has_a_model_file() -> None:
    assert set(LOCALES) == EXPECTED_LOCALES


def test_manifest_round_trips_through_smapi_model() -> None:
    assert round_trip_diff(_read(MANIFEST_PATH), SkillManifestEnvelope) == []


def test_account_linking_round_trips_through_smapi_model() -> None:
    assert round_trip_diff(_read(ACCOUNT_LINKING_PATH), AccountLinkingRequest) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_model_round_trips_through_smapi_model(locale: str) -> None:
    assert round_trip_diff(_read(MODEL_DIR / f"{locale}.json"), InteractionModelData) == []


@pytest.mark.parametrize(
    ("path", "model_type", "pointer"),
    [
        (MANIFEST_PATH, SkillManifestEnvelope, ("manifest", "bogusTopLevelKey")),
        (MANIFEST_PATH, SkillManifestEnvelope, ("manifest", "apis", "smartHome", "endpont")),
        (ACCOUNT_LINKING_PATH, AccountLinkingRequest, ("accountLinkingRequest", "skippable")),
        (MODEL_DIR / "en-US.json", InteractionModelData, ("interactionModel", "languageModel", "invocation")),
    ],
)
def test_round_trip_reports_unknown_keys(path: Path, model_type: type, pointer: tuple[str, ...]) -> None:
    document = copy.deepcopy(_read(path))
    target = document
    for key in pointer[:-1]:
        target = target[key]
    target[pointer[-1]] = "unexpected"
    assert round_trip_diff(document, model_type) == ["/" + "/".join(pointer) + ": lost"]


def test_json_diff_reports_changed_values_types_and_lengths() -> None:
    assert json_diff({"a": [1, 2], "b": "3", "c": True}, {"a": [1], "b": 3, "c": 1, "d": None}) == [
        "/a: 2 items became 1",
        "/b: '3' became 3",
        "/c: True became 1",
        "/d: added",
    ]


# --- manifest -----------------------------------------------------------------------------------------


def test_manifest_declares_smart_home_and_custom_apis() -> None:
    apis = _manifest()["apis"]
    assert set(apis) == {"smartHome", "custom"}
    assert apis["smartHome"]["protocolVersion"] == "3"


SECTIONS = ["apis.smartHome", "apis.custom", "events"]


def manifest_endpoints(section: str) -> dict[str, str]:
    """Alexa region -> the Lambda ARN a manifest section sends that region's requests to."""
    block = _manifest()
    for key in section.split("."):
        block = block[key]
    return {"NA": block["endpoint"]["uri"]} | {
        region: settings["endpoint"]["uri"] for region, settings in block["regions"].items()
    }


@pytest.mark.parametrize("section", SECTIONS)
def test_every_region_points_at_a_function_in_its_own_aws_region(section: str) -> None:
    """Each Alexa region has its own stack (grants are regional); which function and alias is
    tests/deploy/test_template.py::test_the_manifest_invokes_each_region_s_stack_on_its_alias."""
    endpoints = manifest_endpoints(section)
    assert set(endpoints) == {"NA", "EU", "FE"}
    accounts = set()
    for alexa_region, uri in endpoints.items():
        arn = LAMBDA_ARN.fullmatch(uri)
        assert arn, f"{section} {alexa_region}: {uri} is not a Lambda function ARN"
        assert AWS_REGION_TO_ALEXA_REGION.get(arn["region"]) == alexa_region, (
            f"{section} {alexa_region}: {uri}"
        )
        accounts.add(arn["account"])
    assert len(accounts) == 1, f"{section} spans accounts: {accounts}"


def test_all_sections_use_one_function_per_region() -> None:
    by_section = [manifest_endpoints(section) for section in SECTIONS]
    assert all(endpoints == by_section[0] for endpoints in by_section)


def test_manifest_asks_for_the_alexa_events_permission() -> None:
    assert {"name": "alexa::async_event:write"} in _manifest()["permissions"]


def test_manifest_subscribes_to_the_skill_events() -> None:
    names = [subscription["eventName"] for subscription in _manifest()["events"]["subscriptions"]]
    assert sorted(names) == sorted(SKILL_EVENTS)


def test_published_locales_are_the_model_locales() -> None:
    manifest = _manifest()
    assert set(manifest["publishingInformation"]["locales"]) == set(LOCALES)
    assert set(manifest["privacyAndCompliance"]["locales"]) == set(LOCALES)


def test_distribution_and_category() -> None:
    publishing = _manifest()["publishingInformation"]
    assert publishing["isAvailableWorldwide"] is False
    assert publishing["distributionCountries"], "no distribution countries"
    assert len(set(publishing["distributionCountries"])) == len(publishing["distributionCountries"])
    assert publishing["category"] == "SMART_HOME"
    assert publishing["testingInstructions"].strip()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("usesPersonalInfo", True),
        ("allowsPurchases", False),
        ("isChildDirected", False),
        ("containsAds", False),
        ("isExportCompliant", True),
    ],
)
def test_privacy_and_compliance_flags(flag: str, value: bool) -> None:
    assert _manifest()["privacyAndCompliance"][flag] is value


@pytest.mark.parametrize("locale", LOCALES)
def test_localized_publishing_information(locale: str) -> None:
    manifest = _manifest()
    info = manifest["publishingInformation"]["locales"][locale]
    assert info["name"] == "ZOSI Smart"
    assert 0 < len(info["summary"]) <= 160
    assert 0 < len(info["description"]) <= 4000
    assert len(info["examplePhrases"]) == 3
    assert 0 < len(info["keywords"]) <= 30
    assert len({keyword.lower() for keyword in info["keywords"]}) == len(info["keywords"])
    urls = manifest["privacyAndCompliance"]["locales"][locale]
    assert set(urls) == {"privacyPolicyUrl", "termsOfUseUrl"}
    assert all(url.startswith("https://") for url in urls.values())


@pytest.mark.parametrize("locale", LOCALES)
def test_example_phrases_open_the_skill_with_modelled_utterances(locale: str) -> None:
    language = _language(locale)
    invocation = re.escape(_language_model(locale)["invocationName"])
    wake = WAKE_WORD.get(language, DEFAULT_WAKE_WORD)
    samples = [sample for name in CUSTOM_INTENTS for sample in _intents(locale)[name]["samples"]]
    launches = [pattern.format(inv=invocation) for pattern in LAUNCH_PATTERNS[language]]
    requests = [
        pattern.replace("{inv}", invocation).replace("{utt}", _sample_regex(sample))
        for pattern in REQUEST_PATTERNS[language]
        for sample in samples
    ]
    first, *others = _manifest()["publishingInformation"]["locales"][locale]["examplePhrases"]
    phrases = [_normalize(phrase).rstrip(TRAILING_PUNCTUATION) for phrase in (first, *others)]
    assert all(phrase.startswith(wake) for phrase in phrases), f"{locale}: every phrase starts with {wake!r}"
    bodies = [phrase.removeprefix(wake) for phrase in phrases]
    assert any(re.fullmatch(pattern, bodies[0]) for pattern in launches), f"{locale}: {first!r} is no launch"
    for phrase, body in zip(others, bodies[1:], strict=True):
        assert any(re.fullmatch(pattern, body) for pattern in requests), (
            f"{locale}: {phrase!r} does not invoke a sample utterance"
        )


def test_account_linking_is_a_required_auth_code_grant_against_accloud() -> None:
    request = _read(ACCOUNT_LINKING_PATH)["accountLinkingRequest"]
    assert request["type"] == "AUTH_CODE"
    assert request["authorizationUrl"].startswith("https://")
    assert request["authorizationUrl"].endswith("/oauth/authorize")
    assert request["accessTokenUrl"].startswith("https://")
    assert request["accessTokenUrl"].endswith("/oauth/token")
    assert request["clientId"]
    assert request["scopes"] == ["camera:read", "camera:stream"]
    assert request["accessTokenScheme"] == "HTTP_BASIC"
    assert request["skipOnEnablement"] is False
    assert "clientSecret" not in request, "the client secret is injected at deploy time, never committed"


# --- voice models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_same_intents_and_slot_types_as_reference(locale: str) -> None:
    reference = _language_model(REFERENCE_LOCALE)
    model = _language_model(locale)
    assert set(_intents(locale)) == set(_intents(REFERENCE_LOCALE))
    assert {t["name"] for t in model["types"]} == {t["name"] for t in reference["types"]}
    for name, intent in _intents(locale).items():
        reference_slots = {(s["name"], s["type"]) for s in _intents(REFERENCE_LOCALE)[name].get("slots", [])}
        assert {(s["name"], s["type"]) for s in intent.get("slots", [])} == reference_slots, name


@pytest.mark.parametrize("locale", LOCALES)
def test_camera_name_type_has_the_reference_value_ids(locale: str) -> None:
    def value_ids(of_locale: str) -> list[str]:
        (camera_name,) = [t for t in _language_model(of_locale)["types"] if t["name"] == "CAMERA_NAME"]
        return [value["id"] for value in camera_name["values"]]

    ids = value_ids(locale)
    assert ids, "static example values are needed next to the dynamic entities"
    assert len(set(ids)) == len(ids)
    assert set(ids) == set(value_ids(REFERENCE_LOCALE))


@pytest.mark.parametrize("locale", LOCALES)
def test_intents_the_handlers_need(locale: str) -> None:
    intents = _intents(locale)
    assert set(intents) >= REQUIRED_BUILT_IN_INTENTS
    assert set(intents) - REQUIRED_BUILT_IN_INTENTS == CUSTOM_INTENTS
    assert [(s["name"], s["type"]) for s in intents["CameraStatus"]["slots"]] == [("camera", "CAMERA_NAME")]
    assert _language_model(locale)["modelConfiguration"]["fallbackIntentSensitivity"]["level"]


@pytest.mark.parametrize("locale", LOCALES)
def test_custom_intents_have_enough_unique_samples(locale: str) -> None:
    for name in CUSTOM_INTENTS:
        samples = _intents(locale)[name]["samples"]
        unique = {_normalize(sample) for sample in samples}
        assert len(unique) == len(samples), f"{locale}/{name} repeats a sample"
        assert len(unique) >= MIN_SAMPLES_PER_CUSTOM_INTENT, f"{locale}/{name} has {len(unique)} samples"


def _sample_shape(sample: str) -> str:
    """A sample as Alexa compares them: case and spacing aside, any slot the same as any other."""
    return SLOT_REFERENCE.sub("{}", _normalize(sample))


def shared_samples(intents: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Sample shape -> the intents that have it, for the shapes more than one intent has."""
    owners: dict[str, list[str]] = {}
    for name, intent in intents.items():
        for shape in {_sample_shape(sample) for sample in intent.get("samples", [])}:
            owners.setdefault(shape, []).append(name)
    return {shape: names for shape, names in owners.items() if len(names) > 1}


@pytest.mark.parametrize("locale", LOCALES)
def test_no_sample_belongs_to_two_intents(locale: str) -> None:
    assert shared_samples(_intents(locale)) == {}


def test_a_sample_two_intents_share_is_found_despite_case_spacing_and_slot_names() -> None:
    intents = copy.deepcopy(_intents(REFERENCE_LOCALE))
    intents["ListCameras"]["samples"].append("Check  {place}")  # CameraStatus has "check {camera}"
    assert shared_samples(intents) == {"check {}": ["ListCameras", "CameraStatus"]}


@pytest.mark.parametrize("locale", LOCALES)
def test_slot_references_match_slot_definitions(locale: str) -> None:
    for name, intent in _intents(locale).items():
        slots = {slot["name"] for slot in intent.get("slots", [])}
        referenced = {ref for sample in intent.get("samples", []) for ref in SLOT_REFERENCE.findall(sample)}
        assert referenced <= slots, f"{locale}/{name} references undefined slots {referenced - slots}"
        assert slots <= referenced, f"{locale}/{name} never uses slots {slots - referenced}"
        for slot in intent.get("slots", []):
            for sample in slot.get("samples", []):
                assert SLOT_REFERENCE.findall(sample) == [slot["name"]], f"{locale}/{name}: {sample!r}"


@pytest.mark.parametrize("locale", LOCALES)
def test_samples_are_speakable_text(locale: str) -> None:
    model = _language_model(locale)
    latin = _language(locale) != "ja"
    invocation = _normalize(model["invocationName"])
    wake_words = {"alexa", "アレクサ"}
    for name, intent in _intents(locale).items():
        slot_samples = [s for slot in intent.get("slots", []) for s in slot.get("samples", [])]
        for sample in intent.get("samples", []) + slot_samples:
            words = SLOT_REFERENCE.sub("x", sample)
            where = f"{locale}/{name}: {sample!r}"
            assert words == " ".join(words.split()), f"{where} has stray whitespace"
            assert all(ch.isalpha() or ch in " '.-" for ch in words), f"{where} has digits or symbols"
            assert not latin or words == words.lower(), f"{where} is not lowercase"
            assert invocation not in _normalize(sample), f"{where} contains the invocation name"
            assert not any(wake in _normalize(sample) for wake in wake_words), f"{where} contains a wake word"


@pytest.mark.parametrize("locale", LOCALES)
def test_invocation_name_rules(locale: str) -> None:
    name = _language_model(locale)["invocationName"]
    language = _language(locale)
    if language == "ja":
        assert JAPANESE_INVOCATION.fullmatch(name), f"{name!r}: kana or kanji words separated by spaces"
        assert not any(word in name for word in JAPANESE_FORBIDDEN), name
        return
    assert name == name.lower(), f"{name!r} is not lowercase"
    assert LATIN_INVOCATION.fullmatch(name), f"{name!r}: lowercase letters, spaces, apostrophes, periods"
    words = name.split()
    assert len(words) >= 2, f"{name!r} has fewer than two words"
    forbidden = FORBIDDEN_INVOCATION_WORDS | FORBIDDEN_INVOCATION_WORDS_BY_LANGUAGE[language]
    assert not forbidden & set(words), f"{name!r} contains {forbidden & set(words)}"
    if len(words) == 2:
        assert not TWO_WORD_FORBIDDEN[language] & set(words), f"{name!r}: article in a two-word name"


@pytest.mark.parametrize("locale", LOCALES)
def test_delete_my_data_requires_confirmation_with_a_prompt(locale: str) -> None:
    interaction_model = _read(MODEL_DIR / f"{locale}.json")["interactionModel"]
    dialog = {intent["name"]: intent for intent in interaction_model["dialog"]["intents"]}
    prompts = {prompt["id"]: prompt for prompt in interaction_model["prompts"]}
    delete = dialog["DeleteMyData"]
    assert delete["confirmationRequired"] is True
    # Alexa asks the question itself; the handler sees confirmationStatus CONFIRMED or DENIED.
    assert delete["delegationStrategy"] == "ALWAYS"
    prompt_id = delete["prompts"]["confirmation"]
    assert prompt_id.startswith("Confirm.Intent.")
    variations = [v["value"] for v in prompts[prompt_id]["variations"] if v["value"].strip()]
    assert variations, f"{locale}: {prompt_id} has no text"
    spoken = _read(STRINGS_DIR / f"{locale}.json")["delete_confirm"]
    assert spoken in variations, f"{locale}: the model's confirmation differs from strings delete_confirm"


@pytest.mark.parametrize("locale", LOCALES)
def test_dialog_references_existing_intents_slots_and_prompts(locale: str) -> None:
    interaction_model = _read(MODEL_DIR / f"{locale}.json")["interactionModel"]
    intents = _intents(locale)
    referenced_prompts = set()
    for dialog_intent in interaction_model["dialog"]["intents"]:
        intent = intents[dialog_intent["name"]]
        defined = {(slot["name"], slot["type"]) for slot in intent.get("slots", [])}
        assert {(slot["name"], slot["type"]) for slot in dialog_intent["slots"]} <= defined
        referenced_prompts |= set(dialog_intent.get("prompts", {}).values())
        for slot in dialog_intent["slots"]:
            referenced_prompts |= set(slot.get("prompts", {}).values())
    defined_prompts = [prompt["id"] for prompt in interaction_model["prompts"]]
    assert len(set(defined_prompts)) == len(defined_prompts)
    assert referenced_prompts == set(defined_prompts)
