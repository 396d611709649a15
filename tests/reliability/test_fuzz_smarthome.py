"""Fuzzing Smart Home directives through lambda_handler.handler against the reference ACCloud.

Every example must return (never raise) a schema-valid message with a usable correlationToken,
write nothing, mint no stream when it answers an error, and answer exactly the type its strategy
predicts (ACCEPT_GRANT_FAILED for every AcceptGrant failure).
Strategies and expected answers: docs/reliability.md, "Fuzzing".
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

import lambda_handler
from devstack import directives
from devstack.demo_data import ALICE_ID, BOB_ID, FRONT_DOOR, GARAGE, demo_seed
from skill.privacy import pseudonyms
from skill.smarthome import dispatch, registry  # noqa: F401  (importing dispatch registers the handlers)
from tests.alexa_schema import AlexaSchema
from tests.reliability.harness import DynamoFaults, World, rows
from tests.reliability.strategies import bombs, json_values, odd_text, other_json_type

GRANT_NAMESPACE = "Alexa.Authorization"
SESSION = "fuzz-session-1"
OFFER_SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
STREAMS = directives.one_rtsp_stream()
INSTANCE = directives.DATA_CONTROLLER[2]
ENDPOINT_ID_LIMIT, TOKEN_LIMIT, FIELD_LIMIT, HEADER_NAME_LIMIT = 256, 4096, 4096, 128


@dataclass(frozen=True)
class Kind:
    """One registered directive: how to build it untouched and what the untouched one answers."""

    namespace: str
    name: str
    payload: dict[str, Any]
    untouched: str  # header name of the answer, or the error type
    endpoint: bool = True
    payload_version: str = "3"
    instance: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.name}"

    def event(self, token: str, endpoint_id: str) -> dict[str, Any]:
        return directives.directive(
            self.namespace,
            self.name,
            token,
            endpoint={"endpointId": endpoint_id} if self.endpoint else None,
            payload=copy.deepcopy(self.payload),
            payload_version=self.payload_version,
            correlation_token="corr-" + uuid.uuid4().hex,  # on every directive, addressed or not
            instance=self.instance,
        )


KINDS = {
    kind.key: kind
    for kind in (
        Kind("Alexa.Discovery", "Discover", {}, "Discover.Response", endpoint=False),
        Kind("Alexa.CameraStreamController", "InitializeCameraStreams", STREAMS, "Response"),
        Kind(
            "Alexa.RTCSessionController",
            "InitiateSessionWithOffer",
            {"sessionId": SESSION, "offer": {"format": "SDP", "value": OFFER_SDP}},
            "AnswerGeneratedForSession",
        ),
        Kind("Alexa.RTCSessionController", "SessionConnected", {"sessionId": SESSION}, "SessionConnected"),
        Kind(
            "Alexa.RTCSessionController", "SessionDisconnected", {"sessionId": SESSION}, "SessionDisconnected"
        ),
        Kind("Alexa", "ReportState", {}, "StateReport"),
        Kind(
            "Alexa.SmartVision.ObjectDetectionSensor",
            "SetObjectDetectionClasses",
            {"objectDetectionClasses": [{"imageNetClass": "person"}]},
            "Response",  # the fuzzed endpoint is Front Door, which detects people
            payload_version="1.0",
        ),
        Kind(
            "Alexa.DataController", "ReportData", {}, "DataReport", payload_version="1.0", instance=INSTANCE
        ),
        Kind(
            "Alexa.DataController",
            "DeleteData",
            {"timeRange": {"start": "2026-12-07T09:00:00Z", "end": "2026-12-07T10:00:00Z"}},
            "DeleteDataResponse",
            payload_version="1.0",
            instance=INSTANCE,
        ),
        Kind(
            GRANT_NAMESPACE,
            "AcceptGrant",
            {"grant": {"type": "OAuth2.AuthorizationCode", "code": "fuzz-grant-code"}},
            "ACCEPT_GRANT_FAILED",
            endpoint=False,
        ),
    )
}
ENDPOINT_KINDS = [key for key, kind in KINDS.items() if kind.endpoint]

D, H, E, P = ("directive",), ("directive", "header"), ("directive", "endpoint"), ("directive", "payload")
_SCOPE = {"endpoint": (*E, "scope"), "discover": (*P, "scope"), "grant": (*P, "grantee")}
_COMMON = [D, H, (*H, "namespace"), (*H, "name"), (*H, "messageId"), (*H, "payloadVersion")]


TOKEN_SCOPE = {
    key: _SCOPE["endpoint" if kind.endpoint else "grant" if kind.namespace == GRANT_NAMESPACE else "discover"]
    for key, kind in KINDS.items()
}


def _scope_paths(scope: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [scope, (*scope, "type"), (*scope, "token")]


_STREAM = (*P, "cameraStreams", 0)
_DATA_CONTROLLER = [*_COMMON, (*H, "instance"), P, E, *_scope_paths(_SCOPE["endpoint"]), (*E, "endpointId")]
# Paths whose removal, or replacement by a value of another JSON type, makes the directive malformed.
REQUIRED: dict[str, list[tuple[Any, ...]]] = {
    "Alexa.Discovery.Discover": [*_COMMON, P, *_scope_paths(_SCOPE["discover"])],
    "Alexa.CameraStreamController.InitializeCameraStreams": [
        *_COMMON,
        P,
        E,
        *_scope_paths(_SCOPE["endpoint"]),
        (*E, "endpointId"),
        (*P, "cameraStreams"),
        _STREAM,
        (*_STREAM, "resolution"),
        (*_STREAM, "resolution", "width"),
        (*_STREAM, "resolution", "height"),
        (*_STREAM, "videoCodec"),
        (*_STREAM, "audioCodec"),
    ],
    "Alexa.RTCSessionController.InitiateSessionWithOffer": [
        *_COMMON,
        P,
        E,
        *_scope_paths(_SCOPE["endpoint"]),
        (*E, "endpointId"),
        (*P, "sessionId"),
        (*P, "offer"),
        (*P, "offer", "format"),
        (*P, "offer", "value"),
    ],
    "Alexa.RTCSessionController.SessionConnected": [
        *_COMMON,
        P,
        E,
        *_scope_paths(_SCOPE["endpoint"]),
        (*E, "endpointId"),
        (*P, "sessionId"),
    ],
    "Alexa.RTCSessionController.SessionDisconnected": [
        *_COMMON,
        P,
        E,
        *_scope_paths(_SCOPE["endpoint"]),
        (*E, "endpointId"),
        (*P, "sessionId"),
    ],
    "Alexa.ReportState": [*_COMMON, E, *_scope_paths(_SCOPE["endpoint"]), (*E, "endpointId")],
    # Not the class entry itself: deleting it leaves an empty list, which is well-formed.
    "Alexa.SmartVision.ObjectDetectionSensor.SetObjectDetectionClasses": [
        *_COMMON,
        P,
        E,
        *_scope_paths(_SCOPE["endpoint"]),
        (*E, "endpointId"),
        (*P, "objectDetectionClasses"),
        (*P, "objectDetectionClasses", 0, "imageNetClass"),
    ],
    "Alexa.DataController.ReportData": [*_DATA_CONTROLLER],
    "Alexa.DataController.DeleteData": [
        *_DATA_CONTROLLER,
        (*P, "timeRange"),
        (*P, "timeRange", "start"),
        (*P, "timeRange", "end"),
    ],
    "Alexa.Authorization.AcceptGrant": [
        *_COMMON,
        P,
        *_scope_paths(_SCOPE["grant"]),
        (*P, "grant"),
        (*P, "grant", "type"),
        (*P, "grant", "code"),
    ],
}
# Names the parser or a handler reads: extra fields must avoid them.
KNOWN_NAMES = frozenset(
    {"directive", "header", "namespace", "name", "messageId", "payloadVersion", "correlationToken",
     "instance", "endpoint", "endpointId", "scope", "type", "token", "cookie", "payload", "cameraStreams",
     "protocol", "resolution", "width", "height", "authorizationType", "videoCodec", "audioCodec",
     "sessionId", "offer", "format", "value", "grant", "code", "grantee", "profiles", "request",
     "version", "requestContext", "objectDetectionClasses", "imageNetClass", "timeRange", "start", "end",
     "paginationContext", "maxResults", "nextToken", "identifiers"}
)  # fmt: skip


# --- strategies ------------------------------------------------------------------------------

# --- helpers -----------------------------------------------------------------------------------


@dataclass
class Fixture:
    world: World
    schema: AlexaSchema
    token: str
    endpoint_id: str

    def event(self, key: str) -> dict[str, Any]:
        return KINDS[key].event(self.token, self.endpoint_id)


@pytest.fixture(scope="module")
def fx(world: World, alexa_schema: AlexaSchema) -> Iterator[Fixture]:
    world.fresh()
    yield Fixture(world, alexa_schema, world.token("alice"), pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR))


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def _dig(tree: Any, *path: Any) -> Any:
    for step in path:
        if isinstance(tree, dict):
            tree = tree.get(step)
        elif isinstance(tree, list) and isinstance(step, int) and step < len(tree):
            tree = tree[step]
        else:
            return None
    return tree


def _salvaged_namespace(event: dict[str, Any]) -> str:
    namespace = _dig(event, "directive", "header", "namespace")
    return namespace if isinstance(namespace, str) else ""


def malformed(event: dict[str, Any]) -> str:
    """What a malformed directive answers: INVALID_DIRECTIVE (ACCEPT_GRANT_FAILED in Alexa.Authorization)."""
    return "ACCEPT_GRANT_FAILED" if _salvaged_namespace(event) == GRANT_NAMESPACE else "INVALID_DIRECTIVE"


def refused_credential(key: str) -> str:
    return (
        "ACCEPT_GRANT_FAILED"
        if KINDS[key].namespace == GRANT_NAMESPACE
        else "INVALID_AUTHORIZATION_CREDENTIAL"
    )


def answer(fx: Fixture, event: dict[str, Any]) -> str:
    """Run the event through the Lambda entry point and check every invariant; returns the outcome
    (the answer's header name, or the error type of an ErrorResponse)."""
    if _dig(event, "directive", "header", "name") == "SessionConnected":
        _open_session(fx)  # the untouched SessionConnected needs a session ACCloud knows
    before = rows()
    minted = len(fx.world.accloud.minted_streams())
    with DynamoFaults().installed() as dynamodb:
        reply = lambda_handler.handler(event, None)
    assert dynamodb.writes == 0, "a directive wrote to the table"
    fx.schema.assert_valid(reply)
    header = reply["event"]["header"]
    uuid.UUID(header["messageId"], version=4)
    sent = _dig(event, "directive", "header", "correlationToken")
    if (
        isinstance(sent, str)
        and 0 < len(sent) <= FIELD_LIMIT
        and isinstance(_dig(event, "directive", "header"), dict)
    ):
        assert header.get("correlationToken") == sent
    assert rows() == before, "a directive wrote to the table"
    if header["name"] != "ErrorResponse":
        return str(header["name"])
    assert len(fx.world.accloud.minted_streams()) == minted, "an error answer minted a stream"
    return str(reply["event"]["payload"]["type"])


def _open_session(fx: Fixture) -> None:
    opened = lambda_handler.handler(fx.event("Alexa.RTCSessionController.InitiateSessionWithOffer"), None)
    assert opened["event"]["header"]["name"] == "AnswerGeneratedForSession", opened


# --- the untouched directives ------------------------------------------------------------------


def test_every_registered_directive_is_fuzzed() -> None:
    assert {(k.namespace, k.name) for k in KINDS.values()} == set(registry.HANDLERS)


@pytest.mark.parametrize("key", list(KINDS))
def test_untouched_directives_get_their_usual_answer(fx: Fixture, key: str) -> None:
    assert answer(fx, fx.event(key)) == KINDS[key].untouched


# --- malformed ----------------------------------------------------------------------------------


@st.composite
def missing_or_mistyped(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], str, Any]:
    """(kind, path, "delete" | "replace", replacement of another JSON type than the field's)."""
    key = draw(st.sampled_from(list(KINDS)))
    path = draw(st.sampled_from(REQUIRED[key]))
    # Without "directive" the event is no Smart Home event at all (skill/app.py): replace it only.
    how = "replace" if path == D else draw(st.sampled_from(["delete", "replace"]))
    current = _get(KINDS[key].event("token", "endpoint"), path)
    return key, path, how, draw(other_json_type(current)) if how == "replace" else None


