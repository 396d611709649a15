import time

STARTED = time.perf_counter()  # the first line of the body: everything before it is interpreter start-up

"""A fresh interpreter, as a new Lambda container is; run by ``bench.cold``.

``python bench/child.py floor|subject|scale`` reads its job (JSON) from stdin and prints, as the
last line on stdout, ``BENCH-RESULT <json>`` with ``time.perf_counter`` readings (CLOCK_MONOTONIC on
Linux, so comparable with the parent's clock), its CPU time and its peak RSS (``peak_rss_kb``). The
skill's own log lines go to stdout before it, as in Lambda.

* ``floor``: import botocore and create one DynamoDB client - the least any function here does;
* ``subject``: import ``lambda_handler`` and hand it the job's events in order (the first Discover
  and the first InitializeCameraStreams for a cold start; a whole mix of requests for peak RSS);
* ``scale``: discovery at several account sizes (``bench.scale.run``), measured in a process of its
  own so that neither the loopback servers' threads nor their allocations count.

The process ends with ``os._exit`` right after reporting: a Lambda container is frozen, not torn
down, so interpreter teardown is no part of a cold start. The job is read before anything is
imported; both modes do exactly the same work around their own.
"""

import json  # noqa: E402  (after the clock on purpose)
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

MARKER = "BENCH-RESULT "


def outcome(answer: object) -> str:
    """A short, value-free summary of an answer: the event name, HTTP status or 'speech'."""
    if not isinstance(answer, dict):
        return type(answer).__name__
    if "event" in answer:
        return str(answer["event"].get("header", {}).get("name"))
    if "statusCode" in answer:
        return str(answer["statusCode"])
    if "response" in answer:
        return "speech" if answer["response"].get("outputSpeech") else "silent"
    return "unknown"


def peak_rss_kb() -> int:
    """The process's peak RSS. ``ru_maxrss`` cannot be used as is: Linux carries the parent's RSS at
    fork over exec into it, so every child of the (large) benchmark process would report at least
    that. ``VmHWM`` is the high-water mark of this process's own memory map since exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def floor(job: dict, marks: list) -> dict:
    import botocore.session

    marks.append(("import", time.perf_counter()))
    botocore.session.get_session().create_client("dynamodb", region_name=job["region"])
    marks.append(("client", time.perf_counter()))
    return {"outcomes": []}


def subject(job: dict, marks: list) -> dict:
    import lambda_handler

    marks.append(("import", time.perf_counter()))
    outcomes = []
    for kind, event in job["events"]:
        outcomes.append(outcome(lambda_handler.handler(event, None)))
        marks.append((kind, time.perf_counter()))
    return {"outcomes": outcomes}


def scale(job: dict, marks: list) -> dict:
    """Discovery at several sizes in this process alone (``bench.scale.run``)."""
    sys.path.append(job["bench_root"])  # after the package: skill and models still come from it
    from bench.scale import run

    results = run(job)
    marks.append(("scale", time.perf_counter()))
    return {"scale": results}


def main() -> None:
    mode = sys.argv[1]
    job = json.loads(sys.stdin.read())
    sys.path.insert(0, job["root"])  # as /var/task is in Lambda: the app code first
    marks: list = []
    profiler = None
    if job.get("profile"):  # diagnostics only (``python -m bench --profile``); never in measured runs
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    found = {"floor": floor, "subject": subject, "scale": scale}[mode](job, marks)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(job["profile"])
    result = {
        "mode": mode,
        "cpu_ms": time.process_time() * 1000,  # this process, all threads, exec to ready
        "started": STARTED,
        "marks": marks,
        "maxrss_kb": peak_rss_kb(),
        **found,
    }
    sys.stdout.flush()
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)


main()
