"""Which stored account links belong to the Alexa account behind a request or skill event.

Two ways to know: the keyed hash of the Alexa userId, recorded on the link at
SkillAccountLinked and found through the ``by_alexa_user`` index (no ACCloud call, works
without an access token, but the index is eventually consistent and misses links made before
the skill subscribed to the event); and the access token, which ACCloud resolves to the user
and the link (``/v1/me``). Erasure and access use both.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from models import store
from models.store import LinkRef
from skill.cloud import contract, users
from skill.cloud.client import HttpCameraCloud
from skill.config import settings
from skill.privacy import pseudonyms
from skill.privacy.logs import log

_log = logging.getLogger(__name__)

# The apiEndpoint Alexa puts in every envelope names the customer's Alexa region.
_REGION_BY_API_HOST = {
    "api.amazonalexa.com": "NA",
    "api.eu.amazonalexa.com": "EU",
    "api.fe.amazonalexa.com": "FE",
}


def alexa_region(api_endpoint: str | None) -> str:
    """NA/EU/FE from the envelope's apiEndpoint; the deployment's home region (the one AcceptGrant
    assumes too) if it is absent, unknown or no URL at all. Never raises: the caller is recording
    a link, which must not fail over a field that only picks the Event Gateway."""
    try:
        host = urlsplit(api_endpoint).hostname if api_endpoint else None
    except ValueError:  # e.g. an unclosed "[" in the authority, or characters NFKC makes delimiters
        host = None
    return _REGION_BY_API_HOST.get(host or "", settings().home_alexa_region())


def resolve_token(
    token: str, cloud: contract.CameraCloud | None = None, *, verify: bool = True
) -> contract.CloudUser:
    """The ACCloud user of an access token, as ACCloud answers now (``verify``: these flows link,
    read or erase stored data, so a revoked token must fail at once); a rejected token is dropped
    from the cache."""
    cloud = cloud or HttpCameraCloud()  # its own deadline: connect plus read timeout
    try:
        return users.resolve(cloud, token, verify=verify)
    except (contract.InvalidToken, contract.ExpiredToken):
        users.forget(token)
        raise


def link_of(user: contract.CloudUser) -> LinkRef:
    return LinkRef(pseudonyms.user_key(user.user_id), pseudonyms.link_key(user.link_id))


def links_of_alexa_user(
    alexa_user_id: str | None, token: str | None, cloud: contract.CameraCloud | None = None
) -> list[LinkRef]:
    """Links recorded for the Alexa user, plus the link of ``token`` when there is one.

    A token ACCloud rejects adds nothing. If ACCloud is unreachable the index answer is enough
    when it found something; otherwise the failure is raised (the caller cannot know the user).
    """
    found: set[LinkRef] = set()
    if alexa_user_id:
        found.update(store.find_links_by_alexa_user(pseudonyms.alexa_user_key(alexa_user_id)))
    if token:
        try:
            found.add(link_of(resolve_token(token, cloud)))
        except (contract.InvalidToken, contract.ExpiredToken):
            log(_log, logging.INFO, "access token not accepted by ACCloud; using the index only")
        except contract.CloudError:
            if not found:
                raise
            log(_log, logging.WARNING, "ACCloud unavailable; using the index only")
    return sorted(found, key=lambda ref: (ref.user_key, ref.link_key))
