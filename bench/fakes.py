"""ACCloud answered in-process, and synthetic accounts of any size.

``InProcessCloud`` implements ``skill.cloud.contract.CameraCloud`` without a network: it keeps the
wire JSON the reference server would send and parses it with the skill's own allow-list parser on
every call, so the benchmark still pays what the skill pays for an answer - only the round trip
is gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.events import ANSWER_SDP
from skill.cloud import contract


@dataclass
class InProcessCloud:
    """``token -> (user_id, link_id)`` and ``user_id -> /v1/devices body``; every call is counted."""

    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    devices_body: dict[str, bytes] = field(default_factory=dict)
    calls: int = 0

    def add_account(self, token: str, user_id: str, link_id: str, devices: list[dict[str, Any]]) -> None:
        self.users[token] = (user_id, link_id)
        self.devices_body[user_id] = json.dumps({"devices": devices}).encode()

    def factory(self, deadline: Any) -> InProcessCloud:
        """The ``cloud_factory`` signature of ``skill.smarthome.dispatch.handle``."""
        return self

    def _user(self, token: str) -> tuple[str, str]:
        self.calls += 1
        try:
            return self.users[token]
        except KeyError:
            raise contract.InvalidToken("unknown token") from None

    def me(self, token: str) -> contract.CloudUser:
        user_id, link_id = self._user(token)
        return contract.CloudUser(user_id, link_id, datetime.now(UTC) + timedelta(hours=1))

    def devices(self, token: str) -> list[contract.Device]:
        user_id, _ = self._user(token)
        entries = json.loads(self.devices_body[user_id])["devices"]
        return [contract.parse_device(entry) for entry in entries]

    def mint_stream(
        self, token: str, device_id: str, profile: contract.StreamProfile
    ) -> contract.MintedStream:
        self._user(token)
        return contract.MintedStream(
            uri=f"rtsps://media.accloud.example:443/live/{device_id[-6:]}x",
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
            idle_timeout_seconds=30,
            snapshot_uri=f"https://media.accloud.example/snap/{device_id[-6:]}x.jpg",
            profile=profile,
        )

    def rtc_offer(self, token: str, device_id: str, session_id: str, offer_sdp: str) -> str:
        self._user(token)
        return ANSWER_SDP

    def rtc_connected(self, token: str, device_id: str, session_id: str) -> None:
        self._user(token)

    def rtc_disconnected(self, token: str, device_id: str, session_id: str) -> None:
        self._user(token)


def synthetic_devices(owner_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` devices in ACCloud's wire format (private fields included, as a real cloud sends
    them): a realistic spread of doorbells, cameras and NVR channels, RTSP and WebRTC profiles."""
    rtsp = [_profile("RTSP", 1920, 1080), _profile("RTSP", 1280, 720)]
    webrtc = [_profile("WEBRTC", 1920, 1080)]
    found: list[dict[str, Any]] = []
    for number in range(count):
        kind = ("doorbell", "camera", "camera", "nvr_channel")[number % 4]
        found.append(
            {
                "id": f"dev_bench{owner_id[-4:]}{number:04d}",
                "name": f"Camera {number:03d} {('Porch', 'Garden', 'Hall', 'Gate')[number % 4]}",
                "kind": kind,
                "parent_id": "nvr_bench" if kind == "nvr_channel" else None,
                "model": "C190",
                "firmware": "v5.2.1",
                "online": number % 10 != 0,
                "privacy_mode": False,
                "capabilities": {
                    "motion_detection": True,
                    "person_detection": number % 3 == 0,
                    "two_way_audio": kind == "doorbell",
                    "webrtc": kind != "nvr_channel",
                },
                "stream_profiles": rtsp + (webrtc if kind != "nvr_channel" else []),
                "serial_number": f"ZSC190BENCH{number:04d}",
                "mac": f"02:00:00:00:{number // 256:02x}:{number % 256:02x}",
                "wifi_ssid": "Maple-Home",
                "wifi_bssid": "02:00:00:00:ff:ff",
                "lan_ip": f"192.168.1.{number % 250 + 2}",
                "location": "12 Example Lane, Springfield",
            }
        )
    return found


def _profile(protocol: str, width: int, height: int) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "width": width,
        "height": height,
        "video_codec": "H264",
        "audio_codec": "AAC",
    }
