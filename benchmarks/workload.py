"""The benchmark workload: a Python port of the peer's ``gen_workload.js``.

For every ``(n, seed)`` the text this module writes is byte-identical to what
``node gen_workload.js --n N --seed S --out FILE`` writes, so the engine benchmark needs no
Node and both implementations can run the very same events, FQL strings and mappings.
Exactness rests on four JavaScript behaviours reproduced here: the mulberry32 PRNG on 32-bit
integers (called in the same order as the original), ``Math.round`` (halves go up),
``Date.prototype.toISOString`` and ``JSON.stringify`` with JavaScript's number formatting.

Command line::

    python -m benchmarks.workload --n 20000 [--seed 42] --out workload.json   # '-' = stdout
"""

from __future__ import annotations

import argparse
import copy
import json.encoder
import math
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias, TypeVar

__all__ = [
    "SUBSCRIPTIONS",
    "JsonValue",
    "generate_workload",
    "js_json",
    "js_number",
    "js_round",
    "main",
    "render_workload",
    "workload_text",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
"""A JSON document as Python data: what ``JSON.parse`` would give, in Python types."""

JsonObject: TypeAlias = dict[str, JsonValue]

_T = TypeVar("_T")
_MASK32: Final = 0xFFFFFFFF

# ---------------------------------------------------------------------------------------------
# JavaScript semantics


def js_round(x: float) -> int:
    """Round like JavaScript's ``Math.round``: to the nearest integer, halves toward +infinity.

    Python's ``round`` rounds halves to even (``round(0.5) == 0``), which would change the
    generated totals.
    """
    floor = math.floor(x)
    # x - floor(x) is exact for every double, so the comparison sees the true fraction.
    return floor + 1 if x - floor >= 0.5 else floor


def js_number(x: float) -> str:
    """Format a number as JavaScript's ``String(x)`` does (ECMAScript Number::toString).

    Integral values print without ``.0`` (``249``), others use the shortest digits that read
    back to the same double, and the exponent form is used only from ``1e21`` up and below
    ``1e-6`` (``1e+21``, ``1.5e-7``). An ``int`` beyond 2**53 is rounded to a double first,
    as a JavaScript number would be.
    """
    if isinstance(x, int):
        if -(2**53) <= x <= 2**53:
            return str(x)
        try:
            x = float(x)
        except OverflowError:  # beyond the largest double: JavaScript would hold an infinity
            x = math.inf if x > 0 else -math.inf
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"  # also for -0.0
    text = repr(x)
    if "e" not in text:
        # Without an exponent, repr covers 1e-4 <= |x| < 1e16, where JavaScript prints the
        # same digits in the same positional form; only the ".0" of integral values differs.
        return text[:-2] if text.endswith(".0") else text
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    significant = digits.lstrip("0")
    # The value is 0.<significant> * 10**point.
    point = len(whole) + int(exponent) - (len(digits) - len(significant))
    significant = significant.rstrip("0")
    count = len(significant)
    if count <= point <= 21:
        body = significant + "0" * (point - count)
    elif 0 < point <= 21:
        body = significant[:point] + "." + significant[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * -point + significant
    else:
        head = significant[0] + ("." + significant[1:] if count > 1 else "")
        body = f"{head}e{point - 1:+d}"
    return sign + body


_NON_FINITE: Final = frozenset(("NaN", "Infinity", "-Infinity"))
_encode_string = json.encoder.encode_basestring  # escapes exactly what JSON.stringify does
_SURROGATES = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")


def _js_string(text: str) -> str:
    encoded = _encode_string(text)
    if _SURROGATES.search(encoded) is None:
        return encoded
    # JSON.stringify escapes lone surrogates, which a Python str can hold but UTF-8 cannot.
    return _SURROGATES.sub(_surrogate, encoded)


def _surrogate(match: re.Match[str]) -> str:
    pair = match.group()
    if len(pair) == 2:
        return pair.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    return f"\\u{ord(pair):04x}"


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < _MASK32


def _js_keys(obj: dict[object, object]) -> list[str]:
    # A JavaScript object lists array-index keys first, in ascending order, whatever the
    # insertion order was.
    keys: list[str] = []
    index_keys: list[str] = []
    for key in obj:
        if not isinstance(key, str):
            raise TypeError(f"object keys must be strings, not {type(key).__name__}")
        if "0" <= key[:1] <= "9" and _is_array_index(key):
            index_keys.append(key)
        else:
            keys.append(key)
    if index_keys:
        index_keys.sort(key=int)
        return index_keys + keys
    return keys


def js_json(value: object) -> str:
    """Serialise ``value`` exactly as JavaScript's ``JSON.stringify(value)`` would.

    No whitespace, non-ASCII characters written as they are, numbers as :func:`js_number`
    (``NaN`` and infinities as ``null``), object keys in JavaScript's order. Raises
    ``TypeError`` for anything that is not JSON data (including non-string object keys).
    """
    parts: list[str] = []
    _emit(value, parts)
    return "".join(parts)


def _emit(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_js_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | float):
        text = js_number(value)
        out.append("null" if text in _NON_FINITE else text)
    elif isinstance(value, dict):
        out.append("{")
        for position, key in enumerate(_js_keys(value)):
            if position:
                out.append(",")
            out.append(_js_string(key))
            out.append(":")
            _emit(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _emit(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON data")


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(ms: int) -> str:
    """``new Date(ms).toISOString()`` for years 0001-9999."""
    d = _EPOCH + timedelta(milliseconds=ms)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        f".{ms % 1000:03d}Z"
    )


# ---------------------------------------------------------------------------------------------
# PRNG: mulberry32, as in the original; every JavaScript int32 is kept here as its unsigned
# 32-bit pattern, which gives the same bits for ^, |, >>> and Math.imul.


class _Rng:
    """The original's ``makeRng``: helpers on one mulberry32 stream, in the same call order."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK32  # seed >>> 0

    def random(self) -> float:
        a = (self._state + 0x6D2B79F5) & _MASK32
        self._state = a
        t = ((a ^ (a >> 15)) * (a | 1)) & _MASK32
        t ^= (t + ((t ^ (t >> 7)) * (t | 61))) & _MASK32
        return ((t ^ (t >> 14)) & _MASK32) / 4294967296

    def integer(self, lo: int, hi: int) -> int:
        return lo + math.floor(self.random() * (hi - lo + 1))

    def chance(self, p: float) -> bool:
        return self.random() < p

    def pick(self, items: Sequence[_T]) -> _T:
        return items[math.floor(self.random() * len(items))]

    def weighted(self, pairs: Sequence[tuple[_T, int]]) -> _T:
        total = sum(weight for _, weight in pairs)
        x = self.random() * total
        for value, weight in pairs:
            x -= weight
            if x < 0:
                return value
        return pairs[-1][0]

    def hex(self, length: int) -> str:
        return "".join("0123456789abcdef"[math.floor(self.random() * 16)] for _ in range(length))

    def uuid(self) -> str:
        a = self.hex(8)
        b = self.hex(4)
        c = self.hex(3)
        d = self.pick(("8", "9", "a", "b"))
        e = self.hex(3)
        return f"{a}-{b}-4{c}-{d}{e}-{self.hex(12)}"


# ---------------------------------------------------------------------------------------------
# Vocabulary (the original's, in its order: the PRNG indexes into these tuples)

# fmt: off

_FIRST: Final = ("Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis",
                 "Frances", "Edsger", "Radia", "Niklaus", "Sophie", "Tim", "Hedy", "Guido")
_LAST: Final = ("Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov",
                "Ritchie", "Allen", "Dijkstra", "Perlman", "Wirth", "Wilson", "Berners-Lee",
                "Lamarr", "van Rossum")
_DOMAINS: Final = ("example.com", "acme.io", "mail.test", "corp.example.org")
_CITIES: Final = (
    ("San Francisco", "US", "94107"),
    ("New York", "US", "10001"),
    ("London", "GB", "EC1A 1BB"),
    ("Paris", "FR", "75001"),
    ("Berlin", "DE", "10115"),
    ("Tokyo", "JP", "100-0001"),
    ("Madrid", "ES", "28001"),
)
_LOCALES: Final = ("en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "ja-JP")
_TIMEZONES: Final = ("America/Los_Angeles", "America/New_York", "Europe/London",
                     "Europe/Paris", "Europe/Berlin", "Asia/Tokyo")
_CURRENCIES: Final = (("USD", 6), ("EUR", 3), ("GBP", 1))
_PLANS: Final = (("free", 5), ("team", 3), ("business", 1), ("enterprise", 1))
_INDUSTRIES: Final = ("Technology", "Retail", "Finance", "Healthcare", "Education", "Media")
_PRODUCTS: Final[tuple[tuple[str, str, str, int | float], ...]] = (
    ("sku-001", "Monopoly: 3rd Edition", "Games", 19.99),
    ("sku-002", "Uno Card Game", "Games", 3.99),
    ("sku-003", "The Pragmatic Programmer", "Books", 39.5),
    ("sku-004", "Noise Cancelling Headphones", "Electronics", 249),
    ("sku-005", "USB-C Cable (2m)", "Electronics", 12.49),
    ("sku-006", "Rain Jacket", "Apparel", 89.95),
    ("sku-007", "Chef Knife", "Home", 74),
    ("sku-008", "Camping Stove", "Outdoors", 129.99),
    ("sku-009", "4K Monitor", "Electronics", 399.99),
    ("sku-010", "Wool Socks", "Apparel", 14),
)
_TRACK_EVENTS: Final = (
    ("Product Viewed", 25),
    ("Product Added", 12),
    ("Checkout Started", 8),
    ("Order Completed", 12),
    ("Order Refunded", 2),
    ("Signed Up", 5),
    ("Button Clicked", 20),
    ("Test Event", 3),
    ("Video Playback Started", 8),
    ("Order Updated (Test)", 1),
)
_PAGES: Final[tuple[tuple[str | None, str | None, str], ...]] = (
    ("Home", "Marketing", "/"),
    ("Pricing", "Marketing", "/pricing"),
    ("Docs", "Docs", "/docs"),
    ("Docs", "Docs", "/docs/getting-started"),
    ("Docs", "Docs", "/docs/api/tracking"),
    ("Blog Post", "Blog", "/blog/2024/hello-world"),
    ("Checkout", "Commerce", "/checkout"),
    (None, None, "/account/settings"),
)
_REFERRERS: Final = ("", "https://www.google.com/", "https://news.ycombinator.com/",
                     "https://twitter.com/", "https://duckduckgo.com/")
_BUTTONS: Final = ("Sign Up", "Buy Now", "Learn More", "Download", "Contact Sales")
# fmt: on
_CAMPAIGNS: Final[tuple[tuple[tuple[str, str], ...], ...]] = (
    (
        ("name", "spring_sale"),
        ("source", "google"),
        ("medium", "cpc"),
        ("term", "board games"),
        ("content", "ad-1"),
    ),
    (("name", "newsletter_42"), ("source", "newsletter"), ("medium", "email")),
    (("name", "launch"), ("source", "twitter"), ("medium", "social"), ("content", "thread")),
)
_USER_AGENTS: Final = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
)
_COMPANIES: Final = ("Initech", "Globex", "Umbrella", "Hooli", "Vandelay")
_EVENT_TYPES: Final = (("track", 55), ("page", 20), ("identify", 13), ("group", 6), ("alias", 6))
_PLATFORMS: Final = (("web", 5), ("ios", 3), ("android", 2))
_ORDER_EVENTS: Final = frozenset(
    ("Checkout Started", "Order Completed", "Order Updated (Test)", "Order Refunded")
)

_BASE_TIME: Final = 1_705_320_000_000  # Date.UTC(2024, 0, 15, 12, 0, 0): 2024-01-15T12:00:00Z
_DAY_MS: Final = 86_400_000
_NOT_LOWER_ALPHA: Final = re.compile("[^a-z]")

# ---------------------------------------------------------------------------------------------
# Subscriptions: the original's 10 FQL strings and their mappings, in its key order.


def _path(path: str) -> JsonObject:
    return {"@path": path}


def _if_exists(path: str, then: JsonValue, otherwise: JsonValue) -> JsonObject:
    return {"@if": {"exists": _path(path), "then": then, "else": otherwise}}


SUBSCRIPTIONS: Final[tuple[JsonObject, ...]] = (
    {
        "id": "s01_track_all",
        "fql": 'type = "track"',
        "mapping": {
            "event_name": _path("$.event"),
            "user_id": _path("$.userId"),
            "anonymous_id": _path("$.anonymousId"),
            "timestamp": _path("$.timestamp"),
            "message_id": _path("$.messageId"),
            "properties": _path("$.properties"),
            "source": {"@literal": "segment"},
        },
    },
    {
        "id": "s02_order_completed",
        "fql": 'type = "track" and event = "Order Completed"',
        "mapping": {
            "order_id": _path("$.properties.order_id"),
            "value": _path("$.properties.revenue"),
            "currency": {"@case": {"operator": "lower", "value": _path("$.properties.currency")}},
            "customer": {
                "id": _if_exists("$.userId", _path("$.userId"), _path("$.anonymousId")),
                "email": _path("$.context.traits.email"),
            },
            "items": {
                "@arrayPath": [
                    "$.properties.products",
                    {
                        "item_id": _path("$.product_id"),
                        "item_name": _path("$.name"),
                        "price": _path("$.price"),
                        "quantity": _path("$.quantity"),
                        "coupon": _path("$.coupon"),
                    },
                ]
            },
            "summary": {
                "@template": "Order {{properties.order_id}} for {{properties.total}} "
                "{{properties.currency}}"
            },
        },
    },
    {
        "id": "s03_identify_or_track",
        "fql": 'type = "identify" or type = "track"',
        "mapping": {
            "user_id": _path("$.userId"),
            "anonymous_id": _path("$.anonymousId"),
            "email": _if_exists(
                "$.traits.email", _path("$.traits.email"), _path("$.context.traits.email")
            ),
            "traits": _if_exists("$.traits", _path("$.traits"), _path("$.context.traits")),
            "kind": {"@template": "{{type}}:{{event}}"},
            "locale": _path("$.context.locale"),
        },
    },
    {
        "id": "s04_big_revenue",
        "fql": "properties.revenue > 100",
        "mapping": {
            "order_id": _path("$.properties.order_id"),
            "revenue": _path("$.properties.revenue"),
            "currency": _path("$.properties.currency"),
            "alert": {
                "@template": "Big order {{properties.order_id}}: {{properties.revenue}} "
                "{{properties.currency}} by {{userId}}"
            },
            "tier": {"@literal": "high_value"},
            "first_product": _path("$.properties.products[0].name"),
        },
    },
    {
        "id": "s05_contains_order",
        "fql": 'contains(event, "Order")',
        "mapping": {
            "event": _path("$.event"),
            "order_id": _path("$.properties.order_id"),
            "skus": {"@arrayPath": ["$.properties.products", {"sku": _path("$.sku")}]},
            "user": _if_exists("$.userId", _path("$.userId"), {"@literal": "anonymous"}),
        },
    },
    {
        "id": "s06_ios_not_test",
        "fql": 'context.device.type = "ios" and !contains(event, "Test")',
        "mapping": {
            "device_id": _path("$.context.device.id"),
            "idfa_enabled": _path("$.context.device.adTrackingEnabled"),
            "app_version": _path("$.context.app.version"),
            "os": {"@template": "{{context.os.name}} {{context.os.version}}"},
            "event": _if_exists("$.event", _path("$.event"), _path("$.type")),
            "user_id": _path("$.userId"),
        },
    },
    {
        "id": "s07_docs_pages",
        "fql": 'type = "page" and match(properties.path, "/docs*")',
        "mapping": {
            "page_name": _path("$.name"),
            "url": _path("$.properties.url"),
            "title": _path("$.properties.title"),
            "referrer": {
                "@if": {
                    "blank": _path("$.properties.referrer"),
                    "then": _path("$.properties.referrer"),
                    "else": {"@literal": "(direct)"},
                }
            },
            "section": {
                "@replace": {
                    "pattern": "/docs",
                    "replacement": "docs:",
                    "value": _path("$.properties.path"),
                }
            },
            "label": {"@template": "{{category}} / {{name}}"},
        },
    },
    {
        "id": "s08_identify_with_email",
        "fql": 'type = "identify" and traits.email != null',
        "mapping": {
            "user_id": _path("$.userId"),
            "email": {"@case": {"operator": "lower", "value": _path("$.traits.email")}},
            "profile": {
                "first_name": _path("$.traits.first_name"),
                "last_name": _path("$.traits.last_name"),
                "city": _path("$.traits.address.city"),
                "country": _path("$.traits.address.country"),
                "plan": _path("$.traits.plan"),
                "phone": _path("$.traits.phone"),
            },
            "display": {"@template": "{{traits.name}} <{{traits.email}}>"},
            "subscribed": _if_exists(
                "$.traits.email_opt_in", _path("$.traits.email_opt_in"), False
            ),
        },
    },
    {
        "id": "s09_eur_track_or_alias",
        "fql": '(type = "track" and properties.currency = "EUR") or type = "alias"',
        "mapping": {
            "user_id": _path("$.userId"),
            "previous_id": _path("$.previousId"),
            "event": _path("$.event"),
            "amount": _path("$.properties.total"),
            "tags": [{"@literal": "eu"}, _path("$.type"), _path("$.context.locale")],
            "note": {"@template": "{{type}} {{event}} {{properties.total}}"},
        },
    },
    {
        "id": "s10_large_groups",
        "fql": 'type = "group" and traits.employees >= 100',
        "mapping": {
            "group_id": _path("$.groupId"),
            "user_id": _path("$.userId"),
            "account": {
                "name": _path("$.traits.name"),
                "industry": _path("$.traits.industry"),
                "employees": _path("$.traits.employees"),
                "plan": {"@case": {"operator": "upper", "value": _path("$.traits.plan")}},
            },
            "segment_size": {"@literal": "enterprise"},
            "headline": {"@template": "{{traits.name}} ({{traits.employees}} employees)"},
        },
    },
)
"""The 10 subscriptions, ``{"id", "fql", "mapping"}``, exactly as the original lists them.

Shared and never mutated: :func:`generate_workload` hands out deep copies.
"""

# ---------------------------------------------------------------------------------------------
# Event generation: one function per function of the original, the PRNG called in its order.


class _User:
    __slots__ = ("email", "first", "last", "user_id")

    def __init__(self, user_id: str, first: str, last: str, email: str) -> None:
        self.user_id = user_id
        self.first = first
        self.last = last
        self.email = email


def _gen_user(rng: _Rng) -> _User:
    idx = rng.integer(1, 5000)
    first = rng.pick(_FIRST)
    last = rng.pick(_LAST)
    local = f"{first.lower()}.{_NOT_LOWER_ALPHA.sub('', last.lower())}{idx}"
    return _User(f"user_{idx:05d}", first, last, f"{local}@{rng.pick(_DOMAINS)}")


def _gen_context(rng: _Rng, platform: str, user: _User | None, with_traits: bool) -> JsonObject:
    ctx: JsonObject = {}
    if platform == "web":
        version = f"next-1.{rng.integer(40, 70)}.{rng.integer(0, 9)}"
        ctx["library"] = {"name": "analytics.js", "version": version}
        ctx["userAgent"] = rng.pick(_USER_AGENTS)
    else:
        ios = platform == "ios"
        if ios:
            ctx["library"] = {"name": "analytics-ios", "version": f"4.1.{rng.integer(0, 8)}"}
        else:
            ctx["library"] = {"name": "analytics-android", "version": f"4.10.{rng.integer(0, 4)}"}
        app_version = f"3.{rng.integer(0, 12)}.{rng.integer(0, 5)}"
        ctx["app"] = {
            "name": "Acme Shop",
            "version": app_version,
            "build": str(rng.integer(1000, 1999)),
            "namespace": "com.acme.shop",
        }
        device: JsonObject
        if ios:
            device_id = rng.uuid().upper()
            model = rng.pick(("iPhone14,2", "iPhone15,3", "iPad13,4"))
            device = {"id": device_id, "manufacturer": "Apple", "model": model, "type": "ios"}
            device["adTrackingEnabled"] = rng.chance(0.3)
        else:
            device_id = rng.hex(16)
            manufacturer = rng.pick(("Google", "samsung", "OnePlus"))
            model = rng.pick(("Pixel 8", "SM-S911B", "CPH2449"))
            device = {"id": device_id, "manufacturer": manufacturer, "model": model}
            device["type"] = "android"
            device["adTrackingEnabled"] = rng.chance(0.5)
        ctx["device"] = device
        if ios:
            ctx["os"] = {"name": "iOS", "version": f"17.{rng.integer(0, 3)}"}
            ctx["screen"] = {"width": 390, "height": 844, "density": 3}
        else:
            ctx["os"] = {"name": "Android", "version": str(rng.integer(12, 14))}
            ctx["screen"] = {"width": 412, "height": 915, "density": 2.625}
        wifi = rng.chance(0.6)
        cellular = rng.chance(0.5)
        carrier = rng.pick(("T-Mobile", "Verizon", "Vodafone", ""))
        ctx["network"] = {"wifi": wifi, "cellular": cellular, "carrier": carrier}
    octets = [rng.integer(1, 223), rng.integer(0, 255), rng.integer(0, 255), rng.integer(1, 254)]
    ctx["ip"] = ".".join(map(str, octets))
    ctx["locale"] = rng.pick(_LOCALES)
    ctx["timezone"] = rng.pick(_TIMEZONES)
    if rng.chance(0.15):
        ctx["campaign"] = dict(rng.pick(_CAMPAIGNS))
    if with_traits and user is not None:
        traits: JsonObject = {"email": user.email}
        if rng.chance(0.5):
            traits["plan"] = rng.weighted(_PLANS)
        ctx["traits"] = traits
    return ctx


def _gen_page_props(rng: _Rng, path: str) -> JsonObject:
    url = f"https://www.acme.example{path}"
    search = f"?utm_source={rng.pick(('google', 'newsletter'))}" if rng.chance(0.2) else ""
    referrer = rng.pick(_REFERRERS)
    title = "Home" if path == "/" else [part for part in path.split("/") if part][-1]
    return {
        "path": path,
        "referrer": referrer,
        "search": search,
        "title": f"Acme - {title}",
        "url": url + search,
    }


def _gen_products(rng: _Rng) -> tuple[list[JsonValue], int | float]:
    """The products of an order, and the sum of price * quantity over them (in JS order)."""
    products: list[JsonValue] = []
    amount: int | float = 0
    for position in range(1, rng.integer(1, 4) + 1):
        sku, name, category, price = rng.pick(_PRODUCTS)
        quantity = rng.integer(1, 3)
        product: JsonObject = {
            "product_id": f"prod_{sku[4:]}",
            "sku": sku,
            "name": name,
            "category": category,
            "price": price,
            "quantity": quantity,
            "position": position,
        }
        if rng.chance(0.2):
            product["coupon"] = "SAVE10"
        if rng.chance(0.3):
            product["url"] = f"https://www.acme.example/p/{sku}"
        products.append(product)
        amount += price * quantity
    return products, amount


def _gen_order_props(rng: _Rng, event: str, currency: str) -> JsonObject:
    products, amount = _gen_products(rng)
    subtotal = js_round(amount * 100) / 100
    shipping = rng.pick((0, 0, 4.99, 9.99))
    tax = js_round(subtotal * 0.08 * 100) / 100
    discount = 5 if rng.chance(0.2) else 0
    total = js_round((subtotal + shipping + tax - discount) * 100) / 100
    order_id = f"ord_{rng.hex(10)}"
    affiliation = rng.pick(("Online Store", "iOS App", "Android App"))
    # ~4% of events send revenue as a string, as real-world instrumentation sometimes does.
    revenue: JsonValue = js_number(subtotal) if rng.chance(0.04) else subtotal
    props: JsonObject = {
        "order_id": order_id,
        "affiliation": affiliation,
        "subtotal": subtotal,
        "total": total,
        "revenue": revenue,
        "shipping": shipping,
        "tax": tax,
        "discount": discount,
        "currency": currency,
        "products": products,
    }
    if discount:
        props["coupon"] = "SAVE5"
    if event == "Order Refunded":
        props["reason"] = rng.pick(("damaged", "late", None))
    return props


def _gen_track_props(rng: _Rng, event: str) -> JsonObject:
    currency = rng.weighted(_CURRENCIES)
    if event in ("Product Viewed", "Product Added"):
        sku, name, category, price = rng.pick(_PRODUCTS)
        props: JsonObject = {
            "product_id": f"prod_{sku[4:]}",
            "sku": sku,
            "name": name,
            "category": category,
            "price": price,
            "currency": currency,
        }
        if event == "Product Added":
            props["quantity"] = rng.integer(1, 3)
        if rng.chance(0.3):
            props["variant"] = rng.pick(("red", "blue", "large", "small"))
        return props
    if event in _ORDER_EVENTS:
        return _gen_order_props(rng, event, currency)
    if event == "Signed Up":
        method = rng.pick(("email", "google", "github"))
        plan = rng.weighted(_PLANS)
        return {"method": method, "plan": plan, "trial": rng.chance(0.5)}
    if event == "Button Clicked":
        text = rng.pick(_BUTTONS)
        location = rng.pick(("header", "footer", "hero", "sidebar"))
        return {"button_text": text, "location": location, "path": rng.pick(_PAGES)[2]}
    if event == "Video Playback Started":
        session_id = rng.hex(12)
        asset_id = str(rng.integer(100, 999))
        total_length = rng.integer(60, 3600)
        bitrate = rng.pick((1200, 2400, 4800))
        sound = rng.integer(0, 100)
        return {
            "session_id": session_id,
            "content_asset_id": asset_id,
            "position": 0,
            "total_length": total_length,
            "bitrate": bitrate,
            "video_player": "youtube",
            "sound": sound,
            "full_screen": rng.chance(0.2),
        }
    return {"test": True, "value": rng.integer(0, 1000)}


def _gen_identify_traits(rng: _Rng, user: _User) -> JsonObject:
    city, country, postal = rng.pick(_CITIES)
    plan = rng.weighted(_PLANS)
    age = rng.integer(18, 80)
    logins = rng.integer(0, 500)
    created_at = _iso(_BASE_TIME - rng.integer(1, 900) * _DAY_MS)
    company = rng.pick(_COMPANIES)
    employee_count = rng.pick((5, 40, 250, 1200, 15000))
    traits: JsonObject = {
        "name": f"{user.first} {user.last}",
        "first_name": user.first,
        "last_name": user.last,
        "plan": plan,
        "age": age,
        "logins": logins,
        "created_at": created_at,
        "address": {"city": city, "country": country, "postal_code": postal},
        "company": {"name": company, "employee_count": employee_count},
        "email_opt_in": rng.chance(0.6),
    }
    # ~10% of identify calls carry no email; ~3% carry an explicit null.
    e = rng.random()
    if e < 0.87:
        traits["email"] = user.email
    elif e < 0.9:
        traits["email"] = None
    if rng.chance(0.3):
        traits["phone"] = f"+1-555-{rng.integer(0, 9999):04d}"
    return traits


def _gen_group_traits(rng: _Rng) -> JsonObject:
    name = rng.pick((*_COMPANIES, "Stark Industries"))
    industry = rng.pick(_INDUSTRIES)
    employees = rng.pick((3, 12, 48, 99, 100, 101, 340, 2000, 15000))
    plan = rng.weighted(_PLANS)
    return {
        "name": name,
        "industry": industry,
        "employees": employees,
        "plan": plan,
        "website": "https://company.example",
        "address": {"city": rng.pick(_CITIES)[0]},
    }


def _gen_event(rng: _Rng, i: int) -> JsonObject:
    kind = rng.weighted(_EVENT_TYPES)
    platform = "web" if kind == "page" else rng.weighted(_PLATFORMS)
    user = _gen_user(rng)
    ts = _BASE_TIME + i * 1500 + rng.integer(0, 999)
    sent_at = ts + rng.integer(5, 5000)
    source = "ajs-next" if platform == "web" else platform
    ev: JsonObject = {"type": kind, "messageId": f"{source}-{rng.hex(32)}"}
    ev["anonymousId"] = rng.uuid()
    ev["timestamp"] = ev["originalTimestamp"] = _iso(ts)
    ev["sentAt"] = _iso(sent_at)
    ev["receivedAt"] = _iso(sent_at + rng.integer(20, 400))
    # userId: mostly a string, sometimes absent (anonymous), sometimes explicit null.
    u = rng.random()
    if kind in ("identify", "alias") or u < 0.7:
        ev["userId"] = user.user_id
    elif u < 0.8:
        ev["userId"] = None

    with_traits = kind == "track" and rng.chance(0.4)
    context = _gen_context(rng, platform, user if ev.get("userId") else None, with_traits)
    ev["context"] = context
    if rng.chance(0.25):
        mixpanel = rng.chance(0.5)
        client_id = (
            f"{rng.integer(100_000_000, 900_000_000)}.{rng.integer(1_000_000_000, 2_000_000_000)}"
        )
        ev["integrations"] = {
            "All": True,
            "Mixpanel": mixpanel,
            "Google Analytics": {"clientId": client_id},
        }

    if kind == "track":
        event = rng.weighted(_TRACK_EVENTS)
        ev["event"] = event
        ev["properties"] = _gen_track_props(rng, event)
    elif kind == "page":
        name, category, path = rng.pick(_PAGES)
        if name is not None:
            ev["name"] = name
        if category is not None:
            ev["category"] = category
        properties = _gen_page_props(rng, path)
        ev["properties"] = properties
        # context.page is properties without the name, so copy before adding it.
        context["page"] = dict(properties)
        if name is not None:
            properties["name"] = name
    elif kind == "identify":
        ev["traits"] = _gen_identify_traits(rng, user)
    elif kind == "group":
        ev["groupId"] = f"grp_{rng.integer(1, 300)}"
        ev["traits"] = _gen_group_traits(rng)
    else:  # alias
        ev["previousId"] = ev["anonymousId"]
    return ev


# ---------------------------------------------------------------------------------------------
# Public API


def generate_workload(n: int, seed: int = 42) -> JsonObject:
    """Build the workload ``{"meta", "subscriptions", "events"}`` for ``n`` events.

    The same data ``generateWorkload(n, seed)`` of ``gen_workload.js`` returns, with
    JavaScript numbers as ``int`` or ``float``. The subscriptions are fresh copies, so the
    caller may change the result freely. Raises ``ValueError`` when ``n`` is negative.
    """
    if n < 0:
        raise ValueError("n must be a non-negative integer")
    rng = _Rng(seed)
    events: list[JsonValue] = []
    counts: JsonObject = {}
    for i in range(n):
        ev = _gen_event(rng, i)
        events.append(ev)
        kind = ev["type"]
        if not isinstance(kind, str):
            raise TypeError("a generated event has no string type")
        previous = counts.get(kind, 0)
        counts[kind] = (previous if isinstance(previous, int) else 0) + 1
    meta: JsonObject = {
        "generator": "peer/gen_workload.js",
        "format_version": 1,
        "n": n,
        "seed": seed,
        "prng": "mulberry32",
        "event_type_counts": counts,
    }
    subscriptions: list[JsonValue] = [copy.deepcopy(s) for s in SUBSCRIPTIONS]
    return {"meta": meta, "subscriptions": subscriptions, "events": events}


def _items(workload: JsonObject, key: str) -> list[JsonValue]:
    items = workload[key]
    if not isinstance(items, list):
        raise TypeError(f"workload[{key!r}] must be a list")
    return items


def render_workload(workload: JsonObject) -> str:
    """Write a workload as ``gen_workload.js`` writes its file: one event per line.

    The text is one JSON document; ``meta``, each subscription and each event are serialised
    by :func:`js_json`.
    """
    subscriptions = ",\n".join(js_json(s) for s in _items(workload, "subscriptions"))
    events = ",\n".join(js_json(e) for e in _items(workload, "events"))
    return (
        f'{{\n"meta": {js_json(workload["meta"])},\n'
        f'"subscriptions": [\n{subscriptions}\n],\n'
        f'"events": [\n{events}\n]\n}}\n'
    )


def workload_text(n: int, seed: int = 42) -> str:
    """The text of ``node gen_workload.js --n N --seed S``, byte for byte (once UTF-8 encoded)."""
    return render_workload(generate_workload(n, seed))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the workload for ``--n`` events to ``--out`` (``-`` = stdout)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.workload",
        description="Write the benchmark workload, byte-identical to the peer's gen_workload.js.",
    )
    parser.add_argument("--n", type=int, default=20000, help="number of events (default 20000)")
    parser.add_argument("--seed", type=int, default=42, help="PRNG seed (default 42)")
    parser.add_argument("--out", default="-", help="output file; '-' (default) is stdout")
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error("--n must be a non-negative integer")
    data = workload_text(args.n, args.seed).encode("utf-8")
    if args.out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(args.out, "wb") as handle:
            handle.write(data)
        subs = len(SUBSCRIPTIONS)
        print(
            f"wrote {args.out}: {args.n} events, {subs} subscriptions, {len(data)} bytes",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
