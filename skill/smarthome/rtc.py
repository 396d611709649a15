"""Alexa.RTCSessionController: WebRTC live view, Amazon's recommended path (and the only one
with two-way audio, and with the doorbell live feed popping up on an Echo Show).

The skill only relays signalling: the SDP offer goes to ACCloud, whose camera-side peer
answers with every ICE candidate included (Alexa does not trickle). Stateless: no database
read or write on the offer path; SDP is never logged or stored.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from skill.alexa import messages
from skill.alexa.errors import InvalidDirective
from skill.cloud import contract
from skill.privacy.logs import log
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles

_log = logging.getLogger(__name__)

NAMESPACE = "Alexa.RTCSessionController"
MAX_SDP_BYTES = 64 * 1024
# "." and ".." are excluded: in ACCloud's URL path they are dot-segments naming another resource.
_SESSION_ID = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._:\-]{1,128}")


def session_id(payload: dict[str, Any]) -> str:
    value = payload.get("sessionId")
    if not isinstance(value, str) or not _SESSION_ID.fullmatch(value):
        raise InvalidDirective("sessionId missing or malformed")
    return value


def offer_sdp(payload: dict[str, Any]) -> str:
    offer = payload.get("offer")
    if not isinstance(offer, dict) or str(offer.get("format", "")).upper() != "SDP":
        raise InvalidDirective("offer must be SDP")
    value = offer.get("value")
    if not isinstance(value, str) or not value.startswith("v=0"):
        raise InvalidDirective("offer SDP malformed")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates (a JSON "\\ud800" escape): not text at all
        raise InvalidDirective("offer SDP malformed") from None
    if size > MAX_SDP_BYTES:
        raise InvalidDirective("offer SDP malformed")
    return value


@handles(NAMESPACE, "InitiateSessionWithOffer")
def initiate_session_with_offer(ctx: DirectiveContext) -> dict[str, Any]:
    payload = ctx.directive.payload
    session, offer = session_id(payload), offer_sdp(payload)
    answer = ctx.cloud.rtc_offer(ctx.token, ctx.device_id(), session, offer)
    return messages.response(
        ctx.directive,
        namespace=NAMESPACE,
        name="AnswerGeneratedForSession",
        payload={"answer": {"format": "SDP", "value": answer}},
    )


@handles(NAMESPACE, "SessionConnected")
def session_connected(ctx: DirectiveContext) -> dict[str, Any]:
    session = session_id(ctx.directive.payload)
    device = ctx.device_id()  # a foreign or unknown endpointId is NO_SUCH_ENDPOINT before ACCloud is asked
    try:
        ctx.cloud.rtc_connected(ctx.token, device, session)
    except contract.NotFound:
        # SessionConnected only tells us Alexa's side is up; ACCloud's 404 here is mostly a session it
        # dropped (expired, restarted), not a camera that is gone. NO_SUCH_ENDPOINT would tell Alexa
        # the camera is gone; a dead session is ended by Alexa's media path (SessionDisconnected).
        log(_log, logging.INFO, "SessionConnected for a session ACCloud does not know; acknowledged")
    return messages.response(
        ctx.directive, namespace=NAMESPACE, name="SessionConnected", payload={"sessionId": session}
    )


@handles(NAMESPACE, "SessionDisconnected")
def session_disconnected(ctx: DirectiveContext) -> dict[str, Any]:
    session = session_id(ctx.directive.payload)
    ctx.cloud.rtc_disconnected(ctx.token, ctx.device_id(), session)
    return messages.response(
        ctx.directive, namespace=NAMESPACE, name="SessionDisconnected", payload={"sessionId": session}
    )
