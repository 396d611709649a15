"""THE canary test: unique values planted in every private field never reach logs, storage or Amazon.

The reference ACCloud is seeded by ``canary_seed()``; every flow of the skill runs on the embedded
stack while this module captures every response, Event Gateway message, log line and stored item.
A device's own name may appear only where ``NAME_ALLOWED_AT`` allows it, every other canary
nowhere (privacy policy I and IV.1). Details: docs/privacy.md, introduction.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.demo_data import ALICE_ID, BACK_YARD, FRONT_DOOR, GARAGE, canary_seed
from devstack.directives import advertised_streams
from models.inventory import INVENTORY, SHORT_TTL
from models.items import DEDUPE_PREFIX, FENCE_PREFIX, TTL_ATTRIBUTE, ErasureFence, WebhookDedupe, kind_of
from skill import warm
from skill.alexa.endpoints import friendly_name
from skill.privacy import pseudonyms
from tests.privacy.localstack import ALEXA_USERS, Alexa, LogCapture, item_text, running_stack, table_items
from tests.voice import envelopes

# --- the allow-list, as data --------------------------------------------------------------------

# (where, JSON path) at which a device's own name may appear. Policy IV.1: Amazon receives the
# user's camera name so the user can say it; the voice model speaks it back and loads it as a
# slot value for the session. Nowhere else: not in logs, not in storage, not in any other field.
NAME_ALLOWED_AT: frozenset[tuple[str, str]] = frozenset(
    {
        ("directive_response", "event.payload.endpoints[].friendlyName"),  # Discover.Response
        ("gateway_message", "event.payload.endpoints[].friendlyName"),  # AddOrUpdateReport
        ("voice_response", "response.outputSpeech.ssml"),
        ("voice_response", "response.reprompt.outputSpeech.ssml"),
        ("voice_response", "response.card.content"),
        ("voice_response", "response.card.text"),
        ("voice_response", "response.directives[].types[].values[].name.value"),  # dynamic entities
        ("voice_response", "response.directives[].types[].values[].name.synonyms[]"),
    }
)
# Where the story must actually have shown a name (so the allow-list is exercised, not just permitted).
NAME_MUST_BE_SEEN_AT = frozenset(
    {
        ("directive_response", "event.payload.endpoints[].friendlyName"),
        ("gateway_message", "event.payload.endpoints[].friendlyName"),
        ("voice_response", "response.outputSpeech.ssml"),
        ("voice_response", "response.directives[].types[].values[].name.value"),
    }
)
# Global (not per-user) partitions: prefix -> the item kind that may use it. Everything else must sit
# under the partition key of a known user.
GLOBAL_PARTITIONS = {DEDUPE_PREFIX: WebhookDedupe, FENCE_PREFIX: ErasureFence}
# Loggers of the local stand-ins (moto, the reference ACCloud, ...): not part of the deployed backend.
STAND_IN_LOGGERS = ("devstack.", "moto", "werkzeug", "aiortc", "aioice")
SDP_MARKERS = ("a=ice-ufrag", "a=ice-pwd", "a=fingerprint", "m=video", "m=audio", "a=candidate")
NEWER_POLICY = "2099-01-01"


# --- canaries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    key: str  # "device:<id>:<field>" or "user:<id>:<field>"
    value: str

    @property
    def is_name(self) -> bool:
        return self.key.startswith("device:") and self.key.endswith(":name")

    @property
    def forms(self) -> tuple[str, ...]:
        """The canary as planted and as Alexa's friendlyName rules rewrite it, casefolded."""
        return tuple({self.value.casefold(), friendly_name(self.value).casefold()})


def canaries_in(text: str, canaries: Iterable[Canary]) -> list[Canary]:
    folded = text.casefold()
    return [c for c in canaries if any(form in folded for form in c.forms)]


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string in a JSON document, keys included; list indices become ``[]``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield f"{child}<key>", str(key)
            yield from leaves(inner, child)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from leaves(inner, f"{path}[]")
    elif isinstance(value, str):
        yield path, value


