"""Scale-out workers: routers that share the partitions of a Redis queue, one owner each.

``actionkit serve --redis URL`` appends accepted events to the partition of their user; each
``actionkit worker`` process runs a :class:`Worker` (a :class:`~framework.Router` over its
instances, consuming its share of the partitions with :func:`~framework.queue.consume`), so
each user's events are delivered in order. See docs/serving.md.
"""

from framework.worker.runner import (
    SHUTDOWN_GRACE,
    Worker,
    WorkerReport,
    WorkerSettings,
    run_worker,
)

__all__ = ["SHUTDOWN_GRACE", "Worker", "WorkerReport", "WorkerSettings", "run_worker"]
