"""What an alert says: one change of a sync's health, before any channel renders it.

:func:`framework.sync.alerts.notify_run` builds one :class:`AlertEvent` per run whose health
differs from what a channel last heard; each channel (:mod:`framework.sync.alert_channels`,
:mod:`framework.sync.alert_email`) turns it into its own format. Only counts, times, the
thresholds and the run's error sentence are in it: row samples (user data) never leave, and
no channel setting (a webhook URL, a routing key, a password) is ever part of an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["AlertEvent", "HealthStatus", "rejected_share"]

HealthStatus = Literal["ok", "failed", "rejected"]
"""A finished run's health: ``rejected`` means more rejected rows than a threshold allows."""


def rejected_share(rejected: int, succeeded: int) -> float:
    """The share of the rows sent that were rejected (0.0 when none was sent)."""
    sent = rejected + succeeded
    return rejected / sent if sent else 0.0


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of a sync's health, as every channel receives it.

    ``previous`` is the status the channel last delivered (None: it never delivered one).
    ``run`` holds the run's mode, times and counts only. ``max_rejected`` and
    ``max_rejected_share`` are the thresholds in force (None: not set).
    """

    sync: str
    status: HealthStatus
    previous: HealthStatus | None
    run_id: int | None
    rejected: int
    succeeded: int
    max_rejected: int | None
    max_rejected_share: float | None
    error: str | None = None
    run: Mapping[str, Any] = field(default_factory=dict)

    @property
    def recovered(self) -> bool:
        """True when this event says the sync is healthy again."""
        return self.status == "ok"

    @property
    def share(self) -> float:
        """The share of the rows sent in the run that were rejected."""
        return rejected_share(self.rejected, self.succeeded)

    def limit_text(self) -> str:
        """The thresholds in words: ``more than 10`` / ``more than 5% of the rows sent``."""
        parts = []
        if self.max_rejected is not None:
            parts.append(f"more than {self.max_rejected}")
        if self.max_rejected_share is not None:
            parts.append(f"more than {self.max_rejected_share:.2%} of the rows sent")
        return " or ".join(parts) or "more than 0"

    def headline(self) -> str:
        """One plain sentence (an email subject, a PagerDuty summary, a Slack fallback)."""
        if self.status == "failed":
            reason = f": {self.error}" if self.error else "."
            return f"Sync {self.sync} failed (run {self.run_id}){reason}"
        if self.status == "rejected":
            return (
                f"Sync {self.sync} rejected {self.rejected} rows in run {self.run_id} "
                f"({self.limit_text()}); {self.share:.2%} of the "
                f"{self.rejected + self.succeeded} rows sent."
            )
        return f"Sync {self.sync} recovered: run {self.run_id} succeeded (was {self.previous})."

    def details(self) -> dict[str, Any]:
        """The event as JSON-ready data (the generic webhook's ``actionkit`` object)."""
        return {
            "sync": self.sync,
            "status": self.status,
            "previous_status": self.previous,
            "run_id": self.run_id,
            "rejected": self.rejected,
            "sent": self.rejected + self.succeeded,
            "rejected_share": round(self.share, 6),
            "max_rejected": self.max_rejected,
            "max_rejected_share": self.max_rejected_share,
            "error": self.error,
            "run": dict(self.run),
        }

    def next_step(self) -> str | None:
        """The command that shows the run (None when the run has no id)."""
        return None if self.run_id is None else f"actionkit runs show {self.run_id}"