def misplaced(source: str, document: Any, canaries: Iterable[Canary]) -> list[str]:
    """Every canary in ``document`` outside the allow-list, as "source path: canary key"."""
    canaries = list(canaries)
    found = []
    for path, text in leaves(document):
        for canary in canaries_in(text, canaries):
            if not (canary.is_name and (source, path) in NAME_ALLOWED_AT):
                found.append(f"{source} {path}: {canary.key}")
    return found


def names_seen_at(source: str, document: Any, canaries: Iterable[Canary]) -> set[tuple[str, str]]:
    names = [c for c in canaries if c.is_name]
    return {(source, path) for path, text in leaves(document) if canaries_in(text, names)}


def fragments(secret: str) -> tuple[str, ...]:
    """A secret and, if long, its first 16 characters: a logged prefix of a token is a leak too."""
    return (secret, secret[:16]) if len(secret) >= 24 else (secret,)


# --- what the story captures --------------------------------------------------------------------


@dataclass
class Observed:
    documents: list[tuple[str, str, Any]] = field(default_factory=list)  # (source, flow, JSON)
    snapshots: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (flow, table scan)
    log_lines: list[str] = field(default_factory=list)
    canaries: list[Canary] = field(default_factory=list)
    secrets: dict[str, set[str]] = field(default_factory=dict)  # what never goes to logs or storage
    raw_ids: set[str] = field(default_factory=set)  # what never goes anywhere
    user_keys: set[str] = field(default_factory=set)
    log_forbidden_keys: set[str] = field(default_factory=set)  # partition keys, keyed Alexa user ids
    outcomes: dict[str, Any] = field(default_factory=dict)

    def keep(self, source: str, flow: str, document: Any) -> Any:
        self.documents.append((source, flow, document))
        return document

    def secret(self, kind: str, *values: str | None) -> None:
        self.secrets.setdefault(kind, set()).update(v for v in values if v)


def sdp_secrets(sdp: str) -> list[str]:
    """The SDP body and its ICE credentials and fingerprint values."""
    values = re.findall(r"a=(?:ice-ufrag|ice-pwd|fingerprint):(\S+(?: \S+)?)", sdp)
    return [sdp, *values]


def pseudonym_keys() -> list[str]:
    from skill import aws
    from skill.config import settings

    raw = aws.client("secretsmanager").get_secret_value(SecretId=settings().pseudonym_secret_id)
    return list(json.loads(raw["SecretString"]).values())


