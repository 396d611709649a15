"""``zosi-skill local load``: a directive and webhook mix through the local stack, from several processes.

Dev only, loopback only, bounded in count and time; each worker process is one warm Lambda
container. The run passes only with 0 errors and 0 lost writes, and makes the stand-ins behave as
the real services where they would otherwise measure themselves (serialized moto, sampled schemas).
Details: docs/local-stack.md, "The load run".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devstack import directives

if TYPE_CHECKING:
    from devstack.demo_data import Seed
    from devstack.stack import LocalStack

DIRECTIVE_KINDS = ("discover", "stream", "report")
WEBHOOK_KINDS = ("doorbell", "motion")
KINDS = DIRECTIVE_KINDS + WEBHOOK_KINDS
DEFAULT_EVENTS = 10_000
DEFAULT_PROCESSES = 2
DEFAULT_MIX = "discover=1,stream=3,report=3,doorbell=1,motion=2"
DEFAULT_MAX_SECONDS = 900.0
LOAD_ACCOUNTS = 6  # besides the demo accounts alice and bob
REDELIVERY_SHARE = 0.1  # of webhook deliveries: a second delivery of an earlier id
MAX_EVENTS = 200_000
MAX_PROCESSES = 16
_ERROR_SAMPLES = 20
_STREAM_REQUEST_LIMIT = 8
_ALEXA_USER_PREFIX = "amzn1.ask.account.LOAD"
_WEBHOOK_MESSAGE = {"doorbell": "DoorbellPress", "motion": "ChangeReport"}

# --- moto ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def serialized_moto() -> Iterator[None]:
    """Serialize the request handling of every moto server in this process.

    DynamoDB applies each conditional write atomically; moto's server does not: its threaded
    WSGI server evaluates the condition and stores the item in separate steps without a lock, so
    two concurrent ``attribute_not_exists`` PutItems can both succeed. Measured here: 8 threads
    racing one conditional PutItem per round, 300 rounds, 3 rounds with two winners; 240
    version-checked increments from 8 threads, up to 4 lost. The skill's idempotency (webhook
    claims, refresh leases) rests on that atomicity, so load and race runs hold one lock around
    each moto request - what DynamoDB guarantees, nothing more.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lock = threading.RLock()
    original = DomainDispatcherApplication.__call__

    def one_at_a_time(self: DomainDispatcherApplication, environ: dict, start_response: object) -> object:
        with lock:  # moto builds the whole answer inside the call; nothing is streamed afterwards
            return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = one_at_a_time  # type: ignore[method-assign]
    try:
        yield
    finally:
        DomainDispatcherApplication.__call__ = original  # type: ignore[method-assign]


@contextlib.contextmanager
def partition_scoped_queries() -> Iterator[None]:
    """Make moto's Query read one partition, as DynamoDB's does. Use inside ``serialized_moto``.

    moto answers every Query by sorting and filtering the whole table, so its latency grows with
    the table: 50 ms at 1,000 items, 185 ms at 6,000 (measured). A load run writes a dedupe row
    per webhook id, and every webhook's account read would measure moto's table scan instead of
    the skill. For a Query on the table itself (not an index) this hands moto's own query code the
    partition's items only; the answer is the same, because moto then keeps only that partition.
    """
    from moto.dynamodb.models.table import Table

    original = Table.query

    def one_partition(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = sorted(self.items.get(hash_key, {}).values(), key=lambda item: item.range_key)
        self.all_items = lambda: partition  # type: ignore[method-assign]  # this call only (serialized)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = one_partition  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]


# --- the Event Gateway stand-in's schema check -----------------------------------------------------


class SampledSchemas:
    """The stand-in's schema check on a sample: every message of a kind until ``first`` of that
    kind were checked, then one in ``every``.

    Checking one ChangeReport against Amazon's schema costs the stand-in ~75 ms of CPU (a
    DoorbellPress ~25 ms), in the parent process that also hosts moto and ACCloud: checking all
    of them would measure jsonschema, not the skill. Every message kind the skill can send is
    checked in full by tests/proactive/test_schemas.py; here the bearer and scope tokens of every
    message are still checked by the stand-in, and ``--validate-all`` checks every schema too.
    """

    def __init__(self, full: Any, *, first: int = 20, every: int = 25) -> None:
        self._full = full
        self._first, self._every = first, every
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str]] = Counter()
        self.checked = 0

    def errors(self, message: Any) -> list[str]:
        header = message.get("event", {}).get("header", {}) if isinstance(message, dict) else {}
        kind = (str(header.get("namespace")), str(header.get("name")))
        with self._lock:
            self._seen[kind] += 1
            seen = self._seen[kind]
        if seen > self._first and seen % self._every:
            return []
        with self._lock:
            self.checked += 1
        errors: list[str] = self._full.errors(message)
        return errors


