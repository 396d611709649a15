"""The collector pauses for the cold start and resumes, with the survivors frozen, once the first
invocation has answered (skill/coldstart.py). Each case runs in a fresh interpreter: the state
under test is the process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Each script prints one JSON line of observations; the events need no AWS or ACCloud.
SCRIPT = """
import gc, json, sys
host_disabled = {host_disabled}
if host_disabled:
    gc.disable()
import lambda_handler
seen = {{"after_import": gc.isenabled()}}
def invoke():
    try:
        lambda_handler.{entry}({event}, None)
    except Exception as exc:  # the retention job without a table: resume must happen all the same
        seen["raised"] = type(exc).__name__
invoke()
seen["after_first"] = gc.isenabled()
seen["frozen"] = gc.get_freeze_count()
invoke()
seen["frozen_after_second"] = gc.get_freeze_count()
print(json.dumps(seen))
"""

UNKNOWN_EVENT = '{"neither": "directive nor request"}'


def observe(entry: str, event: str, *, host_disabled: bool = False) -> dict[str, Any]:
    env = {
        **os.environ,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ZOSI_LOG_LEVEL": "ERROR",
    }
    script = SCRIPT.format(host_disabled=host_disabled, entry=entry, event=event)
    done = subprocess.run(  # noqa: S603  (this interpreter, a script of this file's own)
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_collection_pauses_for_the_cold_start_and_resumes_after_the_first_invocation() -> None:
    seen = observe("handler", UNKNOWN_EVENT)
    assert seen["after_import"] is False
    assert seen["after_first"] is True
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 10_000  # modules, classes, settings
    # Frozen once, not per invocation (the count may drop: refcounting still frees frozen objects).
    assert seen["frozen_after_second"] <= seen["frozen"]


def test_collection_resumes_even_when_the_first_invocation_raises() -> None:
    seen = observe("retention", "{}")  # no table here: the job raises StoreUnavailable
    assert seen["raised"] == "StoreUnavailable"
    assert seen["after_first"] is True and seen["frozen"] > 0


def test_a_host_that_disabled_collection_keeps_it_disabled() -> None:
    seen = observe("handler", UNKNOWN_EVENT, host_disabled=True)
    assert seen == {"after_import": False, "after_first": False, "frozen": 0, "frozen_after_second": 0}
