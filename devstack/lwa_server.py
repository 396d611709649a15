"""Login with Amazon stand-in for development and tests: ``POST /auth/o2/token`` on 127.0.0.1.

Behaves like LWA's token endpoint for the skill-messaging client: single-use expiring codes,
rotating refresh tokens, ``invalid_grant`` / ``invalid_client`` as LWA answers them, tokens that
really expire. Request logging is off: bodies carry secrets.
Details: docs/local-stack.md, "Login with Amazon stand-in".
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote

from devstack.http_server import LOOPBACK, LoopbackServer

DEFAULT_CLIENT_ID = "amzn1.application-oa2-client.zosi-local"
DEFAULT_CLIENT_SECRET = "zosi-local-lwa-secret"
TOKEN_PATH = "/auth/o2/token"
MAX_BODY_BYTES = 16 * 1024


@dataclass
class _Grant:
    """One AcceptGrant: its current refresh token and the access tokens minted under it."""

    refresh_token: str
    revoked: bool = False
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class _Failure:
    status: int
    body: bytes
    remaining: int


class LwaServer(LoopbackServer):
    """The LWA token endpoint on 127.0.0.1 (free port); thread-safe; usable as a context manager."""

    thread_name = "lwa-standin"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        access_token_ttl: int = 3600,
        code_ttl: int = 300,
        rotate_refresh_tokens: bool = True,
        clock: Callable[[], float] = time.time,
        host: str = LOOPBACK,
    ) -> None:
        super().__init__(host=host)
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.delay_seconds = 0.0  # slow every token answer down (races, timeouts)
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.Lock()
        self._codes: dict[str, float] = {}  # code -> expiry
        self._grants: list[_Grant] = []
        self._by_refresh: dict[str, _Grant] = {}
        self._access: dict[str, tuple[float, _Grant]] = {}  # token -> (expiry, grant)
        self._failures: list[_Failure] = []
        self.counts: Counter[str] = Counter()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    # --- what Alexa and the tests do --------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward (codes and access tokens expire by it)."""
        with self._lock:
            self._offset += seconds

    def issue_grant_code(self) -> str:
        """A fresh authorization code, as Alexa sends in AcceptGrant (single use, expires after code_ttl)."""
        code = "ANSzgrant" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = self.now() + self.code_ttl
        return code

    def revoke_all(self) -> None:
        """Revoke every grant (the user disabled the skill): refresh and access tokens stop working."""
        with self._lock:
            for grant in self._grants:
                grant.revoked = True

    def expire_access_token(self, access_token: str) -> None:
        """Make one access token expire now (the gateway then answers 401 for it)."""
        with self._lock:
            if access_token in self._access:
                self._access[access_token] = (self.now(), self._access[access_token][1])

    def is_valid_access_token(self, access_token: str) -> bool:
        """Whether ``access_token`` was issued here, is unexpired and its grant not revoked."""
        with self._lock:
            found = self._access.get(access_token)
            return found is not None and found[0] > self.now() and not found[1].revoked

    def fail_next(self, status: int, error: str = "server_error", *, times: int = 1) -> None:
        """Answer the next ``times`` token requests with ``status`` and an LWA error body."""
        self.respond_next(status, json.dumps(_error(error, "injected failure")).encode(), times=times)

    def respond_next(self, status: int, body: bytes, *, times: int = 1) -> None:
        """Answer the next ``times`` token requests with exactly ``status`` and ``body`` (malformed ones)."""
        with self._lock:
            self._failures.append(_Failure(status, body, times))

    @property
    def refresh_count(self) -> int:
        """Successful refreshes so far."""
        return self.counts["refresh_token"]

    @property
    def exchange_count(self) -> int:
        """Successful code exchanges so far."""
        return self.counts["authorization_code"]

    # --- the token endpoint -------------------------------------------------------------------

    def _token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if not (
            secrets.compare_digest(client_id.encode(), self.client_id.encode())
            and secrets.compare_digest(client_secret.encode(), self.client_secret.encode())
        ):
            return 401, _error("invalid_client", "Client authentication failed")
        grant_type = form.get("grant_type", "")
        with self._lock:
            if grant_type == "authorization_code":
                answer = self._exchange(form.get("code", ""))
            elif grant_type == "refresh_token":
                answer = self._refresh(form.get("refresh_token", ""))
            else:
                return 400, _error("unsupported_grant_type", "grant_type not supported")
            if answer[0] == 200:
                self.counts[grant_type] += 1
            return answer

    def _exchange(self, code: str) -> tuple[int, dict[str, Any]]:
        expiry = self._codes.pop(code, None)  # single use, even when expired
        if expiry is None or expiry <= self.now():
            return 400, _error("invalid_grant", "The authorization code is invalid or expired")
        grant = _Grant(refresh_token=_refresh_token())
        self._grants.append(grant)
        self._by_refresh[grant.refresh_token] = grant
        return 200, self._mint(grant)

    def _refresh(self, refresh_token: str) -> tuple[int, dict[str, Any]]:
        grant = self._by_refresh.get(refresh_token)
        if grant is None or grant.revoked or grant.refresh_token != refresh_token:
            return 400, _error("invalid_grant", "The refresh token is invalid or revoked")
        if self.rotate_refresh_tokens:
            del self._by_refresh[refresh_token]
            grant.refresh_token = _refresh_token()
            self._by_refresh[grant.refresh_token] = grant
        return 200, self._mint(grant)

    def _mint(self, grant: _Grant) -> dict[str, Any]:
        access_token = "Atza|" + secrets.token_urlsafe(270)
        self._access[access_token] = (self.now() + self.access_token_ttl, grant)
        grant.access_tokens.add(access_token)
        return {
            "access_token": access_token,
            "refresh_token": grant.refresh_token,
            "token_type": "bearer",
            "expires_in": self.access_token_ttl,
        }

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            return failure


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}


