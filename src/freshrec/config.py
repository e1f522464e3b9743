"""One settings tree, nested per stage. Units are in the names.

Defaults were chosen on the first half of the MovieLens-100K stream only (see
``docs/benchmarks.md``); the second half's figures are reported beside them so the defaults
are not fitted to the data they are judged on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from freshrec.errors import ValidationError
from freshrec.types import BUILTIN_EVENT_TYPES

# The host[:port] of a web origin: no path, query, fragment, user info or blank.
_ORIGIN_HOST = re.compile(r"([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventsConfig(_Section):
    """How much each event type says about a user's interest.

    Weights scale co-visitation and popularity. Types with a negative weight (dislike) exclude
    the item for that user. ``positive_types`` and ratings at or above ``rating_positive_min``
    are the preference signal the factor models learn from.
    """

    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "view": 0.5,
            "click": 1.0,
            "like": 2.0,
            "dislike": -1.0,
            "cart": 2.0,
            "purchase": 3.0,
            "rating": 1.0,
        }
    )
    positive_types: frozenset[str] = frozenset({"click", "like", "cart", "purchase"})
    rating_positive_min: float = 4.0

    @model_validator(mode="after")
    def _builtins_present(self) -> EventsConfig:
        missing = [t for t in BUILTIN_EVENT_TYPES if t not in self.weights]
        if missing:
            raise ValueError(f"events.weights lacks built-in types: {missing}")
        unknown = self.positive_types - self.weights.keys()
        if unknown:
            raise ValueError(f"events.positive_types names undeclared types: {sorted(unknown)}")
        return self


class StoreConfig(_Section):
    """Durable storage. ``synchronous_full`` fsyncs every commit (one per ingest batch)."""

    synchronous_full: bool = True
    busy_timeout_ms: int = 5_000


class HistoryConfig(_Section):
    """Per-user online state kept in memory."""

    max_recent_events: int = 200
    # A user's seen items (the default exclusion) keep the newest this many: past it, the
    # oldest may be recommended to them again (bounds a crawler's or a test account's memory).
    max_seen_items: int = Field(default=10_000, ge=1)


class TrendingConfig(_Section):
    """Exponentially time-decayed popularity, on the event clock (``state.popularity``).

    A silence in the event stream longer than ``max_gap_seconds`` counts as that long, so an
    imported old log keeps its popular items when live events start.
    """

    half_life_seconds: float = 7 * 86_400.0
    max_gap_seconds: float = Field(default=86_400.0, gt=0)


class CoVisitationConfig(_Section):
    """Item-to-item co-visitation within a user's recent window.

    Each new event is paired with the user's previous ``window_events`` items; the pair weight
    decays by ``window_decay`` per step back in the window. Scores for a user sum the rows of
    their last ``window_events`` items, newer ones weighted up by ``recency_decay``, and divide
    by ``(item_count + 1) ** popularity_exponent`` so blockbusters do not swamp every row.
    Below ``dense_max_items`` items the matrix is a dense array (fast reads); above, sparse rows
    that keep their ``max_neighbors`` strongest entries: every ``compact_every_events`` events,
    rows that doubled since they were last tidied are summed and pruned back to that cap.
    """

    window_events: int = 20
    window_decay: float = 1.0
    recency_decay: float = 0.8
    popularity_exponent: float = 0.5
    dense_max_items: int = 4_096
    max_neighbors: int = 400
    compact_every_events: int = Field(default=1_024, ge=1)


class FactorsConfig(_Section):
    """Implicit-feedback matrix factorisation (``implicit`` ALS) with per-event fold-in.

    Retrains start from the previous item factors and run ``warm_start_iterations`` sweeps
    (0 = always train from scratch with ``iterations``).
    """

    factors: int = 32
    regularization: float = 10.0
    alpha: float = 4.0
    iterations: int = 15
    warm_start_iterations: int = 5
    seed: int = 0
    fold_in_max_items: int = 300
    # A user's positives kept for the fold-in (the newest; at least ``fold_in_max_items``).
    profile_max_items: int = Field(default=1_000, ge=1)
    fold_in_cache_users: int = 20_000
    # Users' last solved vectors kept (least recently asked evicted first; an evicted user's
    # next answer solves again from their profile): ~0.5 KB each, 100 MB at the default.
    solved_cache_users: int = Field(default=200_000, ge=1)


class EaseConfig(_Section):
    """EASE item-item regression; only trained when the catalogue is small enough."""

    l2: float = 500.0
    max_items: int = 5_000
    profile_events: int = 10


class TrainingConfig(_Section):
    """Background retraining. ``retrain_every_events`` = 0 disables automatic retrains.

    A background retrain starts when ``retrain_every_events`` new events arrived and at
    least ``min_interval_seconds`` passed since the last one started: under a heavy stream
    the event count alone would keep a core retraining without pause, while per-event
    updates already carry every event into the answers. Inline retrains (replays) follow
    the event count only, so they stay deterministic.
    """

    retrain_every_events: int = 5_000
    min_events: int = 1_000
    min_interval_seconds: float = Field(default=30.0, ge=0)


class RetrievalConfig(_Section):
    """Candidate retrieval: how answers stay fast on large catalogues.

    Below ``candidates_from_items`` items every answer scores the whole catalogue (exact,
    and cheap at that size). From there on an answer scores only candidates: the items the
    user's recent items co-occur with (their ``covisitation_candidates`` strongest), the
    nearest items to the user's factor vector in an ANN index over item factors
    (``factor_candidates``), the hot list (``trending_candidates`` most popular, recomputed
    at most every ``hot_refresh_seconds``) and, when content takes part, the user's
    ``content_candidates`` nearest items in text space. Each candidate is then scored by
    every source of the blend, exactly as the whole-catalogue path scores it. The threshold
    and the counts are chosen by ``bench/candidates.py`` (agreement with whole-catalogue
    answers against latency; content nominating 50 agrees as well as 200 and saves 16 %).

    The factor index is built anew by a retrain from scratch, when it is older than
    ``factor_index_rebuild_seconds``, or when a warm-started retrain moved more than
    ``factor_index_rebuild_share`` of the trained items' factors beyond the index's
    tolerance. Rewriting a live HNSW node costs about two insertions (``bench/ann_update.py``)
    and is done on the serving graph, holding searches back a moment per chunk; a new index
    is built to the side, so past a quarter of the rows it is the better deal. Otherwise
    the index's worker rewrites the moved rows after the swap (it only nominates; scores
    come from the new factors). ``factor_ef_construction`` is the graph's build breadth: 64
    nominates as well as 200 (recall@50 0.790 against 0.784) at 30 % of the build time.
    """

    candidates_from_items: int = Field(default=25_000, ge=1)
    covisitation_candidates: int = Field(default=100, ge=1)
    factor_candidates: int = Field(default=50, ge=1)
    factor_ef_search: int = Field(default=60, ge=1)
    trending_candidates: int = Field(default=50, ge=1)
    content_candidates: int = Field(default=50, ge=1)
    hot_refresh_seconds: float = Field(default=1.0, ge=0)
    factor_index_rebuild_seconds: float = Field(default=3_600.0, ge=0)
    factor_index_rebuild_share: float = Field(default=0.25, ge=0, le=1)
    factor_ef_construction: int = Field(default=64, ge=1)


class BlendConfig(_Section):
    """Weights of each source in the ``home`` scenario (each source's scores scaled to [0, 1]).

    ``sources``: more candidate sources by registered name (``freshrec.sources.registry``)
    with their weights, e.g. ``{"category_trending": 0.2}``.
    """

    covisitation: float = 1.0
    factors: float = 0.5
    ease: float = 0.0
    trending: float = 0.1
    content: float = 0.0
    similar_content: float = 0.1
    sources: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


class NewUserBlendConfig(_Section):
    """Weights of the ``new_user`` scenario: properties, stated tastes, first events."""

    segments: float = 1.0
    content: float = 0.5
    covisitation: float = 1.0
    factors: float = 0.5
    trending: float = 0.5
    sources: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


class ContentConfig(_Section):
    """What the engine reads of item and user content (text, own vectors), and how.

    ``encoder`` picks the language model's precision: ``onnx-int8`` (default: the compressed
    model, no torch at serving time), ``onnx-fp32``, ``torch-fp32`` (the reference), or
    ``none`` (keywords and item vectors only). The ONNX files are exported once from the
    locally installed weights into ``model_cache_dir``. Fusion weights, the mapping's ridge
    penalty and the candidate count were chosen by measurement (docs/benchmarks.md).
    ``candidates`` is how many nearest items a whole-catalogue content score covers (small
    catalogues, similar items, search); on a large catalogue a home feed's content source
    nominates ``retrieval.content_candidates`` instead.
    """

    encoder: Literal["onnx-int8", "onnx-fp32", "torch-fp32", "none"] = "onnx-int8"
    model_cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "freshrec" / "models"
    )
    threads: int = Field(default=1, ge=1)
    batch_size: int = Field(default=64, ge=1)
    keyword_dim: int = Field(default=512, ge=8)
    vector_dim: int | None = Field(default=None, ge=1)
    text_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=1.0, ge=0)
    vector_weight: float = Field(default=1.0, ge=0)
    mapping_l2: float = Field(default=10.0, gt=0)
    profile_events: int = Field(default=20, ge=1)
    profile_recency_decay: float = Field(default=0.8, gt=0, le=1)
    stated_weight: float = Field(default=1.0, ge=0)
    candidates: int = Field(default=200, ge=1)


class ScenariosConfig(_Section):
    """Scenario settings beyond the home blend.

    ``new_item_share``: the share of home-feed slots given to fresh items (the exploration
    slot). Off by default: on the MovieLens-100K replay a share of 0.1 costs 0.015 hr@10
    (0.2254 -> 0.2109 with the 2026-11 defaults), the short-term price of showing items nobody
    has judged yet; the demo shop turns it on. An item is fresh while it has fewer than
    ``fresh_max_events`` events and was created within ``fresh_max_age_seconds`` (items
    without ``created_at`` count as fresh while their event count is low).
    ``new_user_max_events``: a user with at most this many events is served by the
    ``new_user`` pipeline when ``home`` is asked for.
    """

    new_item_share: float = Field(default=0.0, ge=0, le=1)
    fresh_max_events: int = Field(default=5, ge=0)
    fresh_max_age_seconds: float = Field(default=14 * 86_400, gt=0)
    new_user_max_events: int = Field(default=0, ge=0)
    segment_properties: tuple[str, ...] = ()
    # Without declared ``segment_properties``: a property key with more distinct values than
    # this never segments, and a value needs this many users to become a segment.
    segment_max_values_per_key: int = Field(default=50, ge=1)
    segment_min_users: int = Field(default=5, ge=1)
    new_user_blend: NewUserBlendConfig = NewUserBlendConfig()


class AnswerCacheConfig(_Section):
    """The HTTP server's cache of rendered answers (``GET /v1/recommendations``).

    A user's own events, catalogue changes and retrains reach the next answer at once (they
    are in the key); other users' events (co-visitation, trending) within
    ``max_age_seconds``, the oldest answer the cache serves. 0 turns the cache off.
    """

    max_age_seconds: float = Field(default=1.0, ge=0)
    max_entries: int = Field(default=100_000, ge=0)
    max_bytes: int = Field(default=256 * 2**20, ge=0)


class ServingConfig(_Section):
    """The HTTP server, and how answers use the cores.

    ``blas_threads``: threads one BLAS call (a catalogue-wide mat-vec) may use, set for the
    whole process when an engine starts; 0 leaves the library's default. One is faster for
    a server: answers run in parallel (no exclusive lock on reads), and OpenBLAS's own two
    threads per mat-vec on a 2-core box made two reader threads slower than one
    (``bench/read_threads.py``: 0.6x with two BLAS threads, 1.6x with one).

    ``cors_origins``: web origins (``scheme://host[:port]``) whose pages may call the API from
    a browser (CORS); ``freshrec serve --cors-origin`` adds to them. Browsers send the origin
    without a path and with the host in lower case, and only an exact match is allowed, so a
    path or a trailing slash is refused here instead of never matching.
    """

    cache: AnswerCacheConfig = AnswerCacheConfig()
    blas_threads: int = Field(default=1, ge=0)
    cors_origins: tuple[str, ...] = ()

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        normal = []
        for origin in origins:
            scheme, sep, host = origin.partition("://")
            if (
                scheme.lower() not in ("http", "https")
                or not sep
                or not _ORIGIN_HOST.fullmatch(host)
            ):
                raise ValueError(
                    f"{origin!r} is not a web origin: write scheme://host[:port], "
                    "e.g. https://shop.example, with no path or trailing slash"
                )
            normal.append(f"{scheme.lower()}://{host.lower()}")
        return tuple(dict.fromkeys(normal))


class MeasurementConfig(_Section):
    """Served lists, attribution of later events to them, and experiments.

    ``attribution_window_seconds``: an event without a ``recommendation_id`` is credited to
    the newest list served to its user that holds its item within this long before it; a
    list is held open (in memory, for attribution) this long after it was served, and at
    most ``max_open_lists`` lists are open. ``bucket_seconds``: the time resolution of online
    reports. ``flush_seconds``: the longest a served list waits for its durable commit (one
    group commit per batch, off the request path). ``tuning_units``: the number of units at
    which an A/B experiment's confidence sequence is tightest (users);
    ``interleave_tuning_units`` the same for interleaving, whose units are the requests a
    click decided (a few percent of requests, so far fewer). ``exploration_share``: the share
    of answers whose order is sampled (Plackett-Luce over the scores, propensities logged)
    so that off-policy estimates of other configurations are possible: the ``n`` shown are
    drawn from the ``exploration_pool`` times ``n`` best, with weights ``exp(score /
    (exploration_temperature * top score))``.
    """

    enabled: bool = True
    attribution_window_seconds: float = Field(default=1_800.0, gt=0)
    max_open_lists: int = Field(default=200_000, ge=1)
    bucket_seconds: int = Field(default=60, ge=1)
    flush_seconds: float = Field(default=0.2, gt=0)
    tuning_units: int = Field(default=5_000, ge=1)
    interleave_tuning_units: int = Field(default=500, ge=1)
    exploration_share: float = Field(default=0.0, ge=0, le=1)
    exploration_temperature: float = Field(default=0.1, gt=0)
    exploration_pool: int = Field(default=3, ge=1)
    click_types: frozenset[str] = frozenset({"click", "like", "cart"})
    conversion_types: frozenset[str] = frozenset({"purchase"})


class EngineConfig(_Section):
    """The whole settings tree."""

    events: EventsConfig = EventsConfig()
    store: StoreConfig = StoreConfig()
    history: HistoryConfig = HistoryConfig()
    trending: TrendingConfig = TrendingConfig()
    covisitation: CoVisitationConfig = CoVisitationConfig()
    factors: FactorsConfig = FactorsConfig()
    ease: EaseConfig = EaseConfig()
    training: TrainingConfig = TrainingConfig()
    blend: BlendConfig = BlendConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    content: ContentConfig = ContentConfig()
    scenarios: ScenariosConfig = ScenariosConfig()
    serving: ServingConfig = ServingConfig()
    measurement: MeasurementConfig = MeasurementConfig()

    @classmethod
    def from_file(cls, path: str | Path) -> EngineConfig:
        """Load settings from a JSON file; raises ``ValidationError`` on unknown keys."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineConfig:
        """Build settings from nested dicts; raises ``ValidationError`` naming the bad key."""
        from pydantic import ValidationError as PydanticError

        try:
            return cls.model_validate(data)
        except PydanticError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationError(first["msg"], where) from None

    def merged(self, partial: dict[str, Any]) -> EngineConfig:
        """These settings with ``partial`` (a partial settings tree) merged over them.

        Raises ``ValidationError`` naming the bad key (its dotted path).
        """
        return EngineConfig.from_dict(_merged(self.model_dump(mode="json"), partial))

    def is_positive(self, kind: str, value: float | None) -> bool:
        """Whether an event of this type/value is a positive preference signal."""
        if kind == "rating":
            return value is not None and value >= self.events.rating_positive_min
        return kind in self.events.positive_types


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