def run_story(alexa: Alexa, capture: LogCapture, planted: dict[str, str], env_file: Path) -> Observed:
    from devstack import cli
    from skill.privacy import access, retention

    stack = alexa.stack
    seen = Observed(canaries=[Canary(k, v) for k, v in planted.items()])

    @contextlib.contextmanager
    def step(name: str) -> Iterator[None]:
        yield
        seen.snapshots.append((name, table_items()))

    def webhook(flow: str, event_type: str, username: str, device_id: str | None = None) -> None:
        status, body = alexa.webhook(event_type, username, device_id)
        seen.keep("webhook_answer", flow, {"status": status, "body": body})
        seen.outcomes[flow] = status

    def voice(flow: str, answer: dict[str, Any]) -> dict[str, Any]:
        seen.outcomes[flow] = answer.get("response", {})
        return seen.keep("voice_response", flow, answer)

    def cli_run(flow: str, *argv: str) -> Any:
        out, err = io.StringIO(), capture.buffer  # the CLI logs to stderr: into the same capture
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(["--env-file", str(env_file), *argv])
        capture.install()  # the CLI configured logging to its stderr; capture again
        seen.outcomes[flow] = status
        return seen.keep("cli_output", flow, json.loads(out.getvalue()))

    for username in ("alice", "bob"):
        alexa.link_at_accloud(username)

    with step("SkillEnabled"):
        seen.keep(
            "skill_event_response", "SkillEnabled", alexa.skill_event("alice", "SkillEnabled", linked=False)
        )
    with step("SkillAccountLinked"):
        for username in ("alice", "bob"):
            seen.keep("skill_event_response", "SkillAccountLinked", alexa.account_linked(username))
    with step("SkillPermissionAccepted"):
        seen.keep(
            "skill_event_response",
            "SkillPermissionAccepted",
            alexa.permissions("alice", events=True, event_name="SkillPermissionAccepted"),
        )
    with step("AcceptGrant"):
        for username in ("alice", "bob"):
            answer = seen.keep("directive_response", "AcceptGrant", alexa.accept_grant(username))
            seen.outcomes[f"AcceptGrant {username}"] = answer["event"]["header"]["name"]
    with step("Discover"):
        for username in ("alice", "bob"):
            answer = seen.keep("directive_response", "Discover", alexa.discover(username))
            seen.outcomes[f"Discover {username}"] = len(answer["event"]["payload"]["endpoints"])

    front_door = pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR)
    with step("ReportState"):
        answer = seen.keep(
            "directive_response",
            "ReportState",
            alexa.directive("Alexa", "ReportState", "alice", endpoint_id=front_door),
        )
        seen.outcomes["ReportState"] = answer["event"]["header"]["name"]
    with step("InitializeCameraStreams"):
        answer = seen.keep(
            "directive_response",
            "InitializeCameraStreams",
            alexa.directive(
                "Alexa.CameraStreamController",
                "InitializeCameraStreams",
                "alice",
                endpoint_id=front_door,
                payload=advertised_streams(alexa.endpoints["alice"][front_door]),
            ),
        )
        seen.outcomes["InitializeCameraStreams"] = answer["event"]["header"]["name"]
        payload = answer["event"]["payload"]
        seen.secret(
            "stream URI", payload.get("imageUri"), *(s["uri"] for s in payload.get("cameraStreams", []))
        )
    with step("WebRTC"):
        from devstack.echo_client import EchoShowClient

        session = str(uuid.uuid4())
        rtc = "Alexa.RTCSessionController"
        with EchoShowClient() as echo:
            offer = echo.create_offer(audio=True)
            answer = seen.keep(
                "directive_response",
                "InitiateSessionWithOffer",
                alexa.directive(
                    rtc,
                    "InitiateSessionWithOffer",
                    "alice",
                    endpoint_id=front_door,
                    payload={"sessionId": session, "offer": {"format": "SDP", "value": offer}},
                ),
            )
            answer_sdp = answer["event"]["payload"]["answer"]["value"]
            echo.apply_answer(answer_sdp)
            for name in ("SessionConnected", "SessionDisconnected"):
                done = alexa.directive(
                    rtc, name, "alice", endpoint_id=front_door, payload={"sessionId": session}
                )
                seen.keep("directive_response", name, done)
                seen.outcomes[name] = done["event"]["header"]["name"]
        seen.outcomes["InitiateSessionWithOffer"] = answer["event"]["header"]["name"]
        seen.secret("SDP", *sdp_secrets(offer), *sdp_secrets(answer_sdp))
        seen.secret("WebRTC session id", session)

    with step("webhooks: real-time events"):
        webhook("doorbell.pressed", "doorbell.pressed", "alice", FRONT_DOOR)
        webhook("motion.detected", "motion.detected", "alice", GARAGE)
        webhook("motion.cleared", "motion.cleared", "alice", GARAGE)
        webhook("person.detected", "person.detected", "alice", BACK_YARD)
        stack.accloud.set_online(GARAGE, False)
        webhook("device.offline", "device.offline", "alice", GARAGE)
        stack.accloud.set_online(GARAGE, True)
        webhook("device.online", "device.online", "alice", GARAGE)
    with step("webhooks: device lifecycle"):
        added = stack.accloud.add_device(
            "alice",
            "CANARY_name_added",
            device_id="dev_canaryadded",
            wifi_ssid="CANARY_wifi_ssid_added",
            location="CANARY_location_added",
        )
        for private in ("serial_number", "mac", "wifi_bssid", "lan_ip"):
            seen.canaries.append(Canary(f"device:{added.id}:{private}", getattr(added, private)))
        seen.canaries += [
            Canary(f"device:{added.id}:name", "CANARY_name_added"),
            Canary(f"device:{added.id}:wifi_ssid", "CANARY_wifi_ssid_added"),
            Canary(f"device:{added.id}:location", "CANARY_location_added"),
            Canary(f"device:{GARAGE}:name", "CANARY_name_renamed"),
        ]
        webhook("device.added", "device.added", "alice", added.id)
        stack.accloud.rename_device(GARAGE, "CANARY_name_renamed")
        webhook("device.updated", "device.updated", "alice", GARAGE)
        stack.accloud.remove_device(added.id)
        webhook("device.removed", "device.removed", "alice", added.id)
        seen.raw_ids.add(added.id)

    with step("voice"):
        os.environ["ZOSI_POLICY_VERSION"] = NEWER_POLICY  # a newer policy: Launch gives the notice card
        warm.reset()
        voice("LaunchRequest", alexa.launch("alice"))
        voice("ListCameras", alexa.intent("alice", "ListCameras"))
        spoken = friendly_name(planted[f"device:{BACK_YARD}:name"])
        back_yard = pseudonyms.endpoint_id(ALICE_ID, BACK_YARD)
        voice(
            "CameraStatus",
            alexa.intent(
                "alice", "CameraStatus", slots=envelopes.camera_slot(spoken, dynamic=(back_yard, spoken))
            ),
        )
        for name in (
            "HowToView",
            "PrivacyInfo",
            "AMAZON.HelpIntent",
            "AMAZON.FallbackIntent",
            "AMAZON.StopIntent",
        ):
            voice(name, alexa.intent("alice", name))
        voice(
            "SessionEndedRequest",
            alexa.custom(envelopes.session_ended(token=alexa.tokens["alice"], user=ALEXA_USERS["alice"])),
        )

    with step("access"):
        seen.keep("export", "access.export", access.export(alexa.user_key("alice")))
        seen.keep("export", "access.summary", access.summary(alexa.user_key("alice")))
        cli_run("privacy export", "privacy", "export", "--accloud-user", alexa.user_id("alice"))

    # Withdrawals and erasures: every path, each while the user still has something to lose.
    with step("account.consent_withdrawn"):
        webhook("account.consent_withdrawn", "account.consent_withdrawn", "bob")
    with step("account.consent_given"):
        webhook("account.consent_given", "account.consent_given", "bob")
    with step("account.deleted"):
        webhook("account.deleted", "account.deleted", "bob")
    with step("DeleteMyData"):
        voice("DeleteMyData", alexa.intent("alice", "DeleteMyData", confirmation="CONFIRMED"))
    with step("relink"):
        alexa.fully_linked("alice")
    with step("events permission withdrawn"):
        seen.keep("skill_event_response", "SkillPermissionChanged", alexa.permissions("alice", events=False))
        webhook("doorbell after withdrawal", "doorbell.pressed", "alice", FRONT_DOOR)
    with step("SkillDisabled"):
        seen.keep("skill_event_response", "SkillDisabled", alexa.disabled("alice"))
    with step("operator erasure"):
        alexa.fully_linked("bob")
        cli_run("privacy erase", "privacy", "erase", "--accloud-user", alexa.user_id("bob"), "--yes")
    with step("retention"):
        from models import store

        alexa.fully_linked("alice")
        store.touch_profile(alexa.user_key("alice"), now=datetime.now(UTC) - timedelta(days=400))
        seen.outcomes["retention"] = seen.keep("retention", "retention", retention.run(now=datetime.now(UTC)))

    for received in stack.gateway.received():
        seen.keep("gateway_message", str(received.message["event"]["header"]["name"]), received.message)
    seen.outcomes["gateway"] = [
        (str(r.message["event"]["header"]["name"]), r.status) for r in stack.gateway.received()
    ]
    seen.log_lines = capture.lines() + capture.metric_lines

    for issued in alexa.issued:
        seen.secret("ACCloud token", issued.get("access_token"), issued.get("refresh_token"))
    seen.secret("LWA token", "Atza|", "Atzr|")
    seen.secret("stream URI", "rtsps://", stack.accloud.minted_streams()[0]["uri"].split("/")[2])
    seen.secret("SDP", *SDP_MARKERS)
    seen.secret("LWA grant code", *alexa.grant_codes)
    seen.secret("webhook signing secret", stack.webhook_secret)
    seen.secret("LWA client secret", stack.lwa.client_secret)
    seen.secret("pseudonym keys", *pseudonym_keys())
    for username in ("alice", "bob"):
        seen.raw_ids.update(
            {alexa.user_id(username), ALEXA_USERS[username], *stack.accloud.active_links(username)}
        )
        seen.user_keys.add(alexa.user_key(username))
        seen.log_forbidden_keys |= {
            alexa.user_key(username),
            pseudonyms.alexa_user_key(ALEXA_USERS[username]),
        }
    seen.raw_ids.update(event["id"] for event in alexa.sent_events)
    return seen


