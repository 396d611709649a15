"""`ask deploy` (ASK CLI v2, pinned in deploy/ask-cli/) finds the skill package through ask-resources.json.

ask deploy zips the whole ``skillMetadata.src`` folder and uploads it to SMAPI, so the folder must hold
the package and nothing else. The CLI test runs the real ``ask deploy`` offline: a throwaway profile, and
SMAPI pointed (``ASK_SMAPI_SERVER_BASE_URL``) at a local stand-in that keeps the uploaded zip and refuses
the import, so nothing leaves the machine and the zip is exactly what Amazon would receive.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ASK_RESOURCES = REPO / "ask-resources.json"
ASK_CLI_DIR = REPO / "deploy" / "ask-cli"
ASK_BIN = ASK_CLI_DIR / "node_modules" / ".bin" / "ask"
NODE = shutil.which("node")
DEPLOY_TIMEOUT_SECONDS = 90


def _resources() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ASK_RESOURCES.read_text())
    return loaded


def _package_src() -> str:
    src: str = _resources()["profiles"]["default"]["skillMetadata"]["src"]
    return src


def _package_files() -> dict[str, bytes]:
    """Every file under the package folder, by its path inside the zip ask deploy builds."""
    root = REPO / _package_src()
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def test_ask_resources_is_the_cli_v2_format_with_only_the_skill_package() -> None:
    resources = _resources()
    assert resources["askcliResourcesVersion"] == "2020-03-31"
    assert set(resources["profiles"]) == {"default"}
    # The Lambda functions are deployed by SAM (docs/deploy.md), never by ask deploy: no code, no infra.
    assert set(resources["profiles"]["default"]) == {"skillMetadata"}
    src = REPO / _package_src()
    assert src.is_dir()
    assert src.resolve().is_relative_to(REPO / "interaction_model")


def test_the_package_holds_the_manifest_and_one_model_per_published_locale_and_nothing_else() -> None:
    files = _package_files()
    manifest = json.loads(files["skill.json"])["manifest"]
    published = set(manifest["publishingInformation"]["locales"])
    models = {name for name in files if name.startswith("interactionModels/custom/")}
    assert models == {f"interactionModels/custom/{locale}.json" for locale in published}
    assert set(files) == {"skill.json", *models}, "ask deploy uploads every file in the folder"
    for name in models:
        assert "interactionModel" in json.loads(files[name])
    # Account linking is its own SMAPI document (it carries the client secret at deploy time).
    assert "accountLinking" not in manifest["apis"].get("custom", {})
    assert (REPO / "interaction_model" / "account-linking.json").is_file()


class _SmapiStandIn(BaseHTTPRequestHandler):
    """Just enough SMAPI for ask deploy's upload: upload URL, the zip's PUT, then a refused import."""

    calls: list[tuple[str, str, str]]
    uploads: list[bytes]

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        self._body()
        self.calls.append(("POST", self.path, self.headers.get("Authorization", "")))
        if self.path == "/v1/skills/uploads":
            host, port = self.server.server_address[:2]
            upload = f"http://{host!s}:{port}/upload/skill-package.zip"
            self._answer(201, {"uploadUrl": upload, "expiresAt": "2999-01-01T00:00:00.000Z"})
        else:
            self._answer(400, {"message": "offline check: the import stops here"})

    def do_PUT(self) -> None:
        self.calls.append(("PUT", self.path, ""))
        self.uploads.append(self._body())
        self._answer(200, {})

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def smapi() -> Iterator[tuple[str, type[_SmapiStandIn]]]:
    handler = type("Smapi", (_SmapiStandIn,), {"calls": [], "uploads": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(NODE is None, reason="node is not installed (.ci/run installs the ASK CLI)")
def test_ask_deploy_finds_and_uploads_exactly_the_skill_package(
    tmp_path: Path, smapi: tuple[str, type[_SmapiStandIn]]
) -> None:
    if not ASK_BIN.exists():
        pytest.fail("the ASK CLI is not installed: run `make ask-cli` (npm ci in deploy/ask-cli, as .ci/run)")
    base_url, handler = smapi
    # ask deploy writes .ask/ask-states.json beside ask-resources.json: run it on a copy of the project.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ASK_RESOURCES, project / "ask-resources.json")
    shutil.copytree(REPO / _package_src(), project / _package_src())
    home = tmp_path / "home"
    (home / ".ask").mkdir(parents=True)
    token = {"access_token": "offline-check", "refresh_token": "offline-check", "token_type": "bearer"}
    token |= {"expires_in": 3600, "expires_at": "2999-01-01T00:00:00.000Z"}
    profile = {"vendor_id": "M0OFFLINECHECK", "token": token}
    (home / ".ask" / "cli_config").write_text(json.dumps({"profiles": {"default": profile}}))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ASK_SMAPI_SERVER_BASE_URL": base_url,
        "ASK_LWA_TOKEN_HOST": base_url,
        "ASK_SHARE_USAGE": "false",
        "ASK_SKIP_NEW_VERSION_REMINDER": "true",
    }
    done = subprocess.run(  # noqa: S603 (the pinned CLI, no shell)
        [str(ASK_BIN), "deploy"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT_SECONDS,
    )
    output = done.stdout + done.stderr
    assert "Deploy configuration loaded from ask-resources.json" in output, output
    assert "offline check: the import stops here" in output, output
    assert done.returncode != 0
    assert [call[:2] for call in handler.calls] == [
        ("POST", "/v1/skills/uploads"),
        ("PUT", "/upload/skill-package.zip"),
        ("POST", "/v1/skills/imports"),
    ]
    assert handler.calls[0][2] == "offline-check"
    (upload,) = handler.uploads
    with zipfile.ZipFile(io.BytesIO(upload)) as package:
        uploaded = {name: package.read(name) for name in package.namelist() if not name.endswith("/")}
    assert uploaded == _package_files()
