"""Alexa.ReportState: the endpoint's connectivity (Alexa.EndpointHealth) as ACCloud sees it now."""

from __future__ import annotations

from typing import Any

from skill.alexa import capabilities, messages
from skill.alexa.errors import NoSuchEndpoint
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles


@handles("Alexa", "ReportState")
def report_state(ctx: DirectiveContext) -> dict[str, Any]:
    device_id = ctx.device_id()
    device = next((d for d in ctx.cloud.devices(ctx.token) if d.id == device_id), None)
    if device is None:
        raise NoSuchEndpoint("device no longer on this account")
    now = messages.utc_now()
    properties = [p for c in capabilities.for_device(device) for p in c.state(device, now)]
    return messages.response(ctx.directive, name="StateReport", properties=properties)
