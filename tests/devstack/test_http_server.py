"""devstack/http_server.py: the lifecycle every local stand-in shares, and loopback-only binding."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import urllib3

from devstack.accloud import AccloudServer
from devstack.gateway_server import GatewayServer
from devstack.http_server import LOOPBACK, LoopbackServer
from devstack.lwa_server import LwaServer
from devstack.webhook_front import WebhookFront
from tests.alexa_schema import AlexaSchema


class Echo(LoopbackServer):
    """The smallest stand-in: answers every GET with 200 "ok" and counts shutdown hooks."""

    thread_name = "echo-standin"

    def __init__(self) -> None:
        super().__init__()
        self.woken = 0

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _before_shutdown(self) -> None:
        self.woken += 1


def serving_thread(server: LoopbackServer) -> threading.Thread:
    assert server._thread is not None, "not serving"
    return server._thread


def test_start_binds_loopback_on_a_free_port_and_serves() -> None:
    with Echo() as echo:
        host, port = echo._httpd.server_address[:2]  # type: ignore[union-attr]
        assert (host, echo.base_url) == (LOOPBACK, f"http://127.0.0.1:{port}")
        assert port > 0
        answer = urllib3.request("GET", echo.base_url + "/", retries=False, timeout=5)
        assert (answer.status, answer.data) == (200, b"ok")
        thread = serving_thread(echo)
        assert (thread.name, thread.daemon, thread.is_alive()) == ("echo-standin", True, True)


def test_start_and_stop_are_idempotent() -> None:
    echo = Echo()
    echo.stop()  # never started: nothing to do, no hook
    assert echo.woken == 0
    started = echo.start()
    url, thread = echo.base_url, serving_thread(echo)
    assert started is echo
    assert echo.start().base_url == url and serving_thread(echo) is thread  # a second start keeps it
    echo.stop()
    echo.stop()
    assert echo.woken == 1
    assert not thread.is_alive()


def test_base_url_needs_a_running_server() -> None:
    echo = Echo()
    with pytest.raises(RuntimeError, match="not started"):
        _ = echo.base_url
    with echo:
        pass
    with pytest.raises(RuntimeError, match="not started"):
        _ = echo.base_url


def test_a_stand_in_must_say_how_it_answers() -> None:
    with pytest.raises(NotImplementedError, match="_request_handler"):
        LoopbackServer().start()


# name -> the stand-in, built as the local stack builds it
STAND_INS: dict[str, Callable[[AlexaSchema], LoopbackServer]] = {
    "reference ACCloud": lambda schema: AccloudServer(),
    "Login with Amazon": lambda schema: LwaServer(),
    "Event Gateway": lambda schema: GatewayServer(lambda token: True, schemas=schema.schemas),
    "webhook front": lambda schema: WebhookFront(lambda event, context: {"statusCode": 204}),
}


@pytest.mark.parametrize("name", list(STAND_INS))
def test_every_stand_in_listens_on_loopback_only(name: str, alexa_schema: AlexaSchema) -> None:
    server = STAND_INS[name](alexa_schema)
    with server:
        assert server._httpd is not None
        host, port = server._httpd.server_address[:2]
        assert host == LOOPBACK and port > 0
        answer = urllib3.request("GET", f"{server.base_url}/no-such-path", retries=False, timeout=5)
        assert 400 <= answer.status < 500  # it answers HTTP on that address
        thread = serving_thread(server)
    assert not thread.is_alive()
