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
_ASCII_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def body_bytes(value: Any) -> bytes:
    """``value`` as the body bytes a JSON request sends: compact, UTF-8, no NaN.

    A string holding a lone surrogate (what JSON text's ``"\\ud800"`` parses to) cannot be
    written in UTF-8: such a body is written with every non-ASCII character escaped
    (``\\ud800``, ``\\u00e9``), as JavaScript's ``JSON.stringify`` escapes lone
    surrogates, so that the receiver reads the very same value.
    """
    text = _JSON.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _ASCII_JSON.encode(value).encode("ascii")


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs bodies for one instance: the header, the hash and the key (never shown)."""

    header: str
    algorithm: SignAlgorithm
    key: bytes = field(repr=False)

    def sign(self, body: Any) -> str:
        """The hex HMAC of ``body`` as it is sent (:func:`body_bytes`)."""
        return hmac.new(self.key, body_bytes(body), getattr(hashlib, self.algorithm)).hexdigest()
