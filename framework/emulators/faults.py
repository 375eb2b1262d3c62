"""Faults an emulator plays instead of answering: error statuses, slow answers, drops, outages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["status", "delay", "drop", "outage"]
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "delay", "drop", "outage")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure to play on the next ``count`` requests to ``path`` (every API path if None).

    ``kind`` is one of:

    - ``"status"``: answer ``status`` with a JSON error body, and a ``Retry-After`` header of
      ``retry_after`` seconds when given (e.g. 429 with ``retry_after=2``).
    - ``"delay"``: wait ``seconds``, then answer as ``"status"`` does (a slow failure, to make
      a client time out).
    - ``"drop"``: read the request, then close the connection without answering. With
      ``after_effect=False`` (the default) the request never reaches the emulated API, so it
      changes nothing; with ``after_effect=True`` the emulated API handles it first (events
      recorded, attributes set, merge done) and only the answer is lost, so a client that
      retries sends it twice.
    - ``"outage"``: answer ``status`` to every request for ``seconds`` from when it is injected
      (same as :meth:`EmulatorServer.fail_for`), or, when ``seconds`` is 0, to the next
      ``count`` requests (an outage measured in requests, for tests that must not race the
      clock). Either way it goes before the queued faults, which wait for it to end.

    ``header`` (a ``(name, value)`` pair) narrows a fault to the requests carrying that header
    with that value, e.g. ``("x-cs-personalize-user-uid", "user-7")`` for one user's requests;
    the name is matched in any case, the value exactly.

    Raises ``ValueError`` when a value is out of range.
    """

    kind: FaultKind
    count: int = 1
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    path: str | None = None
    after_effect: bool = False
    header: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, not {self.kind!r}.")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError("count must be a whole number of at least 1.")
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise ValueError("status must be a whole number.")
        if not 200 <= self.status <= 599:
            raise ValueError("status must be an HTTP status from 200 to 599.")
        if self.retry_after is not None and not (
            _is_number(self.retry_after) and 0 <= self.retry_after < float("inf")
        ):
            raise ValueError("retry_after must be a number of seconds, 0 or more.")
        if not (_is_number(self.seconds) and 0 <= self.seconds < float("inf")):
            raise ValueError("seconds must be a number of seconds, 0 or more.")
        if self.kind == "delay" and self.seconds <= 0:
            raise ValueError(f"a {self.kind} fault needs seconds greater than 0.")
        if self.path is not None and not (isinstance(self.path, str) and self.path[:1] == "/"):
            raise ValueError("path must start with '/'.")
        if not isinstance(self.after_effect, bool):
            raise ValueError("after_effect must be true or false.")
        if self.after_effect and self.kind != "drop":
            raise ValueError("after_effect applies only to a drop fault.")
        if self.header is not None and not (
            isinstance(self.header, tuple)
            and len(self.header) == 2
            and all(isinstance(part, str) and part for part in self.header)
        ):
            raise ValueError("header must be a pair of a header name and its value (strings).")

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """A fault from its JSON form (the same keys as the fields); ``ValueError`` if wrong."""
        if not isinstance(data, dict):
            raise ValueError("A fault must be a JSON object.")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"Unknown fault keys: {', '.join(unknown)}.")
        if "kind" not in data:
            raise ValueError("A fault needs a kind.")
        header = data.get("header")
        if isinstance(header, list):  # JSON has no tuples
            data = {**data, "header": tuple(header)}
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The fault as a JSON object, as :meth:`from_json` reads it."""
        return {
            "kind": self.kind,
            "count": self.count,
            "status": self.status,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
            "path": self.path,
            "after_effect": self.after_effect,
            "header": None if self.header is None else list(self.header),
        }

    def matches(self, path: str, headers: Mapping[str, str] | None = None) -> bool:
        """Whether this fault applies to a request for ``path`` with ``headers`` (lower-case
        names; None: a fault narrowed to a header does not apply)."""
        if self.path is not None and self.path != path:
            return False
        if self.header is None:
            return True
        name, value = self.header
        return headers is not None and headers.get(name.lower()) == value
