"""Alexa.Discovery: one endpoint per camera, doorbell and NVR channel of the caller."""

from __future__ import annotations

import logging
from typing import Any

from skill.alexa import endpoints, messages
from skill.privacy import pseudonyms
from skill.privacy.logs import log
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles

_log = logging.getLogger(__name__)


def discover_endpoints(ctx: DirectiveContext) -> list[tuple[dict[str, Any], str]]:
    """(endpoint, capability digest) for each of the caller's devices Alexa can be told about."""
    user = ctx.user()
    devices, dropped = endpoints.select(ctx.cloud.devices(ctx.token))
    if dropped:
        log(_log, logging.WARNING, "account exceeds Alexa's endpoint limit", dropped=dropped)
    describe = endpoints.DescribeMany(user.user_id)
    described, nameless = [], []
    for device in devices:
        try:
            described.append(describe(device))
        except endpoints.UndescribableDevice:  # its name has no letter or digit
            nameless.append(device)
        except ValueError as exc:
            log(_log, logging.WARNING, "skipped undescribable device", reason=str(exc), kind=device.kind)
    if nameless:  # rare: only then are the account's names compared to number the fallbacks
        describe.fallbacks = endpoints.fallback_names(devices)
        for device in nameless:
            log(_log, logging.WARNING, "device without a usable name given a fallback name", kind=device.kind)
            try:
                described.append(describe(device))
            except ValueError as exc:
                log(_log, logging.WARNING, "skipped undescribable device", reason=str(exc), kind=device.kind)
    return described


def remember_endpoints(user_id: str, described: list[tuple[dict[str, Any], str]]) -> int:
    """Keep the stored endpoint index (for webhook-driven Add/DeleteReports) in step with what
    Alexa now knows. Only for accounts the skill already holds a link for: discovery alone
    never creates a record of a user. Round trips: 1 Query + the writes the diff needs.

    The read is ``models.endpoint_index`` (digests only, no pynamodb: a steady discovery, the
    common case, neither imports pynamodb nor builds a model per endpoint); the capability
    digest covers the display categories, so equal digests mean an unchanged record.
    """
    from models.endpoint_index import read_digests

    user_key = pseudonyms.user_key(user_id)
    view = read_digests(user_key)
    if not view.linked:
        return 0
    current = {endpoint["endpointId"]: (endpoint, digest) for endpoint, digest in described}
    changed = [k for k, (_, digest) in current.items() if view.digests.get(k) != digest]
    removals = [k for k in view.digests if k not in current]
    if not changed and not removals:
        return 0
    from models import store

    upserts = {
        k: store.EndpointRecord(
            tuple(current[k][0]["displayCategories"]), current[k][1], endpoints.interfaces_of(current[k][0])
        )
        for k in changed
    }
    return store.apply_endpoint_diff(user_key, upserts=upserts, removals=removals)


@handles("Alexa.Discovery", "Discover")
def discover(ctx: DirectiveContext) -> dict[str, Any]:
    described = discover_endpoints(ctx)
    try:
        written = remember_endpoints(ctx.user().user_id, described)
    # The answer to Alexa matters more than the index; the next run catches up. That includes
    # models.errors.ErasedDuringRequest: the user was erased meanwhile, and nothing may be indexed.
    except Exception as exc:
        written = 0
        log(_log, logging.WARNING, "endpoint index not updated", error_code=type(exc).__name__)
    log(_log, logging.INFO, "discovery answered", endpoints=len(described), index_writes=written)
    return messages.response(
        ctx.directive,
        namespace="Alexa.Discovery",
        name="Discover.Response",
        payload={"endpoints": [endpoint for endpoint, _ in described]},
        with_endpoint=False,
    )
