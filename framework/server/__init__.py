"""The ingestion server: Segment's HTTP Tracking API in front of a durable event queue.

``create_app`` serves the API and puts accepted events on any
:class:`~framework.queue.EventQueue`; ``create_embedded_app`` is the one-process default,
with a SQLite queue and a router consuming it. ``actionkit serve`` runs either under uvicorn,
with ``header_deadline_protocol`` as its HTTP protocol.
See docs/serving.md.
"""

from framework.server.app import create_app
from framework.server.config import ServerConfig, load_server_config
from framework.server.embedded import create_embedded_app
from framework.server.header_deadline import header_deadline_protocol
from framework.server.metrics import ServerMetrics

__all__ = [
    "ServerConfig",
    "ServerMetrics",
    "create_app",
    "create_embedded_app",
    "header_deadline_protocol",
    "load_server_config",
]
