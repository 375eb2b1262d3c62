"""The ``alerts`` block of a sync file: thresholds and channels, checked into an AlertConfig.

::

    alerts:
      maxRejected: 100            # more rejected rows than this alerts ...
      maxRejectedShare: 0.05      # ... or more than this share of the rows sent
      channels:
        - {type: slack, webhookUrlEnv: SLACK_ALERTS_URL}
        - {type: pagerduty, routingKeyEnv: PAGERDUTY_ROUTING_KEY}
        - {type: email, host: smtp.example.com, from: etl@example.com, to: [data@example.com],
           username: etl, passwordEnv: SMTP_PASSWORD}
        - {type: webhook, webhookUrl: "https://example.com/hooks/syncs", name: ops}

Every secret can be given in the file (``webhookUrl``, ``routingKey``, ``password``) or, better,
as the name of an environment variable holding it (the same key with ``Env``). The single
webhook of the first alert configuration (``webhookUrl`` or ``webhookUrlEnv`` beside the
thresholds, without ``channels``) still works: it is a ``webhook`` channel named ``webhook``.
Every problem is collected with its pointer (relative to the block) before one
:class:`DefinitionError` is raised; unknown keys and types get a "did you mean".
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from framework.definitions.source import join_pointer
from framework.errors import DefinitionError, Problem
from framework.suggestions import did_you_mean
from framework.sync.alert_channels import (
    PAGERDUTY_EVENTS_URL,
    SEVERITIES,
    AlertChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    check_url,
)
from framework.sync.alert_email import EmailChannel, SmtpSecurity

__all__ = ["CHANNEL_KEYS", "AlertConfig"]

_INVALID = "The alert settings are invalid."
_TOP_KEYS = (
    "webhookUrl",
    "webhookUrlEnv",
    "maxRejected",
    "maxRejectedShare",
    "timeout",
    "state",
    "channels",
)
_COMMON = ("type", "name")
CHANNEL_KEYS: dict[str, tuple[str, ...]] = {
    "webhook": (*_COMMON, "webhookUrl", "webhookUrlEnv"),
    "slack": (*_COMMON, "webhookUrl", "webhookUrlEnv"),
    "pagerduty": (
        *_COMMON,
        "routingKey",
        "routingKeyEnv",
        "url",
        "severity",
        "rejectedSeverity",
        "source",
    ),
    "email": (
        *_COMMON,
        "host",
        "port",
        "security",
        "username",
        "password",
        "passwordEnv",
        "from",
        "to",
        "caFile",
    ),
}
"""The keys each type of channel accepts."""


def _url_problem(pointer: str) -> Problem:
    return Problem(
        pointer, "The URL must be an https URL (http only on a loopback address).", "INVALID_URL"
    )


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Where alerts go and when rejected rows are too many.

    ``webhook_url``: the single webhook of the first configuration (optional now; an https
    URL, http only on loopback). ``channels``: any number of channels (see
    :mod:`framework.sync.alert_channels`). A run rejects too many rows when it rejects more
    than ``max_rejected`` rows or more than ``max_rejected_share`` (0 to 1) of the rows it
    sent; with neither set, any rejected row alerts. ``timeout``: seconds for each delivery.
    """

    webhook_url: str | None = field(default=None, repr=False)
    max_rejected: int | None = None
    timeout: float = 10.0
    max_rejected_share: float | None = None
    channels: tuple[AlertChannel, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if self.webhook_url is not None and not check_url(self.webhook_url):
            problems.append(_url_problem("/webhookUrl"))
        if self.max_rejected is not None and self.max_rejected < 0:
            problems.append(
                Problem("/maxRejected", "maxRejected must be 0 or more.", "OUT_OF_RANGE")
            )
        share = self.max_rejected_share
        if share is not None and not (0 <= share <= 1):
            problems.append(
                Problem(
                    "/maxRejectedShare",
                    f"maxRejectedShare is a share of the rows sent, from 0 to 1 (0.05 for 5%), "
                    f"not {share}.",
                    "OUT_OF_RANGE",
                )
            )
        if self.webhook_url is None and not self.channels:
            problems.append(
                Problem("", "Give at least one channel (or webhookUrl).", "MISSING_VALUE")
            )
        names = [channel.name for channel in self.all_channels()]
        for index, name in enumerate(names):
            if name in names[:index]:
                problems.append(
                    Problem(
                        join_pointer("channels", str(index), "name"),
                        f"Two channels are named '{name}'; give each channel of a type used "
                        "twice its own `name` (the alert state is kept per name).",
                        "DUPLICATE_NAME",
                    )
                )
        if problems:
            raise DefinitionError(_INVALID, problems)

    @property
    def count_limit(self) -> int | None:
        """The count threshold in force: ``max_rejected``, else 0 when no share is set."""
        if self.max_rejected is None and self.max_rejected_share is None:
            return 0
        return self.max_rejected

    def all_channels(self) -> tuple[AlertChannel, ...]:
        """The channels, the old single webhook (named ``webhook``) first when there is one."""
        legacy: tuple[AlertChannel, ...] = ()
        if self.webhook_url is not None:
            legacy = (WebhookChannel(self.webhook_url, timeout=self.timeout),)
        return legacy + self.channels

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AlertConfig:
        """From a sync file's ``alerts`` block (see the module doc).

        Raises :class:`DefinitionError` listing every problem, at pointers relative to the
        block, when a value is wrong or an environment variable it names is not set.
        """
        problems: list[Problem] = []
        _unknown_keys(data, _TOP_KEYS, "", problems)
        max_rejected = data.get("maxRejected")
        if max_rejected is not None and (
            not isinstance(max_rejected, int) or isinstance(max_rejected, bool)
        ):
            problems.append(Problem("/maxRejected", "maxRejected must be a whole number.", "TYPE"))
            max_rejected = None
        share = data.get("maxRejectedShare")
        if share is not None and not _is_number(share):
            problems.append(
                Problem(
                    "/maxRejectedShare",
                    "maxRejectedShare must be a number from 0 to 1 (0.05 for 5% of the rows sent).",
                    "TYPE",
                )
            )
            share = None
        timeout = data.get("timeout", 10.0)
        if not _is_number(timeout) or timeout <= 0:
            problems.append(
                Problem("/timeout", "timeout must be a positive number of seconds.", "TYPE")
            )
            timeout = 10.0
        url = _secret(data, "webhookUrl", "", problems, required=False)
        channels_data = data.get("channels")
        channels: list[AlertChannel] = []
        if channels_data is not None:
            if url is not None or "webhookUrlEnv" in data:
                key = "webhookUrl" if "webhookUrl" in data else "webhookUrlEnv"
                problems.append(
                    Problem(
                        f"/{key}",
                        f"With `channels`, give the webhook as a channel: "
                        f"{{type: webhook, {key}: ...}} in channels.",
                        "CONFLICT",
                    )
                )
                url = None
            if not isinstance(channels_data, list):
                problems.append(Problem("/channels", "channels must be a list.", "TYPE"))
            else:
                for index, entry in enumerate(channels_data):
                    channel = _channel(entry, f"/channels/{index}", float(timeout), problems)
                    if channel is not None:
                        channels.append(channel)
        elif url is None and "webhookUrlEnv" not in data:
            problems.append(
                Problem("", "Give `channels` (or the single webhookUrl).", "MISSING_VALUE")
            )
        if problems:
            raise DefinitionError(_INVALID, problems)
        return cls(
            url,
            max_rejected,
            float(timeout),
            None if share is None else float(share),
            tuple(channels),
        )


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _unknown_keys(
    data: Mapping[str, Any], allowed: tuple[str, ...], pointer: str, problems: list[Problem]
) -> None:
    for key in data:
        if key not in allowed:
            problems.append(
                Problem(
                    join_pointer(*[part for part in pointer.split("/") if part], str(key)),
                    f"Unknown key '{key}'; the keys allowed here are: "
                    f"{', '.join(sorted(allowed))}.{did_you_mean(key, allowed)}",
                    "UNKNOWN_KEY",
                )
            )


def _secret(
    data: Mapping[str, Any],
    key: str,
    pointer: str,
    problems: list[Problem],
    *,
    required: bool = True,
) -> str | None:
    """``key`` itself, or the environment variable ``key + "Env"`` names; problems if unset."""
    value = data.get(key)
    env = data.get(f"{key}Env")
    if value is not None:
        if isinstance(value, str) and value:
            return value
        problems.append(Problem(f"{pointer}/{key}", f"{key} must be a text.", "TYPE"))
        return None
    if env is not None:
        if not isinstance(env, str) or not env:
            problems.append(
                Problem(
                    f"{pointer}/{key}Env",
                    f"{key}Env must name an environment variable.",
                    "TYPE",
                )
            )
            return None
        found = os.environ.get(env)
        if not found:
            problems.append(
                Problem(
                    f"{pointer}/{key}Env",
                    f"Set the environment variable {env} (it holds the {key}).",
                    "MISSING_VALUE",
                )
            )
        return found or None
    if required:
        problems.append(
            Problem(
                pointer,
                f"Give {key} or {key}Env (the name of a variable holding it).",
                "MISSING_VALUE",
            )
        )
    return None


def _text(data: Mapping[str, Any], key: str, pointer: str, problems: list[Problem]) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and value):
        return value
    problems.append(Problem(f"{pointer}/{key}", f"{key} must be a text.", "TYPE"))
    return None


