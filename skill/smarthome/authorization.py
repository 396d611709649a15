"""Alexa.Authorization.AcceptGrant: the user allowed the skill to send proactive events.

The code is exchanged with LWA at once, within the directive's time minus
``STORE_RESERVE_SECONDS``; grant and profile are stored in one fenced transaction before
AcceptGrant.Response goes out, so any failure answers ACCEPT_GRANT_FAILED and stores nothing.
Details: docs/architecture.md, "Grants".
"""

from __future__ import annotations

import logging
from typing import Any

from skill.alexa import messages
from skill.alexa.errors import AcceptGrantFailed
from skill.config import settings
from skill.privacy import pseudonyms
from skill.privacy.logs import log
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles

NAMESPACE = "Alexa.Authorization"
STORE_RESERVE_SECONDS = 1.0  # storing the grant: a KMS data key and one DynamoDB transaction, warm
_log = logging.getLogger(__name__)


def grant_code(payload: dict[str, Any]) -> str:
    grant = payload.get("grant")
    if not isinstance(grant, dict) or grant.get("type") != "OAuth2.AuthorizationCode":
        raise AcceptGrantFailed("grant must be an OAuth2 authorization code")
    code = grant.get("code")
    if not isinstance(code, str) or not code or len(code) > 2048:
        raise AcceptGrantFailed("grant code missing")
    return code


@handles(NAMESPACE, "AcceptGrant")
def accept_grant(ctx: DirectiveContext) -> dict[str, Any]:
    from models import store
    from skill.amazon import grants, lwa
    from skill.privacy import envelope

    code = grant_code(ctx.directive.payload)
    user = ctx.verified_user()  # a grant is created: ACCloud confirms the token now, not a cache
    user_key, link_key = pseudonyms.user_key(user.user_id), pseudonyms.link_key(user.link_id)
    config = settings()
    region = config.home_alexa_region()
    try:
        tokens = lwa.exchange_code(code, time_left=ctx.deadline.remaining() - STORE_RESERVE_SECONDS)
        # The grant, the link and the profile in one transaction: a failure leaves nothing behind.
        grants.store_grant(user_key, link_key, tokens, region, policy_version=config.policy_version)
    except (lwa.LwaError, envelope.EnvelopeError, store.StoreUnavailable) as exc:
        log(_log, logging.WARNING, "grant not accepted", error_code=type(exc).__name__)
        raise AcceptGrantFailed(f"grant could not be stored: {type(exc).__name__}") from None
    log(_log, logging.INFO, "grant accepted", region=region, user=pseudonyms.log_key(user_key))
    return messages.response(
        ctx.directive, namespace=NAMESPACE, name="AcceptGrant.Response", with_endpoint=False
    )
