"""`zosi-skill demo` (what `make demo` runs) prints the story only; the skill's own output goes to a file.

The in-process function writes what Lambda would send to CloudWatch (JSON log records, EMF metric
lines). In the transcript they interrupted the story, so the demo routes them to a log file and
names it.
"""

from __future__ import annotations

import json
import re
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
    assert any(line.endswith("Detection history in the Alexa app [ok]") for line in transcript)
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


def test_the_detection_history_step_tells_what_accloud_holds() -> None:
    """The ReportData / DeleteData step's lines, checked against the reference ACCloud afterwards."""
    from devstack import demo
    from devstack.demo_data import FRONT_DOOR
    from devstack.gateway_server import MessageSchemas, default_official_schema
    from devstack.stack import LocalStack
    from skill.privacy import pseudonyms

    with LocalStack(webrtc=False) as stack:
        story = demo.Story(stack, MessageSchemas.from_path(default_official_schema()))
        demo.link_accounts(story)
        demo.discover(story)
        story.lines = []
        demo.detection_history(story)
        held = [d["id"] for d in stack.accloud.detections_held(FRONT_DOOR)]
        owner = stack.accloud.user_id("alice")
        # Every shortened id still listed is one ACCloud holds; the deleted one it no longer does.
        still_held = {demo.short(pseudonyms.detection_ref(owner, FRONT_DOOR, d)) for d in held}

    told = "\n".join(story.lines)
    listed = re.findall(r"^ +(\S+Z) person +id (d1_\S+)$", told, re.MULTILINE)
    assert len(listed) == 3
    page_sizes = [int(n) for n in re.findall(r"DataReport with (\d) detection", told)]
    assert page_sizes == [2, 1]
    (deleted,) = re.findall(r"deleted \[(d1_\S+)\]", told)
    assert deleted == listed[-1][1]
    assert {ref for _, ref in listed[:-1]} == still_held and deleted not in still_held
    (count,) = re.findall(r"ACCloud now holds (\d+) detection", told)
    assert int(count) == len(held) == 2
    assert all(d not in told for d in held), "ACCloud's own ids reached the transcript"
