"""Inputs for ``sam local invoke`` from the running local stack (docs/deploy.md, section 10).

``local up --bind`` puts the services the function calls on another address (here 127.0.0.2, a
loopback address the skill does not treat as loopback, standing in for the docker bridge address);
``local env --sam`` must name only variables template.yaml declares on SkillFunction (SAM drops
the others) and be enough on its own; ``invoke --print-event`` prints the event ``-e`` takes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cfnlint.decode import decode

from devstack import cli
from devstack.stack import FAKE_AWS, LocalStack
from skill.alexa.directive import ENDPOINT_ID, Directive

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
BIND = "127.0.0.2"
PLACEHOLDER_TOKEN = "access-token-from-skill"
RUN_HANDLER = (
    "import json, sys, lambda_handler; print(json.dumps(lambda_handler.handler(json.load(sys.stdin), None)))"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    env_file = tmp_path_factory.mktemp("sam") / ".zosi-local.env"
    with LocalStack(webrtc=False, bind=BIND) as running:
        running.write_env_file(env_file)
        yield running, env_file


def run(capsys: pytest.CaptureFixture[str], env_file: Path, *argv: str) -> Any:
    status = cli.main(["--env-file", str(env_file), *argv])
    out = capsys.readouterr().out
    assert status == 0, out
    return json.loads(out)


def declared_on_skill_function() -> set[str]:
    template, problems = decode(str(REPO / "template.yaml"))
    assert template is not None, problems
    function = template["Resources"][cli.SAM_FUNCTION]
    assert function["Type"] == "AWS::Serverless::Function"
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    return set(variables)


def test_the_functions_services_listen_on_the_bind_address_only(stack) -> None:
    running, _ = stack
    env = running.env()
    urls = [env["AWS_ENDPOINT_URL"], env["ZOSI_ACCLOUD_BASE_URL"], env["ZOSI_LWA_TOKEN_URL"]]
    urls += [env[f"ZOSI_EVENT_GATEWAY_URL_{region}"] for region in ("NA", "EU", "FE")]
    assert {urlsplit(url).hostname for url in urls} == {BIND}
    assert env["ZOSI_LOCAL_HTTP_HOST"] == BIND
    for url in urls:
        port = urlsplit(url).port
        assert port
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"{url} also answers on 127.0.0.1"


def test_local_up_refuses_a_bind_address_that_is_not_ipv4(capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(["local", "up", "--bind", "my-laptop"])
    assert refused.value.code == 2
    assert "not an IPv4 address" in capsys.readouterr().err


def test_every_variable_local_env_sam_prints_is_declared_on_skill_function(stack, capsys) -> None:
    _, env_file = stack
    printed = run(capsys, env_file, "local", "env", "--sam")
    assert list(printed) == [cli.SAM_FUNCTION]
    variables = printed[cli.SAM_FUNCTION]
    assert set(variables) <= declared_on_skill_function()
    assert variables["ZOSI_LOCAL_MODE"] == "1" and variables["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] == ""
    assert not set(variables) & set(FAKE_AWS)  # credentials and region come from sam itself


def test_local_env_sam_host_points_every_url_at_the_containers_view_of_the_stack(stack, capsys) -> None:
    running, env_file = stack
    variables = run(capsys, env_file, "local", "env", "--sam", "--host", "host.docker.internal")[
        cli.SAM_FUNCTION
    ]
    urls = {key: value for key, value in variables.items() if value.startswith("http://")}
    assert set(urls) >= {"AWS_ENDPOINT_URL", "ZOSI_ACCLOUD_BASE_URL", "ZOSI_LWA_TOKEN_URL"}
    assert {urlsplit(url).hostname for url in urls.values()} == {"host.docker.internal"}
    assert {urlsplit(url).port for url in urls.values()} <= {urlsplit(v).port for v in running.env().values()}
    assert variables["ZOSI_LOCAL_HTTP_HOST"] == "host.docker.internal"


def test_print_event_gives_a_directive_with_the_token_and_endpoint_resolved(stack, capsys) -> None:
    running, env_file = stack
    printed = run(
        capsys,
        env_file,
        "invoke",
        str(EVENTS / "initialize_camera_streams.json"),
        "--token-from",
        "alice",
        "--print-event",
    )
    directive = Directive.parse(printed)  # the skill's own reading of a directive envelope
    assert directive.key == ("Alexa.CameraStreamController", "InitializeCameraStreams")
    assert directive.token and directive.token != PLACEHOLDER_TOKEN
    assert directive.endpoint_id and ENDPOINT_ID.fullmatch(directive.endpoint_id)
    assert "endpoint:" not in json.dumps(printed)
    assert not [call for call in running.accloud.request_counts() if call.endswith("/streams")]  # not run


def test_the_sam_variables_alone_run_the_printed_event_in_a_fresh_process(
    stack, capsys, alexa_schema
) -> None:
    """What the container gets: the --env-vars variables and sam's credentials, nothing else."""
    running, env_file = stack
    variables = run(capsys, env_file, "local", "env", "--sam", "--host", BIND)[cli.SAM_FUNCTION]
    event = run(
        capsys, env_file, "invoke", str(EVENTS / "discover.json"), "--token-from", "alice", "--print-event"
    )
    container_env = {**FAKE_AWS, **variables, "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", RUN_HANDLER],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=container_env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.splitlines()[-1])
    alexa_schema.assert_valid(answer)
    names = {endpoint["friendlyName"] for endpoint in answer["event"]["payload"]["endpoints"]}
    assert names == {device["name"] for device in running.accloud.devices("alice")}
