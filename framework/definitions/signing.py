"""Signing a request's body: an HMAC of the exact bytes sent, in a header.

A request template's ``sign`` block (``{header: x-signature, algorithm: sha1, secret:
"{{settings.sharedSecret}}"}``) makes every request carry the hex HMAC of its body, keyed by
the secret, as Segment's Webhooks (Actions) does with ``X-Signature``. The body is the JSON
the delivery sends: :func:`body_bytes` encodes it as httpx's ``json=`` and the delivery's
``encode_json`` do (compact, UTF-8, no NaN; a test pins that they agree), so the receiver can
check the signature against the bytes it read. A batch's combined request is signed again over
its combined body (:func:`.request.combine_requests`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from framework.definitions.models import SignAlgorithm

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def body_bytes(value: Any) -> bytes:
    """``value`` as the body bytes a JSON request sends: compact, UTF-8, no NaN."""
    return _JSON.encode(value).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs bodies for one instance: the header, the hash and the key (never shown)."""

    header: str
    algorithm: SignAlgorithm
    key: bytes = field(repr=False)

    def sign(self, body: Any) -> str:
        """The hex HMAC of ``body`` as it is sent (:func:`body_bytes`)."""
        return hmac.new(self.key, body_bytes(body), getattr(hashlib, self.algorithm)).hexdigest()
