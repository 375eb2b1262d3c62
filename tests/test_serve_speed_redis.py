"""The Redis queue's put shortcuts give the script the arguments the general path gives.

:func:`framework.queue.redis_put.fresh_put_args` chooses partitions and builds the PUT
script's arguments with a shortcut for one-user events, and :func:`keys_json` writes a plain
key's JSON by hand; these tests hold both to the general rule on random items.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from framework.queue.base import QueuedEvent
from framework.queue.codec import encode_item
from framework.queue.redis_partitions import StreamKeys
from framework.queue.redis_put import fresh_put_args, keys_json, put_args

IDS = st.one_of(
    st.none(),
    st.just(""),
    st.integers(),
    st.sampled_from(["u1", "u2", 'a"b', "a\\b", "é", "\x7f", "tab\there", "\ud800"]),
    st.text(max_size=8),
)


@st.composite
def items(draw: st.DrawFn) -> QueuedEvent:
    event: dict[str, Any] = {"type": draw(st.sampled_from(["track", "identify", "alias"]))}
    for field in ("userId", "anonymousId", "previousId"):
        value = draw(IDS)
        if value is not None or draw(st.booleans()):
            event[field] = value
    return QueuedEvent(event, ("bench",))


@given(st.lists(st.text(max_size=6), max_size=3))
def test_keys_json_is_json_dumps(keys: list[str]) -> None:
    assert keys_json(keys) == json.dumps(keys)


@given(st.lists(items(), max_size=12), st.integers(1, 20))
def test_fresh_put_args_are_the_general_rule_item_by_item(
    batch: list[QueuedEvent], partitions: int
) -> None:
    general, fresh = StreamKeys("s", partitions), StreamKeys("s", partitions)
    places = [general.partition_of(item) for item in batch]
    expected = put_args(
        general,
        [(place, encode_item(item), item) for place, item in zip(places, batch, strict=True)],
    )
    assert fresh_put_args(fresh, batch) == (places, expected)
