"""Spoken and card strings per locale: ``skill/voice/strings/<locale>.json``, one flat key set.

Templates are plain text (no SSML) with ``str.format`` placeholders; the keys and their placeholders
are listed in ``interaction_model/README.md``. Values are inserted verbatim: a handler that puts the
result into SSML output speech must XML-escape it (camera names are user-chosen).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

STRINGS_DIR = Path(__file__).with_name("strings")
DEFAULT_LOCALE = "en-US"
SUPPORTED_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "ja-JP")
# A locale we do not ship falls back to the main locale of its language (de-AT -> de-DE, en-AU -> en-US).
LANGUAGE_FALLBACK = {
    "en": "en-US",
    "de": "de-DE",
    "fr": "fr-FR",
    "es": "es-ES",
    "it": "it-IT",
    "ja": "ja-JP",
}
# Suffix of the variant a count-dependent key uses when the count is exactly one.
ONE_SUFFIX = "_one"


def resolve_locale(locale: str | None) -> str:
    """The shipped locale to speak for ``locale`` (as Alexa sends it, e.g. ``de-AT``)."""
    if not locale:
        return DEFAULT_LOCALE
    language, _, region = locale.strip().replace("_", "-").partition("-")
    normalized = f"{language.lower()}-{region.upper()}" if region else language.lower()
    if normalized in SUPPORTED_LOCALES:
        return normalized
    return LANGUAGE_FALLBACK.get(language.lower(), DEFAULT_LOCALE)


@lru_cache(maxsize=len(SUPPORTED_LOCALES))
def _catalog(shipped_locale: str) -> dict[str, str]:
    with (STRINGS_DIR / f"{shipped_locale}.json").open(encoding="utf-8") as handle:
        catalog: dict[str, str] = json.load(handle)
    return catalog


def load(locale: str | None) -> dict[str, str]:
    """All strings for ``locale`` (after fallback); a copy, so callers cannot alter the cache."""
    return dict(_catalog(resolve_locale(locale)))


def render(locale: str | None, key: str, **values: object) -> str:
    """The string ``key`` for ``locale`` with its placeholders filled; KeyError on an unknown key."""
    return _catalog(resolve_locale(locale))[key].format(**values)


def render_count(locale: str | None, key: str, count: int, **values: object) -> str:
    """Like ``render``, but uses ``<key>_one`` when ``count`` is 1 and that variant exists."""
    catalog = _catalog(resolve_locale(locale))
    chosen = key + ONE_SUFFIX if count == 1 and key + ONE_SUFFIX in catalog else key
    return catalog[chosen].format(count=count, **values)


def join_names(locale: str | None, names: Sequence[str]) -> str:
    """``a, b and c`` in the locale's words (keys ``list_join_separator`` and ``list_join_and``)."""
    catalog = _catalog(resolve_locale(locale))
    if len(names) <= 1:
        return "".join(names)
    return catalog["list_join_separator"].join(names[:-1]) + catalog["list_join_and"] + names[-1]
