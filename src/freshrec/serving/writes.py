"""Writes answered at once while the engine forgets a user, instead of queueing.

``Engine.forget_user`` rebuilds the state with every writer lock held (seconds per million
events). A write request would park one of the framework's worker threads on those locks
for the whole time, and a few dozen of them exhaust the pool, so that even reads served
from it (``GET /v1/items/...``, ``/metrics``) stop answering. A write that arrives during a
forget is refused with 503 and ``Retry-After`` instead: nothing of it was written.
"""

from __future__ import annotations

from fastapi import Depends, Request

from freshrec.serving.context import context_of
from freshrec.serving.errors import RETRY_AFTER_SECONDS, ApiError


async def refuse_while_forgetting(request: Request) -> None:
    """A dependency: 503 ``busy`` while ``Engine.forget_user`` runs."""
    if context_of(request).engine.forgetting:
        raise ApiError(
            503,
            "busy",
            "not written: the engine is forgetting a user (rebuilding its state); retry soon",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


WRITE = Depends(refuse_while_forgetting)
