"""``zosi-skill local load``: a small real run from two processes, the plan, the checks and the CLI."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devstack import cli, load

SMALL_RUN = 300


@pytest.fixture(scope="module")
def report() -> Iterator[load.LoadReport]:
    """300 requests of every kind from 2 worker processes against a fresh local stack."""
    yield load.execute(SMALL_RUN, 2, load.DEFAULT_MIX, max_seconds=240)


def test_a_small_run_passes_with_no_error_and_no_lost_write(report: load.LoadReport) -> None:
    assert report.ok, report.render()
    assert (report.completed, report.errors, report.unfinished, report.lost_writes) == (SMALL_RUN, 0, 0, [])
    assert report.render().endswith("PASS: 0 errors, 0 lost writes")


def test_every_kind_ran_and_has_latencies(report: load.LoadReport) -> None:
    assert set(report.kinds) == set(load.KINDS)
    for kind, stats in report.kinds.items():
        assert stats.count > 0 and stats.errors == 0, kind
        assert 0 < stats.p50_ms <= stats.p99_ms <= stats.max_ms, kind
    assert report.throughput > 0 and report.wall_seconds < report.total_seconds


def test_each_webhook_id_reached_alexa_once_and_redeliveries_did_not(report: load.LoadReport) -> None:
    webhooks = report.kinds["doorbell"].count + report.kinds["motion"].count
    assert report.redeliveries > 0 and report.webhook_ids + report.redeliveries == webhooks
    assert sum(report.gateway_messages.values()) == report.webhook_ids == report.gateway_received
    assert 0 < report.schema_checked <= report.gateway_received


# --- the plan ---------------------------------------------------------------------------------------


def account(name: str, *, doorbell: bool = True) -> load.Account:
    endpoints: dict[str, dict[str, Any]] = {f"{name}-cam": {}, f"{name}-bell": {}}
    return load.Account(
        username=name,
        user_id=f"usr_{name}",
        token="token",
        endpoints=endpoints,
        device_of={e: f"dev_{e}" for e in endpoints},
        streamable=(f"{name}-cam",),
        doorbells=(f"{name}-bell",) if doorbell else (),
        motion_sensors=(f"{name}-cam",),
    )


def test_the_plan_deals_every_request_and_sends_redeliveries_from_another_process() -> None:
    shards = load.plan([account("a"), account("b")], 2000, load.parse_mix(load.DEFAULT_MIX), 3, seed=7)
    assert sum(len(s) for s in shards) == 2000 and all(600 <= len(s) <= 700 for s in shards)
    homes: dict[str, set[int]] = {}
    for number, shard in enumerate(shards):
        for work in shard:
            if work.event_id:
                homes.setdefault(work.event_id, set()).add(number)
    redelivered = [ids for ids in homes.values() if len(ids) > 1]
    assert redelivered, "no redelivery crossed processes"
    kinds = Counter(w.kind for s in shards for w in s)
    assert set(kinds) == set(load.KINDS)


def test_the_plan_is_reproducible_and_honours_zero_weights() -> None:
    weights = load.parse_mix("report=1,doorbell=1")
    first = load.plan([account("a")], 200, weights, 2, seed=3)
    assert first == load.plan([account("a")], 200, weights, 2, seed=3)
    assert {w.kind for s in first for w in s} == {"report", "doorbell"}


def test_motion_alternates_detected_and_cleared_per_camera() -> None:
    [shard] = load.plan([account("a")], 50, load.parse_mix("motion=1"), 1, seed=5)
    first_deliveries = list(dict.fromkeys(w for w in shard))  # redeliveries repeat an earlier one
    types = [w.event_type for w in first_deliveries]
    assert types[:4] == ["motion.detected", "motion.cleared", "motion.detected", "motion.cleared"]


def test_a_kind_no_account_can_take_is_left_out() -> None:
    shards = load.plan([account("a", doorbell=False)], 100, load.parse_mix("doorbell=5,report=1"), 1, seed=1)
    assert {w.kind for s in shards for w in s} == {"report"}
    with pytest.raises(ValueError, match="no kind"):
        load.plan([account("a", doorbell=False)], 10, load.parse_mix("doorbell=1"), 1, seed=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("discover=1", {"discover": 1, "stream": 0, "report": 0, "doorbell": 0, "motion": 0}),
        ("stream=2, motion=3,", {"discover": 0, "stream": 2, "report": 0, "doorbell": 0, "motion": 3}),
        ("telepathy=1", "unknown kind"),
        ("stream=two", "whole number"),
        ("stream=-1", "negative"),
        ("stream=0", "weight 0"),
    ],
)
def test_mix_parsing(text: str, expected: dict[str, int] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            load.parse_mix(text)
    else:
        assert load.parse_mix(text) == expected


# --- the invariants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "broken"),
    [
        ([202], False),
        ([200, 202, 200], False),
        ([202, 202], True),  # announced twice
        ([200, 200], True),  # never accepted: lost
        ([503, 202], True),  # a redelivery that should have been a duplicate failed
        ([202, 200, 500], True),
    ],
)
def test_each_webhook_id_is_accepted_exactly_once(answers: list[int], broken: bool) -> None:
    assert bool(load.answer_problems({"evt_x": answers})) is broken


@pytest.mark.parametrize(
    ("accepted", "refused", "answered", "problems"),
    [
        ({"DoorbellPress": 3, "ChangeReport": 5}, [], {"doorbell": 3, "motion": 5}, 0),
        ({"DoorbellPress": 2, "ChangeReport": 5}, [], {"doorbell": 3, "motion": 5}, 1),  # one ring lost
        ({"DoorbellPress": 4, "ChangeReport": 5}, [], {"doorbell": 3, "motion": 5}, 1),  # one rang twice
        ({"DoorbellPress": 3, "ChangeReport": 5}, [["schema"]], {"doorbell": 3, "motion": 5}, 1),
        ({}, [], {}, 0),
    ],
)
def test_one_gateway_message_per_webhook_id(
    accepted: dict[str, int], refused: list[list[str]], answered: dict[str, int], problems: int
) -> None:
    assert len(load.delivery_problems(accepted, refused, answered)) == problems


def test_a_report_with_a_problem_fails() -> None:
    stats = {"report": load.KindStats(10, 0, 1.0, 2.0, 3.0)}
    fine = load.LoadReport(10, 1, 1.0, 2.0, stats, [], [], 0, 0, 0, {})
    assert fine.ok
    for broken in (
        load.LoadReport(
            10, 1, 1.0, 2.0, {"report": load.KindStats(10, 1, 1.0, 2.0, 3.0)}, [], [], 0, 0, 0, {}
        ),
        load.LoadReport(10, 1, 1.0, 2.0, stats, [], ["index differs"], 0, 0, 0, {}),
        load.LoadReport(12, 1, 1.0, 2.0, stats, [], [], 2, 0, 0, {}),
    ):
        assert not broken.ok and broken.render().endswith("FAIL")


# --- the command line -------------------------------------------------------------------------------


def test_the_cli_has_a_load_command_with_bounded_defaults() -> None:
    args = cli.parser().parse_args(["local", "load"])
    assert args.run is load.run
    assert (args.events, args.processes, args.mix) == (10_000, 2, load.DEFAULT_MIX)
    assert 0 < args.max_seconds <= 3600 and args.validate_all is False
    args = cli.parser().parse_args(
        ["local", "load", "--events", "50", "--processes", "3", "--mix", "report=1"]
    )
    assert (args.events, args.processes, args.mix) == (50, 3, "report=1")


@pytest.mark.parametrize(
    ("ok", "status"),
    [(True, 0), (False, 1)],
)
def test_the_exit_status_follows_the_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ok: bool, status: int
) -> None:
    stats = {"report": load.KindStats(1, 0 if ok else 1, 1.0, 1.0, 1.0)}
    monkeypatch.setattr(
        load, "execute", lambda *a, **k: load.LoadReport(1, 1, 1.0, 1.0, stats, [], [], 0, 0, 0, {})
    )
    assert cli.main(["local", "load", "--events", "1"]) == status
    assert ("PASS" in capsys.readouterr().out) is ok


@pytest.mark.parametrize(
    "argv",
    [["--events", "0"], ["--events", str(load.MAX_EVENTS + 1)], ["--processes", "0"], ["--mix", "nothing=1"]],
)
def test_out_of_bounds_arguments_are_refused_before_anything_starts(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert load.run(cli.parser().parse_args(["local", "load", *argv])) == 2
    assert "zosi-skill:" in capsys.readouterr().err


def test_json_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    stats = {"stream": load.KindStats(4, 0, 1.0, 2.0, 2.5)}
    monkeypatch.setattr(
        load, "execute", lambda *a, **k: load.LoadReport(4, 2, 2.0, 3.0, stats, [], [], 0, 0, 0, {})
    )
    assert (
        load.run(
            argparse.Namespace(
                events=4, processes=2, mix="stream=1", max_seconds=9, validate_all=False, json=True
            )
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert (
        printed["ok"] is True
        and printed["throughput_per_second"] == 2.0
        and printed["kinds"]["stream"]["p99_ms"] == 2.0
    )


# --- the one home of load generation: the benchmark uses it -----------------------------------------


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, 0.0),
        ([7.0], 99, 7.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),
        ([float(v) for v in range(1, 101)], 99, 99.01),
        ([float(v) for v in range(1, 101)], 100, 100.0),
    ],
)
def test_percentile_interpolates_between_ranks(values: list[float], pct: float, expected: float) -> None:
    assert load.percentile(values, pct) == pytest.approx(expected)


def test_the_benchmark_links_its_account_and_figures_percentiles_with_the_load_generator() -> None:
    """bench/ has no account setup or statistics of its own: Alice is linked as a load account is
    (SkillAccountLinked included, so the voice index knows the benchmark's Alexa user)."""
    from bench import stack as bench_stack
    from bench import warm
    from skill.voice import identity

    assert warm.percentile is load.percentile
    with bench_stack.BenchStack() as bench:
        [link] = identity.links_of_alexa_user(bench_stack.ALEXA_USER, None)
        assert link == identity.link_of(identity.resolve_token(bench.token))
        assert bench.endpoint["friendlyName"] == bench_stack.CAMERA
        assert bench.user_id == bench.local.accloud.user_id("alice")


# --- progress ---------------------------------------------------------------------------------------


def _load_cli(events: int, *, terminal: bool) -> tuple[int, str]:
    """`zosi-skill local load` in a fresh process, its stdout and stderr on a pty or on a pipe."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    argv = [
        sys.executable,
        "-m",
        "devstack.cli",
        "local",
        "load",
        "--events",
        str(events),
        "--processes",
        "1",
    ]
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=240)  # noqa: S603
        return done.returncode, done.stdout + done.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal's size
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)  # noqa: S603
    os.close(follower)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 240)
            if not ready:
                raise TimeoutError("load printed nothing for 240 s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
        status = process.wait(timeout=60)
    return status, output.decode(errors="replace")


@pytest.mark.slow
def test_progress_shows_on_a_terminal_only() -> None:
    status, on_terminal = _load_cli(40, terminal=True)
    assert status == 0, on_terminal
    assert "PASS: 0 errors, 0 lost writes" in on_terminal
    assert "\rload: " in on_terminal and "40/40 [" in on_terminal, on_terminal
    status, piped = _load_cli(40, terminal=False)
    assert status == 0, piped
    assert "PASS: 0 errors, 0 lost writes" in piped
    assert "40/40 [" not in piped and "\r" not in piped, piped
