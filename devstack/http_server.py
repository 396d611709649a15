"""The lifecycle every dev-only HTTP stand-in shares: bind 127.0.0.1, serve from a thread, stop.

Dev only. A subclass says how requests are answered - :meth:`LoopbackServer._request_handler`
for a ``ThreadingHTTPServer``, or :meth:`LoopbackServer._bind` for a server of another kind
(werkzeug's) - and gets ``start``/``stop``, the context manager and ``base_url``. The address is
decided here, once: loopback unless the caller names another address (``zosi-skill local up
--bind``), a free port unless the caller names one.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Self

LOOPBACK = "127.0.0.1"
WILDCARD = "0.0.0.0"  # only when a user asks: `local up --bind 0.0.0.0`


def url_host(bind: str) -> str:
    """The address clients on this machine use for a server bound to ``bind``."""
    return LOOPBACK if bind == WILDCARD else bind


class LoopbackServer:
    """An HTTP server on 127.0.0.1 served by a daemon thread; start/stop are idempotent."""

    thread_name = "loopback-http"
    poll_interval = 0.05  # how soon serve_forever notices shutdown()

    def __init__(self, *, port: int = 0, host: str = LOOPBACK) -> None:
        self._port = port
        self.host = host
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- what a subclass provides -------------------------------------------------------------

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError(f"{type(self).__name__} must answer requests: override _request_handler")

    def _bind(self, host: str, port: int) -> HTTPServer:
        httpd = ThreadingHTTPServer((host, port), self._request_handler())
        httpd.daemon_threads = True  # a hung request never keeps the process alive
        return httpd

    def _before_shutdown(self) -> None:
        """Wake requests that would otherwise keep ``stop`` waiting (none by default)."""

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is None:
            self._httpd = self._bind(self.host, self._port)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": self.poll_interval},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._before_shutdown()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{url_host(self.host)}:{self._httpd.server_port}"
