"""Module docstrings stay a few lines of "why"; the essay belongs in docs/.

A module docstring says what the module is for and the one rule a reader must know, and points to
the section of docs/ that holds the design notes, tables and rationale (issue 17). Counted as
written (``ast.get_docstring(clean=False)``), over every Python file the repository holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_LINES = 8
# Not the project's source: tool caches, virtualenvs, build output, installed packages.
SKIPPED_PARTS = frozenset({"node_modules", "__pycache__", "build", "dist"})


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


def test_every_shipped_and_dev_tree_is_read() -> None:
    read = {path.relative_to(REPO).parts[0] for path in python_files()}
    assert {"skill", "models", "devstack", "bench", "tests", "lambda_handler.py"} <= read


def test_the_count_is_the_docstring_as_written(tmp_path: Path) -> None:
    module = tmp_path / "essay.py"
    module.write_text('"""One line.\n\n' + "more\n" * 7 + '"""\n\nX = 1\n', encoding="utf-8")
    assert docstring_lines(module) == 9
    module.write_text("X = 1\n", encoding="utf-8")
    assert docstring_lines(module) == 0


@pytest.mark.parametrize("path", python_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_module_docstrings_are_at_most_eight_lines(path: Path) -> None:
    lines = docstring_lines(path)
    assert lines <= MAX_LINES, (
        f"{path.relative_to(REPO)}: module docstring of {lines} lines (at most {MAX_LINES}); keep what the "
        "module is for and why, move the rest into docs/ and point to its section"
    )
