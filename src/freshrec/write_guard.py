"""Whether the engine takes writes: open and consistent, or closed, or degraded.

One object owns that answer so that every writer (events, the catalogue, profiles, a
forget) checks and breaks it the same way.

>>> guard = WriteGuard()
>>> guard.check()
>>> with guard.applying_committed("items"):
...     raise RuntimeError("disk on fire")
Traceback (most recent call last):
...
freshrec.errors.EngineDegradedError: ...
>>> guard.degraded is not None
True
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from freshrec.errors import EngineClosedError, EngineDegradedError

log = logging.getLogger(__name__)


class WriteGuard:
    """Closed or degraded engines refuse writes; reads go on in both cases.

    Attributes:
        closed: set by the engine's ``close`` once nothing is half applied.
    """

    def __init__(self) -> None:
        self.closed = False
        self._degraded: str | None = None

    @property
    def degraded(self) -> str | None:
        """Why writes are refused (committed data failed to apply in memory), or None."""
        return self._degraded

    def check(self) -> None:
        """Raise ``EngineClosedError`` or ``EngineDegradedError`` unless writes are taken."""
        if self.closed:
            raise EngineClosedError()
        if self._degraded is not None:
            raise EngineDegradedError(self._degraded)

    @contextmanager
    def applying_committed(self, what: str) -> Iterator[None]:
        """Apply data the store already committed; on failure, refuse writes from then on.

        The log holds the data but memory may hold part of it: rather than let the two
        diverge further, the engine refuses writes (``degraded``, shown by
        ``/health/ready``) and keeps answering reads; a restart rebuilds from the log.
        """
        try:
            yield
        except Exception as exc:
            self._degraded = f"applying committed {what} failed ({exc!r}); restart to rebuild"
            log.exception("committed %s could not be applied; refusing writes", what)
            raise EngineDegradedError(self._degraded) from exc
