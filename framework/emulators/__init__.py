"""Local emulators of destination APIs, for tests and ``actionkit emulate``: real HTTP on loopback.

``EmulatorServer`` is the reusable part (HTTP/1.1 keep-alive server, JSON errors, request
log, counters, fault injection, ``/_emulator/`` control endpoints); each destination adds its
API's behaviour, as ``ContentstackEmulator`` does for the Personalize Edge API.
"""

from framework.emulators.contentstack import ContentstackEmulator, PersonalizeEdge
from framework.emulators.server import (
    ApiError,
    EmulatedApi,
    EmulatorServer,
    Fault,
    RecordedRequest,
    Request,
    Response,
)

__all__ = [
    "ApiError",
    "ContentstackEmulator",
    "EmulatedApi",
    "EmulatorServer",
    "Fault",
    "PersonalizeEdge",
    "RecordedRequest",
    "Request",
    "Response",
]
