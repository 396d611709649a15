"""The device API of the contract: /v1/me, /v1/devices, stream minting and WebRTC signalling,
with its 404 / 409 / 422 rules and RFC 6750 bearer errors."""

from __future__ import annotations

import logging
import re

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.accloud.state import AccessToken, Link, WebRtcUnavailable, rfc3339
from devstack.accloud.web import REALM, ApiError, Endpoints, is_int, json_object, json_response, no_content
from devstack.demo_data import Profile

log = logging.getLogger(__name__)

# Alexa's sessionId is any string; it travels in a URL path segment, so no "/" and no controls.
_SESSION_ID = re.compile(r"[^/\x00-\x1f\x7f]{1,256}")

ROUTES = (
    Rule("/v1/me", endpoint="me", methods=["GET"]),
    Rule("/v1/devices", endpoint="devices", methods=["GET"]),
    Rule("/v1/devices/<device_id>/streams", endpoint="stream", methods=["POST"]),
    Rule("/v1/devices/<device_id>/detections", endpoint="detections", methods=["GET"]),
    Rule("/v1/devices/<device_id>/detections/delete", endpoint="detections_delete", methods=["POST"]),
    Rule("/v1/devices/<device_id>/webrtc/sessions", endpoint="rtc_offer", methods=["POST"]),
    Rule(
        "/v1/devices/<device_id>/webrtc/sessions/<session_id>/connected",
        endpoint="rtc_connected",
        methods=["POST"],
    ),
    Rule("/v1/devices/<device_id>/webrtc/sessions/<session_id>", endpoint="rtc_close", methods=["DELETE"]),
)


class DeviceApi(Endpoints):
    """The bearer-token endpoints under /v1/."""

    def _bearer(self, request: Request) -> tuple[Link, AccessToken]:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "invalid_request",
                "bearer token missing",
                {"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
        return self.cloud.authenticate(token.strip())

    def on_me(self, request: Request) -> Response:
        link, token = self._bearer(request)
        user = self.cloud.users_by_id[link.user_id]
        body = {
            "user_id": user.user_id,
            "link_id": link.link_id,
            "token_expires_at": rfc3339(token.expires_at),
            "nickname": user.nickname,
            "email": user.email,
            "phone": user.phone,
        }
        for key, value in user.extra.items():
            body.setdefault(key, value)
        return json_response(200, body)

    def on_devices(self, request: Request) -> Response:
        link, _ = self._bearer(request)
        return json_response(200, {"devices": self.cloud.devices_wire(link.user_id)})

    def on_stream(self, request: Request, device_id: str) -> Response:
        link, _ = self._bearer(request)
        device = self.cloud.owned_device(link.user_id, device_id)
        body = json_object(request)
        keys = ("protocol", "width", "height", "video_codec", "audio_codec")
        if not all(k in body for k in keys) or not (is_int(body["width"]) and is_int(body["height"])):
            raise ApiError(
                400, "invalid_request", "protocol, width, height, video_codec, audio_codec required"
            )
        if not all(isinstance(body[k], str) for k in ("protocol", "video_codec", "audio_codec")):
            raise ApiError(400, "invalid_request", "protocol and codecs must be strings")
        wanted = Profile(*(body[k] for k in keys))
        # URIs are for RTSP; WebRTC goes through signalling, so it is never a mintable profile here.
        if wanted.protocol != "RTSP" or not device.has_profile(wanted):
            raise ApiError(422, "unsupported_profile", "the device does not stream this profile")
        if (unavailable := self.cloud.unavailable_reason(device_id)) is not None:
            raise unavailable
        return json_response(201, self.cloud.mint_stream(link.user_id, device_id, wanted))

    # detection history (devstack/accloud/detections.py)

    def on_detections(self, request: Request, device_id: str) -> Response:
        link, _ = self._bearer(request)
        self.cloud.owned_device(link.user_id, device_id)
        return json_response(*self.server.detections.list_page(device_id, request.args))

    def on_detections_delete(self, request: Request, device_id: str) -> Response:
        link, _ = self._bearer(request)
        self.cloud.owned_device(link.user_id, device_id)
        return json_response(*self.server.detections.delete(device_id, json_object(request)))

    def on_rtc_offer(self, request: Request, device_id: str) -> Response:
        link, _ = self._bearer(request)
        device = self.cloud.owned_device(link.user_id, device_id)
        body = json_object(request)
        session_id, offer = body.get("session_id"), body.get("offer_sdp")
        if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
            raise ApiError(400, "invalid_request", "session_id must be 1-256 characters without '/'")
        if not isinstance(offer, str) or not offer.startswith("v=0"):
            raise ApiError(400, "invalid_request", "offer_sdp must be an SDP offer")
        if not device.webrtc:
            raise ApiError(422, "unsupported_profile", "the device does not stream WebRTC")
        if (unavailable := self.cloud.unavailable_reason(device_id)) is not None:
            raise unavailable
        answerer = self.server.answerer
        replaced = self.cloud.drop_session(device_id, session_id)
        if replaced is not None:
            self.server._close_quietly(session_id)
        try:
            answer = answerer.answer(session_id, offer, device)
        except WebRtcUnavailable:
            raise ApiError(501, "webrtc_unavailable", "WebRTC is not available for this device") from None
        except ValueError:
            raise ApiError(400, "invalid_request", "the offer could not be answered") from None
        except TimeoutError:
            raise ApiError(504, "upstream_timeout", "the camera did not answer in time") from None
        except Exception as exc:  # any other peer failure is the camera side's, never the caller's
            log.warning("WebRTC answerer failed: %s", type(exc).__name__)
            raise ApiError(502, "webrtc_failed", "the camera could not answer the offer") from None
        self.cloud.add_session(link.user_id, device_id, session_id)
        return json_response(201, {"session_id": session_id, "answer_sdp": answer})

    def on_rtc_connected(self, request: Request, device_id: str, session_id: str) -> Response:
        link, _ = self._bearer(request)
        self.cloud.owned_device(link.user_id, device_id)
        if self.cloud.session(device_id, session_id) is None:
            raise ApiError(404, "not_found", "no such session")
        if (unavailable := self.cloud.unavailable_reason(device_id)) is not None:
            raise unavailable
        self.server.answerer.connected(session_id)
        self.cloud.mark_connected(device_id, session_id)
        return no_content()

    def on_rtc_close(self, request: Request, device_id: str, session_id: str) -> Response:
        link, _ = self._bearer(request)
        self.cloud.owned_device(link.user_id, device_id)
        # Idempotent: tearing down an unknown or already closed session is not an error.
        if self.cloud.drop_session(device_id, session_id) is not None:
            self.server._close_quietly(session_id)
        return no_content()
