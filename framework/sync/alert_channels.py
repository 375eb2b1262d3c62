"""Where alerts go over HTTP: a generic webhook, a Slack incoming webhook, PagerDuty.

Each channel is a small frozen class with a ``name`` (its key in the alert state), a
``kind`` and ``send(event)``, which returns when the receiver accepted the message (a 2xx
answer) and raises :class:`AlertDeliveryError` otherwise. The email channel lives in
:mod:`framework.sync.alert_email`. Secrets (webhook URLs, which carry a token, and routing
keys) are fields with ``repr=False`` and are never part of a message, an error or a log line.

- :class:`WebhookChannel` posts ``{"text", "actionkit": {...}}``: Slack-compatible text plus
  the details, as alerts always did.
- :class:`SlackChannel` posts Slack's incoming-webhook format: ``text`` (the notification
  fallback) and ``blocks`` (a section with ``mrkdwn`` text and one with ``fields``).
- :class:`PagerDutyChannel` posts Events API v2 events to ``/v2/enqueue``: ``trigger`` when
  a sync fails or rejects too many rows, ``resolve`` when it recovers, both with the same
  ``dedup_key`` per sync so that the resolve closes the alert the trigger opened.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from framework.sync.alert_event import AlertEvent

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "SEVERITIES",
    "AlertChannel",
    "AlertDeliveryError",
    "PagerDutyChannel",
    "SlackChannel",
    "WebhookChannel",
    "check_url",
    "webhook_text",
]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
"""PagerDuty's Events API v2 endpoint for alert events (trigger, acknowledge, resolve)."""

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_EMOJI = {"failed": ":rotating_light:", "rejected": ":warning:", "ok": ":white_check_mark:"}
SEVERITIES = ("critical", "error", "warning", "info")
"""The severities PagerDuty's Events API v2 accepts."""


