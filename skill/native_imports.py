"""What a failed import of a compiled module was built for, next to what the host is.

A package built for the other CPU architecture (arm64 wheels on an x86_64 host, or the reverse)
fails at the first import of a native module with glibc's "cannot open shared object file", and
the log redaction drops that message anyway (it may hold values). The facts that explain the
failure hold none: the module, the wheel's platform tag, the ELF machine of the file and the
host's. The log filter adds them to the exception summary (skill/privacy/logs.py).
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

# ELF e_machine values (the System V ABI's registry) of the architectures a wheel is built for.
_ELF_MACHINES = {0x03: "i686", 0x28: "arm", 0x3E: "x86_64", 0xB7: "aarch64", 0xF3: "riscv64", 0x15: "ppc64"}
_CHAIN_LIMIT = 8  # __cause__/__context__ links followed before giving up


def diagnose(exc: BaseException) -> dict[str, str] | None:
    """``module``, ``file``, ``file_arch``, ``wheel`` and ``host`` when ``exc`` is (or was caused by)
    an ImportError raised while loading a compiled extension module; None otherwise."""
    failed = _native_import_error(exc)
    if failed is None or failed.path is None:
        return None
    path = Path(failed.path)
    root = _import_root(path)
    found = {
        "module": _module_name(path, root) if root else (failed.name or path.name),
        "file": path.name,
        "file_arch": _elf_machine(path),
        "host": f"{sys.platform}_{platform.machine()}",
    }
    wheel = _wheel_of(path, root) if root else None
    if wheel:
        found["wheel"] = wheel
    return found


def _native_import_error(exc: BaseException) -> ImportError | None:
    current: BaseException | None = exc
    for _ in range(_CHAIN_LIMIT):
        if current is None:
            return None
        if isinstance(current, ImportError) and _is_extension(current.path):
            return current
        current = current.__cause__ or current.__context__
    return None


def _is_extension(path: str | None) -> bool:
    return bool(path) and Path(str(path)).suffix in {".so", ".pyd"}


def _import_root(path: Path) -> Path | None:
    """The sys.path entry ``path`` was imported from (the longest that holds it)."""
    roots = [Path(entry).resolve() for entry in sys.path if entry]
    holding = [root for root in roots if path.resolve().is_relative_to(root)]
    return max(holding, key=lambda root: len(root.parts)) if holding else None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.resolve().relative_to(root).parts)
    parts[-1] = parts[-1].split(".", 1)[0]  # _rust.abi3.so, _speedups.cpython-312-x86_64-linux-gnu.so
    return ".".join(parts)


def _elf_machine(path: Path) -> str:
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return "unreadable"
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return "not ELF"
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return _ELF_MACHINES.get(machine, f"ELF machine {machine:#x}")


def _wheel_of(path: Path, root: Path) -> str | None:
    """``name version (tag, ...)`` of the installed wheel whose RECORD lists ``path``."""
    relative = path.resolve().relative_to(root).as_posix()
    for dist_info in sorted(root.glob("*.dist-info")):
        try:
            listed = any(line.split(",", 1)[0] == relative for line in (dist_info / "RECORD").open())
            if not listed:
                continue
            tags = [
                line.split(":", 1)[1].strip()
                for line in (dist_info / "WHEEL").read_text().splitlines()
                if line.startswith("Tag:")
            ]
        except OSError:
            continue
        name_version = dist_info.name.removesuffix(".dist-info").replace("-", " ", 1)
        return f"{name_version} ({', '.join(tags) or 'no tag'})"
    return None
