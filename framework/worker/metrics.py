"""A worker's ``GET /metrics``: its :class:`~framework.server.metrics.ConsumerMetrics`, scraped.

A worker has no HTTP server of its own, so this is a small one: Python's threading HTTP
server on a socket the caller bound (``actionkit worker --metrics-port``), one thread per
scrape, each connection given :data:`READ_TIMEOUT` seconds to send its request. It answers
``GET /metrics`` in the Prometheus text format and 404 anything else; it reads nothing from a
request but its first line, and nothing of an event ever appears in it.

The queue gauges (``actionkit_queue_depth``, ``actionkit_queue_dead_entries``) are read from
Redis at each scrape, as the server's are: the scrape thread asks the worker's event loop to
read them (the queue's connections belong to that loop) and waits at most
:data:`REFRESH_TIMEOUT` seconds; when Redis does not answer, the last values read are served,
and the counters are served as they are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from framework.errors import QueueError
from framework.queue.base import EventQueue
from framework.server.metrics import PROMETHEUS_CONTENT_TYPE, ConsumerMetrics

__all__ = ["READ_TIMEOUT", "REFRESH_TIMEOUT", "MetricsEndpoint"]

logger = logging.getLogger("actionkit.worker")

READ_TIMEOUT = 10.0
"""Seconds a scrape's connection has to send its request before it is closed."""

REFRESH_TIMEOUT = 5.0
"""Seconds a scrape waits for the queue's gauges before serving the last values read."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = READ_TIMEOUT

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/metrics":
            self._answer(404, b'{"error": "not found: GET /metrics"}\n', "application/json")
            return
        self._answer(200, self.server.endpoint.scrape(), PROMETHEUS_CONTENT_TYPE)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged: they come every few seconds."""


class _Server(ThreadingHTTPServer):
    def __init__(self, sock: socket.socket, endpoint: MetricsEndpoint) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()
        self.endpoint = endpoint


class MetricsEndpoint:
    """Serve ``metrics`` on ``sock`` (bound and listening) from :meth:`start` to :meth:`stop`.

    ``queue`` is the worker's, read at each scrape on ``loop`` (the loop that owns it).
    """

    def __init__(
        self,
        metrics: ConsumerMetrics,
        queue: EventQueue,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.metrics = metrics
        self.queue = queue
        self.loop = loop
        self._server = _Server(sock, self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT/metrics``, the port the socket is bound to."""
        host, port = self._server.server_address[:2]
        host = str(host)
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    def start(self) -> None:
        """Answer scrapes on a thread of its own."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="actionkit-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the socket (a scrape in progress is answered first)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def scrape(self) -> bytes:
        """The metrics in the Prometheus text format, the queue's gauges read now if it can."""
        try:
            future = asyncio.run_coroutine_threadsafe(self.metrics.refresh(self.queue), self.loop)
        except RuntimeError:  # the loop has closed: the worker is stopping
            return self.metrics.render()
        try:
            future.result(REFRESH_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            logger.warning("metrics: the queue did not answer in %.0f s", REFRESH_TIMEOUT)
        except QueueError as exc:
            logger.warning("metrics: the queue gauges cannot be read: [%s] %s", exc.code, exc)
        except concurrent.futures.CancelledError:
            pass  # the worker stopped meanwhile
        return self.metrics.render()
