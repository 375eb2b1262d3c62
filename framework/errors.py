"""The one exception hierarchy of actionkit.

Every error the framework raises derives from :class:`ActionkitError` and carries a stable
``code`` (tests and scripts match on it, never on wording) and a location saying where the
problem is. The tree branches first by what the caller should do, then by phase::

    ActionkitError                      code
    ├── DefinitionError                 DEFINITION_INVALID      fatal at load: fix the input
    │   ├── TriggerSyntaxError          TRIGGER_SYNTAX          column + caret line
    │   └── MappingError                MAPPING_INVALID         .errors: every problem, by pointer
    ├── InputError                      INPUT_INVALID           skippable: this one event is bad
    │   ├── EventError                  EVENT_INVALID           the event is not a Segment event
    │   │   └── EventJsonError          EVENT_JSON_INVALID      not strict JSON (.reason)
    │   ├── PayloadValidationError      PAYLOAD_VALIDATION_FAILED  .errors: by field
    │   └── RequestBuildError           REQUEST_NOT_BUILT       a value the request cannot take
    ├── DeliveryError                   DELIVERY_FAILED         sending a request failed
    │   ├── RetryableError              RETRYABLE_ERROR         5xx, network; .retry_after
    │   │   ├── RateLimitedError        RATE_LIMITED            429, with the server's Retry-After
    │   │   ├── EndpointPausedError     ENDPOINT_PAUSED         not sent: endpoint paused or open
    │   │   ├── DeliveryTimeoutError    TIMEOUT                 no answer in time
    │   │   └── ConnectionFailedError   CONNECTION_FAILED       refused, reset or dropped
    │   ├── IntegrationError            INTEGRATION_ERROR       permanent: the API refused it
    │   │   └── InvalidAuthenticationError  INVALID_AUTHENTICATION  401 or 403
    │   └── AddressNotAllowedError      ADDRESS_NOT_ALLOWED     permanent: never sent there
    ├── NotFoundError                   NOT_FOUND               asked for by id, and not there
    ├── NotReplayableError              NOT_REPLAYABLE          a dead letter replay cannot send
    └── StorageError                    STORAGE_FAILED          a store we use failed
        ├── SourceError                 SOURCE_FAILED           a sync's source (database, CSV)
        ├── DeadLetterStoreError        DEAD_LETTER_STORE       the dead-letter store
        └── QueueError                  QUEUE_FAILED            the event queue (SQLite, Redis)
            └── QueueFullError          QUEUE_FULL              back-pressure: retry_after seconds

Definition errors stop a destination, instance or mapping from loading at all; nothing that
raised one ever sees an event. Input errors concern a single event: the pipeline reports that
event with the error and carries on with the next. Delivery errors come from the destination's
API or the network: retryable ones are tried again with backoff, permanent ones are not; an
event whose delivery finally fails goes to the dead-letter store. Storage errors say that one
of actionkit's own stores (the dead-letter store, the event queue) cannot be used: an operator
must look; a full queue is the one to wait out. Not-found and not-replayable errors answer an
operator's command (``actionkit dlq``): check the id, or use the command they name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ActionkitError",
    "AddressNotAllowedError",
    "ConnectionFailedError",
    "DeadLetterStoreError",
    "DefinitionError",
    "DeliveryError",
    "DeliveryTimeoutError",
    "EndpointPausedError",
    "EventError",
    "EventJsonError",
    "InputError",
    "IntegrationError",
    "InvalidAuthenticationError",
    "MappingError",
    "NotFoundError",
    "NotReplayableError",
    "PayloadValidationError",
    "Problem",
    "QueueError",
    "QueueFullError",
    "RateLimitedError",
    "RequestBuildError",
    "RetryableError",
    "SourceError",
    "StorageError",
    "TriggerSyntaxError",
    "sort_problems",
]


class ActionkitError(Exception):
    """Root of every error actionkit raises; ``code`` is stable, the message is for people."""

    code: str = "ACTIONKIT_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a definition, mapping, event or payload: where, and what is wrong.

    ``pointer`` is a JSON pointer (RFC 6901) into the checked document, ``""`` for its root;
    ``line`` is the 1-based line in the source file, where the document came from one.
    Problems sort by pointer (see :func:`sort_problems`), so a report reads top to bottom.
    """

    pointer: str
    message: str
    code: str = "INVALID"
    line: int | None = None

    def to_dict(self, *, line: bool = False) -> dict[str, Any]:
        """The problem as JSON: pointer, code and message, and its ``line`` when asked."""
        data: dict[str, Any] = {"pointer": self.pointer}
        if line:
            data["line"] = self.line
        data["code"] = self.code
        data["message"] = self.message
        return data

    def __str__(self) -> str:
        where = self.pointer or "/"
        if self.line is not None:
            where = f"line {self.line}, {where}"
        return f"{where}: {self.message}"


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in reading order: by JSON pointer, then message; duplicates removed."""
    return sorted(set(problems), key=lambda p: (p.pointer, p.message, p.code))


class DefinitionError(ActionkitError):
    """A definition, instance, mapping or trigger is wrong; it is refused when it loads.

    ``problems`` lists every problem found, sorted by pointer; ``source`` names the file or
    object that was checked, when there is one.
    """

    code = "DEFINITION_INVALID"

    def __init__(
        self,
        message: str,
        problems: Iterable[Problem] = (),
        *,
        source: str | None = None,
    ) -> None:
        self.problems: list[Problem] = sort_problems(problems)
        self.source = source
        super().__init__(message)

    def __str__(self) -> str:
        head = f"{self.source}: {self.message}" if self.source else self.message
        if not self.problems:
            return head
        lines = [head]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)


class TriggerSyntaxError(DefinitionError):
    """A trigger (FQL) expression does not parse.

    ``column`` is 1-based; ``expected`` says what would have been valid there. ``str()`` shows
    the expression with a caret under the column, as jmespath's ``ParseError`` does.
    """

    code = "TRIGGER_SYNTAX"

    def __init__(self, reason: str, *, expression: str, column: int, expected: str) -> None:
        self.reason = reason
        self.expression = expression
        self.column = column
        self.expected = expected
        message = f"{reason} at column {column}; expected {expected}"
        super().__init__(message, [Problem(f"column {column}", message, self.code)])

    def caret_line(self) -> str:
        """The expression, with a caret under the offending column on the next line."""
        # Tabs and newlines would shift the caret: show them as single spaces.
        shown = self.expression.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        return f"{shown}\n{' ' * (self.column - 1)}^"

    def __str__(self) -> str:
        return f"Invalid trigger: {self.message}\n{self.caret_line()}"


class MappingError(DefinitionError):
    """A mapping is invalid; ``errors`` lists every problem, each at its JSON pointer.

    Raised by :func:`framework.compile_mapping` before any event is seen.
    """

    code = "MAPPING_INVALID"

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None) -> None:
        problems = sort_problems(problems)
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"The mapping is invalid ({count} {noun}).", problems, source=source)

    @property
    def errors(self) -> list[Problem]:
        """Every problem of the mapping, sorted by JSON pointer."""
        return self.problems


class InputError(ActionkitError):
    """One input (an event) is bad; the pipeline reports it and goes on with the next."""

    code = "INPUT_INVALID"


class EventError(InputError):
    """The event is not a Segment event (not a JSON object, or a malformed field).

    ``pointer`` says where in the event the problem is, ``""`` for the event itself.
    """

    code = "EVENT_INVALID"

    def __init__(self, message: str, *, pointer: str = "") -> None:
        self.pointer = pointer
        super().__init__(message)


class EventJsonError(EventError):
    """The text of an event (or of a request body) is not strict JSON, or passes a limit.

    Raised by :func:`framework.event_json.decode_event_json`. ``reason`` says which rule it
    broke, a stable code of its own: ``NOT_UTF8``, ``SYNTAX``, ``TOO_DEEP``,
    ``NUMBER_TOO_LONG``, ``NON_FINITE_NUMBER`` or ``LONE_SURROGATE``. Where it is: ``offset``
    (0-based byte offset), ``line`` and ``column`` (1-based) when the text says where, or
    ``pointer`` (a JSON pointer) when the problem is a value of the parsed document.
    """

    code = "EVENT_JSON_INVALID"

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        offset: int | None = None,
        line: int | None = None,
        column: int | None = None,
        pointer: str = "",
    ) -> None:
        self.reason = reason
        self.offset = offset
        self.line = line
        self.column = column
        super().__init__(message, pointer=pointer)


class PayloadValidationError(InputError):
    """A mapped payload does not satisfy its action's fields.

    ``errors`` lists every problem; each ``pointer`` names the field (``/userId``, ``""`` for
    the payload itself) and each message is a sentence such as
    ``The root value is missing the required field 'userId'.``
    """

    code = "PAYLOAD_VALIDATION_FAILED"

    def __init__(self, errors: Iterable[Problem]) -> None:
        self.errors: list[Problem] = sort_problems(errors)
        super().__init__(" ".join(problem.message for problem in self.errors))


class RequestBuildError(InputError):
    """The request of an action cannot be built for a payload; nothing is sent.

    ``pointer`` names the payload field at fault (``/userId``), ``""`` when no single field
    is; ``reason`` says which rule it broke, a stable code of its own: ``URL_VALUE_MISSING``
    (a value the URL needs has none), ``URL_VALUE_INVALID`` (a value that would be a ``.`` or
    ``..`` path segment), ``HEADER_VALUE_INVALID`` (a value a header cannot
    carry, such as a line break or a character outside ASCII), ``HEADER_NAME_INVALID`` (a
    header name the settings choose that is not a token), ``METHOD_INVALID`` (a method setting
    that holds no allowed method), ``BATCH_BODY_INVALID`` (the
    body is not what the action's batch combines) or ``BATCH_MIXED`` (requests given to be
    combined differ outside the combined part, so one would be sent as another's).
    """

    code = "REQUEST_NOT_BUILT"

    def __init__(self, message: str, *, pointer: str = "", reason: str = "") -> None:
        self.pointer = pointer
        self.reason = reason
        super().__init__(message)


class DeliveryError(ActionkitError):
    """Sending a request to a destination failed.

    ``status`` is the HTTP status when the API answered, ``None`` when it did not;
    ``retryable`` says whether trying again later may succeed.
    """

    code = "DELIVERY_FAILED"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class RetryableError(DeliveryError):
    """A failure that may pass if the request is sent again later (429, most 5xx, network).

    ``retry_after`` is the seconds the API asked to wait (its ``Retry-After`` header, on a
    429, a 503 or any other retryable answer), ``None`` when it named none.
    """

    code = "RETRYABLE_ERROR"
    retryable = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class RateLimitedError(RetryableError):
    """The API answered 429; ``retry_after`` is its Retry-After in seconds, when it gave one."""

    code = "RATE_LIMITED"

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after)


class EndpointPausedError(RetryableError):
    """Not sent: the endpoint is paused (a Retry-After, an open circuit) for longer than the
    sender may wait. ``retry_after`` is the seconds until it may be tried again."""

    code = "ENDPOINT_PAUSED"


class DeliveryTimeoutError(RetryableError):
    """The API did not answer (or connect) within the timeout."""

    code = "TIMEOUT"


class ConnectionFailedError(RetryableError):
    """The connection was refused, reset or dropped before an answer came."""

    code = "CONNECTION_FAILED"


class IntegrationError(DeliveryError):
    """The API refused the request for good (a 4xx other than 408, 423 and 429)."""

    code = "INTEGRATION_ERROR"


class InvalidAuthenticationError(IntegrationError):
    """The API refused the credentials (401 or 403): fix the instance's settings."""

    code = "INVALID_AUTHENTICATION"


class AddressNotAllowedError(DeliveryError):
    """The request was not sent: its host is (or resolved to) an address the instance may
    not send to (private, link-local, loopback or metadata; see ``docs/delivery.md``)."""

    code = "ADDRESS_NOT_ALLOWED"


class NotFoundError(ActionkitError):
    """What a command asked for by id (a dead letter, a queue's dead entry) is not there.

    ``key`` is the id asked for; ``source`` names the store that was searched.
    """

    code = "NOT_FOUND"

    def __init__(self, message: str, *, key: str, source: str) -> None:
        self.key = key
        self.source = source
        super().__init__(message)


class NotReplayableError(ActionkitError):
    """A dead letter (or a queue's dead entry) that this replay cannot send.

    ``key`` is its id; ``reason`` says why, a stable code of its own: ``OTHER_INSTANCE`` (its
    instance was not given with ``--instance``), ``MAPPING_GONE`` (the instance has no such
    mapping any more), ``SYNC_ROW`` (a row of a sync: the sync sends it again) or
    ``NOT_AN_EVENT`` (a queue entry that holds no event).
    """

    code = "NOT_REPLAYABLE"

    def __init__(self, message: str, *, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(message)


class StorageError(ActionkitError):
    """One of actionkit's own stores (dead letters, the event queue) cannot be used."""

    code = "STORAGE_FAILED"


class SourceError(StorageError):
    """A sync's source (a SQL database, a CSV file) cannot be reached, queried or read."""

    code = "SOURCE_FAILED"


class DeadLetterStoreError(StorageError):
    """The dead-letter store cannot be opened, read or written."""

    code = "DEAD_LETTER_STORE"


class QueueError(StorageError):
    """The event queue (the embedded SQLite one, or a Redis stream) cannot be used."""

    code = "QUEUE_FAILED"


class QueueFullError(QueueError):
    """The queue is at its bound; try again in ``retry_after`` seconds (back-pressure)."""

    code = "QUEUE_FULL"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)
