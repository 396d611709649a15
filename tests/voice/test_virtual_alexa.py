"""The 7 voice models through a real third-party client: Bespoken's virtual-alexa (tests/voice/virtual_alexa).

Each locale's natural-phrasing table (tests/voice/phrasings/<locale>.json, written before the model's
samples) is spoken by one node process: virtual-alexa matches the utterance against the model's samples,
fills and resolves the slot and POSTs the IntentRequest over HTTP to ``lambda_handler.handler`` against
the local stack (reference ACCloud + moto). Every case must reach its intended intent and get the true
answer for alice's seeded account, in a response ask-sdk-model reads back unchanged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devstack.accloud import AccloudServer
from skill.voice import strings
from tests.voice.envelopes import ALEXA_USER, SKILL_ID, response_errors, skill_event, spoken, stack
from tests.voice.envelopes.stack import invoke, table_items

accloud_server = stack.accloud_server
voice_stack = stack.voice_stack

HERE = Path(__file__).parent
CLIENT_DIR = HERE / "virtual_alexa"
PHRASINGS_DIR = HERE / "phrasings"
MODEL_DIR = HERE.parents[1] / "interaction_model" / "skill-package" / "interactionModels" / "custom"
LOCALES = sorted(path.stem for path in PHRASINGS_DIR.glob("*.json"))
LIST_LIMIT = 5
NODE = shutil.which("node")
CLIENT_TIMEOUT_SECONDS = 120

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (.ci/run installs the client)")


def cases(locale: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((PHRASINGS_DIR / f"{locale}.json").read_text("utf-8"))["cases"]
    return loaded


class _SkillEndpoint(BaseHTTPRequestHandler):
    """What Alexa's HTTPS endpoint would be: the request body in, lambda_handler.handler's answer out."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = json.dumps(invoke(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def skill_url(voice_stack: AccloudServer) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SkillEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def drive(locale: str, url: str, sessions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """One node process for the locale: each session's steps through virtual-alexa, exchanges back."""
    if not (CLIENT_DIR / "node_modules" / "virtual-alexa").is_dir():
        pytest.fail(
            "virtual-alexa is not installed: run `npm ci` in tests/voice/virtual_alexa (.ci/run does)"
        )
    plan = {
        "locale": locale,
        "model": str(MODEL_DIR / f"{locale}.json"),
        "url": url,
        "applicationId": SKILL_ID,
        "userId": ALEXA_USER,
        "sessions": sessions,
    }
    done = subprocess.run(  # noqa: S603 (our own script, no shell)
        [NODE, str(CLIENT_DIR / "drive.js")],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    exchanges: list[list[dict[str, Any]]] = json.loads(done.stdout)["sessions"]
    return exchanges


def link_alice(server: AccloudServer) -> str:
    token: str = server.issue_token("alice")["access_token"]
    invoke(skill_event("SkillAccountLinked", body={"accessToken": token}, token=token))
    return token


def row_keys() -> set[tuple[str, str]]:
    return {(item["pk"]["S"], item["sk"]["S"]) for item in table_items()}


class Truth:
    """What the answers must say, from ACCloud's own device list and the table."""

    def __init__(self, locale: str, token: str, user_id: str) -> None:
        from skill.cloud.client import Deadline, HttpCameraCloud

        self.locale, self.user_id = locale, user_id
        self.devices = HttpCameraCloud(Deadline(4.0)).devices(token)

    def say(self, key: str, **values: object) -> str:
        return strings.render(self.locale, key, **values)

    def sentences(self, *parts: str) -> str:
        return ("" if self.locale.startswith("ja") else " ").join(parts)

    def status_of(self, name: str) -> str:
        (device,) = [device for device in self.devices if device.name == name]
        key = (
            "camera_status_offline"
            if not device.online
            else "camera_status_privacy"
            if device.privacy_mode
            else "camera_status_online"
        )
        return self.say(key, name=name)

    def camera_list(self) -> str:
        names = [device.name for device in self.devices]
        assert len(names) > LIST_LIMIT  # alice's account: the long form
        listed = self.say(
            "list_cameras_many",
            count=len(names),
            names=strings.join_names(self.locale, names[:LIST_LIMIT]),
            more=len(names) - LIST_LIMIT,
        )
        return self.sentences(listed, self.say("camera_status_which"))

    def privacy(self) -> str:
        from skill.privacy import access, pseudonyms
        from tests.voice.envelopes.stack import POLICY_VERSION

        summary = access.summary(pseudonyms.user_key(self.user_id))
        return self.say(
            "privacy_info",
            links=summary["links"],
            endpoints=summary["endpoints"],
            grant_state=self.say("privacy_grant_yes" if summary["grant"] else "privacy_grant_no"),
            version=summary["accepted_policy_version"] or POLICY_VERSION,
        )


def expected_answer(truth: Truth, case: dict[str, Any]) -> tuple[str, str | None]:
    """(speech, the directive that must come with it) for the intended intent."""
    intent = case["intent"]
    if intent == "ListCameras":
        return truth.camera_list(), "Dialog.ElicitSlot"
    if intent == "CameraStatus":
        if "camera" in case:
            return truth.status_of(case["camera"]), None
        return truth.say("camera_status_which"), "Dialog.ElicitSlot"
    if intent == "HowToView":
        return truth.say("how_to_view", example_name=truth.devices[0].name), None
    if intent == "PrivacyInfo":
        return truth.privacy(), None
    if intent == "DeleteMyData":
        # virtual-alexa does not speak auto-delegated confirmations: the skill asks with the same words.
        return truth.say("delete_confirm"), "Dialog.ConfirmIntent"
    key = {
        "AMAZON.HelpIntent": "help",
        "AMAZON.FallbackIntent": "fallback",
        "AMAZON.StopIntent": "goodbye",
        "AMAZON.CancelIntent": "goodbye",
        "AMAZON.NavigateHomeIntent": "goodbye",
    }[intent]
    return truth.say(key), None


def judge(truth: Truth, case: dict[str, Any], exchange: dict[str, Any]) -> list[str]:
    where = f"{truth.locale} {case['say']!r}"
    if "error" in exchange:
        return [f"{where}: {exchange['error']}"]
    problems = [f"{where}: {error}" for error in response_errors(exchange["response"])]
    routed = exchange["request"]["request"]["intent"]["name"]
    if routed != case["intent"]:
        return [*problems, f"{where}: routed to {routed}, meant {case['intent']}"]
    speech, directive = expected_answer(truth, case)
    said = spoken(exchange["response"])
    if said != speech:
        heard = exchange["request"]["request"]["intent"].get("slots", {}).get("camera", {}).get("value")
        problems.append(f"{where}: said {said!r} (slot heard {heard!r}), meant {speech!r}")
    directives = [d["type"] for d in exchange["response"]["response"].get("directives", [])]
    if directive is not None and directive not in directives:
        problems.append(f"{where}: no {directive} in {directives}")
    return problems


@pytest.mark.parametrize("locale", LOCALES)
def test_natural_phrasings_reach_the_intended_intent_and_the_true_answer(
    voice_stack: AccloudServer, skill_url: str, locale: str
) -> None:
    token = link_alice(voice_stack)
    table = cases(locale)
    # Each case as a one-shot request ("Alexa, ask zosi smart ..."); the cases naming a camera once more
    # after a launch, when the camera names are loaded as dynamic entities.
    named = [case for case in table if "camera" in case]
    sessions = [{"token": token, "steps": [{"type": "utter", "say": case["say"]}]} for case in table]
    sessions += [
        {"token": token, "steps": [{"type": "launch"}, {"type": "utter", "say": case["say"]}]}
        for case in named
    ]
    stored_keys = row_keys()

    exchanges = drive(locale, skill_url, sessions)

    truth = Truth(locale, token, voice_stack.user_id("alice"))
    problems = []
    for case, session in zip(table + named, exchanges, strict=True):
        for exchange in session[:-1]:  # the launch
            problems += [f"{locale} launch: {error}" for error in response_errors(exchange["response"])]
        problems += judge(truth, case, session[-1])
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert row_keys() == stored_keys  # asking to delete only got the question: nothing was erased


@pytest.mark.parametrize("locale", LOCALES)
def test_launch_with_an_expired_token_greets_and_asks_to_link_again(
    voice_stack: AccloudServer, skill_url: str, locale: str
) -> None:
    token = link_alice(voice_stack)
    voice_stack.expire_token(token)

    ((expired,), (unlinked,)) = drive(
        locale, skill_url, [{"token": token, "steps": [{"type": "launch"}]}, {"steps": [{"type": "launch"}]}]
    )

    for exchange, key in ((expired, "launch_link_expired"), (unlinked, "launch_unlinked")):
        assert response_errors(exchange["response"]) == []
        assert spoken(exchange["response"]) == strings.render(locale, key)
        assert exchange["response"]["response"]["card"] == {"type": "LinkAccount"}
        assert exchange["response"]["response"]["shouldEndSession"] is True


def camera_examples(model: dict[str, Any]) -> list[str]:
    (camera_name,) = [t for t in model["types"] if t["name"] == "CAMERA_NAME"]
    return [value["name"]["value"] for value in camera_name["values"]]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_sample_routes_to_its_own_intent(locale: str) -> None:
    """The model's own check: each sample, its slot filled with a static value, reaches its intent with
    that value in the slot (no other intent's sample, no wider carrier phrase of the same intent wins)."""
    model = json.loads((MODEL_DIR / f"{locale}.json").read_text("utf-8"))["interactionModel"]["languageModel"]
    examples = camera_examples(model)
    said = [
        (
            intent["name"],
            sample.replace("{camera}", examples[index % len(examples)]),
            examples[index % len(examples)],
        )
        for intent in model["intents"]
        for index, sample in enumerate(intent.get("samples", []))
    ]
    (routes,) = drive(
        locale, "http://127.0.0.1:9/", [{"steps": [{"type": "route", "say": text} for _, text, _ in said]}]
    )

    wrong = [
        f"{text!r} of {intent} -> {route['routed']} {route['slots']}"
        for (intent, text, example), route in zip(said, routes, strict=True)
        if route["routed"] != intent or route["slots"].get("camera", example) != example
    ]
    assert not wrong, f"{len(wrong)} of {len(said)} samples do not route to their own intent:\n" + "\n".join(
        wrong
    )
