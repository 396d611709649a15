"""docs/privacy.md answers every section of the privacy policy and cites only tests that exist.

The policy is read from $ZOSI_PRIVACY_POLICY or ../shared/policy/privacy-policy.txt (as the
Alexa schema is, tests/alexa_schema.py): under CI=true a missing policy fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRIVACY_MAP = REPO / "docs" / "privacy.md"
DEFAULT_POLICY = REPO.parent / "shared" / "policy" / "privacy-policy.txt"

# Section headings are a roman numeral and an ideographic comma; the policy writes the numerals as
# Unicode roman numeral characters (NFKC turns them into Latin letters), its first as a plain "I".
_POLICY_HEADING = re.compile(r"^([IVX]+)\s*\u3001", re.M)
_MAP_HEADING = re.compile(r"^### ([IVX]+)(?:\.\d+)? - ", re.M)
_TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?::(\w+)")


def policy_sections(text: str) -> list[str]:
    return _POLICY_HEADING.findall(unicodedata.normalize("NFKC", text))


def mapped_sections(text: str) -> set[str]:
    return set(_MAP_HEADING.findall(text))


@pytest.fixture(scope="module")
def policy() -> str:
    path = Path(os.environ.get("ZOSI_PRIVACY_POLICY") or DEFAULT_POLICY)
    if not path.is_file():
        message = f"privacy policy not found at {path}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


def test_the_policy_headings_are_read_as_sections_one_to_eight(policy: str) -> None:
    assert policy_sections(policy) == ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"]


def test_every_policy_section_has_an_entry_in_the_privacy_map(policy: str) -> None:
    missing = [s for s in policy_sections(policy) if s not in mapped_sections(PRIVACY_MAP.read_text())]
    assert missing == [], f"docs/privacy.md has no '### <section> - ...' entry for {missing}"


def test_a_map_without_a_section_is_caught() -> None:
    text = PRIVACY_MAP.read_text()
    assert "VI" in mapped_sections(text)
    without_vi = re.sub(r"^### VI - ", "### Minors - ", text, flags=re.M)
    assert "VI" not in mapped_sections(without_vi)
    assert {"V", "VII"} <= mapped_sections(without_vi)  # "V.1" and "VII" are not taken for "VI"


def test_every_cited_test_exists() -> None:
    """A `file::test` names a test function of that file; a bare `::test` one of the file before."""
    current: str | None = None
    missing = []
    for file, name in _TEST_REFERENCE.findall(PRIVACY_MAP.read_text()):
        current = file or current
        assert current is not None, f"::{name} cited before any test file"
        source = (REPO / current).read_text()
        if not re.search(rf"^(?:async )?def {name}\(", source, re.M):
            missing.append(f"{current}::{name}")
    assert missing == []
