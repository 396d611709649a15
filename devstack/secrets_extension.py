"""Stand-in for the AWS Parameters and Secrets Lambda Extension, on 127.0.0.1. Dev only.

Serves ``GET /secretsmanager/get?secretId=<id>`` from moto's Secrets Manager with the real
extension's token check, cache and error codes. Request logging is off: answers carry secrets.
Details: docs/local-stack.md, "Secrets extension stand-in".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.http_server import LoopbackServer
from skill.secrets_extension import ERROR_TYPE_HEADER, TOKEN_HEADER

GET_PATH = "/secretsmanager/get"
DEFAULT_TTL_SECONDS = 300.0


class SecretsExtensionStandIn(LoopbackServer):
    """The extension's HTTP endpoint over ``read_secret`` (a GetSecretValue caller)."""

    thread_name = "secrets-extension-standin"

    def __init__(
        self,
        read_secret: Callable[[str], dict[str, Any]],
        token: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self._read_secret = read_secret
        self._token = token
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._offset = 0.0
        self._failures: list[int] = []
        self.requests: list[str] = []

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def environment(self) -> dict[str, str]:
        """What Lambda's configuration sets for a function with the extension (template.yaml)."""
        return {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(self.port),
            "SECRETS_MANAGER_TTL": f"{self.ttl_seconds:g}",
        }

    # --- test hooks -----------------------------------------------------------------------------

    def fail_next(self, status: int = 500, count: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # --- serving --------------------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() + self._offset

    def answer(self, path: str, token: str | None) -> tuple[int, str, bytes]:
        """(status, error type or "", body) for one GET."""
        parts = urlsplit(path)
        if parts.path != GET_PATH:
            return 404, "", b"not found"
        if token != self._token:
            return 401, "AccessDeniedException", b"bad session token or header key"
        ids = parse_qs(parts.query).get("secretId", [])
        if len(ids) != 1 or not ids[0]:
            return 400, "BadRequestException", b"secretId is required"
        secret_id = ids[0]
        with self._lock:
            self.requests.append(secret_id)
            if self._failures:
                return self._failures.pop(0), "InternalFailure", b""
            hit = self._cache.get(secret_id)
            if hit is not None and self._now() < hit[0]:
                return 200, "", hit[1]
        try:
            found = self._read_secret(secret_id)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code:
                return 400, str(code), str(code).encode()
            return 502, "ConnectionError", b"could not reach Secrets Manager"
        body = json.dumps(
            {
                "ARN": found.get("ARN"),
                "Name": found.get("Name"),
                "VersionId": found.get("VersionId"),
                "SecretString": found.get("SecretString"),
                "VersionStages": found.get("VersionStages", []),
                "CreatedDate": str(found.get("CreatedDate", "")),
            }
        ).encode()
        with self._lock:
            self._cache[secret_id] = (self._now() + self.ttl_seconds, body)
        return 200, "", body

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status, error_type, body = server.answer(self.path, self.headers.get(TOKEN_HEADER))
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
                if error_type:
                    self.send_header(ERROR_TYPE_HEADER, error_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
