"""Alexa.Discovery: one endpoint per camera, doorbell and NVR channel of the caller."""

from __future__ import annotations

import logging
from typing import Any

from skill.privacy.logs import log
from skill.smarthome import endpoints, messages
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles

_log = logging.getLogger(__name__)


def discover_endpoints(ctx: DirectiveContext) -> list[dict[str, Any]]:
    user = ctx.user()
    devices, dropped = endpoints.select(ctx.cloud.devices(ctx.token))
    if dropped:
        log(_log, logging.WARNING, "account exceeds Alexa's endpoint limit", dropped=dropped)
    described = []
    for device in devices:
        try:
            described.append(endpoints.describe(user.user_id, device))
        except (endpoints.UndescribableDevice, ValueError) as exc:
            log(_log, logging.WARNING, "skipped undescribable device", reason=str(exc), kind=device.kind)
    return described


@handles("Alexa.Discovery", "Discover")
def discover(ctx: DirectiveContext) -> dict[str, Any]:
    described = discover_endpoints(ctx)
    log(_log, logging.INFO, "discovery answered", endpoints=len(described))
    return messages.response(
        ctx.directive,
        namespace="Alexa.Discovery",
        name="Discover.Response",
        payload={"endpoints": described},
        with_endpoint=False,
    )
