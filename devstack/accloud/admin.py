"""The loopback-only /_admin/ endpoints (not part of the contract): fault injection, device
mutations, token helpers, webhook triggers and request counters, and AccloudAdmin, which drives
them from another process (the ``zosi-skill`` CLI)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.accloud.state import Cloud, Fault
from devstack.accloud.web import ApiError, Endpoints, bearer_error, json_object, json_response, no_content

ROUTES = (
    Rule("/_admin/faults", endpoint="admin_faults", methods=["GET", "POST", "DELETE"]),
    Rule("/_admin/users/<username>/devices", endpoint="admin_user_devices", methods=["GET", "POST"]),
    Rule("/_admin/users/<username>/tokens", endpoint="admin_user_tokens", methods=["POST", "DELETE"]),
    Rule("/_admin/devices/<device_id>", endpoint="admin_device", methods=["GET", "PATCH", "DELETE"]),
    Rule("/_admin/devices/<device_id>/detections", endpoint="admin_detections", methods=["GET", "POST"]),
    Rule("/_admin/nvrs/<nvr_id>", endpoint="admin_nvr", methods=["PATCH"]),
    Rule("/_admin/tokens/expire", endpoint="admin_expire_token", methods=["POST"]),
    Rule("/_admin/webhook", endpoint="admin_webhook", methods=["PUT"]),
    Rule("/_admin/webhook/events", endpoint="admin_webhook_event", methods=["POST"]),
    Rule("/_admin/requests", endpoint="admin_requests", methods=["GET", "DELETE"]),
    Rule("/_admin/clock", endpoint="admin_clock", methods=["POST"]),
    Rule("/_admin/reset", endpoint="admin_reset", methods=["POST"]),
    Rule("/_admin/sessions/<device_id>", endpoint="admin_sessions", methods=["GET"]),
)


def apply_faults(cloud: Cloud, faults: dict[str, Fault], path: str) -> None:
    """Before a contract request: wait, fail or reject its token as the active faults say."""
    if (hang := faults.get("hang")) is not None:
        cloud.release.wait(hang.value if hang.value is not None else 30.0)
    if (latency := faults.get("latency")) is not None and latency.value:
        cloud.release.wait(latency.value)
    if (status := faults.get("status")) is not None:
        code = int(status.value or 503)
        raise ApiError(code, "temporarily_unavailable" if code == 503 else "server_error", "injected fault")
    if path.startswith("/v1/"):
        if "expired_token" in faults:
            raise bearer_error("token_expired")
        if "invalid_token" in faults:
            raise bearer_error("token_unknown")


class AdminEndpoints(Endpoints):
    """/_admin/ (loopback only; errors: KeyError -> 404, ValueError -> 400)."""

    def on_admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            body = json_object(request)
            self.server.set_fault(
                body["kind"],
                body.get("value"),
                path_prefix=body.get("path_prefix", "/v1/"),
                times=body.get("times"),
            )
        elif request.method == "DELETE":
            self.server.clear_faults()
        return json_response(200, {"faults": self.server.faults()})

    def on_admin_user_devices(self, request: Request, username: str) -> Response:
        if request.method == "POST":
            body = json_object(request)
            name = body.pop("name")
            created = self.server.add_device(username, name, **body)
            return json_response(201, self.cloud.device_wire(created))
        return json_response(200, {"devices": self.server.devices(username)})

    def on_admin_user_tokens(self, request: Request, username: str) -> Response:
        if request.method == "DELETE":
            return json_response(200, {"revoked": self.server.revoke_all(username)})
        body = json_object(request) if request.get_data() else {}
        return json_response(200, self.server.issue_token(username, **body))

    def on_admin_device(self, request: Request, device_id: str) -> Response:
        if request.method == "DELETE":
            self.server.remove_device(device_id)
            return no_content()
        if request.method == "PATCH":
            body = json_object(request)
            unknown = set(body) - {"online", "privacy_mode", "name"}
            if unknown:
                raise ValueError(f"cannot change {sorted(unknown)}")
            if "name" in body:
                self.server.rename_device(device_id, body["name"])
            if "online" in body:
                self.server.set_online(device_id, bool(body["online"]))
            if "privacy_mode" in body:
                self.server.set_privacy(device_id, bool(body["privacy_mode"]))
        return json_response(200, self.cloud.device_wire(self.cloud.device(device_id)))

    def on_admin_detections(self, request: Request, device_id: str) -> Response:
        """GET: what ACCloud holds. POST {ids, reason}: deleted (or expired) in the ZOSI app."""
        self.cloud.device(device_id)
        if request.method == "GET":
            return json_response(200, {"detections": self.server.detections_held(device_id)})
        body = json_object(request)
        return json_response(
            200, self.server.delete_in_app(device_id, body["ids"], body.get("reason", "deleted"))
        )

    def on_admin_nvr(self, request: Request, nvr_id: str) -> Response:
        body = json_object(request)
        self.server.set_nvr_online(nvr_id, bool(body["online"]))
        return no_content()

    def on_admin_expire_token(self, request: Request) -> Response:
        self.server.expire_token(json_object(request)["access_token"])
        return no_content()

    def on_admin_webhook(self, request: Request) -> Response:
        body = json_object(request)
        self.server.configure_webhook(body["url"], body["secret"])
        return no_content()

    def on_admin_webhook_event(self, request: Request) -> Response:
        body = json_object(request)
        event_type, username = body.pop("type"), body.pop("username")
        device_id = body.pop("device_id", None)
        event = self.server.build_event(event_type, username, device_id, **body)
        status, text = self.server.send_built_event(event)
        return json_response(200, {"status": status, "body": text, "event": event})

    def on_admin_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.server.reset_request_counts()
        return json_response(200, {"counts": self.server.request_counts()})

    def on_admin_clock(self, request: Request) -> Response:
        self.server.advance_clock(float(json_object(request)["advance_seconds"]))
        return no_content()

    def on_admin_reset(self, request: Request) -> Response:
        self.server.reset()
        return no_content()

    def on_admin_sessions(self, request: Request, device_id: str) -> Response:
        return json_response(200, {"sessions": self.server.rtc_sessions(device_id)})


class AdminError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"admin call answered {status}: {body[:200]}")
        self.status = status
        self.body = body


class AccloudAdmin:
    """Drives a running AccloudServer through /_admin/; same method names as AccloudServer."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        import urllib3

        self.base_url = base_url.rstrip("/")
        self._http = urllib3.PoolManager(retries=False, timeout=timeout)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        answer = self._http.request(method, f"{self.base_url}/_admin{path}", body=data, headers=headers)
        if answer.status >= 300:
            raise AdminError(answer.status, answer.data.decode("utf-8", errors="replace"))
        return json.loads(answer.data) if answer.data else None

    def set_fault(
        self, kind: str, value: float | None = None, *, path_prefix: str = "/v1/", times: int | None = None
    ) -> None:
        self._call(
            "POST", "/faults", {"kind": kind, "value": value, "path_prefix": path_prefix, "times": times}
        )

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def devices(self, username: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/users/{username}/devices")["devices"]

    def add_device(self, username: str, name: str, **fields: Any) -> dict[str, Any]:
        """Returns the new device's wire JSON (AccloudServer.add_device returns a DemoDevice)."""
        return self._call("POST", f"/users/{username}/devices", {"name": name, **fields})

    def set_online(self, device_id: str, online: bool) -> None:
        self._call("PATCH", f"/devices/{device_id}", {"online": online})

    def set_privacy(self, device_id: str, privacy_mode: bool) -> None:
        self._call("PATCH", f"/devices/{device_id}", {"privacy_mode": privacy_mode})

    def rename_device(self, device_id: str, name: str) -> None:
        self._call("PATCH", f"/devices/{device_id}", {"name": name})

    def remove_device(self, device_id: str) -> None:
        self._call("DELETE", f"/devices/{device_id}")

    def set_nvr_online(self, nvr_id: str, online: bool) -> None:
        self._call("PATCH", f"/nvrs/{nvr_id}", {"online": online})

    def issue_token(self, username: str, **options: Any) -> dict[str, Any]:
        return self._call("POST", f"/users/{username}/tokens", options)

    def revoke_all(self, username: str) -> int:
        return self._call("DELETE", f"/users/{username}/tokens")["revoked"]

    def expire_token(self, access_token: str) -> None:
        self._call("POST", "/tokens/expire", {"access_token": access_token})

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "/clock", {"advance_seconds": seconds})

    def configure_webhook(self, url: str, secret: bytes | str) -> None:
        self._call(
            "PUT",
            "/webhook",
            {"url": url, "secret": secret.decode() if isinstance(secret, bytes) else secret},
        )

    def trigger_event(
        self, event_type: str, username: str, device_id: str | None = None, **extra: Any
    ) -> tuple[int, str]:
        answer = self._call(
            "POST",
            "/webhook/events",
            {"type": event_type, "username": username, "device_id": device_id, **extra},
        )
        return answer["status"], answer["body"]

    def request_counts(self) -> dict[str, int]:
        return self._call("GET", "/requests")["counts"]

    def detections_held(self, device_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/devices/{device_id}/detections")["detections"]

    def delete_in_app(self, device_id: str, ids: Sequence[str], reason: str = "deleted") -> dict[str, Any]:
        return self._call("POST", f"/devices/{device_id}/detections", {"ids": list(ids), "reason": reason})

    def reset_request_counts(self) -> None:
        self._call("DELETE", "/requests")

    def rtc_sessions(self, device_id: str) -> dict[str, str]:
        return self._call("GET", f"/sessions/{device_id}")["sessions"]

    def reset(self) -> None:
        self._call("POST", "/reset")
