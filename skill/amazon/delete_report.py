"""DeleteReport: telling Alexa which endpoints are gone, for every link that takes events.

Here, not in skill.proactive, because the erasure paths of every side (voice, skill events, the
Event Gateway's 403, the retention job, the operator CLI) send it, and sides never import each other.
"""

from __future__ import annotations

import contextvars
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from skill.alexa import messages
from skill.amazon.gateway import Deadline, Delivery, GatewayClient, MessageBuilder, Recipient

DELETE_REPORT_CHUNK = 300  # Alexa's maximum endpoints per report
DELETE_REPORT_SECONDS = 3.0  # outside a webhook (voice, CLI, retention): keep the caller responsive
MAX_PARALLEL_LINKS = 4


def delete_report(endpoint_ids: list[str]) -> MessageBuilder:
    return partial(messages.delete_report, endpoint_ids=endpoint_ids)


def send_delete_report(
    user_key: str,
    *,
    view: Any = None,
    client: GatewayClient | None = None,
    deadline: Deadline | None = None,
    only_links: Collection[str] | None = None,
) -> list[Delivery]:
    """DeleteReport of every indexed endpoint to every link that takes events (or only those of
    ``only_links``: one Alexa account's link erased alone, unidentified links erased along).

    The DeleteReport sender of ``skill.privacy.erasure``: called before a partition or link is
    erased while the skill stays enabled for it (voice "delete my data", operator CLI, ACCloud
    account.deleted, the retention job), so the Alexa app stops showing cameras the skill no
    longer knows for that Alexa account.
    """
    from models import store

    view = view if view is not None else store.account_view(user_key)
    client = client or GatewayClient()
    deadline = deadline or client.deadline(DELETE_REPORT_SECONDS)
    links = [link for link in view.links if only_links is None or link.link_key in only_links]
    recipients = link_recipients(user_key, links)
    deliveries: list[Delivery] = []
    if recipients:
        for chunk in _chunks(sorted(view.endpoints), DELETE_REPORT_CHUNK):
            deliveries.extend(send_all(recipients, delete_report(chunk), client, deadline))
    return deliveries


def link_recipients(user_key: str, links: Iterable[Any]) -> list[Recipient]:
    return [Recipient(user_key, link.link_key, link.region, link) for link in links if link.events_permitted]


def send_all(
    recipients: list[Recipient], build: MessageBuilder, client: GatewayClient, deadline: Deadline
) -> list[Delivery]:
    """One message per link, links in parallel so one slow region cannot starve the others."""
    if len(recipients) == 1:
        return [client.deliver(recipients[0], build, deadline)]
    context = contextvars.copy_context()  # keep the log correlation id in the worker threads
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_LINKS, len(recipients))) as pool:
        return list(pool.map(lambda r: context.copy().run(client.deliver, r, build, deadline), recipients))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
