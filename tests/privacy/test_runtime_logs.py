"""Under the real Lambda runtime client (awslambdaric) every record is one redacted JSON line.

The runtime installs its own root handler before our module loads. The handler is started with
``python -m awslambdaric lambda_handler.handler`` against a minimal Runtime API on 127.0.0.1
(the next-invocation and response endpoints the Lambda service serves), and the process output
is read back.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("awslambdaric")

ROOT = Path(__file__).resolve().parents[2]
API = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:zosi"


class FakeRuntimeApi(ThreadingHTTPServer):
    """Hands out the queued events one by one and records every response the runtime posts."""

    daemon_threads = True

    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)
        self.pending: queue.Queue[dict[str, Any]] = queue.Queue()
        for event in events:
            self.pending.put(event)
        self.responses: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.done = threading.Event()


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    server: FakeRuntimeApi

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        if self.path != f"{API}/invocation/next":
            self.send_error(404)
            return
        try:
            event = self.server.pending.get(timeout=30)
        except queue.Empty:
            self.send_error(500)
            return
        request_id = event.pop("_request_id")
        body = json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 8000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.responses.put((self.path, json.loads(body) if body else None))


def _unsupported_directive(message_id: str) -> dict[str, Any]:
    return {
        "directive": {
            "header": {
                "namespace": "Alexa.NoSuchInterface",
                "name": "Frobnicate",
                "payloadVersion": "3",
                "messageId": message_id,
            },
            "payload": {},
        }
    }


def run_under_awslambdaric(
    events: list[dict[str, Any]], telemetry_fd: int | None = None, **env: str
) -> tuple[list[str], list[Any]]:
    """Output lines of the runtime process, and the responses it posted, for ``events``.

    With ``telemetry_fd`` the runtime writes its log frames there, as it does in Lambda."""
    server = FakeRuntimeApi(events)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_LAMBDA_", "_LAMBDA_", "ZOSI_", "PYTEST_"))
    }
    child_env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="zosi",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        LAMBDA_TASK_ROOT=str(ROOT),
        PYTHONPATH=str(ROOT),
        **env,
    )
    if telemetry_fd is not None:
        child_env["_LAMBDA_TELEMETRY_LOG_FD"] = str(telemetry_fd)
    process = subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", "lambda_handler.handler"],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=() if telemetry_fd is None else (telemetry_fd,),
    )
    responses = []
    try:
        for _ in events:
            path, body = server.responses.get(timeout=60)
            responses.append((path, body))
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        server.shutdown()
        server.server_close()
    return [line for line in output.splitlines() if line.strip()], responses


EVENTS = [
    {"_request_id": "req-1", **_unsupported_directive("msg-plain-1")},
    # A caller-chosen messageId is text like any other: the log line must not echo it.
    {"_request_id": "req-2", **_unsupported_directive("alice@example.com https://x.example/p")},
    {"_request_id": "req-3", "not": "an alexa event"},
]


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_each_record_is_one_redacted_json_line(log_format: str) -> None:
    output, responses = run_under_awslambdaric(
        [dict(event) for event in EVENTS], AWS_LAMBDA_LOG_FORMAT=log_format
    )

    assert [path for path, _ in responses] == [f"{API}/invocation/req-{n}/response" for n in (1, 2, 3)]
    assert responses[0][1]["event"]["payload"]["type"] == "INVALID_DIRECTIVE"
    records = [json.loads(line) for line in output]  # every line is JSON: no runtime plain lines
    assert not [line for line in output if line.startswith(("[INFO]", "[WARNING]", "[ERROR]"))]
    handled = [r for r in records if r["message"] == "directive handled"]
    unrecognised = [r for r in records if r["message"] == "unrecognised event"]
    assert len(handled) == 2 and len(unrecognised) == 1, output
    assert len(records) == len(handled) + len(unrecognised), output
    assert [r["correlation_id"] for r in handled] == ["msg-plain-1", "[redacted] [redacted]"]
    assert unrecognised[0]["correlation_id"] == "req-3"
    assert "alice@example.com" not in "\n".join(output)


def test_telemetry_frames_carry_one_json_record_each() -> None:
    """In Lambda the runtime writes framed records to a telemetry descriptor, not stdout."""
    read_end, write_end = os.pipe()
    try:
        output, _ = run_under_awslambdaric([dict(event) for event in EVENTS], telemetry_fd=write_end)
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    frames = []
    while data:
        frame_type, length = data[:4], int.from_bytes(data[4:8], "big")
        frames.append((frame_type, data[16 : 16 + length].decode()))
        data = data[16 + length :]
    assert output == []  # nothing besides the frames
    records = [json.loads(text) for _, text in frames]
    assert sorted(r["message"] for r in records) == ["directive handled"] * 2 + ["unrecognised event"]
    assert all(text.count("\n") == 1 and text.endswith("\n") for _, text in frames)


def test_a_failed_invocation_reaches_the_runtime_as_its_type_only() -> None:
    """The runtime prints an escaping exception itself, outside logging: message and source lines
    must not reach it. A custom request without a configured skill id is refused by raising."""
    launch = {"version": "1.0", "request": {"type": "LaunchRequest", "requestId": "req-launch"}}
    output, responses = run_under_awslambdaric([{"_request_id": "req-9", **launch}])

    ((path, error),) = responses
    assert path == f"{API}/invocation/req-9/error"
    assert (error["errorType"], error["errorMessage"]) == ("RequestRefused", "RequestRefused")
    assert all("lambda_handler.py" in frame and "skill/" not in frame for frame in error["stackTrace"])
    ours = [json.loads(line) for line in output if line.startswith("{")]
    assert [r["message"] for r in ours] == ["custom request refused: ZOSI_SKILL_ID is not configured"]
    report = [line for line in output if not line.startswith("{")]
    assert report[0] == "[ERROR] RequestRefused: RequestRefused"
    assert not [line for line in report if "verify_skill_id" in line or "skill id not configured" in line]
