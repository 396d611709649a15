"""Module docstrings stay a few lines of "why"; the essay belongs in docs/.

A module docstring says what the module is for and the one rule a reader must know, and points to
the section of docs/ that holds the design notes, tables and rationale (issue 17). Counted as
written (``ast.get_docstring(clean=False)``), over every Python file the repository holds.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_LINES = 8
# Not the project's source: tool caches, virtualenvs, build output, installed packages.
SKIPPED_PARTS = frozenset({"node_modules", "__pycache__", "build", "dist"})
# A pointer from a docstring into the docs: docs/x.md, "Section"[, "Another"] (or README.md).
POINTER = re.compile(r'((?:docs/)?[\w-]+\.md),? ((?:"[^"]+"(?:,? (?:and )?)?)+)')


def python_files() -> list[Path]:
    """Every .py file of the repository, outside hidden folders and installed packages."""
    return sorted(
        path
        for path in REPO.rglob("*.py")
        if not any(part.startswith(".") or part in SKIPPED_PARTS for part in path.relative_to(REPO).parts)
    )


def docstring_lines(path: Path) -> int:
    """How many lines the module docstring of ``path`` has as written (0 without one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstring = ast.get_docstring(tree, clean=False)
    return len(docstring.splitlines()) if docstring else 0


def section_titles(doc: Path) -> list[str]:
    """A doc's headings and the bold run-in titles of its paragraphs (``**Title.**``), code marks kept."""
    text = doc.read_text(encoding="utf-8")
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    return headings + re.findall(r"\*\*([^*]+)\*\*", text)


def dangling_pointers(path: Path) -> list[str]:
    """The sections a module docstring points to that its doc does not have."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstring = " ".join((ast.get_docstring(tree, clean=False) or "").split()).replace("``", "`")
    dangling = []
    for doc_name, sections in POINTER.findall(docstring):
        doc = REPO / doc_name
        titles = section_titles(doc) if doc.is_file() else []
        dangling += [
            f"{doc_name}, {section!r}"
            for section in re.findall(r'"([^"]+)"', sections)
            if not any(section in title for title in titles)
        ]
    return dangling


def test_every_shipped_and_dev_tree_is_read() -> None:
    read = {path.relative_to(REPO).parts[0] for path in python_files()}
    assert {"skill", "models", "devstack", "bench", "tests", "lambda_handler.py"} <= read


def test_the_count_is_the_docstring_as_written(tmp_path: Path) -> None:
    module = tmp_path / "essay.py"
    module.write_text('"""One line.\n\n' + "more\n" * 7 + '"""\n\nX = 1\n', encoding="utf-8")
    assert docstring_lines(module) == 9
    module.write_text("X = 1\n", encoding="utf-8")
    assert docstring_lines(module) == 0


def test_a_pointer_to_a_missing_section_is_found(tmp_path: Path) -> None:
    module = tmp_path / "pointer.py"
    module.write_text(
        '"""Why.\n\nDetails: docs/architecture.md, "Storage" and "No such section".\n"""\n', encoding="utf-8"
    )
    assert dangling_pointers(module) == ["docs/architecture.md, 'No such section'"]


@pytest.mark.parametrize("path", python_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_docstring_pointers_name_an_existing_section(path: Path) -> None:
    assert dangling_pointers(path) == [], (
        f"{path.relative_to(REPO)} points to a section its doc does not have"
    )


@pytest.mark.parametrize("path", python_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_module_docstrings_are_at_most_eight_lines(path: Path) -> None:
    lines = docstring_lines(path)
    assert lines <= MAX_LINES, (
        f"{path.relative_to(REPO)}: module docstring of {lines} lines (at most {MAX_LINES}); keep what the "
        "module is for and why, move the rest into docs/ and point to its section"
    )
