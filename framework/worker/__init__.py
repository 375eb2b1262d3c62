"""Scale-out workers: routers that share the events of a Redis stream as one consumer group.

``actionkit serve --redis URL`` appends accepted events to the stream; each ``actionkit worker``
process runs a :class:`Worker` (a :class:`~framework.Router` over its instances, consuming the
stream with :func:`~framework.queue.consume`). See docs/serving.md.
"""

from framework.worker.runner import (
    SHUTDOWN_GRACE,
    Worker,
    WorkerReport,
    WorkerSettings,
    run_worker,
)

__all__ = ["SHUTDOWN_GRACE", "Worker", "WorkerReport", "WorkerSettings", "run_worker"]
