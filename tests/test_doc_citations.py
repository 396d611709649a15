"""Every test the docs cite as proof exists: a moved or renamed test must take its citations along."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("interaction_model/*.md")])
# `tests/models/test_store.py::test_name` (or with the tests/ prefix left out), parameters ignored; a
# bare `::test_name` names a test of the file cited just before it.
CITATION = re.compile(r"`((?:tests/)?[\w/]*test_\w+\.py)?::(test_\w+)")
# A Smart Home case cited by its id: `test_cases.py::test_case[camera_stream: deep or huge: *]`.
CASE_CITATION = re.compile(r"test_cases\.py::test_case\[([^\]`]+)\]")


def citations() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        current = ""
        for path, name in CITATION.findall(doc.read_text(encoding="utf-8")):
            current = path or current
            assert current, f"{doc.name} cites ::{name} before any test file"
            found.append((doc.name, current if current.startswith("tests/") else f"tests/{current}", name))
    return found


def test_the_docs_cite_tests() -> None:
    assert len(citations()) > 50  # the pattern still finds the docs' citations


@pytest.mark.parametrize(("doc", "path", "name"), sorted(set(citations())))
def test_a_cited_test_exists_where_the_doc_says(doc: str, path: str, name: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"{doc} cites {path}::{name}, but {path} does not exist"
    assert re.search(rf"^(async )?def {name}\(", source.read_text(encoding="utf-8"), re.M), (
        f"{doc} cites {path}::{name}, but {path} has no such test"
    )


def case_citations() -> list[tuple[str, str]]:
    return sorted(
        {
            (doc.name, cited)
            for doc in DOCS
            for cited in CASE_CITATION.findall(doc.read_text(encoding="utf-8"))
        }
    )


@pytest.mark.parametrize(("doc", "cited"), case_citations())
def test_a_cited_smart_home_case_exists(doc: str, cited: str) -> None:
    from tests.smarthome.test_cases import IDS

    assert fnmatch.filter(IDS, cited), f"{doc} cites the case {cited!r}, which no case table has"
