"""The events Alexa, API Gateway and ACCloud hand the function, built like the real ones."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from devstack import directives
from devstack.directives import accept_grant, discover, initialize_streams, report_state

__all__ = ["accept_grant", "discover", "initialize_streams", "report_state"]

# A small but well-formed WebRTC offer; the benchmark's ACCloud answers it without a real peer.
OFFER_SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"
)
ANSWER_SDP = OFFER_SDP.replace("recvonly", "sendonly")


# The directive builders live in devstack/directives.py (the scale child finds devstack on the
# bench root it appends to sys.path); these names keep the benchmark's calls short.
def offer(token: str, endpoint: dict[str, Any]) -> dict[str, Any]:
    return directives.offer(token, endpoint, OFFER_SDP)


def doorbell_press(secret: str, user_id: str, device_id: str) -> dict[str, Any]:
    """The API Gateway HTTP API (payload 2.0) event of a signed, fresh ACCloud doorbell webhook."""
    body = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "doorbell.pressed",
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "user_id": user_id,
        "device_id": device_id,
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    t = str(int(time.time()))
    signature = hmac.new(secret.encode(), t.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/accloud",
        "rawPath": "/webhooks/accloud",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-accloud-signature": f"t={t},v1={signature}"},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/accloud", "sourceIp": "127.0.0.1"}},
        "body": raw.decode(),
        "isBase64Encoded": False,
    }


def launch(
    token: str, alexa_user_id: str = "amzn1.ask.account.BENCH", locale: str = "en-US"
) -> dict[str, Any]:
    """A custom-skill LaunchRequest envelope from a linked account, for the local stack's skill id."""
    from devstack.stack import LOCAL_SKILL_ID

    user = {"userId": alexa_user_id, "accessToken": token}
    application = {"applicationId": LOCAL_SKILL_ID}
    return {
        "version": "1.0",
        "session": {
            "new": True,
            "sessionId": f"amzn1.echo-api.session.{uuid.uuid4()}",
            "application": application,
            "attributes": {},
            "user": user,
        },
        "context": {
            "System": {
                "application": application,
                "user": user,
                "device": {"deviceId": "amzn1.ask.device.BENCH", "supportedInterfaces": {}},
                "apiEndpoint": "https://api.amazonalexa.com",
                "apiAccessToken": "bench-alexa-api-token",
            }
        },
        "request": {
            "type": "LaunchRequest",
            "requestId": f"amzn1.echo-api.request.{uuid.uuid4()}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "locale": locale,
            "shouldLinkResultBeReturned": False,
        },
    }
