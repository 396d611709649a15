"""devstack/progress.py: bars on a terminal only, and the bench's stage bar counts what it runs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import progress

THREE_STAGES = """
from devstack.progress import stages
with stages(3, "bench") as stage:
    for name in ("one", "two", "three"):
        stage(name)
print("done")
"""


def _on_a_terminal(code: str) -> str:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=follower)  # noqa: S603
    os.close(follower)
    output = b""
    with contextlib.suppress(OSError):  # EIO once the child closed the terminal
        while chunk := os.read(leader, 65536):
            output += chunk
    os.close(leader)
    assert process.wait(timeout=30) == 0
    return output.decode()


def test_stages_draw_a_bar_on_a_terminal_and_nothing_on_a_pipe() -> None:
    on_terminal = _on_a_terminal(THREE_STAGES)
    assert "\rbench: " in on_terminal and "1/3 [" in on_terminal and "three" in on_terminal, on_terminal
    piped = subprocess.run(  # noqa: S603
        [sys.executable, "-c", THREE_STAGES], capture_output=True, text=True, timeout=30, check=True
    )
    assert (piped.stdout, piped.stderr) == ("done\n", "")


@pytest.mark.parametrize("profile", [None, Path("cold.pstats")])
def test_the_bench_declares_as_many_stages_as_it_runs(monkeypatch: pytest.MonkeyPatch, profile: Any) -> None:
    """bench.run.collect with every measurement stubbed: only the stage bookkeeping is under test."""
    from bench import cold, memory, package, run, scale, stack, warm

    seen: list[tuple[int, list[str]]] = []

    @contextlib.contextmanager
    def recording(total: int, description: str) -> Iterator[Callable[[str], None]]:
        names: list[str] = []
        seen.append((total, names))
        yield names.append

    class Nothing:
        def __enter__(self) -> Nothing:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def summary(self) -> dict[str, Any]:
            return {}

        def round_trips(self) -> dict[str, Any]:
            return {}

        def child_env(self) -> dict[str, str]:
            return {}

    monkeypatch.setattr(progress, "stages", recording)
    monkeypatch.setattr(stack, "BenchStack", Nothing)
    monkeypatch.setattr(warm, "quiet_logs", Nothing)
    monkeypatch.setattr(package, "build", lambda dest: dest)
    monkeypatch.setattr(package, "size", lambda built: {})
    for module in (cold, memory, scale):
        monkeypatch.setattr(module, "measure", lambda *args, **kwargs: {})
    monkeypatch.setattr(cold, "run_child", lambda *args, **kwargs: None)
    monkeypatch.setattr(cold, "subject_job", lambda *args: {})
    monkeypatch.setattr(warm, "in_process", lambda *args: {"stream": Nothing()})
    monkeypatch.setattr(warm, "end_to_end", lambda *args: {"stream": Nothing()})
    monkeypatch.setattr("bench.probes.Probe.attach", lambda self: None)
    run.collect(True, 1, profile)
    ((total, names),) = seen
    assert total == len(names) == len(set(names)) == 7 + (profile is not None)
