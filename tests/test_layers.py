"""The import direction of docs/architecture.md, read from the source with ``ast``.

entry point -> app -> sides -> shared services -> plumbing, top to bottom only: a side never imports
another side, a shared service never a side (so handlers and event mapping meet only in the
vocabulary below them), plumbing nothing above it, and nothing that ships imports the dev stack, the
tests or the bench. Every import counts, the lazy ones inside functions included: deferring an
import changes when it runs, not what depends on what.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# The layer table, top to bottom. A module belongs to the longest entry it equals or lies under.
ENTRY, APP, SIDE, SERVICE, PLUMBING = "entry point", "app", "side", "shared service", "plumbing"
LAYERS: dict[str, tuple[str, ...]] = {
    ENTRY: ("lambda_handler",),
    APP: ("skill.app",),
    SIDE: ("skill.smarthome", "skill.voice", "skill.proactive"),
    SERVICE: ("skill.alexa", "skill.amazon", "skill.cloud", "skill.privacy", "models"),
    PLUMBING: (
        "skill.http",
        "skill.bounded",
        "skill.config",
        "skill.warm",
        "skill.aws",
        "skill.secrets",
        "skill.secrets_extension",
        "skill.coldstart",
        "skill.native_imports",
        "skill.metrics",
        # The redacting logger: stdlib only, and everything logs through it, the plumbing included.
        "skill.privacy.logs",
    ),
}
# Packages whose own __init__ holds no code of a layer (the entries under them are classified).
ROOTS = frozenset({"skill"})
# Never imported by anything that ships.
DEV_ONLY = ("devstack", "tests", "bench")
# What each layer may not import (besides DEV_ONLY). A side may import itself, not another side.
FORBIDDEN: dict[str, frozenset[str]] = {
    ENTRY: frozenset(),
    APP: frozenset(),
    SIDE: frozenset({APP}),
    SERVICE: frozenset({APP, SIDE}),
    PLUMBING: frozenset({APP, SIDE, SERVICE}),
}


def entry_of(module: str) -> str | None:
    """The table entry ``module`` belongs to (longest match), or None."""
    found = [
        entry
        for entries in LAYERS.values()
        for entry in entries
        if module == entry or module.startswith(entry + ".")
    ]
    return max(found, key=len) if found else None


def layer_of(entry: str) -> str:
    return next(layer for layer, entries in LAYERS.items() if entry in entries)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def shipped_modules(root: Path) -> Iterator[tuple[str, Path]]:
    for package in ("skill", "models"):
        for path in sorted((root / package).rglob("*.py")):
            yield module_name(path, root), path
    yield "lambda_handler", root / "lambda_handler.py"


def imported(module: str, source: str, root: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in ``source``, at any depth; ``from p import m`` names p.m
    when m is a module of the tree."""
    package = module if (root / Path(*module.split("."))).is_dir() else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                path = root / Path(*candidate.split("."))
                is_module = path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
                yield node.lineno, candidate if is_module else base


def violations(module: str, source: str, root: Path) -> list[str]:
    own = entry_of(module)
    problems = []
    if own is None and module not in ROOTS:
        problems.append(f"{module} is in no layer of tests/test_layers.py LAYERS")
    for line, target in sorted(set(imported(module, source, root))):
        where = f"{module}:{line} imports {target}"
        if target.split(".")[0] in DEV_ONLY:
            problems.append(f"{where} (dev-only code)")
            continue
        theirs = entry_of(target)
        if own is None or theirs is None or theirs == own:
            continue
        mine, their_layer = layer_of(own), layer_of(theirs)
        if their_layer in FORBIDDEN[mine]:
            problems.append(f"{where} ({mine} -> {their_layer})")
        elif mine == SIDE and their_layer == SIDE:
            problems.append(f"{where} (side -> another side)")
    return problems


# Edges still to cut, each by name: all reach ``send_delete_report``, which has to leave
# skill/proactive/events.py for skill/amazon/ (issue 17). The test fails on any other wrong edge
# and on an entry here that no longer exists, so this list can only shrink.
KNOWN_DEBT: frozenset[str] = frozenset()


def test_the_import_graph_runs_one_way() -> None:
    problems = {
        problem
        for module, path in shipped_modules(REPO)
        for problem in violations(module, path.read_text(encoding="utf-8"), REPO)
    }
    assert sorted(problems - KNOWN_DEBT) == [], "\n".join(sorted(problems - KNOWN_DEBT))
    assert sorted(KNOWN_DEBT - problems) == [], "cut already: remove from KNOWN_DEBT"


def test_every_table_entry_names_real_code() -> None:
    """A renamed module must be renamed here too, or its rules silently stop applying."""
    shipped = {module for module, _ in shipped_modules(REPO)}
    optional = {"skill.warm"}  # the per-container reset registry, where this tree has it
    missing = [
        entry
        for entries in LAYERS.values()
        for entry in entries
        if entry not in optional and not any(m == entry or m.startswith(entry + ".") for m in shipped)
    ]
    assert not missing


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("skill.smarthome.authorization", "def f():\n    from skill.proactive import events\n", True),
        ("skill.proactive.events", "from skill.smarthome import dispatch\n", True),
        ("skill.voice.handlers", "import skill.proactive.webhook\n", True),
        ("skill.alexa.messages", "from skill.smarthome.registry import handler\n", True),
        ("models.store", "from skill.app import route\n", True),
        ("skill.http", "from skill.privacy import pseudonyms\n", True),
        ("skill.config", "from skill.alexa import messages\n", True),
        ("skill.privacy.erasure", "from devstack import stack\n", True),
        ("skill.cloud.client", "import tests.alexa_schema\n", True),
        ("skill.smarthome.rtc", "from bench.events import directive\n", True),
        ("skill.proactive.webhook", "from . import events\nfrom ..smarthome import dispatch\n", True),
        ("skill.unplaced", "", True),
        ("skill.smarthome.rtc", "from skill.alexa import messages\nfrom . import registry\n", False),
        ("skill.proactive.events", "from skill.amazon import gateway\nfrom models import store\n", False),
        ("skill.amazon.gateway", "from skill.alexa import messages\nfrom skill import http\n", False),
        ("skill.secrets", "from skill.privacy.logs import log\n", False),
        ("lambda_handler", "from skill.app import route\n", False),
    ],
)
def test_the_checker_sees_a_wrong_import(module: str, source: str, broken: bool) -> None:
    assert bool(violations(module, source, REPO)) is broken
