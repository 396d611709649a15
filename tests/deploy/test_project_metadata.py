"""pyproject.toml builds without a setuptools warning (a fresh `make deps` once printed ~30 lines of them).

The metadata is built from a copy of the project with every setuptools warning turned into an error,
so a deprecated table form (such as the old license table) fails here instead of scrolling by.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_setuptools_builds_the_metadata_without_a_warning(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "lambda_handler.py"):
        shutil.copy(REPO / name, project / name)
    for package in ("skill", "models", "devstack"):
        shutil.copytree(REPO / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "metadata"
    out.mkdir()
    build = "from setuptools import build_meta; print(build_meta.prepare_metadata_for_build_editable(%r))"
    done = subprocess.run(  # noqa: S603 (the interpreter itself, no shell)
        [sys.executable, "-W", "error::UserWarning", "-c", build % str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    metadata = (out / done.stdout.split()[-1] / "METADATA").read_text()
    assert "License-Expression: LicenseRef-Proprietary" in metadata
