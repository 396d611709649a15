"""The locale string catalogs: same keys and placeholders everywhere, plain text, loader fallbacks."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest

from skill.voice import strings

REPO = Path(__file__).resolve().parents[2]
CATALOG_FILES = sorted((REPO / "skill" / "voice" / "strings").glob("*.json"))
LOCALES = [path.stem for path in CATALOG_FILES]
REFERENCE_LOCALE = "en-US"

# Keys the voice handlers rely on, with exactly these placeholders (interaction_model/README.md).
REQUIRED_KEYS: dict[str, set[str]] = {
    "launch_linked": {"count"},
    "launch_linked_one": set(),
    "launch_no_cameras": set(),
    "launch_unlinked": set(),
    "link_account_required": set(),
    "link_account_card_title": set(),
    "link_account_card_text": set(),
    "policy_updated": {"version"},
    "policy_card_title": set(),
    "policy_card_text": {"url"},
    "privacy_version_unknown": set(),
    "list_cameras": {"names", "count"},
    "list_cameras_one": {"names"},
    "list_cameras_many": {"names", "count", "more"},
    "list_cameras_none": set(),
    "list_join_and": set(),
    "list_join_separator": set(),
    "camera_status_online": {"name"},
    "camera_status_offline": {"name"},
    "camera_status_privacy": {"name"},
    "camera_status_unknown_camera": set(),
    "camera_status_which": set(),
    "how_to_view": {"example_name"},
    "how_to_view_generic": set(),
    "privacy_info": {"links", "endpoints", "grant_state", "version"},
    "privacy_info_nothing": set(),
    "privacy_grant_yes": set(),
    "privacy_grant_no": set(),
    "delete_confirm": set(),
    "delete_confirmed": set(),
    "delete_cancelled": set(),
    "delete_card_title": set(),
    "delete_card_text": set(),
    "delete_partly": {"others"},
    "delete_partly_card_title": set(),
    "delete_partly_card_text": {"others"},
    "delete_started": set(),
    "delete_started_card_title": set(),
    "delete_started_card_text": set(),
    "delete_nothing": set(),
    "help": set(),
    "fallback": set(),
    "goodbye": set(),
    "error_generic": set(),
    "error_cloud_unavailable": set(),
    "reprompt": set(),
}
# Joiners are spliced between names, so their surrounding spaces are meaningful.
JOINER_KEYS = {"list_join_and", "list_join_separator"}
# Characters that would break or inject SSML when a handler wraps the text in <speak>.
SSML_CHARACTERS = set("<>&")


def _catalog(locale: str) -> dict[str, str]:
    data = json.loads((REPO / "skill" / "voice" / "strings" / f"{locale}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_all_shipped_locales_have_a_catalog() -> None:
    assert sorted(LOCALES) == sorted(strings.SUPPORTED_LOCALES)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_exactly_the_reference_keys(locale: str) -> None:
    reference = set(_catalog(REFERENCE_LOCALE))
    keys = set(_catalog(locale))
    assert keys - reference == set(), f"{locale} has keys en-US lacks"
    assert reference - keys == set(), f"{locale} misses keys"


def test_reference_catalog_has_every_key_handlers_need() -> None:
    assert set(REQUIRED_KEYS) <= set(_catalog(REFERENCE_LOCALE))


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_match_the_reference(locale: str) -> None:
    reference = _catalog(REFERENCE_LOCALE)
    catalog = _catalog(locale)
    mismatched = {
        key: (sorted(_placeholders(template)), sorted(_placeholders(reference[key])))
        for key, template in catalog.items()
        if key in reference and _placeholders(template) != _placeholders(reference[key])
    }
    assert mismatched == {}


@pytest.mark.parametrize("key", sorted(REQUIRED_KEYS))
def test_required_key_has_the_documented_placeholders(key: str) -> None:
    assert _placeholders(_catalog(REFERENCE_LOCALE)[key]) == REQUIRED_KEYS[key]


@pytest.mark.parametrize("locale", LOCALES)
def test_templates_are_plain_text_with_simple_named_fields(locale: str) -> None:
    for key, template in _catalog(locale).items():
        assert isinstance(template, str) and template.strip(), f"{locale}/{key} is empty"
        assert not SSML_CHARACTERS & set(template), f"{locale}/{key} contains SSML characters"
        if key not in JOINER_KEYS:
            assert template == template.strip(), f"{locale}/{key} has surrounding whitespace"
        for _, field, spec, conversion in string.Formatter().parse(template):
            if field is None:
                continue
            assert field.isidentifier(), f"{locale}/{key}: {{{field}}} is not a named field"
            assert not spec and conversion is None, f"{locale}/{key}: {{{field}}} has a format spec"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_key_renders_with_its_values(locale: str) -> None:
    for key, template in _catalog(locale).items():
        values = {field: f"<<{field}>>" for field in _placeholders(template)}
        rendered = strings.render(locale, key, **values)
        for value in values.values():
            assert value in rendered, f"{locale}/{key} lost {value}"
        assert "{" not in rendered and "}" not in rendered, f"{locale}/{key} left a placeholder"


def test_render_fills_values_and_ignores_extra_ones() -> None:
    assert strings.render("en-US", "camera_status_online", name="Garage", unused=1) == "Garage is online."


def test_render_rejects_a_missing_value_and_an_unknown_key() -> None:
    with pytest.raises(KeyError):
        strings.render("en-US", "camera_status_online")
    with pytest.raises(KeyError):
        strings.render("en-US", "no_such_key")


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "You have one camera: Garage."),
        (2, "You have 2 cameras: Garage and Porch."),
    ],
)
def test_render_count_picks_the_singular_variant(count: int, expected: str) -> None:
    names = strings.join_names("en-US", ["Garage", "Porch"][:count])
    assert strings.render_count("en-US", "list_cameras", count, names=names) == expected


def test_render_count_without_a_singular_variant_uses_the_key() -> None:
    assert strings.render_count("en-US", "list_cameras_many", 1, names="A", more=0).startswith("You have 1 ")


@pytest.mark.parametrize(
    ("locale", "names", "expected"),
    [
        ("en-US", [], ""),
        ("en-US", ["Garage"], "Garage"),
        ("en-US", ["Garage", "Porch"], "Garage and Porch"),
        ("en-US", ["Garage", "Porch", "Gate"], "Garage, Porch and Gate"),
        ("de-DE", ["Garage", "Einfahrt", "Tor"], "Garage, Einfahrt und Tor"),
        ("fr-FR", ["Garage", "Allée"], "Garage et Allée"),
        ("es-ES", ["Garaje", "Jardín"], "Garaje y Jardín"),
        ("it-IT", ["Garage", "Giardino"], "Garage e Giardino"),
        ("ja-JP", ["玄関", "庭", "ガレージ"], "玄関、庭とガレージ"),
    ],
)
def test_join_names(locale: str, names: list[str], expected: str) -> None:
    assert strings.join_names(locale, names) == expected


@pytest.mark.parametrize(
    ("requested", "resolved"),
    [
        ("en-US", "en-US"),
        ("en-GB", "en-GB"),
        ("de-DE", "de-DE"),
        ("ja-JP", "ja-JP"),
        ("de-AT", "de-DE"),
        ("de-CH", "de-DE"),
        ("en-AU", "en-US"),
        ("en-IN", "en-US"),
        ("en-CA", "en-US"),
        ("fr-CA", "fr-FR"),
        ("es-MX", "es-ES"),
        ("es-US", "es-ES"),
        ("it", "it-IT"),
        ("de_de", "de-DE"),
        ("EN-gb", "en-GB"),
        (" fr-FR ", "fr-FR"),
        ("pt-BR", "en-US"),
        ("hi-IN", "en-US"),
        ("nonsense", "en-US"),
        ("", "en-US"),
        (None, "en-US"),
    ],
)
def test_locale_fallback(requested: str | None, resolved: str) -> None:
    assert strings.resolve_locale(requested) == resolved
    assert strings.load(requested) == _catalog(resolved)


def test_load_returns_a_copy() -> None:
    first = strings.load("en-US")
    first["goodbye"] = "changed"
    assert strings.load("en-US")["goodbye"] == _catalog("en-US")["goodbye"]
