"""Where an instance's requests may go: the addresses and URLs refused, checked once at load.

An instance may send to public addresses only, unless it says otherwise. Refused:

- **metadata** addresses of cloud providers (``169.254.169.254``, ``fd00:ec2::254``,
  ``100.100.100.200``): always, since no destination lives there and they hand out
  credentials;
- **unspecified** (``0.0.0.0``, ``::``, which reach the local host) and **multicast**: always;
- **loopback** (127.0.0.0/8, ``::1``, ``localhost``): unless the testing switch
  ``allowLoopback`` is on (``--emulate``, the testing harness and the tests turn it on to
  reach a local emulator);
- **link-local** (169.254.0.0/16, fe80::/10), **private** (10/8, 172.16/12, 192.168/16,
  fc00::/7) and every other non-global range (100.64/10, documentation, reserved): unless the
  instance sets ``allowPrivateNetwork``.

A base URL setting, which is inserted in request URLs as it is, may hold no space, control
character or backslash (:func:`url_text_refusal`): URL parsers drop, split on or reinterpret
them, and not all in the same way, so the host checked here could differ from the host
connected to. Every other setting in a URL is percent-encoded as a payload value is (see
:mod:`.request`).

An IPv4 address written in IPv6 (``::ffff:169.254.169.254``) is judged as the IPv4 one. Pure:
the same checks serve the load-time check of settings (:func:`url_problems`) and the delivery
client, which applies :func:`address_refusal` to every address a name resolves to, at connect
time (so a name that resolves to a private address, or is rebound to one later, is refused).
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

__all__ = ["NetworkPolicy", "address_refusal", "host_refusal", "url_problems", "url_text_refusal"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA: Final = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which non-public addresses an instance may send to (``allowPrivateNetwork`` and the
    testing switch ``allowLoopback`` of its ``delivery`` block)."""

    allow_private: bool = False
    allow_loopback: bool = False


def address_refusal(address: _Address, policy: NetworkPolicy) -> str | None:
    """Why ``policy`` refuses ``address`` (``"a link-local address"``), or None when allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address (it reaches this machine)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    if address.is_global:
        return None
    if policy.allow_private:
        return None
    return "a link-local address" if address.is_link_local else "a private address"


def host_refusal(host: str, policy: NetworkPolicy) -> str | None:
    """Why ``policy`` refuses a URL's host (an IP literal, or ``localhost``), or None.

    Other names are not resolved here: the delivery client checks what they resolve to.
    """
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None if policy.allow_loopback else "a loopback address"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address_refusal(address, policy)


def url_text_refusal(text: str) -> str | None:
    """Why ``text`` cannot be written as it is into a URL, or None when it can.

    Refused: spaces and other whitespace, control characters (C0, DEL and C1) and invisible
    formatting characters (such as a zero-width space), which parsers strip, split on or keep
    unseen, and the backslash, which WHATWG parsers (browsers, Node) read as ``/`` and
    Python's does not.
    """
    for char in text:
        if char.isspace():
            return "a space or other whitespace"
        category = unicodedata.category(char)
        if category == "Cc":
            return "a control character"
        if category == "Cf":
            return "an invisible formatting character"
        if char == "\\":
            return "a backslash"
    return None


def url_problems(url: str, policy: NetworkPolicy) -> list[tuple[str, str]]:
    """What is wrong with ``url`` as the place requests go: ``(code, sentence)`` pairs.

    ``URL_NOT_ALLOWED``: not http(s), no host, or a user name or password in it
    (``https://user:pass@host``). ``ADDRESS_NOT_ALLOWED``: its host is an address
    ``policy`` refuses.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        return [("URL_NOT_ALLOWED", "It is not a valid URL.")]
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return [("URL_NOT_ALLOWED", "It must be an http or https URL with a host name.")]
    problems: list[tuple[str, str]] = []
    if "@" in parts.netloc:
        problems.append(
            (
                "URL_NOT_ALLOWED",
                "It must not carry a user name or password (user:password@host); give "
                "credentials in the destination's password settings.",
            )
        )
    refusal = host_refusal(hostname, policy)
    if refusal is not None:
        problems.append(("ADDRESS_NOT_ALLOWED", _refusal_sentence(refusal)))
    return problems


def _refusal_sentence(refusal: str) -> str:
    if refusal == "a loopback address":
        return (
            "Its host is a loopback address, which an instance may only send to with the "
            "testing switch delivery.allowLoopback (set by --emulate and the testing harness)."
        )
    if refusal in ("a private address", "a link-local address"):
        return (
            f"Its host is {refusal}; an instance sends to public addresses only, unless its "
            "delivery block sets allowPrivateNetwork: true."
        )
    return f"Its host is {refusal}, which no instance may send to."
