"""A queued item's text, written by orjson or by json, decodes to the same item.

``encode_item`` writes with orjson when it is installed and leaves to ``json`` what orjson
writes differently (an integer past 64 bits, NaN and Infinity). An item holding a lone
surrogate is refused: UTF-8 cannot carry it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.errors import QueueError
from framework.queue import codec
from framework.queue.base import QueuedEvent
from framework.queue.codec import decode_item, encode_item


def json_text(item: QueuedEvent) -> str:
    """The text as json writes it (orjson absent)."""
    original = codec.orjson
    codec.orjson = None
    try:
        return encode_item(item)
    finally:
        codec.orjson = original


def test_orjson_is_installed_as_a_dependency() -> None:
    assert codec.orjson is not None


def test_without_orjson_the_text_is_compact_json_as_written_before() -> None:
    item = QueuedEvent({"type": "track", "é": [1, 2.5, None]}, ("a",), retries=2)
    text = json_text(item)
    data = {"event": item.event, "instances": ["a"], "retries": 2}
    assert text == json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "value",
    [
        2**64,
        -(2**70),
        1e-7,
        1e22,
        -0.0,
        None,
        "null",
        "é€😀\u2028\x00\x7f",
        {"nested": [[[{"k": "v"}]]]},
    ],
)
def test_what_orjson_writes_otherwise_decodes_as_jsons_text_does(value: Any) -> None:
    item = QueuedEvent({"type": "track", "value": value}, ("a", "b"), retries=1, last_error="e")
    assert decode_item(encode_item(item)) == decode_item(json_text(item))


def test_an_item_holding_a_lone_surrogate_is_refused_with_a_queue_error() -> None:
    for place in ({"value": "\ud800 lone"}, {"\udfff": 1}, {"context": {"x": ["a\ud800"]}}):
        item = QueuedEvent({"type": "track", **place}, ("a",))
        with pytest.raises(QueueError, match="lone surrogate"):
            encode_item(item)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_written_as_json_writes_it_and_set_aside(number: float) -> None:
    item = QueuedEvent({"type": "track", "value": number}, ("a",))
    assert encode_item(item) == json_text(item)
    assert decode_item(encode_item(item)) is None


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=6), values, max_size=4), st.integers(0, 3))
def test_any_event_round_trips_the_same_whichever_writes_it(
    event: dict[str, Any], retries: int
) -> None:
    item = QueuedEvent(event, ("i",), retries=retries)
    assert decode_item(encode_item(item)) == decode_item(json_text(item))
