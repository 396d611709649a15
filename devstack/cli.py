"""``zosi-skill``: the developer's and operator's command line.

``local`` drives the dev-only stack (up, env, grant-code, webhook verbs, events, load), ``token``
and ``invoke`` run the OAuth flow and one event through ``lambda_handler.handler``, ``demo`` tells
the whole story, ``privacy export|erase`` serves an operator's access or erasure request.
Every subcommand: README.md, "The ``zosi-skill`` CLI".
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from devstack.http_server import LOOPBACK
from devstack.stack import ENV_FILE, FAKE_AWS, LocalStack, apply_env, read_env_file

ENDPOINT_PLACEHOLDER = "endpoint:"


class CliError(RuntimeError):
    """A user-facing error: printed without a traceback, exit status 2."""


# --- helpers ------------------------------------------------------------------------------------


def _running_env(env_file: str) -> dict[str, str]:
    env = read_env_file(env_file)
    if env is None:
        raise CliError(f"no running local stack: start one with `zosi-skill local up` ({env_file} not found)")
    return env


def _admin(env: dict[str, str]) -> Any:
    from devstack.accloud import AccloudAdmin

    return AccloudAdmin(env["ZOSI_ACCLOUD_BASE_URL"])


def _device_id(admin: Any, user: str, name: str) -> str:
    devices = admin.devices(user)
    wanted = name.casefold()
    for device in devices:
        if device["name"].casefold() == wanted or device["id"] == name:
            return str(device["id"])
    names = ", ".join(sorted(d["name"] for d in devices))
    raise CliError(f"{user} has no device called {name!r} (has: {names})")


def fill_tokens(event: Any, token: str) -> Any:
    """Every bearer token in ``event`` (directive scopes, custom-envelope users) becomes ``token``."""
    if isinstance(event, dict):
        filled = {k: fill_tokens(v, token) for k, v in event.items()}
        if filled.get("type") == "BearerToken" and "token" in filled:
            filled["token"] = token
        if "accessToken" in filled and isinstance(filled["accessToken"], str):
            filled["accessToken"] = token
        return filled
    if isinstance(event, list):
        return [fill_tokens(v, token) for v in event]
    return event


def resolve_endpoints(event: dict[str, Any], token: str) -> dict[str, Any]:
    """Replace ``"endpointId": "endpoint:<camera name>"`` with the real endpointId and cookie,
    found the way Alexa would: by discovery with the same token."""
    endpoint = event.get("directive", {}).get("endpoint")
    if not isinstance(endpoint, dict):
        return event
    wanted = endpoint.get("endpointId")
    if not isinstance(wanted, str) or not wanted.startswith(ENDPOINT_PLACEHOLDER):
        return event
    import lambda_handler

    name = wanted[len(ENDPOINT_PLACEHOLDER) :].strip().casefold()
    discovery = lambda_handler.handler(
        {
            "directive": {
                "header": {
                    "namespace": "Alexa.Discovery",
                    "name": "Discover",
                    "payloadVersion": "3",
                    "messageId": "00000000-0000-4000-8000-000000000000",
                },
                "payload": {"scope": {"type": "BearerToken", "token": token}},
            }
        },
        None,
    )
    for found in discovery.get("event", {}).get("payload", {}).get("endpoints", []):
        if found["friendlyName"].casefold() == name:
            endpoint["endpointId"] = found["endpointId"]
            endpoint["cookie"] = found.get("cookie", {})
            return event
    raise CliError(f"no endpoint named {wanted[len(ENDPOINT_PLACEHOLDER) :]!r} for this account")


# --- commands -----------------------------------------------------------------------------------


def cmd_local_up(args: argparse.Namespace) -> int:
    stack = LocalStack(bind=args.bind).start()
    path = stack.write_env_file(args.env_file)
    print(f"Local stack running on {args.bind}. Environment for clients:")
    for key, value in sorted(stack.env().items()):
        print(f"  {key}={value}")
    print(f"(also written to {path}; Ctrl-C stops the stack and removes it)")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        path.unlink(missing_ok=True)
        stack.stop()
    print("local stack stopped")
    return 0


# What `sam local invoke --env-vars` must not get: the CLI's own admin URLs, and the AWS settings
# (credentials, region) that SAM sets in the container itself from the caller's environment.
_NOT_FOR_THE_FUNCTION = frozenset(
    {"ZOSI_LOCAL_WEBHOOK_URL", "ZOSI_LOCAL_LWA_ADMIN_URL", "ZOSI_LOCAL_GATEWAY_URL", *FAKE_AWS}
)
SAM_FUNCTION = "SkillFunction"


def sam_env_vars(env: dict[str, str], host: str | None = None) -> dict[str, dict[str, str]]:
    """The stack's environment as ``sam local invoke --env-vars`` JSON for the skill function.

    ``host``: the address the container reaches the stack at (``host.docker.internal``, the docker
    bridge address); every stack URL is rewritten to it and local mode allows plain http to it."""
    variables = {k: v for k, v in env.items() if k not in _NOT_FOR_THE_FUNCTION}
    # The extension stand-in serves this machine's loopback, which a container does not share:
    # the function reads its secrets from moto's Secrets Manager API instead.
    variables["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = ""
    if host:
        for key, value in variables.items():
            parts = urlsplit(value)
            if parts.scheme == "http" and parts.port:
                variables[key] = urlunsplit(parts._replace(netloc=f"{host}:{parts.port}"))
        variables["ZOSI_LOCAL_HTTP_HOST"] = "" if host in {LOOPBACK, "localhost"} else host
    return {SAM_FUNCTION: dict(sorted(variables.items()))}


def cmd_local_env(args: argparse.Namespace) -> int:
    env = _running_env(args.env_file)
    if args.sam:
        print(json.dumps(sam_env_vars(env, args.host), indent=2))
    elif args.host:
        raise CliError("--host rewrites the addresses for a container: use it with --sam")
    else:
        print("\n".join(f"{key}={value}" for key, value in sorted(env.items())))
    return 0


def cmd_grant_code(args: argparse.Namespace) -> int:
    from devstack.lwa_server import request_grant_code

    env = _running_env(args.env_file)
    print(request_grant_code(env["ZOSI_LOCAL_LWA_ADMIN_URL"]))
    return 0


# webhook command -> (event type, state change on the reference ACCloud before sending)
_TRIGGERS: dict[str, tuple[str, str | None]] = {
    "ring": ("doorbell.pressed", None),
    "motion": ("motion.detected", None),
    "motion-cleared": ("motion.cleared", None),
    "person": ("person.detected", None),
    "offline": ("device.offline", "offline"),
    "online": ("device.online", "online"),
    "remove": ("device.removed", "remove"),
    "rename": ("device.updated", "rename"),
}


def cmd_trigger(args: argparse.Namespace) -> int:
    env = _running_env(args.env_file)
    admin = _admin(env)
    if args.command == "add":
        added = admin.add_device(args.user, args.device, motion_detection=True)
        status, body = admin.trigger_event("device.added", args.user, added["id"])
    else:
        event_type, change = _TRIGGERS[args.command]
        device_id = _device_id(admin, args.user, args.device)
        if change == "offline":
            admin.set_online(device_id, False)
        elif change == "online":
            admin.set_online(device_id, True)
        elif change == "rename":
            if not args.new_name:
                raise CliError("rename needs --to NEW_NAME")
            admin.rename_device(device_id, args.new_name)
        elif change == "remove":
            admin.remove_device(device_id)
        status, body = admin.trigger_event(event_type, args.user, device_id)
    print(json.dumps({"webhook_status": status, "webhook_answer": _json_or_text(body)}, indent=2))
    return 0 if 200 <= status < 300 else 1


def cmd_events(args: argparse.Namespace) -> int:
    from devstack.gateway_server import GatewayAdmin

    env = _running_env(args.env_file)
    for message in GatewayAdmin(env["ZOSI_LOCAL_GATEWAY_URL"]).events():
        print(json.dumps(message, separators=(",", ":")))
    return 0


def cmd_detections(args: argparse.Namespace) -> int:
    env = _running_env(args.env_file)
    admin = _admin(env)
    device_id = _device_id(admin, args.user, args.device)
    held = admin.detections_held(device_id)
    for detection in held:
        print(f"{detection['occurred_at']}  {detection['class']:<8} {detection['id']}")
    print(f"{len(held)} detection(s) held by ACCloud for {args.device} ({device_id})")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from devstack import demo_data

    users = [u.username for u in demo_data.demo_seed().users]
    if not args.user:
        print("demo users: " + ", ".join(users))
        return 0
    if args.user not in users:
        raise CliError(f"unknown demo user {args.user!r} (demo users: {', '.join(users)})")
    env = _running_env(args.env_file)
    print(_admin(env).issue_token(args.user)["access_token"])
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        event = json.loads(raw)
    except ValueError as exc:
        raise CliError(f"{args.file} is not JSON: {exc}") from None
    env = read_env_file(args.env_file)
    stack = None
    if env is None:
        stack = LocalStack(webrtc=False).start()  # a throwaway embedded stack
        env = stack.env()
    try:
        apply_env(env)
        if args.token_from:
            token = _admin(env).issue_token(args.token_from)["access_token"]
            event = resolve_endpoints(fill_tokens(event, token), token)
        if args.print_event:
            answer = event  # for `sam local invoke -e`: the event as the handler would get it
        else:
            import lambda_handler

            answer = lambda_handler.handler(event, None)
    finally:
        if stack is not None:
            stack.stop()
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from devstack.demo import run

    return run(log_path=Path(args.log))


def cmd_privacy(args: argparse.Namespace) -> int:
    from skill.amazon.delete_report import send_delete_report
    from skill.privacy import access, erasure
    from skill.privacy.pseudonyms import user_key

    env = read_env_file(args.env_file)
    if env is not None:
        apply_env(env)  # against the local stack; in AWS the ambient environment is used
    key = user_key(args.accloud_user)
    if args.action == "export":
        print(json.dumps(access.export(key), indent=2, default=str))
        return 0
    if not args.yes:
        raise CliError("erasure deletes everything stored for this user: repeat with --yes")
    record = erasure.erase_account(key, erasure.Trigger.OPERATOR_CLI, notify_alexa=send_delete_report)
    print(json.dumps(record.fields(), indent=2))
    return 0


def _ipv4(value: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IPv4 address") from None


def _json_or_text(body: Any) -> Any:
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return body


# --- parser -------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="zosi-skill", description="ZOSI Smart skill backend tools")
    root.add_argument(
        "--env-file", default=ENV_FILE, help=f"the running local stack's environment ({ENV_FILE})"
    )
    commands = root.add_subparsers(dest="group", required=True)

    local = commands.add_parser("local", help="the embedded local stack")
    local_commands = local.add_subparsers(dest="command", required=True)
    up = local_commands.add_parser("up", help="run the local stack until interrupted")
    up.add_argument(
        "--bind",
        default=LOOPBACK,
        type=_ipv4,
        metavar="ADDRESS",
        help="IPv4 address the services the function calls listen on (default 127.0.0.1; "
        "0.0.0.0 or the docker bridge address for sam local invoke)",
    )
    up.set_defaults(run=cmd_local_up)
    env = local_commands.add_parser("env", help="the running stack's environment")
    env.add_argument("--sam", action="store_true", help="as sam local invoke --env-vars JSON")
    env.add_argument("--host", help="with --sam: the address a container reaches the stack at")
    env.set_defaults(run=cmd_local_env)
    local_commands.add_parser("grant-code", help="a fresh LWA grant code").set_defaults(run=cmd_grant_code)
    local_commands.add_parser("events", help="messages the Event Gateway stand-in received").set_defaults(
        run=cmd_events
    )
    detections = local_commands.add_parser(
        "detections",
        help="the detections the reference ACCloud holds for a device, newest first: "
        "time, class and ACCloud's own event id (Alexa only ever sees them sealed), then a count",
    )
    detections.add_argument("device", help="device name or ACCloud device id")
    detections.add_argument("--user", default="alice", help="demo account (default alice)")
    detections.set_defaults(run=cmd_detections)
    from devstack import load as load_tool  # stdlib only at import; the stack starts in run()

    load = local_commands.add_parser(
        "load", help="a directive and webhook mix through the local stack from several processes"
    )
    load_tool.add_arguments(load)
    load.set_defaults(run=load_tool.run)
    for name in (*_TRIGGERS, "add"):
        trigger = local_commands.add_parser(
            name, help=f"ACCloud webhook: {_TRIGGERS.get(name, ('device.added',))[0]}"
        )
        trigger.add_argument("device", help="device name (or, for add, the new camera's name)")
        trigger.add_argument("--user", default="alice", help="demo account (default alice)")
        trigger.add_argument("--to", dest="new_name", help="new name (rename only)")
        trigger.set_defaults(run=cmd_trigger)

    token = commands.add_parser("token", help="a fresh ACCloud access token for a demo user")
    token.add_argument("user", nargs="?")
    token.set_defaults(run=cmd_token)

    invoke = commands.add_parser("invoke", help="run one event through lambda_handler.handler")
    invoke.add_argument("file", help="event JSON file, or - for stdin")
    invoke.add_argument(
        "--token-from", metavar="USER", help="fill every bearer token with USER's fresh token"
    )
    invoke.add_argument(
        "--print-event", action="store_true", help="print the resolved event instead of running it"
    )
    invoke.set_defaults(run=cmd_invoke)

    demo = commands.add_parser("demo", help="the whole story on an embedded stack")
    demo.add_argument(
        "--log",
        default=".demo/skill.log",
        metavar="FILE",
        help="the skill's logs and metrics (default %(default)s)",
    )
    demo.set_defaults(run=cmd_demo)

    privacy = commands.add_parser("privacy", help="operator access and erasure requests")
    privacy.add_argument("action", choices=("export", "erase"))
    privacy.add_argument("--accloud-user", required=True, metavar="ID", help="the ACCloud user id")
    privacy.add_argument("--yes", action="store_true", help="confirm an erasure")
    privacy.set_defaults(run=cmd_privacy)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The handler's JSON logs go to stderr here, so stdout carries only the command's answer.
    from skill.privacy.logs import configure

    configure({"demo": "ERROR", "invoke": "WARNING"}.get(args.group, "INFO"), stream=sys.stderr)
    from skill import metrics

    metrics.sink = lambda line: print(line, file=sys.stderr)  # EMF lines are logs, not output
    try:
        return int(args.run(args))
    except CliError as exc:
        print(f"zosi-skill: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
