"""The one runner of the Smart Home case tables (tests/smarthome/cases/): every case's directive
through lambda_handler.handler against the reference ACCloud, its answer checked the same way."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from devstack import directives
from tests.smarthome.cases import (
    Case,
    World,
    alexa,
    authorization,
    camera_stream,
    data_controller,
    dig,
    discovery,
    object_detection,
    rtc,
)
from tests.smarthome.conftest import discover, invoke

TABLES = [discovery, camera_stream, rtc, object_detection, data_controller, alexa, authorization]
CASES = [case for table in TABLES for case in table.CASES]
IDS = [f"{table.__name__.rsplit('.', 1)[-1]}: {case.id}" for table in TABLES for case in table.CASES]


def test_case_ids_are_unique() -> None:
    assert len(IDS) == len(set(IDS)), sorted(i for i in IDS if IDS.count(i) > 1)


def event_of(case: Case, world: World) -> dict[str, Any]:
    send = case.send
    if send.raw is not None:
        return copy.deepcopy(send.raw)
    token = send.token(world) if send.token else world.tokens[send.caller]
    payload = send.payload(world) if callable(send.payload) else send.payload
    event = directives.directive(
        send.namespace,
        send.name,
        token,
        endpoint=world.endpoint if send.camera else None,
        payload=copy.deepcopy(dict(payload)) if payload is not None else None,
        payload_version=send.payload_version,
        instance=send.instance,
    )
    if send.mutate is not None:
        send.mutate(event)
    return event


def check_answer(case: Case, world: World) -> None:
    expect, answer = case.expect, world.answer
    header = answer["event"]["header"]
    assert (header["namespace"], header["name"]) == (expect.namespace, expect.name), answer
    if expect.error is not None:
        assert answer["event"]["payload"]["type"] == expect.error, answer
    for path, value in expect.fields.items():
        assert dig(answer, path) == value, path
    if expect.check is not None:
        expect.check(world)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_case(case: Case, accloud, tokens, alexa_schema, canned_server, monkeypatch, caplog, request) -> None:
    world = World(accloud, tokens, alexa_schema, canned_server, monkeypatch, caplog, camera=case.send.camera)
    if "lwa" in case.uses:
        world.lwa = request.getfixturevalue("lwa_server")
    if case.seed is not None:
        case.seed(world)
    if case.send.camera is not None:
        world.endpoints = discover(tokens["alice"], alexa_schema)
    try:
        if case.given is not None:
            case.given(world)
        world.event = event_of(case, world)
        world.canned_before = canned_server.requests
        with caplog.at_level(logging.DEBUG):
            # schema, correlationToken echo, payloadVersion, UUID4 messageId
            world.answer = invoke(world.event, alexa_schema, case.expect.payload_version)
    finally:
        accloud.clear_faults()
    check_answer(case, world)
