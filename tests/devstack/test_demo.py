"""`zosi-skill demo` (what `make demo` runs) prints the story only; the skill's own output goes to a file.

The in-process function writes what Lambda would send to CloudWatch (JSON log records, EMF metric
lines). In the transcript they interrupted the story, so the demo routes them to a log file and
names it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DEMO_TIMEOUT_SECONDS = 180


@pytest.mark.slow
def test_the_transcript_is_the_story_and_names_the_log_that_holds_the_metrics(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    transcript = done.stdout.splitlines()
    assert "demo complete: every step of the story worked." in transcript
    for line in transcript + done.stderr.splitlines():
        assert not line.lstrip().startswith('{"_aws"'), line
        assert not line.lstrip().startswith('{"level"'), line
    assert done.stderr == ""
    log = tmp_path / ".demo" / "skill.log"
    assert any(str(Path(".demo") / "skill.log") in line for line in transcript[:3])
    records = [json.loads(line) for line in log.read_text().splitlines()]
    metrics = [record for record in records if "_aws" in record]
    logs = [record for record in records if "level" in record]
    assert len(metrics) + len(logs) == len(records)
    # The doorbell press and the new camera each reach the Event Gateway once.
    assert sum(record.get("EventsDelivered", 0) for record in metrics) == 2
    assert any(record["message"] == "directive handled" for record in logs)
    summary = f"{Path('.demo') / 'skill.log'}: {len(logs)} log record(s), {len(metrics)} metric line(s)"
    assert transcript[-1] == summary
