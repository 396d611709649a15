"""A loopback server that answers every request with one fixed HTTP answer: what ACCloud - or a
WAF, CDN or proxy in front of it - might say."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from devstack.http_server import LoopbackServer


@dataclass(frozen=True)
class Canned:
    """One fixed HTTP answer, as ACCloud - or a WAF, CDN or proxy in front of it - might give it."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def html(status: int, *headers: tuple[str, str]) -> Canned:
    page = f"<html><body><h1>{status}</h1>Request blocked.</body></html>".encode()
    return Canned(status, page, (("Content-Type", "text/html"), *headers))


def bearer(status: int, challenge: str, body: dict[str, str] | None = None) -> Canned:
    return Canned(
        status,
        json.dumps(body or {}).encode(),
        (("Content-Type", "application/json"), ("WWW-Authenticate", challenge)),
    )


class CannedServer(LoopbackServer):
    """Answers every request with ``answer``: stands in for whatever sits at ZOSI_ACCLOUD_BASE_URL."""

    thread_name = "canned-accloud"

    def __init__(self) -> None:
        super().__init__()
        self.answer = Canned(503)
        self.requests = 0

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # paths carry device ids

            def _answer(self) -> None:
                server.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(server.answer.status)
                for name, value in server.answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(server.answer.body)))
                self.end_headers()
                self.wfile.write(server.answer.body)

            do_GET = do_POST = do_DELETE = _answer

        return Handler
