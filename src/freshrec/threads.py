"""Background threads give the CPU to request handling first (Linux thread niceness).

On a small box a retrain, an encoding batch or an index rebuild competes with answers for
the same two cores; most of that work runs in native code outside the GIL, so the GIL does
not arbitrate: the kernel's scheduler does. Linux applies a nice value per thread, so the
workers lower their own priority and the event loop and the read thread win whenever both
want a core (an idle core is still used in full). Elsewhere this is a no-op. A worker that
holds the engine's lock for long stretches must not be niced (a request would wait behind
a thread the scheduler keeps waiting): the upkeep worker is not.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

# Nice 10 against the server's 0: the scheduler's weights are then about 1 to 10.
BACKGROUND_NICENESS = 10
_MAX_NICENESS = 19


def lower_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """Run the calling thread at ``niceness`` at least (Linux only; never fails).

    A level, not a step: a thread inherits its creator's niceness, so a worker started by
    another worker would otherwise add up to the maximum.
    """
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(_MAX_NICENESS, max(current, niceness)))
    except OSError:  # a sandbox may refuse; the work runs all the same
        log.debug("could not lower the priority of thread %s", thread, exc_info=True)


def limit_blas_threads(threads: int) -> None:
    """Let one BLAS call use at most ``threads`` threads, process-wide (0: leave it).

    Parallel answers, not a parallel mat-vec: see ``ServingConfig.blas_threads``.
    """
    if threads > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, "blas")
