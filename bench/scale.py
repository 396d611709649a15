"""Discovery at 1, 10, 100 and 300 endpoints (300 is Alexa's per-account limit).

The first discovery of each size writes the whole index, every later one reads it in one Query;
measured in a fresh interpreter on the package, apart from the loopback servers' threads.
Details: docs/performance.md, "Method", "Discovery scale".
"""

from __future__ import annotations

import json
import math
import statistics
import tracemalloc
from pathlib import Path
from typing import Any

from bench import events
from bench.fakes import InProcessCloud, synthetic_devices
from bench.probes import Probe, Timed, dynamodb_calls, timed

SIZES = (1, 10, 100, 300)
BATCH_WRITE_LIMIT = 25
BENCH_ROOT = Path(__file__).resolve().parent.parent


def _account(size: int) -> tuple[str, str, str]:
    return f"usr_bench{size:04d}", f"lnk_bench{size:04d}", f"bench-token-{size}"


def measure(stack: Any, package: Path, steady_runs: int) -> dict[str, Any]:
    """Link one account per size (an earlier AcceptGrant, as it were), then measure in a child."""
    from bench import cold
    from models import store
    from skill.privacy import pseudonyms

    accounts = []
    for size in (0, *SIZES):  # size 0: a one-device warm-up account, not reported
        user_id, link_id, token = _account(size)
        store.upsert_link(pseudonyms.user_key(user_id), pseudonyms.link_key(link_id), region="NA")
        accounts.append({"size": size, "user_id": user_id, "link_id": link_id, "token": token,
                         "devices": synthetic_devices(user_id, max(size, 1))})  # fmt: skip
    job = {"region": stack.local.env()["AWS_REGION"], "bench_root": str(BENCH_ROOT),
           "accounts": accounts, "steady_runs": steady_runs}  # fmt: skip
    return cold.run_child("scale", job, stack.child_env(), package)["scale"]


def run(job: dict[str, Any]) -> dict[str, Any]:
    """In the child: every size, first discovery, steady runs, one run under tracemalloc."""
    from skill.config import settings
    from skill.privacy import logs
    from skill.smarthome import dispatch

    class Discard:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            return None

    logs.configure(settings().log_level, stream=Discard())  # formatted and redacted, not printed
    probe = Probe()
    probe.attach()
    cloud = InProcessCloud()
    results: dict[str, Any] = {}
    for account in job["accounts"]:
        cloud.add_account(account["token"], account["user_id"], account["link_id"], account["devices"])

        def discover(token: str = account["token"], size: int = account["size"]) -> Timed:
            event = events.discover(token)
            found = timed(probe, lambda: dispatch.handle(event, None, cloud_factory=cloud.factory))
            if found.result["event"]["header"]["name"] != "Discover.Response":
                raise RuntimeError(f"discovery of {size} answered {found.result['event']['payload']}")
            return found

        first = discover()
        if account["size"] == 0:
            continue  # the process's first discovery (imports, clients, pynamodb for the writes)
        described = len(first.result["event"]["payload"]["endpoints"])
        steady = [discover() for _ in range(job["steady_runs"])]
        tracemalloc.start()
        discover()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        results[str(account["size"])] = {
            "endpoints": described,
            "own_ms": round(statistics.median(r.cpu_ms for r in steady), 2),
            "own_min_ms": round(min(r.cpu_ms for r in steady), 2),
            "own_max_ms": round(max(r.cpu_ms for r in steady), 2),
            "wall_ms": round(statistics.median(r.wall_ms for r in steady), 2),
            "first_own_ms": round(first.cpu_ms, 2),
            "first_wall_ms": round(first.wall_ms, 2),
            "response_bytes": len(json.dumps(first.result).encode()),
            "peak_alloc_bytes": peak,
            "first_dynamodb": dynamodb_calls(first.aws_calls),
            "steady_dynamodb": dynamodb_calls(steady[-1].aws_calls),
            "diff_write_batches": math.ceil(described / BATCH_WRITE_LIMIT),
        }
    return results
