"""The server's long-lived objects, set apart from the garbage collector once it has started.

A serving process holds tens of thousands of objects for its whole life (modules, the
configuration, destination definitions, the queue's and the router's state), and every
request allocates many short-lived ones (an event is a few dicts and strings), so the cyclic
collector runs often and, in its older generations, walks the long-lived ones each time for
nothing: on the accept path about a fifth of the CPU time went there. Once the ingestion app
has started, :func:`freeze_once` collects what is already garbage and then freezes everything
alive (``gc.freeze``): the collector ignores it from then on. Reference counting still frees
those objects; only a cycle among them would now be kept. Done once per process: a process
that starts several apps (tests) freezes what the first start left.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_once"]

_frozen = False


def freeze_once() -> bool:
    """Collect, then move every object alive to the collector's permanent generation.

    Only the first call in a process does it; returns whether this call did.
    """
    global _frozen
    if _frozen:
        return False
    _frozen = True
    gc.collect()
    gc.freeze()
    return True