def _channel(
    entry: object, pointer: str, timeout: float, problems: list[Problem]
) -> AlertChannel | None:
    """One channel from its mapping, or None after recording its problems."""
    if not isinstance(entry, Mapping):
        problems.append(Problem(pointer, "A channel is an object with a `type`.", "TYPE"))
        return None
    kind = entry.get("type")
    if kind not in CHANNEL_KEYS:
        message = "A channel needs a `type`" if kind is None else f"Unknown channel type {kind!r}"
        problems.append(
            Problem(
                f"{pointer}/type",
                f"{message}; the types are: {', '.join(CHANNEL_KEYS)}."
                f"{did_you_mean(kind, CHANNEL_KEYS)}",
                "UNKNOWN_CHANNEL" if kind is not None else "MISSING_VALUE",
            )
        )
        return None
    before = len(problems)
    _unknown_keys(entry, CHANNEL_KEYS[kind], pointer, problems)
    name = _text(entry, "name", pointer, problems) or kind
    channel: AlertChannel | None = None
    if kind in ("webhook", "slack"):
        url = _secret(entry, "webhookUrl", pointer, problems)
        if url is not None and not check_url(url):
            key = "webhookUrl" if "webhookUrl" in entry else "webhookUrlEnv"
            problems.append(_url_problem(f"{pointer}/{key}"))
        elif url is not None:
            cls = WebhookChannel if kind == "webhook" else SlackChannel
            channel = cls(url, name=name, timeout=timeout)
    elif kind == "pagerduty":
        channel = _pagerduty(entry, pointer, name, timeout, problems)
    else:
        channel = _email(entry, pointer, name, timeout, problems)
    return channel if len(problems) == before else None