class AlertDeliveryError(Exception):
    """A channel could not deliver an alert; ``message`` is a sentence free of secrets."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AlertChannel(Protocol):
    """What :func:`framework.sync.alerts.notify_run` needs of a channel."""

    @property
    def name(self) -> str:
        """The channel's key in the alert state (unique within a sync's channels)."""
        ...

    @property
    def kind(self) -> str:
        """``webhook``, ``slack``, ``pagerduty`` or ``email``."""
        ...

    def send(self, event: AlertEvent, *, transport: httpx.BaseTransport | None = None) -> None:
        """Deliver ``event``; raise :class:`AlertDeliveryError` when it was not accepted."""
        ...


def check_url(url: str) -> bool:
    """True for an https URL, or an http one on a loopback address (local tests)."""
    if "://" not in url:
        return False
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme == "https" or (parsed.scheme == "http" and parsed.host in _LOOPBACK)


class _SecretUrls(logging.Filter):
    """Hides the secret URLs being posted to from log records (httpx logs each request's URL).

    Installed once on the ``httpx`` logger; a URL is secret only while it is posted to, and
    is shown as its scheme and host with ``/…`` for the rest.
    """

    def __init__(self) -> None:
        super().__init__()
        self.urls: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls:
            text = record.getMessage()
            hidden = text
            for url, shown in list(self.urls.items()):
                hidden = hidden.replace(url, shown)
            if hidden != text:
                record.msg, record.args = hidden, ()
        return True


_SECRET_URLS = _SecretUrls()
logging.getLogger("httpx").addFilter(_SECRET_URLS)


def _post(
    url: str,
    body: dict[str, Any],
    *,
    timeout: float,
    receiver: str,
    transport: httpx.BaseTransport | None,
    secret_url: bool = False,
) -> None:
    """POST ``body`` as JSON; raise a sentence naming ``receiver`` (never the URL) unless 2xx.

    ``secret_url``: the URL carries a token (a webhook's), hidden from httpx's log lines.
    """
    if secret_url:
        parsed = httpx.URL(url)
        _SECRET_URLS.urls[url] = f"{parsed.scheme}://{parsed.netloc.decode()}/…"
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(url, json=body)
    except httpx.TimeoutException:
        raise AlertDeliveryError(f"The {receiver} did not answer in time.") from None
    except httpx.HTTPError as exc:
        raise AlertDeliveryError(
            f"The {receiver} could not be reached ({type(exc).__name__})."
        ) from None
    finally:
        _SECRET_URLS.urls.pop(url, None)
    if not response.is_success:
        raise AlertDeliveryError(f"The {receiver} answered HTTP {response.status_code}.")


def webhook_text(event: AlertEvent) -> str:
    """The Slack-style one-line text of an alert: an emoji, the headline, the next step."""
    text = f"{_EMOJI[event.status]} {event.headline()}"
    step = event.next_step()
    if event.status == "rejected" and step is not None:
        text += f" See `{step}`."
    return text


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """A generic webhook: ``{"text": ..., "actionkit": event details}`` as JSON."""

    url: str = field(repr=False)
    name: str = "webhook"
    timeout: float = 10.0
    kind: str = field(default="webhook", init=False)

    def message(self, event: AlertEvent) -> dict[str, Any]:
        """The JSON body posted for ``event``."""
        return {"text": webhook_text(event), "actionkit": event.details()}

    def send(self, event: AlertEvent, *, transport: httpx.BaseTransport | None = None) -> None:
        """Post the message; see :class:`AlertChannel`."""
        _post(
            self.url,
            self.message(event),
            timeout=self.timeout,
            receiver="alert webhook",
            transport=transport,
            secret_url=True,
        )


def _mrkdwn(text: str) -> str:
    """Text made safe for Slack's mrkdwn: ``&``, ``<`` and ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True, slots=True)
class SlackChannel:
    """A Slack incoming webhook: ``text`` (notifications) and ``blocks`` (the message)."""

    url: str = field(repr=False)
    name: str = "slack"
    timeout: float = 10.0
    kind: str = field(default="slack", init=False)

    def message(self, event: AlertEvent) -> dict[str, Any]:
        """The JSON body posted for ``event``."""
        text = _mrkdwn(webhook_text(event))[:3000]
        fields = [
            f"*Sync*\n{_mrkdwn(event.sync)}",
            f"*Status*\n{event.status} (was {event.previous or 'unknown'})",
            f"*Run*\n{event.run_id}",
            f"*Rejected*\n{event.rejected} of {event.rejected + event.succeeded} "
            f"({event.share:.2%})",
        ]
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        ]
        step = event.next_step()
        if step is not None and not event.recovered:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{step}`"}]}
            )
        return {"text": text, "blocks": blocks}

    def send(self, event: AlertEvent, *, transport: httpx.BaseTransport | None = None) -> None:
        """Post the message; see :class:`AlertChannel`."""
        _post(
            self.url,
            self.message(event),
            timeout=self.timeout,
            receiver="Slack webhook",
            transport=transport,
            secret_url=True,
        )


@dataclass(frozen=True, slots=True)
class PagerDutyChannel:
    """PagerDuty Events API v2: ``trigger`` on a failure, ``resolve`` on recovery.

    ``dedup_key`` is ``actionkit-sync:<sync>`` for every event of a sync, so that a resolve
    closes the alert its trigger opened (and a change from ``rejected`` to ``failed`` is
    added to the same alert). ``severity`` of a failed run (``critical`` by default) and of
    too many rejected rows (``warning``); ``source`` defaults to this machine's host name.
    """

    routing_key: str = field(repr=False)
    name: str = "pagerduty"
    url: str = PAGERDUTY_EVENTS_URL
    failed_severity: str = "critical"
    rejected_severity: str = "warning"
    source: str | None = None
    timeout: float = 10.0
    kind: str = field(default="pagerduty", init=False)

    @staticmethod
    def dedup_key(sync: str) -> str:
        """The stable key of a sync's alert (at most 255 characters, as PagerDuty allows)."""
        return f"actionkit-sync:{sync}"[:255]

    def message(self, event: AlertEvent) -> dict[str, Any]:
        """The JSON body posted for ``event`` (with the routing key: never log it)."""
        body: dict[str, Any] = {
            "routing_key": self.routing_key,
            "dedup_key": self.dedup_key(event.sync),
        }
        if event.recovered:
            return {**body, "event_action": "resolve"}
        severity = self.failed_severity if event.status == "failed" else self.rejected_severity
        return {
            **body,
            "event_action": "trigger",
            "client": "actionkit",
            "payload": {
                "summary": event.headline()[:1024],
                "source": self.source or socket.gethostname(),
                "severity": severity,
                "component": event.sync,
                "group": "actionkit-sync",
                "class": event.status,
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "custom_details": event.details(),
            },
        }

    def send(self, event: AlertEvent, *, transport: httpx.BaseTransport | None = None) -> None:
        """Post the event; see :class:`AlertChannel`."""
        _post(
            self.url,
            self.message(event),
            timeout=self.timeout,
            receiver="PagerDuty Events API",
            transport=transport,
        )
