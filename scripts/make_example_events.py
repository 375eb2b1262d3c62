"""Writes examples/events.jsonl: a realistic, deterministic stream of Segment events.

A few hundred events of a dozen users over one afternoon: page views, product and order
tracking, identify calls with traits, anonymous visitors aliased to users after sign-up,
group calls, and a handful of malformed events (the kind real pipelines receive). Run it
again to regenerate the file: the output is the same every time.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "examples" / "events.jsonl"
START = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
PRODUCTS = [
    ("sku-001", "Trail Running Shoes", 129.0),
    ("sku-002", "Merino Socks", 18.5),
    ("sku-003", "Rain Shell", 210.0),
    ("sku-004", "Head Torch", 45.99),
]
PAGES = [("Home", "/"), ("Pricing", "/pricing"), ("Docs", "/docs"), ("Checkout", "/checkout")]
PLANS = ["free", "team", "business"]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_events(seed: int = 7) -> list[dict[str, Any]]:
    """The example stream, in time order."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    clock = START
    users = [f"user-{n:03d}" for n in range(1, 13)]
    anonymous = {user: f"anon-{rng.getrandbits(48):012x}" for user in users}
    known: set[str] = set()

    def base(kind: str, user: str) -> dict[str, Any]:
        nonlocal clock
        clock += timedelta(seconds=rng.randint(2, 40))
        event: dict[str, Any] = {
            "type": kind,
            "messageId": f"msg-{len(events) + 1:04d}",
            "anonymousId": anonymous[user],
            "timestamp": _stamp(clock),
            "context": {
                "library": {"name": "analytics.js", "version": "next-1.70.0"},
                "locale": rng.choice(["en-GB", "en-US", "de-DE"]),
                "page": {"path": "/", "url": "https://shop.example/"},
            },
        }
        if user in known:
            event["userId"] = user
        return event

    for _ in range(330):
        user = rng.choice(users)
        roll = rng.random()
        if user not in known and roll < 0.12:
            # Sign-up: identify with traits, then alias the anonymous visitor to the user.
            known.add(user)
            identify = base("identify", user)
            identify["traits"] = {
                "email": f"{user}@example.com",
                "plan": rng.choice(PLANS),
                "newsletter": rng.random() < 0.5,
            }
            events.append(identify)
            alias = base("alias", user)
            alias["previousId"] = anonymous[user]
            events.append(alias)
            continue
        if roll < 0.35:
            name, path = rng.choice(PAGES)
            page = base("page", user)
            page["name"] = name
            page["properties"] = {"path": path, "url": f"https://shop.example{path}"}
            events.append(page)
        elif roll < 0.75:
            sku, title, price = rng.choice(PRODUCTS)
            track = base("track", user)
            if rng.random() < 0.3:
                quantity = rng.randint(1, 3)
                track["event"] = "Order Completed"
                track["properties"] = {
                    "order_id": f"ord-{rng.getrandbits(32):08x}",
                    "total": round(price * quantity, 2),
                    "currency": "EUR",
                    "products": [{"sku": sku, "name": title, "quantity": quantity}],
                }
            else:
                track["event"] = rng.choice(["Product Viewed", "Product Added"])
                track["properties"] = {"sku": sku, "name": title, "price": price}
            if rng.random() < 0.2:
                track["context"]["traits"] = {"lastSeenProduct": sku}
            events.append(track)
        elif roll < 0.88 and user in known:
            identify = base("identify", user)
            identify["traits"] = {"plan": rng.choice(PLANS), "visits": rng.randint(1, 90)}
            events.append(identify)
        elif roll < 0.94 and user in known:
            group = base("group", user)
            group["groupId"] = f"acct-{rng.randint(1, 4)}"
            group["traits"] = {"name": rng.choice(["Initech", "Globex", "Hooli"])}
            events.append(group)
        else:
            track = base("track", user)
            track["event"] = "Newsletter Opened"
            track["integrations"] = {"All": True, "Contentstack Personalize": False}
            events.append(track)

    # What real pipelines also receive: events that are not Segment events.
    events.insert(40, {"type": "track", "userId": "user-001", "properties": {"total": 3}})
    events.insert(120, {"type": "trak", "event": "Typo", "userId": "user-002"})
    events.insert(200, {"type": "identify", "traits": {"plan": "free"}})
    events.insert(260, {"type": "track", "event": "Bad", "userId": "user-003", "properties": []})
    return events


def main() -> None:
    """Write the example stream, one JSON event a line."""
    events = make_events()
    with OUT.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
        handle.write("this line is not JSON\n")
    print(f"wrote {len(events) + 1} lines to {OUT}")


if __name__ == "__main__":
    main()
