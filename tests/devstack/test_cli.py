"""The zosi-skill commands a developer runs, against a real (in-process) local stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import cli
from devstack.stack import LocalStack

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    env_file = tmp_path_factory.mktemp("cli") / ".zosi-local.env"
    with LocalStack(webrtc=False) as running:
        running.write_env_file(env_file)
        yield running, env_file


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main(list(argv))
    return status, capsys.readouterr().out


def test_token_lists_demo_users_and_issues_tokens(stack, capsys) -> None:
    running, env_file = stack
    status, out = run(capsys, "--env-file", str(env_file), "token")
    assert status == 0 and "alice" in out and "bob" in out
    status, out = run(capsys, "--env-file", str(env_file), "token", "alice")
    token = out.strip()
    assert status == 0 and len(token) > 20
    assert running.accloud.request_counts().get("GET /v1/me", 0) == 0  # issuing needs no API call
    status, _ = run(capsys, "--env-file", str(env_file), "token", "mallory")
    assert status == 2


@pytest.mark.parametrize(
    ("event_file", "expect"),
    [
        ("discover.json", lambda a: len(a["event"]["payload"]["endpoints"]) == 8),
        (
            "initialize_camera_streams.json",
            lambda a: a["event"]["payload"]["cameraStreams"][0]["uri"].startswith("rtsps://"),
        ),
        ("report_state.json", lambda a: a["event"]["header"]["name"] == "StateReport"),
        ("voice_launch.json", lambda a: "ZOSI Smart" in json.dumps(a["response"])),
    ],
)
def test_invoke_sample_events(stack, capsys, alexa_schema, event_file, expect) -> None:
    _, env_file = stack
    status, out = run(
        capsys, "--env-file", str(env_file), "invoke", str(EVENTS / event_file), "--token-from", "alice"
    )
    answer = json.loads(out)
    assert status == 0 and expect(answer), answer
    if "event" in answer:
        alexa_schema.assert_valid(answer)


def test_grant_code_then_accept_grant_by_hand(stack, capsys, tmp_path, alexa_schema) -> None:
    _, env_file = stack
    status, code = run(capsys, "--env-file", str(env_file), "local", "grant-code")
    assert status == 0
    event = json.loads((EVENTS / "accept_grant.json").read_text())
    event["directive"]["payload"]["grant"]["code"] = code.strip()
    path = tmp_path / "grant.json"
    path.write_text(json.dumps(event))
    status, out = run(capsys, "--env-file", str(env_file), "invoke", str(path), "--token-from", "bob")
    answer = json.loads(out)
    alexa_schema.assert_valid(answer)
    assert answer["event"]["header"]["name"] == "AcceptGrant.Response"

    bob = stack[0].accloud.user_id("bob")
    status, out = run(capsys, "--env-file", str(env_file), "privacy", "export", "--accloud-user", bob)
    exported = json.loads(out)
    assert status == 0 and exported["summary"]["links"] == 1
    assert "Atza|" not in out and "Atzr|" not in out  # secrets masked

    status, _ = run(capsys, "--env-file", str(env_file), "privacy", "erase", "--accloud-user", bob)
    assert status == 2  # needs --yes
    status, out = run(capsys, "--env-file", str(env_file), "privacy", "erase", "--accloud-user", bob, "--yes")
    assert status == 0 and json.loads(out)["items"] >= 2
    status, out = run(capsys, "--env-file", str(env_file), "privacy", "export", "--accloud-user", bob)
    assert json.loads(out)["items"] == []


def test_commands_without_a_running_stack_say_so(capsys, tmp_path) -> None:
    status = cli.main(["--env-file", str(tmp_path / "missing.env"), "token", "alice"])
    assert status == 2
    assert "zosi-skill local up" in capsys.readouterr().err


def test_detections_lists_what_accloud_holds_and_counts_it(stack, capsys) -> None:
    from devstack.demo_data import BACK_YARD

    running, env_file = stack
    status, _ = run(capsys, "--env-file", str(env_file), "local", "person", "Back Yard")
    assert status == 0
    running.accloud.detections.record(BACK_YARD, "person", occurred_at=1_780_000_000.0)
    status, out = run(capsys, "--env-file", str(env_file), "local", "detections", "back yard")
    assert status == 0
    *listed, count = out.splitlines()
    held = running.accloud.detections_held(BACK_YARD)
    assert len(held) >= 2
    assert [line.split() for line in listed] == [[d["occurred_at"], d["class"], d["id"]] for d in held]
    assert count == f"{len(held)} detection(s) held by ACCloud for back yard ({BACK_YARD})"

    (oldest,) = [d["id"] for d in held if d["occurred_at"] == "2026-05-28T20:26:40Z"]
    running.accloud.delete_in_app(BACK_YARD, [oldest])
    status, out = run(capsys, "--env-file", str(env_file), "local", "detections", BACK_YARD)
    assert status == 0 and oldest not in out
    assert out.splitlines()[-1].startswith(f"{len(held) - 1} detection(s) held by ACCloud")


def test_detections_of_an_unknown_device_is_an_error(stack, capsys) -> None:
    _, env_file = stack
    status = cli.main(["--env-file", str(env_file), "local", "detections", "Attic"])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert "alice has no device called 'Attic'" in captured.err