# --- the plan -----------------------------------------------------------------------------------


def parse_mix(text: str) -> dict[str, int]:
    """``"discover=1,stream=3,..."`` -> weights; kinds left out get weight 0."""
    weights = dict.fromkeys(KINDS, 0)
    for part in text.split(","):
        if not part.strip():
            continue
        kind, _, value = part.partition("=")
        kind = kind.strip()
        if kind not in weights:
            raise ValueError(f"unknown kind {kind!r} in --mix (kinds: {', '.join(KINDS)})")
        try:
            weights[kind] = int(value)
        except ValueError:
            raise ValueError(f"weight of {kind} must be a whole number, not {value!r}") from None
        if weights[kind] < 0:
            raise ValueError(f"weight of {kind} must not be negative")
    if not any(weights.values()):
        raise ValueError("--mix gives every kind weight 0")
    return weights


@dataclass(frozen=True)
class Account:
    """A linked load account as Alexa knows it after setup."""

    username: str
    user_id: str
    token: str
    endpoints: Mapping[str, dict[str, Any]]  # endpointId -> the endpoint from Discover
    device_of: Mapping[str, str]  # endpointId -> ACCloud device id
    streamable: tuple[str, ...]  # endpoints online, not in privacy mode, with an RTSP stream
    doorbells: tuple[str, ...]
    motion_sensors: tuple[str, ...]


@dataclass(frozen=True)
class Work:
    """One request a worker sends. Webhooks carry the event id, type and device."""

    kind: str
    username: str
    endpoint_id: str = ""
    event_id: str = ""
    event_type: str = ""


def plan(
    accounts: list[Account], events: int, weights: Mapping[str, int], processes: int, seed: int
) -> list[list[Work]]:
    """``events`` requests drawn by weight, dealt round-robin to the processes.

    Redeliveries go to a different process than their first delivery, so they can race it."""
    rng = random.Random(seed)
    kinds = [k for k in KINDS if weights[k] > 0 and _possible(k, accounts)]
    if not kinds:
        raise ValueError("no kind in the mix can be sent to the load accounts")
    chosen = rng.choices(kinds, weights=[weights[k] for k in kinds], k=events)
    shards: list[list[Work]] = [[] for _ in range(processes)]
    sent: list[tuple[int, Work]] = []
    motion_state: dict[str, bool] = {}
    for index, kind in enumerate(chosen):
        shard = index % processes
        if kind in WEBHOOK_KINDS and sent and rng.random() < REDELIVERY_SHARE:
            first_shard, first = rng.choice(sent)
            shards[(first_shard + 1) % processes if processes > 1 else shard].append(first)
            continue
        account = rng.choice([a for a in accounts if _possible(kind, [a])])
        work = _work(kind, account, rng, index, motion_state)
        shards[shard].append(work)
        if kind in WEBHOOK_KINDS:
            sent.append((shard, work))
    return shards


def _possible(kind: str, accounts: list[Account]) -> bool:
    need = {"stream": "streamable", "doorbell": "doorbells", "motion": "motion_sensors"}.get(kind)
    return any(getattr(a, need) for a in accounts) if need else bool(accounts)


def _work(kind: str, account: Account, rng: random.Random, index: int, motion: dict[str, bool]) -> Work:
    if kind == "discover":
        return Work(kind, account.username)
    if kind == "stream":
        return Work(kind, account.username, rng.choice(account.streamable))
    if kind == "report":
        return Work(kind, account.username, rng.choice(sorted(account.endpoints)))
    if kind == "doorbell":
        endpoint = rng.choice(account.doorbells)
        return Work(kind, account.username, endpoint, f"evt_load{index:07d}", "doorbell.pressed")
    endpoint = rng.choice(account.motion_sensors)
    motion[endpoint] = detected = not motion.get(endpoint, False)
    event_type = "motion.detected" if detected else "motion.cleared"
    return Work(kind, account.username, endpoint, f"evt_load{index:07d}", event_type)


