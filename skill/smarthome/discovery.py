"""Alexa.Discovery: one endpoint per camera, doorbell and NVR channel of the caller."""

from __future__ import annotations

import logging
from typing import Any

from skill.privacy import pseudonyms
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


def remember_endpoints(user_id: str, described: list[dict[str, Any]]) -> int:
    """Keep the stored endpoint index (for webhook-driven Add/DeleteReports) in step with what
    Alexa now knows. Only for accounts the skill already holds a link for: discovery alone
    never creates a record of a user. Round trips: 1 Query + the writes the diff needs.
    """
    from models import store

    view = store.account_view(pseudonyms.user_key(user_id))
    if not view.links:
        return 0
    current = {
        e["endpointId"]: store.EndpointRecord(tuple(e["displayCategories"]), endpoints.capability_digest(e))
        for e in described
    }
    upserts = {k: v for k, v in current.items() if view.endpoints.get(k) != v}
    removals = [k for k in view.endpoints if k not in current]
    if not upserts and not removals:
        return 0
    return store.apply_endpoint_diff(pseudonyms.user_key(user_id), upserts=upserts, removals=removals)


@handles("Alexa.Discovery", "Discover")
def discover(ctx: DirectiveContext) -> dict[str, Any]:
    described = discover_endpoints(ctx)
    try:
        written = remember_endpoints(ctx.user().user_id, described)
    except Exception as exc:  # the answer to Alexa matters more than the index; the next run catches up
        written = 0
        log(_log, logging.WARNING, "endpoint index not updated", error_code=type(exc).__name__)
    log(_log, logging.INFO, "discovery answered", endpoints=len(described), index_writes=written)
    return messages.response(
        ctx.directive,
        namespace="Alexa.Discovery",
        name="Discover.Response",
        payload={"endpoints": described},
        with_endpoint=False,
    )
