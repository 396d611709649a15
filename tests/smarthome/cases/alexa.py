"""Alexa.ReportState (with Alexa.EndpointHealth's connectivity), and envelopes too broken to name
an interface: Alexa's generic INVALID_DIRECTIVE."""

from __future__ import annotations

from collections.abc import Callable

from devstack import demo_data
from tests.smarthome.cases import Case, Expect, Send, World, error


def connectivity(value: str) -> Callable[[World], None]:
    def check(world: World) -> None:
        (prop,) = [p for p in world.answer["context"]["properties"] if p["name"] == "connectivity"]
        assert prop["value"] == {"value": value}

    return check


def report_state(camera: str) -> Send:
    return Send("Alexa", "ReportState", camera=camera)


GARBAGE = {
    "directive None": {"directive": None},
    "header not an object": {"directive": {"header": "x"}},
    "directive empty": {"directive": {}},
}

CASES = [
    *(
        Case(f"ReportState: {camera}", report_state(camera), Expect("StateReport", check=connectivity(value)))
        for camera, value in [("Garage", "OK"), ("Shed", "UNREACHABLE"), ("Nursery", "OK")]
    ),
    Case(
        "ReportState of a removed device",
        report_state("Garage"),
        error("NO_SUCH_ENDPOINT"),
        given=lambda world: world.accloud.remove_device(demo_data.GARAGE),
    ),
    *(
        Case(f"garbage envelope: {label}", Send("", "", raw=event), error("INVALID_DIRECTIVE"))
        for label, event in GARBAGE.items()
    ),
]