@given(case=missing_or_mistyped())
@example(case=("Alexa.CameraStreamController.InitializeCameraStreams", (*_STREAM, "resolution", "width"),
               "replace", True))  # JSON true was taken for a width of 1  # fmt: skip
def test_missing_or_mistyped_required_fields_are_invalid_directives(
    fx: Fixture, case: tuple[str, tuple[Any, ...], str, Any]
) -> None:
    key, path, how, replacement = case
    event = fx.event(key)
    parent, leaf = (_get(event, path[:-1]), path[-1]) if len(path) > 1 else (event, path[0])
    if how == "delete":
        del parent[leaf]
    else:
        parent[leaf] = replacement
    assert answer(fx, event) == malformed(event)


@given(
    key=st.sampled_from(list(KINDS)),
    namespace=st.none() | odd_text | st.sampled_from(sorted({k.namespace for k in KINDS.values()})),
    name=st.none() | odd_text | st.sampled_from(sorted({k.name for k in KINDS.values()})),
)
def test_unknown_directives_are_invalid(fx: Fixture, key: str, namespace: Any, name: Any) -> None:
    assume((namespace, name) not in registry.HANDLERS)
    event = fx.event(key)
    header = event["directive"]["header"]
    for field, value in (("namespace", namespace), ("name", name)):
        if value is not None:
            header[field] = value
    assume((header["namespace"], header["name"]) not in registry.HANDLERS)
    assert answer(fx, event) == malformed(event)