# --- the story, once per module -----------------------------------------------------------------


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    seed, planted = canary_seed()
    with running_stack(seed=seed, webrtc=True) as (stack, capture):
        env_file = tmp_path_factory.mktemp("canaries") / "local.env"
        stack.write_env_file(env_file)
        seen = run_story(Alexa(stack), capture, planted, env_file)
    # The NVRs' own private fields (never sent to the skill) and every raw ACCloud identifier.
    for nvr in seed.nvrs:
        for private in ("serial_number", "mac", "lan_ip", "location"):
            seen.canaries.append(Canary(f"nvr:{nvr.id}:{private}", getattr(nvr, private)))
    seen.raw_ids |= {d.id for d in seed.devices} | {n.id for n in seed.nvrs}
    return seen


def backend_log_lines(seen: Observed) -> list[str]:
    """Log and EMF metric lines of the skill (the stand-ins' own loggers aside)."""
    return [
        line
        for line in seen.log_lines
        if not str(json.loads(line).get("logger", "")).startswith(STAND_IN_LOGGERS)
    ]


def stored_items(seen: Observed) -> Iterator[tuple[str, dict[str, Any]]]:
    for flow, items in seen.snapshots:
        for item in items:
            yield flow, item


# --- the story really ran -----------------------------------------------------------------------