# --- the seed and the setup ----------------------------------------------------------------------


def load_seed(extra_accounts: int = LOAD_ACCOUNTS) -> Seed:
    """The demo accounts plus ``extra_accounts`` households, each a doorbell and two cameras."""
    from devstack.demo_data import DemoUser, Profile, demo_seed, make_device

    seed = demo_seed()
    for number in range(1, extra_accounts + 1):
        user_id = f"usr_load{number:04d}"
        username = f"load{number:02d}"
        seed.users.append(
            DemoUser(user_id, username, f"{username}-demo", username.title(), f"{username}@example.com", "")
        )
        webrtc = Profile("WEBRTC", 1920, 1080, "H264", "AAC")
        seed.devices += [
            make_device(user_id, "Front Door", kind="doorbell", device_id=f"dev_load{number:04d}d",
                        profiles=[Profile("RTSP", 1920, 1080, "H264", "AAC"), webrtc]),
            make_device(user_id, "Garden", device_id=f"dev_load{number:04d}g"),
            make_device(user_id, "Hall", device_id=f"dev_load{number:04d}h",
                        profiles=[Profile("RTSP", 1280, 720, "H264", "G711")]),
        ]  # fmt: skip
    return seed


def link_accounts(stack: LocalStack, usernames: list[str]) -> list[Account]:
    return [link_account(stack, username) for username in usernames]


def link_account(stack: LocalStack, username: str, alexa_user_id: str | None = None) -> Account:
    """The user linked as Alexa does it: OAuth at ACCloud, SkillAccountLinked, AcceptGrant, Discover.

    The one way the load run and the benchmark (``bench/stack.py``) prepare an account."""
    import lambda_handler
    from skill.privacy import pseudonyms

    user_id = stack.accloud.user_id(username)
    token = stack.accloud.issue_token(username)["access_token"]
    alexa_user = alexa_user_id or _ALEXA_USER_PREFIX + username.upper()
    _expect(lambda_handler.handler(_skill_event("SkillAccountLinked", token, alexa_user), None))
    answer = lambda_handler.handler(directives.accept_grant(token, stack.lwa.issue_grant_code()), None)
    _expect(answer, "AcceptGrant.Response")
    answer = lambda_handler.handler(directives.discover(token), None)
    _expect(answer, "Discover.Response")
    endpoints = {e["endpointId"]: e for e in answer["event"]["payload"]["endpoints"]}
    wire = {d["id"]: d for d in stack.accloud.devices(username)}
    device_of = {pseudonyms.endpoint_id(user_id, d): d for d in wire}
    device_of = {e: d for e, d in device_of.items() if e in endpoints}

    def having(interface: str) -> tuple[str, ...]:
        return tuple(e for e, ep in sorted(endpoints.items()) if interface in _interfaces(ep))

    return Account(
        username=username,
        user_id=user_id,
        token=token,
        endpoints=endpoints,
        device_of=device_of,
        streamable=tuple(e for e in having("Alexa.CameraStreamController") if _healthy(wire[device_of[e]])),
        doorbells=having("Alexa.DoorbellEventSource"),
        motion_sensors=having("Alexa.MotionSensor"),
    )


def _interfaces(endpoint: dict[str, Any]) -> set[str]:
    return {capability["interface"] for capability in endpoint["capabilities"]}


def _healthy(device: dict[str, Any]) -> bool:
    """Online (its NVR too) and not in privacy mode: a stream directive for it must succeed."""
    return bool(device["online"]) and not device["privacy_mode"]


def _expect(answer: Any, name: str | None = None) -> None:
    if name is None:
        if not (isinstance(answer, dict) and "response" in answer):
            raise RuntimeError("setup: a skill event was not answered")
        return
    got = answer.get("event", {}).get("header", {}).get("name") if isinstance(answer, dict) else None
    if got != name:
        raise RuntimeError(f"setup: expected {name}, got {got}")


# --- events as Alexa and API Gateway send them ----------------------------------------------------


def stream_request(endpoint: dict[str, Any]) -> dict[str, Any]:
    """What an Echo Show asks for: the RTSP configurations the endpoint advertised."""
    [camera] = [c for c in endpoint["capabilities"] if c["interface"] == "Alexa.CameraStreamController"]
    streams = [
        {
            "protocol": "RTSP",
            "resolution": resolution,
            "authorizationType": config["authorizationTypes"][0],
            "videoCodec": config["videoCodecs"][0],
            "audioCodec": config["audioCodecs"][0],
        }
        for config in camera["cameraStreamConfigurations"]
        if "RTSP" in config["protocols"]
        for resolution in config["resolutions"]
    ]
    return {"cameraStreams": streams[:_STREAM_REQUEST_LIMIT]}


