"""The package ``sam build`` made for this machine's CPU answers a Discover on this machine.

``make build-host`` builds it (``LAMBDA_ARCH`` and ``LambdaArchitecture`` set to the host's
architecture) and runs this file with ``ZOSI_HOST_PACKAGE`` set; then a missing or foreign-arch
package fails. In a plain ``pytest`` run without a host build the test is skipped.

The handler runs in a Python 3.12 subprocess that sees the package alone (no site-packages, no
repository on ``sys.path``), against the local stack served from this process.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack import directives
from devstack.stack import LocalStack
from tests.alexa_schema import AlexaSchema

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PACKAGE = REPO / ".aws-sam" / "build" / "SkillFunction"
WHEEL_MACHINE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

# Runs inside the package: the event on stdin; the answer and where the code came from on stdout.
RUN_IN_PACKAGE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import lambda_handler
answer = lambda_handler.handler(json.load(sys.stdin), None)
from cryptography.hazmat.bindings import _rust
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
AESGCM(AESGCM.generate_key(256)).encrypt(b"0" * 12, b"native code runs", None)
print(json.dumps({"answer": answer, "native": _rust.__file__, "handler": lambda_handler.__file__}))
"""


def _required() -> bool:
    return bool(os.environ.get("ZOSI_HOST_PACKAGE"))


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(reason)
    pytest.skip(reason)


def _wheel_machines(package: Path) -> set[str]:
    tags = set()
    for wheel in package.glob("cryptography-*.dist-info/WHEEL"):
        tags |= {line.split("_", 1)[-1] for line in wheel.read_text().splitlines() if line.startswith("Tag:")}
    return {machine for tag in tags for machine in WHEEL_MACHINE.values() if tag.endswith(machine)}


def _python312() -> str:
    for candidate in (os.environ.get("LAMBDA_PYTHON"), shutil.which("python3.12")):
        if (
            candidate
            and subprocess.run(  # noqa: S603 (the interpreter the Makefile found)
                [candidate, "-c", "import sys; raise SystemExit(sys.version_info[:2] != (3, 12))"],
                capture_output=True,
            ).returncode
            == 0
        ):
            return candidate
    _unavailable("no Python 3.12 (set LAMBDA_PYTHON): the package holds cp312 wheels and bytecode")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def package() -> Path:
    path = Path(os.environ.get("ZOSI_HOST_PACKAGE") or DEFAULT_PACKAGE).resolve()
    if not (path / "lambda_handler.py").is_file():
        _unavailable(f"no built package at {path}: run `make build-host`")
    host = WHEEL_MACHINE.get(platform.machine().lower(), platform.machine())
    built_for = _wheel_machines(path)
    if built_for != {host}:
        _unavailable(f"{path} has wheels for {sorted(built_for)}, this host is {host}: run `make build-host`")
    return path


def _run_in_package(package: Path, event: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    minimal = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    done = subprocess.run(  # noqa: S603 (the interpreter the Makefile found)
        [_python312(), "-I", "-S", "-B", "-c", RUN_IN_PACKAGE, str(package)],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env={**minimal, **env},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_host_package_answers_a_discover_from_the_package_alone(package: Path) -> None:
    schema = AlexaSchema.load()
    with LocalStack(webrtc=False) as stack:
        token = stack.accloud.issue_token("alice")["access_token"]
        ran = _run_in_package(package, directives.discover(token), stack.env())
        cameras = {device["name"] for device in stack.accloud.devices("alice")}
    answer = ran["answer"]
    schema.assert_valid(answer)
    assert answer["event"]["header"]["name"] == "Discover.Response"
    assert {e["friendlyName"] for e in answer["event"]["payload"]["endpoints"]} == cameras
    assert ran["handler"].startswith(str(package)) and ran["native"].startswith(str(package))
