"""What aws-lambda-powertools would cost a cold start, against the project's own logs module.

Not part of ``python -m bench``: Powertools is no dependency, so it is installed out of the tree
first and its folder given here (``.venv/bin/python -m bench.powertools_imports /tmp/pt``).
Method and results: docs/performance.md, "Powertools: measured, not adopted".
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What botocore and the Lambda runtime client import anyway: the fair baseline inside Lambda.
STDLIB = "import logging, json, re, traceback, contextvars"
PROBE = "{before}\nimport time\nt, c = time.perf_counter(), time.process_time()\n{stmt}\n"
PROBE += "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
OURS = "from skill.privacy import logs; logs.configure('INFO')"
LOGGER = "from aws_lambda_powertools import Logger; Logger(service='zosi')"

CASES: dict[str, tuple[str, str]] = {
    "bare interpreter": ("", "pass"),
    "skill.privacy.logs (ours)": ("", OURS),
    "Powertools Logger": ("", LOGGER),
    "Powertools Logger + Metrics": (
        "",
        "from aws_lambda_powertools import Logger, Metrics\n"
        "Logger(service='zosi'); Metrics(namespace='zosi', service='zosi')",
    ),
    "Powertools Parameters (imports boto3)": ("", "from aws_lambda_powertools.utilities import parameters"),
    "ours, stdlib already loaded": (STDLIB, OURS),
    "Powertools Logger, stdlib already loaded": (STDLIB, LOGGER),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("powertools", help="folder holding aws_lambda_powertools (pip --target)")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), args.powertools]))
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    walls: dict[str, list[float]] = {name: [] for name in CASES}
    cpus: dict[str, list[float]] = {name: [] for name in CASES}
    processes: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs + 1):  # the first round only warms the bytecode cache
        for name, (before, stmt) in CASES.items():
            code = PROBE.format(before=before, stmt=stmt)
            spawned = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, cwd="/", capture_output=True, text=True, check=True
            )
            processes[name].append((time.perf_counter() - spawned) * 1000)
            wall, cpu = map(float, out.stdout.split())
            walls[name].append(wall)
            cpus[name].append(cpu)
    python = sys.version.split()[0]
    print(f"| case ({args.runs} runs, Python {python}) | import CPU | import wall | process wall |")
    print("|---|---|---|---|")
    for name in CASES:
        cpu, wall = statistics.median(cpus[name][1:]), statistics.median(walls[name][1:])
        process = statistics.median(processes[name][1:])
        print(f"| {name} | {cpu:.1f} ms | {wall:.1f} ms | {process:.0f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