def test_the_story_ran_every_flow(observed: Observed) -> None:
    outcomes = observed.outcomes
    assert outcomes["AcceptGrant alice"] == outcomes["AcceptGrant bob"] == "AcceptGrant.Response"
    assert (outcomes["Discover alice"], outcomes["Discover bob"]) == (8, 1)
    assert outcomes["ReportState"] == "StateReport"
    assert outcomes["InitializeCameraStreams"] == "Response"
    assert outcomes["InitiateSessionWithOffer"] == "AnswerGeneratedForSession"
    assert (outcomes["SessionConnected"], outcomes["SessionDisconnected"]) == (
        "SessionConnected",
        "SessionDisconnected",
    )
    webhooks = [
        "doorbell.pressed", "motion.detected", "motion.cleared", "person.detected", "device.offline",
        "device.online", "device.added", "device.updated", "device.removed", "account.consent_withdrawn",
        "account.consent_given", "account.deleted", "doorbell after withdrawal",
    ]  # fmt: skip
    assert {name: outcomes[name] for name in webhooks} == dict.fromkeys(webhooks, 202)
    delivered = [name for name, status in outcomes["gateway"] if status == 202]
    for name, count in {
        "DoorbellPress": 1,
        "ChangeReport": 4,
        "ObjectDetection": 1,
        "AddOrUpdateReport": 2,
        "DeleteReport": 1,
    }.items():
        assert delivered.count(name) >= count, (name, outcomes["gateway"])
    spoken = ["LaunchRequest", "ListCameras", "CameraStatus", "HowToView", "PrivacyInfo", "DeleteMyData"]
    spoken += ["AMAZON.HelpIntent", "AMAZON.FallbackIntent", "AMAZON.StopIntent"]
    for name in spoken:
        assert outcomes[name].get("outputSpeech", {}).get("ssml"), name
    assert outcomes["LaunchRequest"]["card"]["type"] == "Simple"  # the newer-policy notice
    assert (outcomes["privacy export"], outcomes["privacy erase"]) == (0, 0)
    assert outcomes["retention"]["accounts_erased"] == 1
    assert all(json.loads(line).get("message") or "_aws" in line for line in observed.log_lines)
    assert len(backend_log_lines(observed)) > 50
    kinds = {kind_of(item["sk"]["S"]).__name__ for _, item in stored_items(observed)}  # type: ignore[union-attr]
    assert kinds == {"AccountProfile", "AccountLink", "EndpointEntry", "WebhookDedupe", "ErasureFence"}
    assert any("grant_ciphertext" in item for _, item in stored_items(observed))