def _choice(
    data: Mapping[str, Any],
    key: str,
    choices: tuple[str, ...],
    default: str,
    pointer: str,
    problems: list[Problem],
) -> str:
    value = data.get(key, default)
    if value in choices:
        return cast(str, value)
    problems.append(
        Problem(
            f"{pointer}/{key}",
            f"{value!r} is not a choice for {key}; the choices are: {', '.join(choices)}."
            f"{did_you_mean(value, choices)}",
            "UNKNOWN_VALUE",
        )
    )
    return default


def _pagerduty(
    entry: Mapping[str, Any], pointer: str, name: str, timeout: float, problems: list[Problem]
) -> PagerDutyChannel | None:
    key = _secret(entry, "routingKey", pointer, problems)
    url = _text(entry, "url", pointer, problems) or PAGERDUTY_EVENTS_URL
    if not check_url(url):
        problems.append(_url_problem(f"{pointer}/url"))
    failed = _choice(entry, "severity", SEVERITIES, "critical", pointer, problems)
    rejected = _choice(entry, "rejectedSeverity", SEVERITIES, "warning", pointer, problems)
    source = _text(entry, "source", pointer, problems)
    if key is None:
        return None
    return PagerDutyChannel(
        key,
        name=name,
        url=url,
        failed_severity=failed,
        rejected_severity=rejected,
        source=source,
        timeout=timeout,
    )


def _email(
    entry: Mapping[str, Any], pointer: str, name: str, timeout: float, problems: list[Problem]
) -> EmailChannel | None:
    host = _text(entry, "host", pointer, problems)
    sender = _text(entry, "from", pointer, problems)
    for key, value in (("host", host), ("from", sender)):
        if value is None and key not in entry:
            problems.append(Problem(pointer, f"An email channel needs `{key}`.", "MISSING_VALUE"))
    to = entry.get("to")
    recipients = (to,) if isinstance(to, str) else to
    if (
        not isinstance(recipients, list | tuple)
        or not recipients
        or not all(isinstance(item, str) and "@" in item for item in recipients)
    ):
        problems.append(
            Problem(
                f"{pointer}/to" if "to" in entry else pointer,
                "An email channel needs `to`: an address or a list of addresses.",
                "MISSING_VALUE" if "to" not in entry else "TYPE",
            )
        )
        recipients = ()
    security = _choice(
        entry, "security", ("starttls", "ssl", "none"), "starttls", pointer, problems
    )
    port = entry.get("port")
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
    ):
        problems.append(Problem(f"{pointer}/port", "port must be from 1 to 65535.", "TYPE"))
        port = None
    username = _text(entry, "username", pointer, problems)
    password = None
    if username is not None:
        password = _secret(entry, "password", pointer, problems)
    elif "password" in entry or "passwordEnv" in entry:
        problems.append(
            Problem(f"{pointer}/username", "A password needs a `username`.", "MISSING_VALUE")
        )
    ca_file = _text(entry, "caFile", pointer, problems)
    if host is None or sender is None or not recipients:
        return None
    return EmailChannel(
        host,
        sender,
        tuple(recipients),
        name=name,
        port=port,
        security=cast(SmtpSecurity, security),
        username=username,
        password=password,
        ca_file=ca_file,
        timeout=timeout,
    )
