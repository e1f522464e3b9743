"""Turning engine answers into response bodies, each with a fresh recommendation id."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from freshrec.types import Recommendation, check_id


def new_recommendation_id() -> str:
    """Return a unique, time-ordered id: 32 hex digits, milliseconds first.

    The first 12 digits are the unix time in milliseconds, so ids sort by creation time;
    the other 80 bits are random.

    >>> len(new_recommendation_id())
    32
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def scored_items(recs: Iterable[Recommendation]) -> list[dict[str, Any]]:
    """Return ``[{"item_id", "score", "why"}]`` in the engine's order."""
    return [{"item_id": r.item_id, "score": r.score, "why": list(r.why)} for r in recs]


def answer(scenario: str, recs: Iterable[Recommendation]) -> dict[str, Any]:
    """Return a recommendation response body with a new ``recommendation_id``."""
    return {
        "recommendation_id": new_recommendation_id(),
        "scenario": scenario,
        "items": scored_items(recs),
    }


def id_list(text: str | None, name: str) -> tuple[str, ...]:
    """Split a comma-separated query parameter into checked ids (empty parts skipped).

    Raises:
        ValidationError: a part is not a valid id (naming ``name``).
    """
    if not text:
        return ()
    return tuple(check_id(part, name) for part in text.split(",") if part)
