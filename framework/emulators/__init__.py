"""Local emulators of destination APIs, for tests and ``actionkit emulate``: real HTTP on loopback.

``EmulatorServer`` is the reusable part (HTTP/1.1 keep-alive server, JSON errors, request
log, counters, fault injection, ``/_emulator/`` control endpoints); each destination adds its
API's behaviour: ``ContentstackEmulator`` for the Personalize Edge API (with the project's
``Experience``/``Variant`` that ``GET /manifest`` evaluates), ``ManagementEmulator`` for its
Management API.
"""

from framework.emulators.contentstack import ContentstackEmulator, PersonalizeEdge
from framework.emulators.management import ManagementEmulator, PersonalizeManagement
from framework.emulators.manifest import Experience, Variant
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
    "Experience",
    "Fault",
    "ManagementEmulator",
    "PersonalizeEdge",
    "PersonalizeManagement",
    "RecordedRequest",
    "Request",
    "Response",
    "Variant",
]
