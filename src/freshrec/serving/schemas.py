"""Request and response shapes, as documented in the OpenAPI schema.

Response models are what routes return. Request models only *describe* bodies: routes read
the raw JSON (see ``body.py``) and hand it to the engine, whose ``freshrec.types.parse_*``
rules decide validity, so the HTTP API and the Python API can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema

from freshrec.types import MAX_ID_LENGTH

MAX_RANK_ITEMS = 1_000
MAX_BATCH_USERS = 100
_COMPONENTS = "#/components/schemas/{model}"

IdStr = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_LENGTH, description="An external id (printable).")
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests (documentation; validated by freshrec.types through the engine) -----------------


class ItemFields(_Shape):
    """Item attributes; every field is optional."""

    title: str | None = None
    text: str | None = None
    categories: list[IdStr] | None = None
    properties: dict[str, Any] | None = None
    created_at: float | str | None = Field(None, description="Unix seconds or ISO-8601.")
    vector: list[float] | None = None
    available: bool | None = None


class ItemPut(ItemFields):
    """``PUT /v1/items/{item_id}`` body; ``item_id``, if given, must equal the path's."""

    item_id: str | None = None


class ItemIn(ItemFields):
    """One item of a batch upsert."""

    item_id: IdStr


class UserPut(_Shape):
    """``PUT /v1/users/{user_id}`` body; ``user_id``, if given, must equal the path's."""

    user_id: str | None = None
    properties: dict[str, Any] | None = None
    text: str | None = None


class UserIn(UserPut):
    """One user of a batch upsert."""

    user_id: IdStr


class EventIn(_Shape):
    """One behaviour event. A missing timestamp means now; at most a day ahead is allowed."""

    user_id: IdStr
    item_id: IdStr
    type: str = Field(description="An event type the engine is configured with.")
    timestamp: Annotated[float, Field(ge=0)] | str | None = Field(
        None, description="Unix seconds or ISO-8601."
    )
    value: float | None = Field(None, description="Required for ratings.")
    event_id: IdStr | None = Field(None, description="Idempotency key.")
    recommendation_id: IdStr | None = Field(None, description="The answer that led here.")


class EventsIn(RootModel[EventIn | list[EventIn]]):
    """One event object, or a list of them."""


class RecommendationsIn(_Shape):
    """``POST /v1/recommendations`` body: answers for many users in one call."""

    user_ids: list[IdStr] = Field(min_length=1, max_length=MAX_BATCH_USERS)
    n: int = Field(10, ge=1, le=1_000)
    scenario: str = "home"
    exclude: list[IdStr] | None = None
    category: list[IdStr] | None = Field(None, description="Any of these categories.")


class RankIn(_Shape):
    """``POST /v1/rank`` body: candidates to score for one user."""

    user_id: IdStr
    item_ids: list[IdStr] = Field(max_length=MAX_RANK_ITEMS)


def request_schemas(event_types: Iterable[str]) -> dict[str, Any]:
    """Return the JSON schemas of the request models, keyed by model name (for components).

    Args:
        event_types: the types the engine accepts, listed as the ``type`` enum of events.
    """
    models: list[type[BaseModel]] = [
        ItemPut,
        ItemIn,
        UserPut,
        UserIn,
        EventIn,
        EventsIn,
        RecommendationsIn,
        RankIn,
    ]
    _, top = models_json_schema(
        [(model, "validation") for model in models], ref_template=_COMPONENTS
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    schemas["EventIn"]["properties"]["type"]["enum"] = sorted(event_types)
    return schemas


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """Return ``openapi_extra`` that documents a required JSON request body."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def ref(model: type[BaseModel]) -> dict[str, str]:
    """Return a JSON-schema reference to a request model's component."""
    return {"$ref": _COMPONENTS.format(model=model.__name__)}


def list_of(model: type[BaseModel]) -> dict[str, Any]:
    """Return a JSON schema for a list of ``model``."""
    return {"type": "array", "items": ref(model)}


# -- responses ------------------------------------------------------------------------------


class ErrorDetail(_Shape):
    """Why a request was refused."""

    code: str
    message: str
    field: str | None = None


class ErrorOut(_Shape):
    """Every 4xx/5xx body."""

    error: ErrorDetail


class ItemOut(_Shape):
    """A stored item."""

    item_id: str
    title: str
    text: str
    categories: list[str]
    properties: dict[str, Any]
    created_at: float | None
    vector: list[float] | None
    available: bool


class UserOut(_Shape):
    """A user: the stored profile (empty when none was stored) and what events tell."""

    user_id: str
    properties: dict[str, Any]
    text: str
    profile: bool | None = Field(None, description="Whether a profile was stored.")
    events: int | None = Field(None, description="How many of the user's events are held.")


class ItemPageOut(_Shape):
    """One page of the catalogue; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[ItemOut]
    next_cursor: str | None = Field(description="null on the last page.")


class UserEventOut(_Shape):
    """One logged event of a user."""

    offset: int
    item_id: str
    type: str
    timestamp: float
    value: float | None
    event_id: str | None
    recommendation_id: str | None


class UserEventsOut(_Shape):
    """A user's logged events, newest first."""

    user_id: str
    events: list[UserEventOut]


class ForgottenOut(_Shape):
    """What ``DELETE /v1/users/{user_id}`` erased."""

    user_id: str
    profile: bool = Field(description="Whether a stored profile was deleted.")
    events: int = Field(description="Events erased from the log.")
    lists: int = Field(description="Served lists erased from the measurement log.")


class WrittenOut(_Shape):
    """How many records a batch upsert wrote."""

    written: int


class UnlistedItemOut(_Shape):
    """An item id met only in events, with how many events name it."""

    item_id: str
    events: int


class UnlistedOut(_Shape):
    """Item ids that events name but no upsert created (never recommended)."""

    total: int
    items: list[UnlistedItemOut]


class IngestErrorOut(_Shape):
    """One rejected event of a batch."""

    index: int
    message: str


class IngestOut(_Shape):
    """Outcome of ``POST /v1/events``."""

    accepted: int
    duplicates: int
    errors: list[IngestErrorOut]
    offset: int = Field(description="Log offset reflecting these events (a read's at_least).")


class ScoredItem(_Shape):
    """One item of an answer, with its score and the reasons it is there."""

    item_id: str
    score: float
    why: list[str]


class ServedItem(ScoredItem):
    """An item of a served list; ``team`` in an interleaved experiment only."""

    team: str | None = Field(None, description="The variant that drafted it (interleaving).")


class RecommendationsOut(_Shape):
    """An answer; ``recommendation_id`` names it for attribution of later events."""

    recommendation_id: str
    scenario: str
    variant: str | None = Field(None, description="The experiment's variant that answered.")
    model_version: str | None = Field(None, description="The model version that answered.")
    items: list[ServedItem]


class UserRecommendationsOut(RecommendationsOut):
    """One user's answer in a batch."""

    user_id: str


class BatchRecommendationsOut(_Shape):
    """``POST /v1/recommendations``: one answer per user, in the order asked."""

    results: list[UserRecommendationsOut]


class RankOut(_Shape):
    """The given candidates, best first."""

    recommendation_id: str
    items: list[ScoredItem]


class HealthOut(_Shape):
    """Liveness or readiness."""

    status: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in [
        (400, "Invalid input; `field` names the culprit."),
        (401, "Missing or unknown API key."),
        (403, "The key's scope does not allow this."),
        (404, "Unknown id."),
        (413, "Body larger than the limit."),
        (415, "Body is not JSON."),
        (422, "A query or path parameter has the wrong type or range."),
    ]
}
