"""How a queued event is stored: one compact JSON object, the same in every queue.

``{"event": {...}, "instances": [...]}``, UTF-8 kept as is, and the retry state when there is
one: ``"done": [[instance, mapping], ...]``, ``"retries"``, ``"first_failed_at"``,
``"last_error"`` (absent when empty, so a fresh entry is stored as before). A queue written by
one version of actionkit is read by the next; a text that is not such an object, or whose
retry state is not of those types, decodes to None, so that a queue can set it aside
(dead-letter it) rather than fail on it.

The text is written by orjson when it is installed (a dependency: 10 to 25 times faster than
``json.dumps`` on an event, the largest cost of a put), and by ``json`` otherwise or when orjson
would write it differently: an integer past 64 bits and a lone surrogate (orjson refuses them),
NaN and Infinity (orjson writes null). The two texts then differ at most in how an exponent is
written (``1e-07``, ``1e-7``) and decode to the same item. An item holding a lone surrogate
is refused with a :class:`~framework.errors.QueueError`: UTF-8 cannot carry it.

Freshly accepted events sharing their instances (a request's, put by a server) may be stored
together as one *batch*: ``{"events": [...], "instances": [...]}``, written and read under the
same rules (:func:`encode_batch_bytes`, :func:`decode_batch`). A batch stored with its
request's receipt (``"received"``, and ``"sentAt"`` when the body had one:
:meth:`~framework.event_fill.Receipt.stored`) holds its events as they came; reading it fills
them (:func:`~framework.event_fill.fill_events`), so the queue that makes them entries fills
them once. A batch without one holds its events complete.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; json does the same, slower
    orjson = None  # type: ignore[assignment]

from framework.errors import EventJsonError, QueueError
from framework.event_fill import Receipt, fill_events
from framework.event_json import MAX_DEPTH, decode_event_json
from framework.queue.base import QueuedEvent

__all__ = [
    "decode_batch",
    "decode_item",
    "encode_batch_bytes",
    "encode_item",
    "encode_item_bytes",
    "encode_item_draft",
    "encode_item_drafts",
]

_ITEM_DEPTH = 1
"""The level the stored form adds around an event (the object holding it)."""

_BATCH_DEPTH = 2
"""The levels a batch adds around an event (the object, its list of events)."""


def _data(item: QueuedEvent) -> dict[str, Any]:
    # Tuples as they are: both writers write a tuple as a JSON array.
    data: dict[str, Any] = {"event": item.event, "instances": item.instances}
    if item.done:
        data["done"] = item.done
    if item.retries:
        data["retries"] = item.retries
    if item.first_failed_at is not None:
        data["first_failed_at"] = item.first_failed_at
    if item.last_error is not None:
        data["last_error"] = item.last_error
    return data


def encode_item_draft(item: QueuedEvent) -> bytes | None:
    """orjson's text of ``item``: :func:`encode_item_bytes`'s unless it holds ``null`` (which
    may be a NaN or an Infinity orjson wrote as null); None when orjson refuses the item.

    For a caller encoding many items, which looks for ``null`` once in all of their texts.
    """
    return _draft(_data(item))


def encode_item_drafts(items: list[QueuedEvent]) -> list[bytes | None]:
    """:func:`encode_item_draft` of each item, written faster for items without retry state
    (what a server puts)."""
    if orjson is not None:
        dumps = orjson.dumps
        try:
            return [
                dumps({"event": item.event, "instances": item.instances})
                if not (item.done or item.retries)
                and item.first_failed_at is None
                and item.last_error is None
                else encode_item_draft(item)
                for item in items
            ]
        except TypeError:  # one item orjson refuses: each on its own
            pass
    return [encode_item_draft(item) for item in items]


def _exact(data: Any, draft: bytes | None, *, allow_nan: bool = True) -> bytes:
    """``draft`` (orjson's text of ``data``, None when refused) unless it holds ``null``;
    else ``json``'s text of ``data``. Not ``allow_nan``: NaN and Infinity are refused with a
    :class:`~framework.errors.QueueError`."""
    # orjson writes NaN and Infinity as null, where json writes them as they are (and the
    # decode then sets the entry aside): any null, and json decides.
    if draft is not None and b"null" not in draft:
        return draft
    try:
        written = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan)
    except ValueError:
        raise QueueError(
            "The event holds NaN or Infinity, which JSON cannot carry; nothing was queued."
        ) from None
    try:
        return written.encode("utf-8")
    except UnicodeEncodeError:
        raise QueueError(
            "The event holds a lone surrogate (a code point from U+D800 to U+DFFF without its "
            "pair), which a queue cannot store as UTF-8 text; nothing was queued."
        ) from None


def _draft(data: Any) -> bytes | None:
    """orjson's text of ``data``; None when orjson refuses it (or is not installed)."""
    if orjson is not None:
        try:
            return orjson.dumps(data)
        except TypeError:  # an integer past 64 bits, a lone surrogate: json writes those
            pass
    return None


def encode_item_bytes(item: QueuedEvent) -> bytes:
    """The stored form of ``item`` as UTF-8.

    Raises :class:`~framework.errors.QueueError` when the item holds a lone surrogate (a
    Python string can; JSON text read under :mod:`framework.event_json` cannot): UTF-8
    cannot carry it, and the queues' reader would refuse its escape.
    """
    return _exact(_data(item), encode_item_draft(item))


def encode_batch_bytes(
    events: list[dict[str, Any]], instances: tuple[str, ...], receipt: Receipt | None = None
) -> bytes:
    """The stored form of fresh ``events`` sharing ``instances``, as UTF-8:
    ``{"events": [...], "instances": [...]}`` and the fields of ``receipt`` when given (the
    events are filled when read), each event written as :func:`encode_item_bytes` writes an
    item's.

    One orjson call for the whole batch; when its text holds ``null``, each event is written
    on its own (json only for those holding one). Raises
    :class:`~framework.errors.QueueError` when an event holds a lone surrogate, NaN or
    Infinity: stored, they would make the whole batch unreadable (an item holding them is set
    aside alone when taken; a batch's events would all be).
    """
    data = {"events": events, "instances": instances}
    if receipt is not None:
        data.update(receipt.stored())
    whole = _draft(data)
    if whole is not None and b"null" not in whole:
        return whole
    texts = [_exact(event, _draft(event), allow_nan=False) for event in events]
    names = _exact(list(instances), _draft(instances))
    rest = b"".join(
        b",%s:%s" % (json.dumps(key).encode(), _exact(value, _draft(value), allow_nan=False))
        for key, value in data.items()
        if key not in ("events", "instances")
    )
    return b'{"events":[' + b",".join(texts) + b'],"instances":' + names + rest + b"}"


def encode_item(item: QueuedEvent) -> str:
    """The stored form of ``item`` (:func:`encode_item_bytes`, decoded)."""
    return encode_item_bytes(item).decode("utf-8")


def _state(data: dict[str, Any]) -> dict[str, Any] | None:
    """The retry state of a stored item, checked; None when a field has the wrong type."""
    done = data.get("done", [])
    retries = data.get("retries", 0)
    first = data.get("first_failed_at")
    error = data.get("last_error")
    if not isinstance(done, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        for pair in done
    ):
        return None
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        return None
    if first is not None and (isinstance(first, bool) or not isinstance(first, int | float)):
        return None
    if error is not None and not isinstance(error, str):
        return None
    return {
        "done": tuple((pair[0], pair[1]) for pair in done),
        "retries": retries,
        "first_failed_at": float(first) if first is not None else None,
        "last_error": error,
    }


def _object_of(text: str | None, depth: int, fields: tuple[str, str]) -> tuple[Any, ...] | None:
    """The stored object of ``text`` and its two ``fields``; None when it is not one."""
    if text is None:
        return None
    try:
        # The rule events came in under (framework.event_json), so that whatever else wrote
        # to a shared queue (a Redis stream) cannot make the consumer fail: at worst an
        # entry is set aside. A lone surrogate becomes invalid UTF-8 here, and is refused.
        data = decode_event_json(text.encode("utf-8", "surrogatepass"), max_depth=depth)
        return data, data[fields[0]], data[fields[1]]
    except (EventJsonError, TypeError, KeyError):
        return None


def decode_item(text: str | None) -> QueuedEvent | None:
    """The queued event stored as ``text``; None when it is not one."""
    found = _object_of(text, MAX_DEPTH + _ITEM_DEPTH, ("event", "instances"))
    if found is None:
        return None
    data, event, instances = found
    if not isinstance(event, dict) or not isinstance(instances, list):
        return None
    state = _state(data)
    if state is None:
        return None
    return QueuedEvent(event, tuple(str(name) for name in instances), **state)


def decode_batch(text: str | None) -> list[QueuedEvent] | None:
    """The queued events of a batch stored as ``text`` (:func:`encode_batch_bytes`), in
    order, filled when it holds a receipt; None when it is not one (not such an object, an
    event not an object, an instance not a string, a receipt whose ``received`` is not an
    aware ISO-8601 time)."""
    found = _object_of(text, MAX_DEPTH + _BATCH_DEPTH, ("events", "instances"))
    if found is None:
        return None
    data, events, instances = found
    if not isinstance(events, list) or not isinstance(instances, list):
        return None
    if not all(isinstance(event, dict) for event in events):
        return None
    if not all(isinstance(name, str) for name in instances):
        return None
    if "received" in data:
        receipt = Receipt.from_stored(data["received"], data.get("sentAt"))
        if receipt is None:
            return None
        fill_events(events, receipt)
    names = tuple(instances)
    return [QueuedEvent(event, names) for event in events]
