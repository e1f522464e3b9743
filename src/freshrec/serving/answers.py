"""Turning engine answers into response bodies, each with a fresh recommendation id."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from starlette.responses import Response

from freshrec.measurement.answering import new_recommendation_id
from freshrec.types import Recommendation, check_id

__all__ = [
    "ServedItems",
    "answer",
    "answer_body",
    "id_list",
    "new_recommendation_id",
    "rendered",
    "scored_items",
    "served_items",
    "served_size",
]


def scored_items(recs: Iterable[Recommendation]) -> list[dict[str, Any]]:
    """Return ``[{"item_id", "score", "why"}]`` in the engine's order."""
    return [{"item_id": r.item_id, "score": r.score, "why": list(r.why)} for r in recs]


def rendered_items(recs: Iterable[Recommendation]) -> bytes:
    """The ``items`` array of a response body as JSON, rendered once.

    This is what the answer cache keeps: bytes are not tracked by the garbage collector,
    whereas tens of thousands of cached answers held as objects made every full collection
    walk them (pauses of ~100-300 ms at 100k users, the p99 of a 60 s run).
    """
    return _dumps(scored_items(recs))


# What the answer cache keeps per answer: the rendered ``items`` JSON and, for the list's log
# entry, the item ids, scores and (interleaved) teams. Tuples of strings and floats only, so
# the garbage collector untracks them (see ``rendered_items``).
ServedItems = tuple[bytes, tuple[str, ...], tuple[float, ...], tuple[str, ...] | None]


def served_items(recs: list[Recommendation], teams: list[str] | None) -> ServedItems:
    """Render an answer's items once, with what its log entry needs.

    >>> body, ids, scores, teams = served_items([Recommendation("a", 1.0, ())], ["x"])
    >>> body, ids, teams
    (b'[{"item_id":"a","score":1.0,"why":[],"team":"x"}]', ('a',), ('x',))
    """
    items = scored_items(recs)
    if teams is not None:
        for item, team in zip(items, teams, strict=True):
            item["team"] = team
    return (
        _dumps(items),
        tuple(r.item_id for r in recs),
        tuple(r.score for r in recs),
        None if teams is None else tuple(teams),
    )


def served_size(served: ServedItems) -> int:
    """Bytes an answer costs in the cache: its JSON, and the ids and scores beside it."""
    return 2 * len(served[0])


def rendered(func: Callable[..., Iterable[Recommendation]], *args: Any) -> bytes:
    """``rendered_items(func(*args))``: scoring and rendering in one call off the loop."""
    return rendered_items(func(*args))


def answer(
    scenario: str,
    items: bytes,
    recommendation_id: str | None = None,
    variant: str | None = None,
    model_version: str | None = None,
) -> Response:
    """A recommendation response around ``items`` (rendered JSON).

    It carries the ``recommendation_id`` (a new one when None), the scenario, and the
    variant and model version that answered.

    >>> body = json.loads(answer("home", rendered_items([])).body)
    >>> sorted(body), body["items"]
    (['items', 'model_version', 'recommendation_id', 'scenario', 'variant'], [])
    """
    body = answer_body(scenario, items, recommendation_id, variant, model_version)
    return Response(body, media_type="application/json")


def answer_body(
    scenario: str,
    items: bytes,
    recommendation_id: str | None = None,
    variant: str | None = None,
    model_version: str | None = None,
    user_id: str | None = None,
) -> bytes:
    """The JSON of ``answer``; with ``user_id`` (a batch's answers) it names the user."""
    head: dict[str, Any] = {"user_id": user_id} if user_id is not None else {}
    head.update(
        recommendation_id=recommendation_id or new_recommendation_id(),
        scenario=scenario,
        variant=variant,
        model_version=model_version,
    )
    return _dumps(head)[:-1] + b',"items":' + items + b"}"


def _dumps(value: Any) -> bytes:
    # Starlette's JSONResponse settings: compact, UTF-8, no NaN.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def id_list(values: str | list[str] | None, name: str) -> tuple[str, ...]:
    """Checked ids from a query parameter, comma-separated and/or repeated (empty parts skipped).

    Raises:
        ValidationError: a part is not a valid id (naming ``name``).
    """
    if not values:
        return ()
    texts = [values] if isinstance(values, str) else values
    return tuple(check_id(part, name) for text in texts for part in text.split(",") if part)