# --- canaries -----------------------------------------------------------------------------------


def test_no_canary_in_any_log_line(observed: Observed) -> None:
    leaked = [
        (canary.key, line[:200])
        for line in backend_log_lines(observed)
        for canary in canaries_in(line, observed.canaries)
    ]
    assert leaked == []


def test_no_canary_in_any_stored_item(observed: Observed) -> None:
    leaked = {
        (flow, canary.key)
        for flow, item in stored_items(observed)
        for canary in canaries_in(item_text(item), observed.canaries)
    }
    assert leaked == set()


def test_device_names_go_only_where_the_allow_list_says_and_nothing_else_goes_anywhere(
    observed: Observed,
) -> None:
    problems = [
        f"{flow}: {problem}"
        for source, flow, document in observed.documents
        for problem in misplaced(source, document, observed.canaries)
    ]
    assert problems == []
    seen_at = set().union(
        *(names_seen_at(source, document, observed.canaries) for source, _, document in observed.documents)
    )
    assert NAME_MUST_BE_SEEN_AT <= seen_at <= NAME_ALLOWED_AT


# Policy IV.1 (ARCHITECTURE.md): Amazon receives opaque endpointIds, the camera name, manufacturer,
# model and capabilities; plus what Alexa's protocol needs around them (docs/privacy.md, "What Amazon
# receives"). Any other field of an endpoint object is a new kind of sharing and must be declared.
ENDPOINT_FIELDS_SHARED = frozenset(
    {"endpointId", "manufacturerName", "friendlyName", "description", "displayCategories",
     "additionalAttributes", "capabilities", "cookie"}
)  # fmt: skip
ADDITIONAL_ATTRIBUTES_SHARED = frozenset({"manufacturer", "model"})
COOKIE_FIELDS_SHARED = frozenset({"profiles"})


def test_every_endpoint_amazon_receives_holds_only_the_shared_fields(observed: Observed) -> None:
    described = [
        (flow, endpoint)
        for source, flow, document in observed.documents
        if source in ("directive_response", "gateway_message") and isinstance(document, dict)
        for endpoint in document.get("event", {}).get("payload", {}).get("endpoints", [])
        if "capabilities" in endpoint  # a full description, not a DeleteReport's bare endpointId
    ]
    assert described, "the story described no endpoint to Amazon"
    problems = [
        f"{flow}: {sorted(extra)}"
        for flow, endpoint in described
        for extra in (
            set(endpoint) - ENDPOINT_FIELDS_SHARED,
            set(endpoint.get("additionalAttributes", {})) - ADDITIONAL_ATTRIBUTES_SHARED,
            set(endpoint.get("cookie", {})) - COOKIE_FIELDS_SHARED,
        )
        if extra
    ]
    assert problems == []


def test_no_raw_identifier_in_any_message_log_line_or_stored_item(observed: Observed) -> None:
    texts = [(f"{source} {flow}", json.dumps(document)) for source, flow, document in observed.documents]
    texts += [("log", line) for line in backend_log_lines(observed)]
    texts += [(f"stored after {flow}", item_text(item)) for flow, item in stored_items(observed)]
    found = {(where, raw) for where, text in texts for raw in observed.raw_ids if raw in text}
    assert found == set()


# --- secrets in logs and storage ----------------------------------------------------------------


