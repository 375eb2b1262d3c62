"""Alerts on sync runs: decide whether a run changed a sync's health, and tell each channel.

After each run, :func:`notify_run` classifies it (:func:`run_health`) as ``ok``, ``failed``
(the run stopped on an error) or ``rejected`` (more rejected rows than
``AlertConfig.max_rejected``, or a larger share of the rows sent than
``AlertConfig.max_rejected_share``). Then, for each channel of the sync, it compares that with
the status the channel last delivered (:mod:`framework.sync.alert_state`) and sends one
:class:`~framework.sync.alert_event.AlertEvent` when it changed: once when a sync starts
failing (or moves between ``failed`` and ``rejected``), and once when it recovers (a
"recovered" message; a ``resolve`` in PagerDuty). A first run that is ok sends nothing; dry
runs and runs still running are ignored.

The channels due are told at once, one thread each. A channel that fails (the receiver is
down, answers an error, refuses the login) neither stops the other channels nor fails the
run: its status is left as it was, so it is sent the alert again after the next run. The
modules, by job:

- :mod:`framework.sync.alert_config`: the ``alerts`` block, checked into :class:`AlertConfig`;
- :mod:`framework.sync.alert_event`: what an alert says;
- :mod:`framework.sync.alert_channels` and :mod:`framework.sync.alert_email`: how each
  channel says it (generic webhook, Slack, PagerDuty; email);
- :mod:`framework.sync.alert_state`: the last status each channel delivered, in SQLite;
- this module: the decision and the dispatch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from framework.sync.alert_channels import AlertChannel, AlertDeliveryError, webhook_text
from framework.sync.alert_config import AlertConfig
from framework.sync.alert_event import AlertEvent, HealthStatus, rejected_share
from framework.sync.alert_state import DEFAULT_ALERT_STATE, AlertState
from framework.sync.records import COUNT_NAMES

__all__ = [
    "DEFAULT_ALERT_STATE",
    "AlertConfig",
    "AlertOutcome",
    "ChannelOutcome",
    "HealthStatus",
    "notify_run",
    "run_health",
]

logger = logging.getLogger("framework.sync.alerts")

_RUN_FIELDS = ("mode", "started_at", "ended_at", *COUNT_NAMES)
# Only counts and times go to the channels: samples of rows (user data) never leave.


class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ChannelOutcome:
    """What one channel did: its last status before this run, and whether it delivered.

    ``sent`` is True when an alert was due and the channel accepted it; ``error`` says why
    an alert that was due could not be delivered (it is sent again after the next run).
    """

    name: str
    kind: str
    previous: HealthStatus | None
    sent: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """What :func:`notify_run` did, in all and per channel.

    ``previous`` is the first channel's last status. ``sent`` is True when an alert was due
    on at least one channel and every channel it was due on accepted it; ``error`` joins the
    failed channels' sentences. ``message`` is the alert in the generic webhook's form
    (``{"text", "actionkit"}``) when one was due anywhere.
    """

    sync: str
    status: HealthStatus | None
    previous: HealthStatus | None
    sent: bool = False
    message: dict[str, Any] | None = None
    error: str | None = None
    channels: tuple[ChannelOutcome, ...] = ()


def _summary(run: Mapping[str, Any] | _HasToDict) -> dict[str, Any]:
    data = dict(run) if isinstance(run, Mapping) else run.to_dict()
    counts = data.get("counts")
    if isinstance(counts, Mapping):
        data = {**counts, **{k: v for k, v in data.items() if k != "counts"}}
    return data


def run_health(
    run: Mapping[str, Any] | _HasToDict,
    max_rejected: int | None,
    max_rejected_share: float | None = None,
) -> HealthStatus | None:
    """A run's health (None for a dry run or a run still running); see :data:`HealthStatus`.

    Rows are too many when the run rejected more than ``max_rejected`` or more than
    ``max_rejected_share`` of the rows it sent (succeeded plus rejected); a threshold that is
    None does not apply, and with both None any rejected row is too many.
    """
    data = _summary(run)
    status = data.get("status")
    if data.get("dry_run") or status not in ("succeeded", "partial", "failed"):
        return None
    if status == "failed":
        return "failed"
    rejected = int(data.get("rejected") or 0)
    if max_rejected is None and max_rejected_share is None:
        max_rejected = 0
    if max_rejected is not None and rejected > max_rejected:
        return "rejected"
    share = rejected_share(rejected, int(data.get("succeeded") or 0))
    if max_rejected_share is not None and rejected and share > max_rejected_share:
        return "rejected"
    return "ok"


def _event(
    data: dict[str, Any], status: HealthStatus, previous: HealthStatus | None, config: AlertConfig
) -> AlertEvent:
    run_id = data.get("run_id", data.get("id"))
    error = data.get("error")
    return AlertEvent(
        sync=str(data.get("sync")),
        status=status,
        previous=previous,
        run_id=run_id if isinstance(run_id, int) else None,
        rejected=int(data.get("rejected") or 0),
        succeeded=int(data.get("succeeded") or 0),
        max_rejected=config.count_limit,
        max_rejected_share=config.max_rejected_share,
        error=str(error) if error else None,
        run={key: data[key] for key in _RUN_FIELDS if key in data},
    )


def _deliver(
    due: list[tuple[AlertChannel, AlertEvent]], transport: httpx.BaseTransport | None
) -> dict[str, str]:
    """Send each due event on its channel, all at once (one thread each): the error of each
    channel that failed, by name. A slow channel delays the others by nothing."""

    def send(item: tuple[AlertChannel, AlertEvent]) -> str | None:
        channel, event = item
        try:
            channel.send(event, transport=transport)
        except AlertDeliveryError as exc:
            return exc.message
        return None

    if not due:
        return {}
    with ThreadPoolExecutor(max_workers=len(due), thread_name_prefix="alert") as pool:
        results = list(pool.map(send, due))
    return {
        channel.name: error
        for (channel, _), error in zip(due, results, strict=True)
        if error is not None
    }


def notify_run(
    run_summary: Mapping[str, Any] | _HasToDict,
    config: AlertConfig,
    state_path: str | Path = DEFAULT_ALERT_STATE,
    *,
    transport: httpx.BaseTransport | None = None,
) -> AlertOutcome:
    """Tell each channel about a finished run when its sync's health changed for it.

    ``run_summary``: a :class:`framework.sync.runner.SyncResult`, a
    :class:`framework.sync.history.RunRecord`, or a mapping with ``sync``, ``status``
    (``succeeded``, ``partial``, ``failed``; others are ignored), ``rejected`` and
    ``succeeded`` (or under ``counts``), and optionally ``run_id`` (or ``id``), ``error`` and
    ``dry_run``. ``transport`` is for tests (the HTTP channels use it). A channel that fails
    does not raise: its outcome's ``error`` says why, and its state is left as it was.
    Raises :class:`~framework.errors.StorageError` when the state file cannot be used.
    """
    data = _summary(run_summary)
    sync = str(data.get("sync"))
    status = run_health(data, config.count_limit, config.max_rejected_share)
    if status is None:
        return AlertOutcome(sync, None, None)
    run_id = data.get("run_id", data.get("id"))
    run_id = run_id if isinstance(run_id, int) else None
    state = AlertState(Path(state_path))
    outcomes: list[ChannelOutcome] = []
    message: dict[str, Any] | None = None
    try:
        due: list[tuple[AlertChannel, AlertEvent]] = []
        previous_of: dict[str, HealthStatus | None] = {}
        for channel in config.all_channels():
            previous = previous_of[channel.name] = state.get(sync, channel.name)
            if previous == status or (previous is None and status == "ok"):
                if previous is None:
                    state.put(sync, channel.name, status, run_id)
                continue
            due.append((channel, _event(data, status, previous, config)))
        if due:
            message = {"text": webhook_text(due[0][1]), "actionkit": due[0][1].details()}
        errors = _deliver(due, transport)
        due_names = {channel.name for channel, _ in due}
        for channel in config.all_channels():
            previous = previous_of[channel.name]
            if channel.name not in due_names:
                outcomes.append(ChannelOutcome(channel.name, channel.kind, previous))
            elif (error := errors.get(channel.name)) is not None:
                logger.warning(
                    "%s The alert for sync %s on channel %s will be sent after its next run.",
                    error,
                    sync,
                    channel.name,
                )
                outcomes.append(ChannelOutcome(channel.name, channel.kind, previous, error=error))
            else:
                state.put(sync, channel.name, status, run_id)
                outcomes.append(ChannelOutcome(channel.name, channel.kind, previous, sent=True))
    finally:
        state.close(commit=True)
    failed = [outcome.error for outcome in outcomes if outcome.error]
    return AlertOutcome(
        sync,
        status,
        outcomes[0].previous if outcomes else None,
        sent=any(outcome.sent for outcome in outcomes) and not failed,
        message=message,
        error=" ".join(failed) or None,
        channels=tuple(outcomes),
    )
