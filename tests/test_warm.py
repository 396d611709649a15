"""skill.warm: every per-container cache registers its reset at import, one ``warm.reset()`` clears
them all, and nothing outside skill/ keeps its own list of module resets."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

import skill
from skill import http, warm

ROOT = Path(__file__).resolve().parents[1]


def _every_skill_module() -> list[ModuleType]:
    return [
        importlib.import_module(info.name) for info in pkgutil.walk_packages(skill.__path__, prefix="skill.")
    ]


def test_one_reset_forgets_what_a_warm_container_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    from skill import aws, config, secrets
    from skill.cloud import client, users
    from skill.cloud.contract import CloudUser
    from skill.privacy import pseudonyms
    from skill.voice import dispatch

    class Cloud:
        def me(self, token: str) -> CloudUser:
            return CloudUser("usr_1", "lnk_1", token_expires_at=datetime.now(UTC).replace(year=2999))

    class Connection:
        closed = False

        def close(self) -> None:
            self.closed = True

    monkeypatch.setenv("ZOSI_TABLE_NAME", "before")
    warm.reset()
    assert config.settings().table_name == "before"
    kms = aws.client("kms")
    users.resolve(Cloud(), "token-1")  # type: ignore[arg-type]
    secrets._cache["some/secret"] = (float("inf"), {"value": "x"})
    pseudonyms._user_keys["usr_1"] = "cached"
    pseudonyms.use_keys(lambda: pseudonyms.PseudonymKeys(b"k" * 32, b"e" * 64))
    kept = Connection()
    client._pool.give_back(("https", "accloud.example", 443), kept)  # type: ignore[arg-type]
    monkeypatch.setattr(dispatch, "_skill", object())

    monkeypatch.setenv("ZOSI_TABLE_NAME", "after")
    warm.reset()

    assert config.settings().table_name == "after"
    assert aws.client("kms") is not kms
    assert users.size() == 0
    assert secrets._cache == {} and pseudonyms._user_keys == {}
    assert pseudonyms._source is pseudonyms.from_secrets_manager  # handed keys end with the container
    assert kept.closed and client._pool.take(("https", "accloud.example", 443)) is None
    assert dispatch._skill is None


def test_every_module_reset_and_pool_in_skill_is_registered() -> None:
    modules = _every_skill_module()
    registered = set(warm.registered())
    missing = []
    for module in modules:
        if module is warm:
            continue
        for name, value in vars(module).items():
            if name == "reset" and callable(value) and value.__module__ == module.__name__:
                wanted = f"{module.__name__}.reset"
            elif isinstance(value, http.Pool):
                wanted = f"{module.__name__}.{name}"
            else:
                continue
            if wanted not in registered:
                missing.append(wanted)
    assert missing == [], "per-container state not registered with skill.warm"


def _modules_with_state() -> set[str]:
    _every_skill_module()
    return {name.rsplit(".", 1)[0] for name in warm.registered()}


def _reset_calls_outside_skill(path: Path, stateful: set[str]) -> list[str]:
    """`<module>.reset`, `<module>._pool.reset` or `<module>.settings.cache_clear` (called or listed)
    of a skill module with registered state, or a `reset` imported from one, in the file at ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "skill":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in stateful:
                    aliases[alias.asname or alias.name] = full
                elif node.module in stateful and alias.name in {"reset", "_pool"}:
                    found.append(f"{where}:{node.lineno} imports {full}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in stateful and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):  # calls and references alike: `for reset in (config.reset, ...)`
        if not (isinstance(node, ast.Attribute) and node.attr in {"reset", "cache_clear"}):
            continue
        owner = node.value
        while isinstance(owner, ast.Attribute):  # config.settings.cache_clear, client._pool.reset
            owner = owner.value
        if isinstance(owner, ast.Name) and owner.id in aliases:
            found.append(f"{where}:{node.lineno} uses {ast.unparse(node)}")
    return found


def test_nothing_outside_skill_lists_module_resets_by_hand() -> None:
    """The stack, the bench and the tests make a cold container with `warm.reset()` only: a list of
    module resets somewhere else is the list that forgets the next cache."""
    stateful = _modules_with_state()
    assert {"skill.config", "skill.aws", "skill.cloud.users"} <= stateful
    outside = [ROOT / "lambda_handler.py"]
    for top in ("models", "devstack", "bench", "tests"):
        # bench/results holds the bench's cached wheels (third-party code), not ours.
        outside.extend(
            sorted(p for p in (ROOT / top).rglob("*.py") if "results" not in p.relative_to(ROOT).parts)
        )
    offenders = [call for path in outside for call in _reset_calls_outside_skill(path, stateful)]
    assert offenders == []


def test_the_check_finds_a_hand_written_list(tmp_path: Path) -> None:
    sample = tmp_path / "hand_written.py"
    sample.write_text(
        "from skill import config\nfrom skill.cloud import users as u\nimport skill.aws as aws\n\n"
        "def reset_all() -> None:\n    config.reset()\n    u.reset()\n    aws.reset()\n"
    )
    assert len(_reset_calls_outside_skill(sample, _modules_with_state())) == 3
