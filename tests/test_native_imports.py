"""A compiled module built for another CPU fails to import; the log line says which and for what.

The module here is a real extension file as far as the import system can tell (a ``.so`` whose ELF
header names the other architecture, listed in its wheel's RECORD), so the ImportError comes from
the interpreter's own loader, as it does for an arm64 wheel on an x86_64 Lambda.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skill import native_imports
from skill.privacy.logs import JsonFormatter, RedactionFilter

OTHER_MACHINE = "x86_64" if platform.machine() == "aarch64" else "aarch64"
_E_MACHINE = {"x86_64": 0x3E, "aarch64": 0xB7}


@pytest.fixture
def foreign_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``zosifake/_core.abi3.so`` from a wheel tagged for the other architecture, on sys.path."""
    package = tmp_path / "zosifake"
    package.mkdir()
    (package / "__init__.py").write_text("")
    header = b"\x7fELF\x02\x01\x01" + bytes(11) + _E_MACHINE[OTHER_MACHINE].to_bytes(2, "little")
    (package / "_core.abi3.so").write_bytes(header + bytes(44))
    dist_info = tmp_path / "zosifake-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "RECORD").write_text("zosifake/__init__.py,,\nzosifake/_core.abi3.so,sha256=x,64\n")
    (dist_info / "WHEEL").write_text(f"Wheel-Version: 1.0\nTag: cp312-abi3-manylinux_2_28_{OTHER_MACHINE}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("zosifake", "zosifake._core"):
        sys.modules.pop(name, None)


def _import_failure(module: str) -> ImportError:
    with pytest.raises(ImportError) as failed:
        importlib.import_module(module)
    return failed.value


def test_diagnose_names_module_wheel_and_both_architectures(foreign_wheel: Path) -> None:
    failure = _import_failure("zosifake._core")

    assert native_imports.diagnose(failure) == {
        "module": "zosifake._core",
        "file": "_core.abi3.so",
        "file_arch": OTHER_MACHINE,
        "host": f"{sys.platform}_{platform.machine()}",
        "wheel": f"zosifake 1.0 (cp312-abi3-manylinux_2_28_{OTHER_MACHINE})",
    }


def test_a_pure_python_import_error_is_not_diagnosed() -> None:
    assert native_imports.diagnose(_import_failure("zosi_no_such_module")) is None
    assert native_imports.diagnose(ValueError("x")) is None


def test_the_log_line_carries_the_diagnosis_not_the_message(foreign_wheel: Path) -> None:
    """What a handler's ``logger.exception`` writes when the import failed deeper down."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.Logger("test_native_imports")
    logger.addHandler(handler)
    try:
        try:
            importlib.import_module("zosifake._core")
        except ImportError as exc:
            raise RuntimeError("while discovering") from exc
    except RuntimeError:
        logger.exception("directive handler failed")

    (line,) = stream.getvalue().splitlines()
    exception = json.loads(line)["exception"]
    assert exception["type"] == "RuntimeError"
    assert exception["native_module"]["module"] == "zosifake._core"
    assert exception["native_module"]["file_arch"] == OTHER_MACHINE
    assert str(foreign_wheel) not in line  # the loader's message names the path: it stays out
