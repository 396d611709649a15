"""HTTP pieces every part of the reference ACCloud shares: JSON answers, the contract's error
shape and the base the endpoint groups (device API, OAuth, admin) build on."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from devstack.accloud.server import AccloudServer
    from devstack.accloud.state import Cloud

REALM = "accloud"


class ApiError(Exception):
    """An error answer: ``{"error", "error_description"}`` with a status and optional headers."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}

    def response(self) -> Response:
        return json_response(
            self.status, {"error": self.error, "error_description": self.description}, self.headers
        )


def bearer_error(description: str) -> ApiError:
    challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
    return ApiError(401, "invalid_token", description, {"WWW-Authenticate": challenge})


def invalid_client() -> ApiError:
    return ApiError(
        401, "invalid_client", "client authentication failed", {"WWW-Authenticate": f'Basic realm="{REALM}"'}
    )


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)


def no_content() -> Response:
    return Response(status=204)


def html_response(status: int, body: str) -> Response:
    return Response(body, status=status, mimetype="text/html", headers={"Cache-Control": "no-store"})


def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return body


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class QuietHandler(WSGIRequestHandler):
    """No access log: request lines carry raw device ids and OAuth codes."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class Endpoints:
    """What an endpoint group reads: the server (answerer, admin operations) and its state."""

    server: AccloudServer
    cloud: Cloud
