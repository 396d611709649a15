"""The built package under the real Lambda runtime: the Runtime Interface Emulator shipped in the
pinned aws-sam-cli runs ``python -m awslambdaric lambda_handler.handler`` (Python 3.12, the package
as task root), against the local stack, with no Docker.

``make runtime-check`` builds the packages and sets the ZOSI_RUNTIME_CHECK_* variables; without
them this module is skipped (docs/deploy.md, "The real runtime, without Docker"). Every answer is
read back through the emulator's invoke endpoint and checked against the stack's state and the
Alexa schema; every line the function writes must be one JSON object.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack import demo_data, directives
from devstack.stack import LocalStack
from tests.alexa_schema import AlexaSchema
from tests.voice import envelopes

PACKAGE = os.environ.get("ZOSI_RUNTIME_CHECK_PACKAGE", "")
FOREIGN_PACKAGE = os.environ.get("ZOSI_RUNTIME_CHECK_FOREIGN_PACKAGE", "")
RUNTIME_PYTHON = os.environ.get("ZOSI_RUNTIME_CHECK_PYTHON", "")
EMULATOR = os.environ.get("ZOSI_RUNTIME_CHECK_RIE", "")

pytestmark = pytest.mark.skipif(
    not (PACKAGE and RUNTIME_PYTHON and EMULATOR), reason="run by `make runtime-check` (builds the package)"
)

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# What the emulator itself prints around each invocation, as Lambda's platform does in CloudWatch.
PLATFORM_LINES = ("START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "INIT_REPORT ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Emulator:
    """One aws-lambda-rie process serving ``package``; its output (the function's logs) in a file."""

    def __init__(self, package: str, environment: dict[str, str]) -> None:
        self.port = _free_port()
        self.output = tempfile.NamedTemporaryFile(prefix="rie-", suffix=".log")  # noqa: SIM115
        # The function sees the stack's environment and the Lambda variables, nothing of this process.
        kept = {key: os.environ[key] for key in ("PATH", "LANG", "TZ") if key in os.environ}
        self.process = subprocess.Popen(  # noqa: S603  (binaries found by make runtime-check)
            [
                EMULATOR,
                "--log-level",
                "error",
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                "--runtime-api-address",
                f"127.0.0.1:{_free_port()}",
                RUNTIME_PYTHON,
                "-m",
                "awslambdaric",
                "lambda_handler.handler",
            ],
            cwd=package,
            env={**kept, **environment, "AWS_LAMBDA_FUNCTION_TIMEOUT": "7", "LAMBDA_TASK_ROOT": package},
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the emulator exited: {self.lines()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the emulator did not listen within 15 s")

    def invoke(self, event: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOKE_PATH}", data=json.dumps(event).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  (loopback, our own URL)
            return json.loads(answer.read())

    def lines(self) -> list[str]:
        return [line for line in Path(self.output.name).read_text().splitlines() if line.strip()]

    def function_records(self) -> list[dict[str, Any]]:
        """Every line the function wrote, parsed: each must be exactly one JSON object."""
        records = []
        for line in self.lines():
            if line.startswith(PLATFORM_LINES):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"not a JSON line (the runtime's plain text?): {line[:200]}") from None
            assert isinstance(record, dict), line
            records.append(record)
        return records

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output.close()


@dataclass
class Journey:
    stack: LocalStack
    emulator: Emulator
    token: str
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def journey() -> Iterator[Journey]:
    emulator: Emulator | None = None

    def through_the_emulator(event: dict[str, Any], context: Any) -> Any:
        """The webhook front (API Gateway's stand-in) invokes the function as API Gateway would."""
        assert emulator is not None
        return emulator.invoke(event)

    with LocalStack(through_the_emulator, webrtc=True) as stack:
        emulator = Emulator(PACKAGE, stack.env())
        try:
            yield Journey(stack, emulator, stack.accloud.issue_token("alice")["access_token"])
        finally:
            emulator.stop()


def _smart_home(journey: Journey, event: dict[str, Any], alexa_schema: AlexaSchema) -> dict[str, Any]:
    answer: dict[str, Any] = journey.emulator.invoke(event)
    alexa_schema.assert_valid(answer)
    return answer


def _discovered(journey: Journey, alexa_schema: AlexaSchema) -> dict[str, dict[str, Any]]:
    if not journey.endpoints:
        answer = _smart_home(journey, directives.discover(journey.token), alexa_schema)
        journey.endpoints = {e["friendlyName"]: e for e in answer["event"]["payload"]["endpoints"]}
    return journey.endpoints


def test_discover_lists_the_cameras_of_the_account(journey: Journey, alexa_schema: AlexaSchema) -> None:
    answer = _smart_home(journey, directives.discover(journey.token), alexa_schema)

    assert answer["event"]["header"]["name"] == "Discover.Response"
    names = sorted(e["friendlyName"] for e in answer["event"]["payload"]["endpoints"])
    assert names == sorted(d["name"] for d in journey.stack.accloud.devices("alice"))


def test_initialize_camera_streams_answers_an_rtsps_stream(
    journey: Journey, alexa_schema: AlexaSchema
) -> None:
    front_door = _discovered(journey, alexa_schema)["Front Door"]

    answer = _smart_home(journey, directives.initialize_streams(journey.token, front_door), alexa_schema)

    assert answer["event"]["header"]["name"] == "Response"
    (stream,) = answer["event"]["payload"]["cameraStreams"]
    assert stream["uri"].startswith("rtsps://") and stream["protocol"] == "RTSP"
    assert stream["uri"] in [minted["uri"] for minted in journey.stack.accloud.minted_streams()]


def test_initiate_session_with_offer_answers_a_working_sdp(
    journey: Journey, alexa_schema: AlexaSchema
) -> None:
    from devstack.echo_client import EchoShowClient

    front_door = _discovered(journey, alexa_schema)["Front Door"]
    with EchoShowClient() as echo:
        event = directives.offer(journey.token, front_door, echo.create_offer(audio=True))

        answer = _smart_home(journey, event, alexa_schema)

        assert answer["event"]["header"]["name"] == "AnswerGeneratedForSession"
        echo.apply_answer(answer["event"]["payload"]["answer"]["value"])
        assert echo.wait_for_frames(5, timeout=20) >= 5  # the answer is the camera's: media flows


def test_accept_grant_stores_the_grant(journey: Journey, alexa_schema: AlexaSchema) -> None:
    from models import store
    from skill.privacy import pseudonyms

    code = journey.stack.lwa.issue_grant_code()

    answer = _smart_home(journey, directives.accept_grant(journey.token, code), alexa_schema)

    assert answer["event"]["header"]["name"] == "AcceptGrant.Response"
    (link,) = store.links_of(pseudonyms.user_key(journey.stack.accloud.user_id("alice")))
    assert link.region == "NA"


def test_launch_request_speaks_the_camera_count(journey: Journey) -> None:
    event = envelopes.launch(token=journey.token, skill_id=journey.stack.env()["ZOSI_SKILL_ID"])

    answer = journey.emulator.invoke(event)

    assert envelopes.response_errors(answer) == []
    cameras = len(journey.stack.accloud.devices("alice"))
    assert envelopes.spoken(answer).startswith(f"Welcome to ZOSI Smart. You have {cameras} cameras linked")


def test_signed_webhook_reaches_the_event_gateway(journey: Journey, alexa_schema: AlexaSchema) -> None:
    """ACCloud signs the POST, the API Gateway front turns it into the event the emulator runs."""
    accloud = journey.stack.accloud
    before = len(journey.stack.gateway.messages())

    press = accloud.build_event("doorbell.pressed", "alice", demo_data.FRONT_DOOR)

    status, _ = accloud.send_built_event(press)

    assert status == 202
    new = list(journey.stack.gateway.messages())[before:]
    assert [m["event"]["header"]["name"] for m in new] == ["DoorbellPress"]
    alexa_schema.assert_valid(new[0])


def test_every_line_the_function_wrote_is_one_json_record(journey: Journey) -> None:
    records = journey.emulator.function_records()

    assert records, "the function wrote nothing"
    logged = [r for r in records if "_aws" not in r]  # the others are EMF metric lines
    assert all({"level", "logger", "message", "time"} <= set(r) for r in logged), logged
    assert not [r for r in logged if r["level"] in ("ERROR", "CRITICAL")], logged


@pytest.mark.skipif(not FOREIGN_PACKAGE, reason="needs the package built for the other architecture")
def test_a_package_for_the_other_architecture_logs_which_module_and_platform(
    journey: Journey, alexa_schema: AlexaSchema
) -> None:
    """The failure a wrong LAMBDA_ARCH causes: one JSON line says which wheel was built for what."""
    import platform

    emulator = Emulator(FOREIGN_PACKAGE, journey.stack.env())
    try:
        answer = emulator.invoke(directives.discover(journey.token))
        spoken = emulator.invoke(
            envelopes.launch(token=journey.token, skill_id=journey.stack.env()["ZOSI_SKILL_ID"])
        )
        records = emulator.function_records()
    finally:
        emulator.stop()

    alexa_schema.assert_valid(answer)
    assert answer["event"]["payload"]["type"] == "INTERNAL_ERROR"
    assert envelopes.response_errors(spoken) == []
    assert envelopes.spoken(spoken).startswith("Sorry, something went wrong")
    failures = [r for r in records if r["level"] == "ERROR"]
    assert [r["logger"] for r in failures] == ["skill.smarthome.dispatch", "skill.voice.dispatch"], failures
    assert [r["exception"]["type"] for r in failures] == ["ImportError", "ImportError"], failures
    native = failures[0]["exception"]["native_module"]
    assert failures[1]["exception"]["native_module"] == native
    host_machine = platform.machine()
    assert native["host"] == f"linux_{host_machine}"
    assert native["file_arch"] not in (host_machine, "unreadable", "not ELF")
    assert native["file_arch"] in native["wheel"]  # the wheel's platform tag names the same machine
    assert native["module"].endswith(native["file"].split(".", 1)[0])
