"""``python -m bench``: every measurement, the budgets, the report. Exits 1 if a budget fails.

Writes bench/results/latest.md and latest.json (git-ignored) and prints the Markdown.
``--quick`` runs fewer iterations (a smoke test of the harness, not numbers to quote).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1024 * 1024
# A container whose first request is a live view (bench.cold.SUBJECTS): no DynamoDB, no botocore.
COLD_FIRST_DIRECTIVES = {"InitializeCameraStreams": "stream", "InitiateSessionWithOffer": "webrtc"}


@dataclass(frozen=True)
class Budget:
    name: str
    limit: str
    measured: str
    ok: bool


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def budgets(results: dict[str, Any]) -> list[Budget]:
    warm, trips, scale = results["warm_in_process"], results["round_trips"], results["scale"]
    found = []
    for kind in ("InitializeCameraStreams", "InitiateSessionWithOffer"):
        p50 = warm[kind]["own_p50"]
        found.append(
            Budget(f"{kind} handler overhead, p50 (in-process, CPU)", "<= 1 ms", f"{p50:.3f} ms", p50 <= 1)
        )
    big = scale["300"]["own_ms"]
    found.append(
        Budget("300-endpoint discovery handler time (CPU, median)", "<= 25 ms", f"{big:.1f} ms", big <= 25)
    )
    cold = results["cold_start"]
    found.append(
        Budget(
            "cold start, subject / floor (wall time spawn to ready, median of pairs)",
            "<= 1.3 x",
            f"{cold['ratio']:.2f} x (CPU time {cold['cpu_ratio']:.2f} x)",
            cold["ratio"] <= 1.3,
        )
    )
    for kind, first in results["cold_first_directive"].items():
        found.append(
            Budget(
                f"cold first {kind} alone, subject / floor (wall time spawn to ready, median of pairs)",
                "<= 0.5 x",
                f"{first['ratio']:.2f} x (CPU time {first['cpu_ratio']:.2f} x)",
                first["ratio"] <= 0.5,
            )
        )
    for kind in ("InitializeCameraStreams", "InitiateSessionWithOffer"):
        calls = trips[kind]["dynamodb"]
        found.append(Budget(f"DynamoDB calls, {kind}", "0", str(calls), calls == 0))
    discover = trips["Discover"]
    first_ok = all(
        s["first_dynamodb"]["reads"] <= 1 and s["first_dynamodb"]["writes"] <= s["diff_write_batches"]
        for s in scale.values()
    )
    steady_ok = all(
        s["steady_dynamodb"]["reads"] <= 1 and s["steady_dynamodb"]["writes"] == 0 for s in scale.values()
    )
    warm_ok = discover["dynamodb_reads"] <= 1 and discover["dynamodb_writes"] == 0
    found.append(
        Budget(
            "DynamoDB calls, Discover (warm; first and steady at 1-300 endpoints)",
            "<= 1 read + the diff's writes",
            f"warm {discover['dynamodb_reads']} read + {discover['dynamodb_writes']} writes; "
            f"first runs {'within' if first_ok else 'OVER'}, steady runs {'within' if steady_ok else 'OVER'}",
            warm_ok and first_ok and steady_ok,
        )
    )
    press = trips["doorbell press"]["dynamodb"]
    found.append(Budget("DynamoDB calls, doorbell press", "<= 2", str(press), press <= 2))
    rss = results["memory"]["maxrss_kb"] / 1024
    found.append(Budget("peak RSS, a container handling the mix", "<= 100 MB", f"{rss:.1f} MB", rss <= 100))
    package = results["package"]["zip_bytes"] / MB
    found.append(Budget("deployment package, zipped", "<= 15 MB", f"{package:.1f} MB", package <= 15))
    return found


def collect(quick: bool, runs: int, profile: Path | None = None) -> dict[str, Any]:
    from bench import cold, memory, package, scale, warm
    from bench.probes import Probe
    from bench.stack import BenchStack
    from devstack.progress import stages

    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    started = time.perf_counter()
    scratch_dir = tempfile.TemporaryDirectory(prefix="zosi-bench-")
    # The bar (a terminal only) moves between measurements, never during one.
    with scratch_dir as scratch, warm.quiet_logs(), stages(7 + (profile is not None), "bench") as stage:
        stage("building the package")
        built = package.build(Path(scratch) / "package")
        results["package"] = package.size(built)
        with BenchStack() as stack:
            probe = Probe()
            probe.attach()
            stage("cold start")
            results["cold_start"] = cold.measure(stack, built, runs)
            stage("cold start, live view first")
            results["cold_first_directive"] = {
                kind: cold.measure(stack, built, runs, subject)
                for kind, subject in COLD_FIRST_DIRECTIVES.items()
            }
            if profile is not None:  # one more subject run under cProfile, for diagnosis only
                stage("cProfile of a cold start")
                cold.run_child(
                    "subject", {**cold.subject_job(stack), "profile": str(profile)}, stack.child_env(), built
                )
            scale_factor = 0.2 if quick else 1.0
            stage("warm, in process")
            in_process = warm.in_process(stack, probe, scale_factor)
            stage("warm, end to end")
            end_to_end = warm.end_to_end(stack, probe, scale_factor)
            results["warm_in_process"] = {k: v.summary() for k, v in in_process.items()}
            results["warm_end_to_end"] = {k: v.summary() for k, v in end_to_end.items()}
            results["round_trips"] = {k: v.round_trips() for k, v in end_to_end.items()}
            stage("scale")
            results["scale"] = scale.measure(stack, built, 3 if quick else 20)
            stage("memory")
            results["memory"] = memory.measure(stack, built, 2 if quick else 5)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows],
    ]


def render(results: dict[str, Any], found: list[Budget]) -> str:
    m, c = results["machine"], results["cold_start"]
    lines = [
        "# ZOSI Smart backend: benchmark",
        "",
        f"{m['date']}; {m['nproc']} x {m['cpu']}; Python {m['python']}; load average "
        f"{m['load_average'][0]} at the start, {m['load_average_end'][0]} at the end; {results['seconds']} s"
        + ("; **quick run: too few samples to quote**" if results["quick"] else ""),
        "",
        "## Budgets",
        "",
        *_table(
            ["budget", "limit", "measured", "result"],
            [[b.name, b.limit, b.measured, "PASS" if b.ok else "**FAIL**"] for b in found],
        ),
        "",
        f"## Cold start (fresh interpreter on the package alone; median of {c['runs']} runs)",
        "",
    ]
    labels = {
        "floor": "floor: import botocore, create one DynamoDB client",
        "subject": "subject: import lambda_handler, first Discover, first InitializeCameraStreams",
    }
    lines += _table(
        ["process", "start ms", "body ms", "total ms", "CPU ms", "peak RSS MB"],
        [
            [
                label,
                *(_ms(c[mode][k]) for k in ("start", "body", "total", "cpu")),
                f"{c[mode]['maxrss_kb'] / 1024:.1f}",
            ]
            for mode, label in labels.items()
        ],
    )
    steps = ", ".join(
        f"{k.split(':', 1)[1]} {_ms(v)} ms" for k, v in c["subject"].items() if k.startswith("step:")
    )
    lines += [
        "",
        f"Subject / floor: **{c['ratio']:.2f} x** (median of the per-pair ratios of wall time; ratio of "
        f"the medians {c['ratio_of_medians']:.2f} x; CPU time {c['cpu_ratio']:.2f} x). "
        f"Subject steps: {steps}.",
        "",
        "Cold first live view: a fresh interpreter whose first request is the stream directive "
        "(pseudonym keys through the secrets extension stand-in, no botocore), against its own "
        "floor runs:",
        "",
    ]
    first = results["cold_first_directive"]
    lines += _table(
        ["first request", "floor total ms", "subject total ms", "subject CPU ms", "subject / floor", "CPU"],
        [
            [
                kind,
                _ms(f["floor"]["total"]),
                _ms(f["subject"]["total"]),
                _ms(f["subject"]["cpu"]),
                f"{f['ratio']:.2f} x",
                f"{f['cpu_ratio']:.2f} x",
            ]
            for kind, f in first.items()
        ],
    )
    lines += [
        "",
        "## Warm cost per request (ms; own = CPU time of the thread running the handler)",
        "",
    ]
    w, e = results["warm_in_process"], results["warm_end_to_end"]
    lines += _table(
        [
            "request",
            "in-process own p50",
            "own p99",
            "wall p50",
            "end-to-end own p50",
            "wall p50",
            "wall p99",
            "log B",
        ],
        [
            [
                k,
                _ms(r["own_p50"]),
                _ms(r["own_p99"]),
                _ms(r["wall_p50"]),
                _ms(e[k]["own_p50"]),
                _ms(e[k]["wall_p50"]),
                _ms(e[k]["wall_p99"]),
                e[k]["log_bytes"],
            ]
            for k, r in w.items()
        ],
    )
    lines += ["", "## Round trips per request (warm, end to end)", ""]
    rows = []
    for kind, t in results["round_trips"].items():
        http = t["http"]
        rows.append(
            [
                kind + ("" if t["stable"] else " (varied)"),
                t["dynamodb"],
                ", ".join(f"{op} {n}" for op, n in sorted(t["dynamodb_ops"].items())) or "-",
                ", ".join(f"{op} {n}" for op, n in sorted(t["other_aws"].items())) or "-",
                http.get("accloud", 0),
                http.get("lwa", 0),
                http.get("gateway", 0),
            ]
        )
    lines += _table(
        ["request", "DynamoDB", "operations", "other AWS", "ACCloud", "LWA", "Event Gateway"], rows
    )
    lines += ["", "## Discovery scale (ACCloud in-process, DynamoDB on loopback)", ""]
    lines += _table(
        [
            "endpoints",
            "own ms",
            "wall ms",
            "first: own / wall ms",
            "response KB",
            "peak alloc MB",
            "DynamoDB first (r/w)",
            "steady (r/w)",
        ],
        [
            [
                size,
                f"{_ms(s['own_ms'])} ({_ms(s['own_min_ms'])}-{_ms(s['own_max_ms'])})",
                _ms(s["wall_ms"]),
                f"{_ms(s['first_own_ms'])} / {_ms(s['first_wall_ms'])}",
                f"{s['response_bytes'] / 1024:.1f}",
                f"{s['peak_alloc_bytes'] / MB:.2f}",
                f"{s['first_dynamodb']['reads']}/{s['first_dynamodb']['writes']}",
                f"{s['steady_dynamodb']['reads']}/{s['steady_dynamodb']['writes']}",
            ]
            for size, s in results["scale"].items()
        ],
    )
    mem, pkg = results["memory"], results["package"]
    lines += [
        "",
        "## Memory and package",
        "",
        f"- Peak RSS after {mem['requests']} requests ({mem['rounds']} rounds of the mix): "
        f"**{mem['maxrss_kb'] / 1024:.1f} MB**.",
        f"- Package, {pkg['method']}: **{pkg['zip_bytes'] / MB:.1f} MB zipped**, "
        f"{pkg['unpacked_bytes'] / MB:.1f} MB unpacked, {pkg['files']} files; of which botocore, with the "
        f"models of {', '.join(pkg['botocore_service_models'])} only: "
        f"{pkg['botocore_zip_bytes'] / MB:.1f} MB zipped, "
        f"{pkg['botocore_unpacked_bytes'] / MB:.1f} MB unpacked.",
        "",
        "Method and history: docs/performance.md.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke test)")
    parser.add_argument(
        "--runs", type=int, default=None, help="cold-start runs per process kind (default 11)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="also write a cProfile of one cold-start subject run here (pstats format)",
    )
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 11)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    results = collect(args.quick, runs, args.profile.resolve() if args.profile else None)
    found = budgets(results)
    results["budgets"] = [asdict(b) for b in found]
    report = render(results, found)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(report)
    sys.stdout.write("\n" + report)
    failed = [b.name for b in found if not b.ok]
    if failed:
        sys.stdout.write(f"\nbench: {len(failed)} budget(s) FAILED: {'; '.join(failed)}\n")
        return 1
    sys.stdout.write("\nbench: every budget PASSED\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
