"""The one rule for reading events as JSON text, at every edge where they come in.

``actionkit run`` (each line of its input), ``actionkit serve`` (each request body),
``try``/``map``/``trigger`` (an event file) and the queues (each stored item) all decode with
:func:`decode_event_json`, so an event one of them takes, all of them take, and nothing an
outsider can write makes any of them fail with anything but :class:`EventJsonError`.

The rule is strict JSON (RFC 8259) over UTF-8 bytes, with limits:

- **UTF-8 only**: any invalid byte (an encoded surrogate included) is refused, at its offset.
  A byte-order mark is not JSON either.
- **No NaN, Infinity or -Infinity**, and no number so large it becomes infinite as a double
  (``1e999``): JSON has none, and Segment's servers, JavaScript and our own JSON output would
  each read them differently.
- **No lone surrogate**: a ``\\ud800`` escape not paired with a low surrogate, in a string or
  a key, names no character and cannot be written as UTF-8 again; refused at its pointer.
- **At most** :data:`MAX_DEPTH` **nested arrays and objects**. Segment documents no nesting
  limit, only sizes (32 KB an event); a real event is about 4 deep (``context.page.url``),
  and 64 leaves any sane payload room while keeping every recursive walk over an event
  (mappings, triggers, JSON Schema validation, ``json.dumps``) far from Python's recursion
  limit of 1,000 frames. The depth is checked on the text before parsing, so a document of
  100,000 ``[`` costs one scan, not a ``RecursionError``.
- **Number literals of at most** :data:`MAX_NUMBER_CHARS` **characters**: a double has 17
  significant digits, a 64-bit integer 20, so 100 is generous, and no literal reaches Python's
  4,300-digit limit on integer conversion. A longer one (a 5,000-digit ID) is refused; send
  it as a string.

Sizes are not this module's business: each edge keeps its own (the server's 32 KB an event and
500 KB a batch body).

The text is read by orjson when it is installed (two to three times as fast as ``json``),
except a text with 19 digits in a row outside its strings, where a number may pass 64 bits
or the length limit (digits inside strings, as in long IDs, do not count);
whatever orjson refuses is read again by ``json``, whose reading says which rule it breaks.
Both readings give the same values (tests/test_event_json.py holds them to it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from framework.errors import EventJsonError

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; json reads the same, slower
    orjson = None  # type: ignore[assignment]

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "decode_event_json"]

MAX_DEPTH = 64
"""The most arrays and objects an event may nest, one inside the other."""

MAX_NUMBER_CHARS = 100
"""The longest number literal accepted, in characters (sign, digits, point and exponent)."""

# A string, to skip (unterminated ones run to the end, so the scan stays linear), or a bracket.
_TOKENS = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[\[\]{}]', re.DOTALL)
_AS_PARENTHESES = bytes.maketrans(b"[{]}", b"(())")
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_DIGIT_RUN = b"0" * 19
"""Nineteen digits in a row: an integer may pass 64 bits, a number literal may pass
:data:`MAX_NUMBER_CHARS` (whose at most three runs of digits hold 97 digits or more)."""
_NOT_QUOTE_OR_BRACKET = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# A \u escape of a surrogate (U+D800 to U+DFFF); only then can the parsed value hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused:
    """What a number hook returns in place of a number it refuses (found by pointer later)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def decode_event_json(raw: bytes, *, line: int = 1, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``raw`` under the rule of this module; :class:`EventJsonError` if not.

    ``line`` is the line of the input on which ``raw`` starts (``actionkit run`` passes each
    line's number), used in locations. ``max_depth`` is for a document that wraps events in
    levels of its own (a queue's item, ``{"event": ...}``, takes ``MAX_DEPTH + 1``); it stays
    the same for anything that comes from outside. Any bytes either decode or raise
    :class:`EventJsonError`, never another exception.
    """
    data = bytes(raw)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at_line, column = _line_column(data, exc.start, line)
        raise EventJsonError(
            f"The input is not UTF-8 text: the byte at line {at_line}, column {column} is not "
            "valid UTF-8; send UTF-8 encoded JSON.",
            reason="NOT_UTF8",
            offset=exc.start,
            line=at_line,
            column=column,
        ) from None
    _check_depth(text, data, line, max_depth)
    if orjson is not None and not _may_hold_long_number(data):
        # orjson reads what json reads, to the same values, and refuses all the rule refuses
        # but long numbers: NaN and Infinity, a number infinite as a double, a lone surrogate.
        # A number past 64 bits (which it would read as a double) or over the length limit
        # has a run of 19 digits, and goes to json below. So does whatever orjson refuses,
        # for the rule's own words on why.
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    refused: list[_Refused] = []
    try:
        value = json.loads(
            text,
            parse_int=_int_hook(refused),
            parse_float=_float_hook(refused),
            parse_constant=_constant_hook(refused),
        )
    except json.JSONDecodeError as exc:
        offset = len(text[: exc.pos].encode("utf-8"))
        at_line, column = _line_column(data, offset, line)
        # Python's sentence for a leading byte order mark names its own API; say it plainly.
        reason = _BOM_SENTENCE if text.startswith("\ufeff") and exc.pos == 0 else exc.msg
        raise EventJsonError(
            f"The input is not valid JSON at line {at_line}, column {column}: {reason}.",
            reason="SYNTAX",
            offset=offset,
            line=at_line,
            column=column,
        ) from None
    except RecursionError:  # the scan counts brackets as json does; this is a safety net
        raise _too_deep(max_depth, None, None, None) from None
    if refused or _SURROGATE_ESCAPE.search(text):
        _check_values(value)
    return value


_BOM_SENTENCE = (
    "it starts with a byte order mark (U+FEFF), which JSON text may not begin with; save it "
    "as UTF-8 without one"
)


def _line_column(data: bytes, offset: int, first_line: int) -> tuple[int, int]:
    """The 1-based line (counting from ``first_line``) and byte column of ``offset``."""
    start = data.rfind(b"\n", 0, offset) + 1
    return first_line + data.count(b"\n", 0, offset), offset - start + 1


def _too_deep(
    limit: int, offset: int | None, line: int | None, column: int | None
) -> EventJsonError:
    where = f" at line {line}, column {column}" if line is not None else ""
    return EventJsonError(
        f"The input nests arrays and objects more than {limit} deep{where}; "
        f"at most {limit} levels are accepted, flatten the deeper values.",
        reason="TOO_DEEP",
        offset=offset,
        line=line,
        column=column,
    )


def _check_depth(text: str, data: bytes, first_line: int, limit: int) -> None:
    """Refuse ``text`` if its brackets, outside strings, nest more than ``limit`` deep."""
    # Quick and exact for valid JSON, all at C speed: drop the escaped backslashes and quotes,
    # so that the quotes left delimit the strings, and keep only quotes and brackets.
    unescaped = _without_escapes(data)
    marks = unescaped.translate(None, _NOT_QUOTE_OR_BRACKET)
    if marks.count(b"[") + marks.count(b"{") <= limit:
        return
    if 2 * marks.count(b'""') == marks.count(b'"'):
        # Every string is an empty pair of quotes here: none holds a bracket.
        outside = marks.translate(None, b'"')
    else:
        outside = b"".join(marks.split(b'"')[::2])
    if _nesting_within(outside.translate(_AS_PARENTHESES), limit):
        return
    # Too deep: find where, with a (slower) scan token by token.
    depth = 0
    for match in _TOKENS.finditer(text):
        step = _STEP.get(match.group())
        if step is None:
            continue
        depth += step
        if depth > limit:
            offset = len(text[: match.start()].encode("utf-8"))
            at_line, column = _line_column(data, offset, first_line)
            raise _too_deep(limit, offset, at_line, column)


def _without_escapes(data: bytes) -> bytes:
    """``data`` without its escaped backslashes and quotes: in valid JSON, the quotes left
    delimit the strings."""
    return data.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in data else data


def _may_hold_long_number(data: bytes) -> bool:
    """Whether ``data`` has 19 digits in a row outside its strings (exact for valid JSON).

    At C speed: first the whole text; only when it has such runs, each is placed inside or
    outside a string by the parity of the quotes before it (the escaped ones left out, as
    :func:`_check_depth` does). For text that is not valid JSON the answer may be wrong either
    way, which is harmless: orjson refuses such text, and json reads it again.
    """
    if _LONG_DIGIT_RUN not in data.translate(_DIGITS_AS_ZERO):
        return False
    unescaped = _without_escapes(data)
    digits = unescaped.translate(_DIGITS_AS_ZERO)
    quotes = start = 0
    while (at := digits.find(_LONG_DIGIT_RUN, start)) >= 0:
        quotes += unescaped.count(b'"', start, at)
        if quotes % 2 == 0:
            return True  # between strings: a number
        end = unescaped.find(b'"', at)  # the end of the string it is in
        if end < 0:
            return True
        quotes, start = quotes + 1, end + 1
    return False


def _nesting_within(brackets: bytes, limit: int) -> bool:
    """Whether ``brackets`` (only ``(`` and ``)``) are balanced and nest at most ``limit`` deep.

    Each pass of ``replace`` removes the innermost pairs, so a balanced text is empty after as
    many passes as it nests deep; one that stops shrinking is not balanced (False: the token
    scan then decides, as for any text this cannot vouch for).
    """
    for _ in range(limit):
        if not brackets:
            return True
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):
            return False
        brackets = shorter
    return not brackets


def _int_hook(refused: list[_Refused]) -> Callable[[str], Any]:
    def parse_int(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            refused.append(_Refused("NUMBER_TOO_LONG"))
            return refused[-1]
        return int(literal)

    return parse_int


def _float_hook(refused: list[_Refused]) -> Callable[[str], Any]:
    def parse_float(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            refused.append(_Refused("NUMBER_TOO_LONG"))
            return refused[-1]
        number = float(literal)
        if math.isinf(number):
            refused.append(_Refused("NON_FINITE_NUMBER"))
            return refused[-1]
        return number

    return parse_float


def _constant_hook(refused: list[_Refused]) -> Callable[[str], Any]:
    def parse_constant(name: str) -> Any:
        refused.append(_Refused("NON_FINITE_NUMBER"))
        return refused[-1]

    return parse_constant


def _pointer_token(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _where(pointer: str) -> str:
    return f"at {pointer}" if pointer else "at the top level"


def _check_values(value: Any) -> None:
    """Raise for the first refused number or lone surrogate, in document order."""
    # (value, its pointer, whether it is an object's key rather than a value)
    stack: list[tuple[Any, str, bool]] = [(value, "", False)]
    while stack:
        item, pointer, is_key = stack.pop()
        if isinstance(item, _Refused):
            raise _refused_number(item.reason, pointer)
        if isinstance(item, str):
            if _SURROGATE.search(item):
                what = (
                    f"A key of the object {_where(pointer)}"
                    if is_key
                    else (f"The string {_where(pointer)}")
                )
                raise EventJsonError(
                    f"{what} holds an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), "
                    "which names no character; escape a high and a low surrogate together, "
                    "or the character itself.",
                    reason="LONE_SURROGATE",
                    pointer=pointer,
                )
        elif isinstance(item, dict):
            children: list[tuple[Any, str, bool]] = []
            for key, child in item.items():
                children.append((key, pointer, True))
                children.append((child, pointer + _pointer_token(key), False))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{pointer}/{index}", False)
                for index, child in reversed(list(enumerate(item)))
            )


def _refused_number(reason: str, pointer: str) -> EventJsonError:
    if reason == "NUMBER_TOO_LONG":
        message = (
            f"The number {_where(pointer)} is written with more than {MAX_NUMBER_CHARS} "
            "characters, the most accepted; send such a value as a string."
        )
    else:
        message = (
            f"The number {_where(pointer)} is NaN, Infinity or too large for a double, "
            "which JSON cannot carry; send a finite number, or null."
        )
    return EventJsonError(message, reason=reason, pointer=pointer)