def test_logs_and_stored_items_hold_no_token_stream_uri_sdp_or_secret(observed: Observed) -> None:
    texts = [("log", line) for line in backend_log_lines(observed)]
    texts += [(f"stored after {flow}", item_text(item)) for flow, item in stored_items(observed)]
    found = {
        (where, kind)
        for where, text in texts
        for kind, values in observed.secrets.items()
        for value in values
        for needle in fragments(value)
        if needle in text
    }
    assert found == set()
    assert {"ACCloud token", "stream URI", "SDP", "WebRTC session id", "LWA grant code"} <= set(
        observed.secrets
    )


def test_logs_name_no_user_key_or_endpoint_id(observed: Observed) -> None:
    """Log lines correlate users by ``pseudonyms.log_key`` only: partition keys, keyed Alexa ids and
    endpointIds are stable identifiers Amazon or the table also hold."""
    endpoint_ids = {
        item["sk"]["S"][3:] for _, item in stored_items(observed) if item["sk"]["S"].startswith("ep#")
    }
    identifiers = observed.log_forbidden_keys | endpoint_ids
    assert endpoint_ids and observed.user_keys
    found = {
        (value, line[:160]) for line in backend_log_lines(observed) for value in identifiers if value in line
    }
    assert found == set()


# --- data inventory: partitions and declared attributes -----------------------------------------


def test_every_stored_item_sits_in_its_users_partition_and_stores_only_declared_attributes(
    observed: Observed,
) -> None:
    problems = []
    for flow, item in stored_items(observed):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        kind = kind_of(sk)
        if kind is None:
            problems.append(f"{flow}: unknown item kind {sk[:12]}")
            continue
        global_prefix = next((p for p in GLOBAL_PARTITIONS if pk.startswith(p)), None)
        if global_prefix is not None:
            if kind is not GLOBAL_PARTITIONS[global_prefix] or TTL_ATTRIBUTE not in item:
                problems.append(f"{flow}: {kind.__name__} in global partition {global_prefix}")
        elif pk not in observed.user_keys:
            problems.append(f"{flow}: {kind.__name__} outside every known user's partition")
        elif kind in GLOBAL_PARTITIONS.values():
            problems.append(f"{flow}: global kind {kind.__name__} in a user's partition")
        undeclared = set(item) - set(INVENTORY[kind.__name__])
        if undeclared:
            problems.append(f"{flow}: {kind.__name__} stores undeclared {sorted(undeclared)}")
    assert problems == []


def test_global_partitions_are_declared_short_lived() -> None:
    for prefix, kind in GLOBAL_PARTITIONS.items():
        declared = INVENTORY[kind.__name__]
        assert prefix in declared["pk"]["purpose"]
        assert all(use["retention"] == SHORT_TTL for use in declared.values())


# --- the oracle itself ----------------------------------------------------------------------------


def test_the_checks_flag_a_planted_leak() -> None:
    name = Canary("device:dev_x:name", "CANARY_name_x")
    serial = Canary("device:dev_x:serial_number", "CANARY_serial_number_x")
    endpoints = {
        "event": {"payload": {"endpoints": [{"friendlyName": "CANARY name x", "description": "ok"}]}}
    }
    assert misplaced("directive_response", endpoints, [name, serial]) == []
    assert misplaced("gateway_message", endpoints, [name]) == []
    # The same name anywhere else, or in a source that may not carry it, is a leak.
    endpoints["event"]["payload"]["endpoints"][0]["description"] = "ZOSI camera canary_NAME_x"
    assert misplaced("directive_response", endpoints, [name]) == [
        "directive_response event.payload.endpoints[].description: device:dev_x:name"
    ]
    assert misplaced("log", {"message": "CANARY_name_x"}, [name]) == ["log message: device:dev_x:name"]
    # Any other canary is a leak even where names are allowed, and in keys too.
    assert misplaced(
        "voice_response", {"response": {"outputSpeech": {"ssml": "CANARY_serial_number_x"}}}, [serial]
    )
    assert misplaced("export", {"CANARY_serial_number_x": 1}, [serial])
    assert canaries_in('{"pk":{"S":"u_1"},"n":{"S":"canary name x"}}', [name, serial]) == [name]