@given(key=st.sampled_from(list(KINDS)), version=json_values | st.sampled_from(["3", "1.0"]))
def test_payload_versions_other_than_the_interfaces_are_invalid(fx: Fixture, key: str, version: Any) -> None:
    assume(version != KINDS[key].payload_version)
    event = fx.event(key)
    event["directive"]["header"]["payloadVersion"] = version
    assert answer(fx, event) == malformed(event)


@given(directive=json_values)
def test_any_json_as_a_directive_gets_a_valid_error(fx: Fixture, directive: Any) -> None:
    assert answer(fx, {"directive": directive}) in {"INVALID_DIRECTIVE", "ACCEPT_GRANT_FAILED"}


# --- well-formed but odd -------------------------------------------------------------------------

_EXTRA_SPOTS = [(), D, H, E, (*E, "scope"), (*E, "cookie"), P, (*P, "offer"), (*P, "grant"), _STREAM,
                (*_STREAM, "resolution"), (*P, "scope"), (*P, "grantee")]  # fmt: skip


@given(
    key=st.sampled_from(list(KINDS)),
    extras=st.lists(
        st.tuples(
            st.sampled_from(_EXTRA_SPOTS), odd_text.filter(lambda k: k not in KNOWN_NAMES), json_values
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_unknown_extra_fields_change_nothing(fx: Fixture, key: str, extras: list[Any]) -> None:
    event = fx.event(key)
    for spot, name, value in extras:
        holder = _dig(event, *spot) if spot else event
        if isinstance(holder, dict):
            holder[name] = value
    assert answer(fx, event) == KINDS[key].untouched


@given(
    key=st.sampled_from(list(KINDS)),
    spot=st.sampled_from(_EXTRA_SPOTS),
    replace=st.booleans(),
    bomb=bombs,
    data=st.data(),
)
def test_depth_and_size_bombs_anywhere_are_invalid_directives(
    fx: Fixture, key: str, spot: tuple[Any, ...], replace: bool, bomb: Any, data: st.DataObject
) -> None:
    """Lambda hands over a decoded dict nesting past 32 levels or holding over 10,000 members: an
    extra field, or a field the skill reads, replaced. INVALID_DIRECTIVE, ACCloud never asked."""
    event = fx.event(key)
    holder = _dig(event, *spot) if spot else event
    assume(isinstance(holder, dict))
    known = sorted(k for k in holder if k != "directive")  # without "directive": no Smart Home event
    name = data.draw(st.sampled_from(known)) if replace and known else "zq_extra"
    holder[name] = bomb
    calls = sum(fx.world.accloud.request_counts().values())
    assert answer(fx, event) == malformed(event)
    if KINDS[key].name != "SessionConnected":  # answer() opens a session for that one first
        assert sum(fx.world.accloud.request_counts().values()) == calls


# (path, limit): free text the skill passes on or echoes; beyond the limit the directive is malformed.
FREE_TEXT: dict[str, list[tuple[tuple[Any, ...], int]]] = {
    key: [((*H, "messageId"), 256), ((*H, "correlationToken"), FIELD_LIMIT)] for key in KINDS
}
FREE_TEXT["Alexa.Authorization.AcceptGrant"].append(((*P, "grant", "code"), 2048))
FREE_TEXT["Alexa.RTCSessionController.InitiateSessionWithOffer"].append(((*P, "offer", "value"), 64 * 1024))
for _key in ENDPOINT_KINDS:
    FREE_TEXT[_key].append(((*E, "cookie", "note"), 10**9))


@st.composite
def free_text_case(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], int, str]:
    key = draw(st.sampled_from(list(FREE_TEXT)))
    path, limit = draw(st.sampled_from(FREE_TEXT[key]))
    text = draw(odd_text.filter(bool))
    if path[-1] == "value":
        text = "v=0\r\n" + text  # an SDP offer starts so; the rest is the camera's business
    return key, path, limit, text


@given(case=free_text_case())
@example(
    case=(
        "Alexa.RTCSessionController.InitiateSessionWithOffer",
        (*P, "offer", "value"),
        64 * 1024,
        "v=0\ud800",
    )
)
def test_odd_text_in_free_text_fields(fx: Fixture, case: tuple[str, tuple[Any, ...], int, str]) -> None:
    key, path, limit, text = case
    event = fx.event(key)
    _get(event, path[:-1])[path[-1]] = text
    assert answer(fx, event) == (KINDS[key].untouched if _within(text, path, limit) else malformed(event))


def _within(text: str, path: tuple[Any, ...], limit: int) -> bool:
    if path[-1] != "value":
        return len(text) <= limit
    try:  # an SDP body is limited in UTF-8 bytes, and must be UTF-8 at all
        return len(text.encode("utf-8")) <= limit
    except UnicodeEncodeError:
        return False


RTC_KINDS = [key for key in KINDS if KINDS[key].namespace == "Alexa.RTCSessionController"]
SESSION_ID_FORMAT = r"[A-Za-z0-9._:\-]{1,128}"


@given(
    key=st.sampled_from(RTC_KINDS),
    session=st.from_regex(SESSION_ID_FORMAT, fullmatch=True) | odd_text | st.sampled_from([".", "..", "..."]),
)
@example(key="Alexa.RTCSessionController.SessionConnected", session=".")  # was INTERNAL_ERROR (405)
@example(key="Alexa.RTCSessionController.SessionDisconnected", session="..")  # was NO_SUCH_ENDPOINT
def test_session_ids(fx: Fixture, key: str, session: str) -> None:
    """A sessionId travels in ACCloud's URL path: only a safe, bounded one is passed on."""
    import re

    event = fx.event(key)
    event["directive"]["payload"]["sessionId"] = session
    if not re.fullmatch(SESSION_ID_FORMAT, session) or session in (".", ".."):
        expected = "INVALID_DIRECTIVE"
    else:  # SessionConnected for a session ACCloud does not know (404) is acknowledged too
        expected = KINDS[key].untouched
    assert answer(fx, event) == expected


# --- bogus endpointIds and tokens ---------------------------------------------------------------

ENDPOINT_ID_FORMAT = r"[a-zA-Z0-9_\-=#;:?@&]{1,256}"


def _well_formed_endpoint_ids(owned: set[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.from_regex(ENDPOINT_ID_FORMAT, fullmatch=True),
        st.binary(min_size=1, max_size=150).map(
            lambda b: "z1_" + base64.urlsafe_b64encode(b).decode().rstrip("=")
        ),
        st.sampled_from(["z1_", "z1_A", "z1_" + "A" * 253]),
    ).filter(lambda e: e not in owned)


def _owned_endpoint_ids() -> set[str]:
    return {pseudonyms.endpoint_id(d.owner_id, d.id) for d in demo_seed().devices if d.owner_id == ALICE_ID}


@given(key=st.sampled_from(ENDPOINT_KINDS), data=st.data())
def test_well_formed_foreign_endpoint_ids_are_no_such_endpoint(fx: Fixture, key: str, data) -> None:
    owned = _owned_endpoint_ids()
    bobs = sorted(pseudonyms.endpoint_id(BOB_ID, d.id) for d in demo_seed().devices if d.owner_id == BOB_ID)
    alices_for_bob = [pseudonyms.endpoint_id(BOB_ID, FRONT_DOOR), pseudonyms.endpoint_id(BOB_ID, GARAGE)]
    endpoint_id = data.draw(_well_formed_endpoint_ids(owned) | st.sampled_from(bobs + alices_for_bob))
    event = fx.event(key)
    event["directive"]["endpoint"]["endpointId"] = endpoint_id
    assert answer(fx, event) == "NO_SUCH_ENDPOINT"


@given(key=st.sampled_from(ENDPOINT_KINDS), endpoint_id=odd_text.filter(bool))
@example(key="Alexa.ReportState", endpoint_id="é")  # was echoed into a schema-invalid ErrorResponse
def test_endpoint_ids_outside_alexas_format_are_invalid(fx: Fixture, key: str, endpoint_id: str) -> None:
    import re

    assume(not re.fullmatch(ENDPOINT_ID_FORMAT, endpoint_id))
    event = fx.event(key)
    event["directive"]["endpoint"]["endpointId"] = endpoint_id
    assert answer(fx, event) == "INVALID_DIRECTIVE"


@given(key=st.sampled_from(ENDPOINT_KINDS), junk=st.sampled_from(["=", "==", "&&", "@@", ";;"]))
def test_an_owned_endpoint_id_with_junk_appended_is_no_such_endpoint(
    fx: Fixture, key: str, junk: str
) -> None:
    """Lenient base64 skipped the junk, so one device answered to several endpointIds."""
    event = fx.event(key)
    event["directive"]["endpoint"]["endpointId"] = fx.endpoint_id + junk
    assert answer(fx, event) == "NO_SUCH_ENDPOINT"


@given(key=st.sampled_from(list(KINDS)), token=odd_text.filter(bool))
@example(key="Alexa.Discovery.Discover", token="Ā")  # was INTERNAL_ERROR: not encodable in a header
@example(key="Alexa.Discovery.Discover", token="\ud800")  # was INTERNAL_ERROR: the user cache's hash
@example(key="Alexa.ReportState", token="to\nken")  # was INTERNAL_ERROR: header injection refused by http
def test_tokens_accloud_does_not_know_are_invalid_credentials(fx: Fixture, key: str, token: str) -> None:
    assume(token != fx.token)
    event = fx.event(key)
    _dig(event, *TOKEN_SCOPE[key])["token"] = token
    expected = refused_credential(key) if len(token) <= TOKEN_LIMIT else malformed(event)
    assert answer(fx, event) == expected