def _skill_event(name: str, token: str, alexa_user: str) -> dict[str, Any]:
    from devstack.stack import LOCAL_SKILL_ID

    application = {"applicationId": LOCAL_SKILL_ID}
    return {
        "version": "1.0",
        "context": {
            "System": {
                "application": application,
                "user": {"userId": alexa_user, "accessToken": token},
                "apiEndpoint": "https://api.amazonalexa.com",
            }
        },
        "request": {
            "type": f"AlexaSkillEvent.{name}",
            "requestId": "amzn1.echo-api.request.load",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "body": {"accessToken": token},
        },
    }


def _webhook_event(work: Work, account: Account, secret: bytes) -> dict[str, Any]:
    from devstack.webhook_front import api_gateway_event
    from devstack.webhook_sender import encode_event, sign

    now = time.time()
    body = encode_event(
        {
            "id": work.event_id,
            "type": work.event_type,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "user_id": account.user_id,
            "device_id": account.device_of[work.endpoint_id],
        }
    )
    headers = {"content-type": "application/json", "x-accloud-signature": sign(secret, body, int(now))}
    return api_gateway_event("POST", "/webhooks/accloud", headers, body)


# --- the worker (one process = one warm container) --------------------------------------------------


@dataclass
class WorkerResult:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    webhook_statuses: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    started: float = 0.0
    finished: float = 0.0
    failure: str = ""  # why the worker stopped early, if it did

    def error(self, kind: str, reason: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < _ERROR_SAMPLES:
            self.error_samples.append(f"{kind}: {reason}")


def _worker(
    shard: list[Work],
    accounts: list[Account],
    env: dict[str, str],
    secret: bytes,
    deadline: float,
    barrier: Any,
    results: Any,
    answered: Any,
) -> None:
    os.environ.update(env)
    os.environ["ZOSI_LOG_LEVEL"] = "ERROR"  # before lambda_handler configures logging
    from devstack.stack import apply_env

    apply_env(env)
    import lambda_handler
    from devstack.webhook_front import LambdaContext
    from skill import metrics

    metrics.sink = lambda line: None  # EMF lines would flood the terminal
    by_name = {a.username: a for a in accounts}
    result = WorkerResult()
    try:
        lambda_handler.handler(directives.discover(accounts[0].token), None)  # the cold start is not measured
        barrier.wait(timeout=120)
        result.started = time.time()
        for work in shard:
            if time.time() > deadline:  # the rest counts as unsent, which fails the run
                break
            account = by_name[work.username]
            event = _event_for(work, account, secret)
            began = time.perf_counter()
            try:
                answer = lambda_handler.handler(event, LambdaContext())
            except Exception as exc:  # an invocation error is what Lambda would report
                result.latencies[work.kind].append(time.perf_counter() - began)
                result.error(work.kind, f"raised {type(exc).__name__}")
                continue
            result.latencies[work.kind].append(time.perf_counter() - began)
            problem = _judge(work, account, answer, result)
            if problem:
                result.error(work.kind, problem)
            with answered.get_lock():  # the parent's progress bar; outside the timed call
                answered.value += 1
        result.finished = time.time()
    except Exception as exc:  # reported, never lost: the run then fails on the unsent requests
        result.failure = f"worker stopped: {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        results.put(_plain(result))


def _event_for(work: Work, account: Account, secret: bytes) -> dict[str, Any]:
    if work.kind == "discover":
        return directives.discover(account.token)
    endpoint = account.endpoints[work.endpoint_id]
    if work.kind == "stream":
        return directives.initialize_streams(account.token, endpoint, stream_request(endpoint))
    if work.kind == "report":
        return directives.report_state(account.token, endpoint)
    return _webhook_event(work, account, secret)


def _judge(work: Work, account: Account, answer: Any, result: WorkerResult) -> str | None:
    """None if ``answer`` is what a valid request gets; otherwise why not (no values from it)."""
    if work.kind in WEBHOOK_KINDS:
        status = answer.get("statusCode") if isinstance(answer, dict) else None
        result.webhook_statuses[work.event_id].append(status if isinstance(status, int) else -1)
        word = json.loads(answer.get("body") or "{}") if isinstance(answer, dict) else {}
        if (status, word) in ((202, {"status": "accepted"}), (200, {"status": "duplicate"})):
            return None
        return f"webhook answered {status} {word}"
    header = answer.get("event", {}).get("header", {}) if isinstance(answer, dict) else {}
    if header.get("name") == "ErrorResponse":
        return "ErrorResponse " + str(answer["event"]["payload"].get("type"))
    expected = {"discover": "Discover.Response", "stream": "Response", "report": "StateReport"}[work.kind]
    if header.get("name") != expected:
        return f"answered {header.get('namespace')}.{header.get('name')}"
    if work.kind == "discover":
        found = {e["endpointId"] for e in answer["event"]["payload"]["endpoints"]}
        if found != set(account.endpoints):
            return f"Discover listed {len(found)} endpoints, the account has {len(account.endpoints)}"
    return None


def _plain(result: WorkerResult) -> dict[str, Any]:
    return {
        "latencies": dict(result.latencies),
        "errors": dict(result.errors),
        "error_samples": result.error_samples,
        "webhook_statuses": dict(result.webhook_statuses),
        "started": result.started,
        "finished": result.finished,
        "failure": result.failure,
    }


# --- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindStats:
    count: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class LoadReport:
    events: int
    processes: int
    wall_seconds: float  # from the start barrier to the last worker's last answer
    total_seconds: float  # the whole run: stack, setup, load and checks
    kinds: dict[str, KindStats]
    error_samples: list[str]
    lost_writes: list[str]  # each a broken invariant, in words
    unfinished: int  # planned but never answered: the time limit, or a worker stopped
    webhook_ids: int
    redeliveries: int
    gateway_messages: dict[str, int]
    gateway_received: int = 0
    schema_checked: int = 0  # of the messages the Event Gateway stand-in received

    @property
    def completed(self) -> int:
        return sum(k.count for k in self.kinds.values())

    @property
    def errors(self) -> int:
        return sum(k.errors for k in self.kinds.values())

    @property
    def throughput(self) -> float:
        return self.completed / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.errors == 0 and not self.lost_writes and self.unfinished == 0

    def render(self) -> str:
        lines = [
            f"load: {self.completed} of {self.events} requests from {self.processes} processes "
            f"in {self.wall_seconds:.1f} s = {self.throughput:.0f}/s (whole run {self.total_seconds:.1f} s)",
            f"{'kind':<10}{'count':>8}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
        ]
        for kind, stats in self.kinds.items():
            lines.append(
                f"{kind:<10}{stats.count:>8}{stats.errors:>8}{stats.p50_ms:>10.1f}"
                f"{stats.p99_ms:>10.1f}{stats.max_ms:>10.1f}"
            )
        lines.append(
            f"webhooks: {self.webhook_ids} ids, {self.redeliveries} redeliveries; Event Gateway received "
            + ", ".join(f"{n} {name}" for name, n in sorted(self.gateway_messages.items()))
            + f" ({self.schema_checked} of {self.gateway_received} checked against Alexa's schema)"
        )
        lines += [f"error: {sample}" for sample in self.error_samples]
        lines += [f"LOST: {problem}" for problem in self.lost_writes]
        if self.unfinished:
            lines.append(
                f"UNFINISHED: {self.unfinished} requests never answered (time limit or a worker stopped)"
            )
        lines.append("PASS: 0 errors, 0 lost writes" if self.ok else "FAIL")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "completed": self.completed,
            "processes": self.processes,
            "wall_seconds": round(self.wall_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
            "throughput_per_second": round(self.throughput, 1),
            "kinds": {k: vars(v) for k, v in self.kinds.items()},
            "errors": self.errors,
            "error_samples": self.error_samples,
            "lost_writes": self.lost_writes,
            "unfinished": self.unfinished,
            "webhook_ids": self.webhook_ids,
            "redeliveries": self.redeliveries,
            "gateway_messages": self.gateway_messages,
            "gateway_received": self.gateway_received,
            "schema_checked": self.schema_checked,
            "ok": self.ok,
        }


def percentile(values: list[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100), interpolated between the nearest ranks; 0 for no values.

    The load report's and the benchmark's (``bench/warm.py``) latency figures."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _stats(latencies: list[float], errors: int) -> KindStats:
    ordered = sorted(latencies)
    ms = [v * 1000 for v in ordered]
    return KindStats(len(ms), errors, percentile(ms, 50), percentile(ms, 99), ms[-1] if ms else 0.0)


# --- lost writes ----------------------------------------------------------------------------------


def answer_problems(statuses: Mapping[str, list[int]]) -> list[str]:
    """Each webhook id must be accepted (202) exactly once; every other delivery is a duplicate (200)."""
    return [
        f"webhook {event_id} answered {sorted(answers)}, not one 202 and the rest 200"
        for event_id, answers in sorted(statuses.items())
        if sorted(answers) != [200] * (len(answers) - 1) + [202]
    ]


def delivery_problems(
    accepted: Mapping[str, int], refused: list[list[str]], answered: Mapping[str, int]
) -> list[str]:
    """``accepted``: message name -> how many the Event Gateway took; ``refused``: the errors of each
    message it refused; ``answered``: webhook kind -> ids the skill answered. One message per id."""
    problems = []
    if refused:
        problems.append(f"the Event Gateway refused {len(refused)} messages (first: {refused[0][:1]})")
    for kind, message in _WEBHOOK_MESSAGE.items():
        if accepted.get(message, 0) != answered.get(kind, 0):
            problems.append(
                f"{answered.get(kind, 0)} {kind} webhook ids, but {accepted.get(message, 0)} {message} "
                "messages reached Alexa"
            )
    return problems


def lost_writes(
    stack: LocalStack, accounts: list[Account], statuses: Mapping[str, list[int]], kinds: Mapping[str, str]
) -> list[str]:
    """Every invariant the stored state and the Event Gateway must satisfy after the load."""
    import lambda_handler
    from models import store
    from skill.privacy import pseudonyms

    received = stack.gateway.received()
    problems = answer_problems(statuses) + delivery_problems(
        Counter(r.message["event"]["header"]["name"] for r in received if r.accepted),
        [r.errors for r in received if not r.accepted],
        Counter(kinds[event_id] for event_id in statuses),
    )
    claims = _dedupe_claims()
    if claims != len(statuses):
        problems.append(f"{len(statuses)} webhook ids answered, but {claims} dedupe claims stored")
    for account in accounts:
        user_key = pseudonyms.user_key(account.user_id)
        answer = lambda_handler.handler(directives.discover(account.token), None)
        listed = {e["endpointId"] for e in answer["event"]["payload"]["endpoints"]}
        indexed = set(store.endpoint_index(user_key))
        if not (indexed == listed == set(account.endpoints)):
            problems.append(f"{account.username}: endpoint index has {len(indexed)}, devices {len(listed)}")
        links = store.links_of(user_key)
        if len(links) != 1 or not links[0].has_grant or not links[0].events_permitted:
            problems.append(f"{account.username}: the account link or its grant is gone")
    return problems


def _dedupe_claims() -> int:
    from skill import aws
    from skill.config import settings

    client = aws.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": settings().table_name,
        "ConsistentRead": True,
        "FilterExpression": "begins_with(pk, :dedupe)",
        "ExpressionAttributeValues": {":dedupe": {"S": "dedupe#"}},
        "Select": "COUNT",
    }
    count = 0
    while True:
        page = client.scan(**request)
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            return count
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- running it -------------------------------------------------------------------------------------


def execute(
    events: int = DEFAULT_EVENTS,
    processes: int = DEFAULT_PROCESSES,
    mix: str = DEFAULT_MIX,
    *,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    validate_all: bool = False,
    seed: int = 1,
) -> LoadReport:
    """Start the stack, link the accounts, run the load from ``processes`` workers, check, report."""
    import logging
    import multiprocessing

    from devstack.stack import LocalStack

    if not 1 <= events <= MAX_EVENTS:
        raise ValueError(f"--events must be between 1 and {MAX_EVENTS}")
    if not 1 <= processes <= MAX_PROCESSES:
        raise ValueError(f"--processes must be between 1 and {MAX_PROCESSES}")
    weights = parse_mix(mix)
    began = time.monotonic()
    skill_log = logging.getLogger("skill")
    saved_level = skill_log.level
    households = load_seed()
    with serialized_moto(), partition_scoped_queries(), LocalStack(webrtc=False, seed=households) as stack:
        skill_log.setLevel(logging.WARNING)  # setup and checks would log every request at INFO
        sampled = None if validate_all else SampledSchemas(stack.gateway.schemas)
        if sampled is not None:
            stack.gateway.schemas = sampled
        try:
            accounts = link_accounts(stack, [user.username for user in households.users])
            shards = plan(accounts, events, weights, processes, seed)
            kinds = {w.event_id: w.kind for shard in shards for w in shard if w.event_id}
            context = multiprocessing.get_context("spawn")  # a fresh interpreter, like a new container
            barrier, results, answered = context.Barrier(processes), context.Queue(), context.Value("q", 0)
            secret = stack.webhook_secret.encode()
            deadline = time.time() + max_seconds
            workers = [
                context.Process(
                    target=_worker,
                    args=(shard, accounts, stack.env(), secret, deadline, barrier, results, answered),
                    daemon=True,
                )
                for shard in shards
            ]
            for worker in workers:
                worker.start()
            collected = _collect(results, len(workers), answered, events, max_seconds + 180)
            for worker in workers:
                worker.join(timeout=30)
            report = _report(stack, accounts, shards, kinds, collected, events, processes, began)
            report.schema_checked = report.gateway_received if sampled is None else sampled.checked
            return report
        finally:
            skill_log.setLevel(saved_level)


def _collect(results: Any, count: int, answered: Any, events: int, timeout: float) -> list[dict[str, Any]]:
    """Each worker's result, while a progress bar (on a terminal only) counts the answered requests."""
    import queue

    from devstack.progress import bar

    collected: list[dict[str, Any]] = []
    give_up = time.monotonic() + timeout
    with bar(events, "load", unit="req") as progress:
        while len(collected) < count:
            try:
                collected.append(results.get(timeout=0.2))
            except queue.Empty:
                if time.monotonic() > give_up:
                    raise
            progress.update(answered.value - progress.n)
        progress.refresh()  # tqdm skips draws within its mininterval: the last count is always shown
    return collected


def _report(
    stack: LocalStack,
    accounts: list[Account],
    shards: list[list[Work]],
    kinds: Mapping[str, str],
    collected: list[dict[str, Any]],
    events: int,
    processes: int,
    began: float,
) -> LoadReport:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    statuses: dict[str, list[int]] = defaultdict(list)
    samples: list[str] = []
    for part in collected:
        for kind, values in part["latencies"].items():
            latencies[kind] += values
        errors.update(part["errors"])
        for event_id, answers in part["webhook_statuses"].items():
            statuses[event_id] += answers
        samples += part["error_samples"] + ([part["failure"]] if part["failure"] else [])
    starts = [p["started"] for p in collected if p["started"]]
    ends = [p["finished"] for p in collected if p["finished"]]
    wall = max(ends) - min(starts) if starts and ends else 0.0
    sent_webhooks = sum(1 for shard in shards for w in shard if w.event_id)
    return LoadReport(
        events=events,
        processes=processes,
        wall_seconds=wall,
        total_seconds=time.monotonic() - began,
        kinds={k: _stats(latencies[k], errors[k]) for k in KINDS if latencies[k] or errors[k]},
        error_samples=samples[:_ERROR_SAMPLES],
        lost_writes=lost_writes(stack, accounts, statuses, kinds),
        unfinished=events - sum(len(v) for v in latencies.values()),  # a crashed worker's share too
        webhook_ids=len(kinds),
        redeliveries=sent_webhooks - len(kinds),
        gateway_messages=dict(Counter(m["event"]["header"]["name"] for m in stack.gateway.messages())),
        gateway_received=len(stack.gateway.received()),
    )


# --- the command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help=f"requests in total (default {DEFAULT_EVENTS})"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help=f"worker processes, each one warm container (default {DEFAULT_PROCESSES})",
    )
    parser.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help=f"weights per kind, kinds: {', '.join(KINDS)} (default {DEFAULT_MIX})",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help=f"stop sending after this many seconds; the unsent fail the run ({DEFAULT_MAX_SECONDS:.0f})",
    )
    parser.add_argument(
        "--validate-all",
        action="store_true",
        help="check every Event Gateway message against Alexa's schema, not a sample (much slower)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    """``zosi-skill local load``: 0 when the run had no errors and no lost writes, else 1."""
    try:
        report = execute(
            args.events,
            args.processes,
            args.mix,
            max_seconds=args.max_seconds,
            validate_all=args.validate_all,
        )
    except ValueError as exc:
        print(f"zosi-skill: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_json(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1
