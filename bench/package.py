"""The deployment package: a runnable copy for the cold-start and memory children, and its size.

The children run on the copy alone (``python -I -S``), so a cold start pays for exactly what the
function ships, not for the dev venv's extras. ``size()`` measures ``sam build``'s package when it
is current, else the copy; the budget applies to the zip, what Lambda fetches on a cold start.
Details: docs/performance.md, "Method", "The package" and "Package size".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "results" / ".deps"
SAM_BUILD = ROOT / ".aws-sam" / "build" / "SkillFunction"
APP_CODE = ("lambda_handler.py", "skill", "models")
EXCLUDED = ("devstack",)
# The files whose change makes an earlier sam build stale.
PACKAGE_INPUTS = ("Makefile", "requirements.txt", "skill/aws.py", "template.yaml")


def _requirements_hash() -> str:
    return hashlib.sha256((ROOT / "requirements.txt").read_bytes() + sys.version.encode()).hexdigest()[:16]


def _dependencies() -> Path:
    """requirements.txt installed into a cached folder (pip with its ordinary configuration)."""
    target = CACHE / _requirements_hash()
    if (target / ".complete").exists():
        return target
    shutil.rmtree(CACHE, ignore_errors=True)
    target.mkdir(parents=True)
    requirements = str(ROOT / "requirements.txt")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--no-compile", "--target", str(target), "-r", requirements]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise RuntimeError(f"pip install --target of requirements.txt failed:\n{done.stderr[-2000:]}")
    (target / ".complete").write_text("ok\n")
    return target


def _ignore(folder: str, names: list[str]) -> set[str]:
    relative = Path(folder).relative_to(ROOT).as_posix()
    skipped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
    skipped |= {n for n in names if f"{relative}/{n}" in EXCLUDED}
    return skipped


def _unused_service_models(folder: str, names: list[str]) -> set[str]:
    """What the Makefile's build-SkillFunction prunes: botocore models of services the skill never calls."""
    from skill.aws import SERVICES

    skipped = {".complete"}
    if Path(folder).as_posix().endswith("/botocore/data"):
        skipped |= {n for n in names if n not in SERVICES and (Path(folder) / n).is_dir()}
    return skipped


def build(dest: Path) -> Path:
    """A runnable package in ``dest`` (created; must not exist)."""
    shutil.copytree(_dependencies(), dest, copy_function=_link_or_copy, ignore=_unused_service_models)
    shutil.rmtree(dest / "bin", ignore_errors=True)  # console scripts: the Makefile drops them too
    for name in APP_CODE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=_ignore)
        else:
            shutil.copy2(source, dest / name)
    return dest


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _fresh_sam_build() -> bool:
    marker = SAM_BUILD / "lambda_handler.py"
    if not marker.exists():
        return False
    built = marker.stat().st_mtime
    return all((ROOT / name).stat().st_mtime <= built for name in PACKAGE_INPUTS)


def size(built: Path) -> dict[str, Any]:
    """Unpacked and zipped size of the package sam built (when fresh), or else of ``built``."""
    if _fresh_sam_build():
        built_at = dt.datetime.fromtimestamp((SAM_BUILD / "lambda_handler.py").stat().st_mtime, dt.UTC)
        root = SAM_BUILD
        method = (
            "sam build output (.aws-sam/build/SkillFunction, arm64, with bytecode, "
            f"built {built_at:%Y-%m-%d %H:%M} UTC)"
        )
    else:
        root = built
        method = "pip install --target of requirements.txt + app code without devstack (no bytecode)"
    total = _measure(root, lambda top: True)
    botocore = _measure(root, lambda top: top == "botocore")
    models = sorted(p.name for p in (root / "botocore" / "data").iterdir() if p.is_dir())
    return {
        "method": method,
        "unpacked_bytes": total[0],
        "zip_bytes": total[1],
        "files": total[2],
        "botocore_unpacked_bytes": botocore[0],
        "botocore_zip_bytes": botocore[1],
        "botocore_service_models": models,
    }


def _measure(root: Path, keep: Any) -> tuple[int, int, int]:
    """(bytes of the files, bytes of their deflate zip, file count) for top-level entries ``keep`` accepts."""
    buffer = io.BytesIO()
    unpacked = files = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, _, names in os.walk(root):
            for name in sorted(names):
                full = Path(folder) / name
                relative = full.relative_to(root).as_posix()
                if not keep(relative.split("/", 1)[0]):
                    continue
                if root != SAM_BUILD and ("__pycache__" in relative or relative.endswith(".pyc")):
                    continue  # bytecode written by the benchmark's own runs is not part of the copy
                archive.write(full, relative)
                unpacked += full.stat().st_size
                files += 1
    return unpacked, len(buffer.getvalue()), files
