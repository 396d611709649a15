"""``zosi-skill demo``: the whole story of the skill on the embedded local stack, as a transcript.

Every answer the skill gives and every message the Event Gateway stand-in receives is checked
against Amazon's Smart Home schema. A step that does not go as the story says is marked FAIL
and the demo exits non-zero at the end (``make demo`` is CI's smoke test). What the skill itself
writes (JSON log records, EMF metric lines: Lambda's stdout) goes to a log file the transcript names,
so the transcript carries only the story.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from devstack import directives
from devstack.stack import LOCAL_SKILL_ID, LocalStack


class StepFailed(AssertionError):
    """The story did not go as told."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise StepFailed(what)


@dataclass
class Story:
    stack: LocalStack
    schemas: Any
    tokens: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    alexa_user: str = "amzn1.ask.account.DEMO" + uuid.uuid4().hex.upper()
    lines: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(text)

    # --- talking to the skill like Alexa does -----------------------------------------------

    def handler(self, event: dict[str, Any]) -> Any:
        import lambda_handler

        return lambda_handler.handler(event, None)

    def directive(
        self,
        namespace: str,
        name: str,
        token: str,
        *,
        endpoint: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        addressed = self.endpoints[endpoint] if endpoint is not None else None
        return self.send(directives.directive(namespace, name, token, endpoint=addressed, payload=payload))

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        """A built directive through the skill; its answer must be schema-valid."""
        answer = self.handler(event)
        problems = self.schemas.errors(answer)
        header = event["directive"]["header"]
        expect(
            not problems,
            f"{header['namespace']}.{header['name']} answer violates the Alexa schema: {problems[:2]}",
        )
        return answer

    def envelope(self, request: dict[str, Any], *, token: str | None, locale: str = "en-US") -> Any:
        """A custom-skill request envelope (voice requests and skill events share it)."""
        user: dict[str, Any] = {"userId": self.alexa_user}
        if token:
            user["accessToken"] = token
        request = {
            "requestId": "amzn1.echo-api.request." + uuid.uuid4().hex,
            "locale": locale,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **request,
        }
        event = {
            "version": "1.0",
            "context": {
                "System": {
                    "application": {"applicationId": LOCAL_SKILL_ID},
                    "user": user,
                    "apiEndpoint": "https://api.amazonalexa.com",
                }
            },
            "request": request,
        }
        if not request["type"].startswith("AlexaSkillEvent."):
            event["session"] = {
                "new": True,
                "sessionId": "amzn1.echo-api.session." + uuid.uuid4().hex,
                "application": {"applicationId": LOCAL_SKILL_ID},
                "user": user,
            }
        return self.handler(event)

    def gateway_messages(self) -> list[dict[str, Any]]:
        return list(self.stack.gateway.messages())


def speech(answer: Any) -> str:
    output = (answer or {}).get("response", {}).get("outputSpeech", {})
    return str(output.get("ssml") or output.get("text") or "").replace("<speak>", "").replace("</speak>", "")


# --- the story --------------------------------------------------------------------------------


def link_accounts(story: Story) -> None:
    for user in ("alice", "bob"):
        story.tokens[user] = story.stack.accloud.issue_token(user)["access_token"]
    story.say("alice and bob link their ZOSI accounts in the Alexa app (OAuth authorization code flow)")
    story.say("  ACCloud issued access tokens (not shown; the skill never stores or logs them)")


def accept_grant(story: Story) -> None:
    code = story.stack.lwa.issue_grant_code()
    answer = story.directive(
        "Alexa.Authorization",
        "AcceptGrant",
        story.tokens["alice"],
        payload={"grant": {"type": "OAuth2.AuthorizationCode", "code": code}},
    )
    expect(answer["event"]["header"]["name"] == "AcceptGrant.Response", f"AcceptGrant answered {answer}")
    from models import store
    from skill.privacy import pseudonyms

    user_key = pseudonyms.user_key(story.stack.accloud.user_id("alice"))
    (link,) = store.links_of(user_key)
    expect(link.region == "NA", "grant stored for the wrong region")
    story.say("Alexa sends AcceptGrant -> the skill exchanged the code with Login with Amazon")
    story.say(f"  grant stored envelope-encrypted (AES-GCM, KMS data key) for region {link.region}")


def skill_account_linked(story: Story) -> None:
    story.envelope(
        {"type": "AlexaSkillEvent.SkillAccountLinked", "body": {"accessToken": story.tokens["alice"]}},
        token=story.tokens["alice"],
    )
    from models import store
    from skill.privacy import pseudonyms

    links = store.find_links_by_alexa_user(pseudonyms.alexa_user_key(story.alexa_user))
    expect(len(links) == 1, "SkillAccountLinked did not record the Alexa account")
    story.say("skill event SkillAccountLinked -> the Alexa account is recorded as a keyed hash")


def discover(story: Story) -> None:
    answer = story.directive("Alexa.Discovery", "Discover", story.tokens["alice"])
    endpoints = answer["event"]["payload"]["endpoints"]
    story.endpoints = {e["friendlyName"]: e for e in endpoints}
    expect(len(endpoints) == 8, f"expected 8 endpoints, got {len(endpoints)}")
    story.say(f'"Alexa, discover devices" -> {len(endpoints)} endpoints')
    for e in endpoints:
        interfaces = [
            c["interface"].replace("Alexa.", "") for c in e["capabilities"] if c["interface"] != "Alexa"
        ]
        story.say(f"  {e['friendlyName']:<11} {'+'.join(e['displayCategories']):<16} {', '.join(interfaces)}")


def stream(story: Story) -> None:
    started = time.perf_counter()
    answer = story.directive(
        "Alexa.CameraStreamController",
        "InitializeCameraStreams",
        story.tokens["alice"],
        endpoint="Front Door",
        payload=directives.advertised_streams(story.endpoints["Front Door"]),
    )
    took = (time.perf_counter() - started) * 1000
    expect(answer["event"]["header"]["name"] == "Response", f"stream failed: {answer['event']['payload']}")
    (s,) = answer["event"]["payload"]["cameraStreams"]
    story.say(f'"Alexa, show the front door" -> answered in {took:.0f} ms')
    story.say(
        f"  {s['protocol']} {s['resolution']['width']}x{s['resolution']['height']} "
        f"{s['videoCodec']}/{s['audioCodec']}, idle timeout {s['idleTimeoutSeconds']} s, "
        f"expires {s['expirationTime']}"
    )
    story.say(f"  stream URI {s['uri'][:40]}... (rtsps on 443, short-lived)")


def webrtc(story: Story) -> None:
    from devstack.echo_client import EchoShowClient

    session = str(uuid.uuid4())
    with EchoShowClient() as echo:
        offer = echo.create_offer(audio=True)
        answer = story.directive(
            "Alexa.RTCSessionController",
            "InitiateSessionWithOffer",
            story.tokens["alice"],
            endpoint="Front Door",
            payload={"sessionId": session, "offer": {"format": "SDP", "value": offer}},
        )
        expect(answer["event"]["header"]["name"] == "AnswerGeneratedForSession", f"offer failed: {answer}")
        echo.apply_answer(answer["event"]["payload"]["answer"]["value"])
        frames = echo.wait_for_frames(30, timeout=20)
        expect(frames >= 30, f"only {frames} video frames arrived")
        story.directive(
            "Alexa.RTCSessionController",
            "SessionConnected",
            story.tokens["alice"],
            endpoint="Front Door",
            payload={"sessionId": session},
        )
        story.directive(
            "Alexa.RTCSessionController",
            "SessionDisconnected",
            story.tokens["alice"],
            endpoint="Front Door",
            payload={"sessionId": session},
        )
    story.say(f"Echo Show opens the doorbell over WebRTC -> {frames} video frames received, session closed")


def error_cases(story: Story) -> None:
    cases = [
        ("Nursery", "alice", "NOT_SUPPORTED_IN_CURRENT_MODE", "privacy mode"),
        ("Shed", "alice", "ENDPOINT_UNREACHABLE", "camera offline"),
        ("Workshop", "alice", "BRIDGE_UNREACHABLE", "its NVR is offline"),
        ("Front Door", "bob", "NO_SUCH_ENDPOINT", "bob's token on alice's doorbell"),
    ]
    for camera, user, expected, why in cases:
        answer = story.directive(
            "Alexa.CameraStreamController",
            "InitializeCameraStreams",
            story.tokens[user],
            endpoint=camera,
            payload=directives.advertised_streams(story.endpoints[camera]),
        )
        got = answer["event"]["payload"].get("type")
        expect(got == expected, f"{camera}: expected {expected}, got {got}")
        story.say(f'  "show the {camera.lower()}" ({why}) -> {got}')


def doorbell(story: Story) -> None:
    from devstack import demo_data

    before = len(story.gateway_messages())
    press = story.stack.accloud.build_event("doorbell.pressed", "alice", demo_data.FRONT_DOOR)
    status, _ = story.stack.accloud.send_built_event(press)
    expect(status == 202, f"webhook answered {status}")
    retry, _ = story.stack.accloud.send_built_event(press)  # ACCloud retries the same delivery
    expect(200 <= retry < 300, f"retried webhook answered {retry}")
    new = story.gateway_messages()[before:]
    presses = [m for m in new if m["event"]["header"]["name"] == "DoorbellPress"]
    expect(len(presses) == 1, f"expected one DoorbellPress at the Event Gateway, got {len(presses)}")
    story.say("The doorbell rings -> ACCloud's signed webhook -> Event Gateway (NA) received:")
    story.say(
        f"  Alexa.DoorbellEventSource.DoorbellPress at {presses[0]['event']['payload']['timestamp']}"
        " (schema-valid): every Echo announces someone at the Front Door"
    )
    story.say("  ACCloud retried the same delivery: deduplicated by event id, no second announcement")


def short(opaque: str) -> str:
    """An opaque id or token, shortened for the transcript (its prefix says what it is)."""
    return f"{opaque[:9]}...{opaque[-4:]}"


def _report_page(story: Story, camera: str, pagination: dict[str, Any]) -> dict[str, Any]:
    event = directives.data_controller(
        "ReportData", story.tokens["alice"], story.endpoints[camera], {"paginationContext": pagination}
    )
    answer = story.send(event)
    expect(answer["event"]["header"]["name"] == "DataReport", f"ReportData answered {answer['event']}")
    return dict(answer["event"]["payload"])


def detection_history(story: Story) -> None:
    """The Alexa app pages through the doorbell's person detections and deletes one of them; ACCloud,
    which holds them, is asked afterwards whether it is really gone."""
    from devstack import demo_data
    from skill.privacy import pseudonyms

    camera, device_id = "Front Door", demo_data.FRONT_DOOR
    accloud = story.stack.accloud
    for minutes_ago in (30, 20, 10):
        accloud.detections.record(device_id, "person", time.time() - 60 * minutes_ago)
    held_before = [d["id"] for d in accloud.detections_held(device_id)]
    first = _report_page(story, camera, {"maxResults": 2})
    token = first.get("paginationContext", {}).get("nextToken")
    expect(len(first["data"]) == 2 and token is not None, f"first page: {first}")
    rest = _report_page(story, camera, {"maxResults": 2, "nextToken": token})
    expect("paginationContext" not in rest, "the last page still promised more")
    records = first["data"] + rest["data"]
    owner = accloud.user_id("alice")
    reported = [pseudonyms.detection_id_for(owner, device_id, r["id"]) for r in records]
    expect(reported == held_before, "the pages do not list what ACCloud holds, newest first")
    story.say(f"The Alexa app shows the {camera}'s detection history (Alexa.DataController ReportData):")
    story.say(f"  page 1: DataReport with {len(first['data'])} detections, nextToken {short(token)}")
    story.say(f"  page 2: DataReport with {len(rest['data'])} detection, no nextToken (the last page)")
    for record in records:
        story.say(f"    {record['timeOfSample']} {record['imageNetClass']:<7} id {short(record['id'])}")
    story.say("  the ids are sealed to alice and this camera: ACCloud's own ids never reach Alexa")

    oldest = records[-1]["id"]
    event = directives.data_controller(
        "DeleteData", story.tokens["alice"], story.endpoints[camera], {"identifiers": [oldest]}
    )
    answer = story.send(event)["event"]
    expect(answer["header"]["name"] == "DeleteDataResponse", f"DeleteData answered {answer}")
    expect(answer["payload"]["deleted"] == [oldest], f"DeleteData deleted {answer['payload']}")
    held_after = [d["id"] for d in accloud.detections_held(device_id)]
    expect(held_after == held_before[:-1], f"ACCloud still holds {held_after}")
    story.say(f"  the user deletes the oldest one -> DeleteDataResponse, deleted [{short(oldest)}]")
    story.say(f"  ACCloud now holds {len(held_after)} detection(s) for the {camera}: the deleted one is gone")
    story.say(f'  (what `zosi-skill local detections "{camera}"` lists against a running stack)')


def new_camera(story: Story) -> None:
    before = len(story.gateway_messages())
    added = story.stack.accloud.add_device("alice", "Patio", motion_detection=True)
    status, _ = story.stack.accloud.trigger_event("device.added", "alice", added.id)
    expect(status == 202, f"webhook answered {status}")
    reports = [
        m for m in story.gateway_messages()[before:] if m["event"]["header"]["name"] == "AddOrUpdateReport"
    ]
    expect(len(reports) == 1, "no AddOrUpdateReport reached the Event Gateway")
    names = [e["friendlyName"] for e in reports[0]["event"]["payload"]["endpoints"]]
    story.say(f"A camera is added in the ZOSI app -> AddOrUpdateReport for {names} (schema-valid)")


def voice(story: Story) -> None:
    for locale in ("en-US", "de-DE"):
        launch = speech(story.envelope({"type": "LaunchRequest"}, token=story.tokens["alice"], locale=locale))
        expect(bool(launch), f"no speech for LaunchRequest in {locale}")
        story.say(f'  [{locale}] "open zosi smart" -> "{launch}"')
    status = speech(
        story.envelope(
            {
                "type": "IntentRequest",
                "intent": {
                    "name": "CameraStatus",
                    "confirmationStatus": "NONE",
                    "slots": {"camera": {"name": "camera", "value": "shed"}},
                },
            },
            token=story.tokens["alice"],
        )
    )
    expect("Shed" in status or "shed" in status, f"CameraStatus did not answer about the shed: {status}")
    story.say(f'  [en-US] "is the shed camera online" -> "{status}"')


def skill_disabled(story: Story) -> None:
    from skill import aws
    from skill.config import settings
    from skill.privacy import pseudonyms

    user_key = pseudonyms.user_key(story.stack.accloud.user_id("alice"))
    alexa_user_key = pseudonyms.alexa_user_key(story.alexa_user)
    story.envelope(
        {
            "type": "AlexaSkillEvent.SkillDisabled",
            "body": {"userInformationPersistenceStatus": "NOT_PERSISTED"},
        },
        token=None,
    )
    items = aws.client("dynamodb").scan(TableName=settings().table_name)["Items"]
    # Hers: her partition, or anything naming her Alexa account. Global bookkeeping rows (webhook
    # dedupe, erasure fence) are keyed by hashes in their own domains and name no one.
    leftover = [i for i in items if i["pk"]["S"] == user_key or alexa_user_key in repr(i)]
    expect(not leftover, f"{len(leftover)} items of alice remain after SkillDisabled")
    story.say("alice disables the skill -> SkillDisabled erased her partition: 0 items left")


STEPS: list[tuple[str, Callable[[Story], None]]] = [
    ("Link the account", link_accounts),
    ("Accept the grant", accept_grant),
    ("Record the Alexa account", skill_account_linked),
    ("Discover", discover),
    ("Live view over RTSP", stream),
    ("Live view over WebRTC", webrtc),
    ("Error cases", error_cases),
    ("Doorbell press", doorbell),
    ("Detection history in the Alexa app", detection_history),
    ("A new camera", new_camera),
    ("Voice", voice),
    ("Skill disabled: erasure", skill_disabled),
]


DEFAULT_LOG = Path(".demo") / "skill.log"


@dataclass
class SkillLog:
    """The function's stdout while the demo runs: JSON log records and EMF lines, counted."""

    file: TextIO
    records: int = 0
    metrics: int = 0

    def write(self, text: str) -> int:
        self.records += text.count("\n")
        return self.file.write(text)

    def flush(self) -> None:
        self.file.flush()

    def metric(self, line: str) -> None:
        self.metrics += 1
        self.file.write(line + "\n")


@contextlib.contextmanager
def skill_output_to(path: Path) -> Iterator[SkillLog]:
    from skill import metrics
    from skill.privacy import logs

    path.parent.mkdir(parents=True, exist_ok=True)
    previous_sink = metrics.sink
    with path.open("w", encoding="utf-8") as file:
        log = SkillLog(file)
        logs.configure("INFO", stream=log)
        metrics.sink = log.metric
        try:
            yield log
        finally:
            metrics.sink = previous_sink
            logs.configure("ERROR", stream=sys.stderr)


def run(out: Any = None, log_path: Path = DEFAULT_LOG) -> int:
    out = out or sys.stdout
    print("ZOSI Smart - local demo (embedded stack on 127.0.0.1, no AWS account)", file=out)
    print(f"the skill's JSON logs and CloudWatch metric (EMF) lines go to {log_path}\n", file=out)
    with skill_output_to(log_path) as log:
        status = tell(out)
    print(f"{log_path}: {log.records} log record(s), {log.metrics} metric line(s)", file=out)
    return status


def tell(out: Any) -> int:
    from devstack.gateway_server import MessageSchemas, default_official_schema

    failed = []
    with LocalStack() as stack:
        story = Story(stack, MessageSchemas.from_path(default_official_schema()))
        for number, (title, step) in enumerate(STEPS, start=1):
            story.lines = []
            try:
                step(story)
                verdict = "ok"
            except Exception as exc:  # every failure is reported, then the story goes on
                verdict = "FAIL"
                failed.append(title)
                detail = str(exc) if isinstance(exc, StepFailed) else traceback.format_exc(limit=3)
                story.lines.append(f"  !! {detail.strip()}")
            print(f"{number:>2}. {title} [{verdict}]", file=out)
            for line in story.lines:
                print(f"    {line}", file=out)
        messages = stack.gateway.received()
    print(
        f"\nEvent Gateway stand-in: {len(messages)} message(s), each validated against Amazon's schema.",
        file=out,
    )
    if failed:
        print(f"demo FAILED at: {', '.join(failed)}", file=out)
        return 1
    print("demo complete: every step of the story worked.", file=out)
    return 0