def _refresh_token() -> str:
    return "Atzr|" + secrets.token_urlsafe(270)


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return unquote(user), unquote(password)


ADMIN_GRANT_CODE_PATH = "/_admin/grant-code"


def request_grant_code(base_url: str, timeout: float = 5.0) -> str:
    """A fresh grant code from a running stand-in (``base_url`` without the token path)."""
    import urllib3

    answer = urllib3.PoolManager(retries=False).request(
        "POST", base_url.rstrip("/") + ADMIN_GRANT_CODE_PATH, timeout=timeout
    )
    if answer.status != 200:
        raise RuntimeError(f"LWA stand-in answered {answer.status}")
    return str(json.loads(answer.data)["code"])


def _handler_for(server: LwaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines and bodies may carry codes and tokens

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(413, _error("invalid_request", "body too large"))
                return
            raw = self.rfile.read(length)
            if self.path.split("?", 1)[0] == ADMIN_GRANT_CODE_PATH:
                # Dev-only, like the whole stand-in: lets `zosi-skill local grant-code` (another
                # process) get a code for a hand-made AcceptGrant directive.
                self._send(200, {"code": server.issue_grant_code()})
                return
            if self.path.split("?", 1)[0] != TOKEN_PATH:
                self._send(404, _error("not_found", "unknown path"))
                return
            if server.delay_seconds:
                time.sleep(server.delay_seconds)
            failure = server._take_failure()
            if failure is not None:
                self._send_raw(failure.status, failure.body)
                return
            content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                self._send(400, _error("invalid_request", "form-encoded body required"))
                return
            try:
                parsed = parse_qs(raw.decode("utf-8"), strict_parsing=False)
            except UnicodeDecodeError:
                self._send(400, _error("invalid_request", "body is not UTF-8"))
                return
            form = {k: v[0] for k, v in parsed.items() if len(v) == 1}
            status, payload = server._token(form, _basic_auth(self.headers.get("Authorization")))
            self._send(status, payload)

        def do_GET(self) -> None:
            self._send(405, _error("invalid_request", "use POST"))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            self._send_raw(status, json.dumps(payload).encode())

        def _send_raw(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
