"""Everything the engine asks of content, behind one object: the engine's only content seam.

It keeps three embedding spaces in step with the catalogue — the language model's text
embeddings (encoded on a worker thread), keyword hashes (inline: microseconds), and the
catalogue's own item vectors — plus an ANN index over the text embeddings for content
recall, content ``similar`` and text queries, and the learned mapping from fused content to
collaborative factors that gives untouched items a place in the factor model.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from freshrec.config import ContentConfig
from freshrec.content.coldstart import ContentToFactors, PredictionCache
from freshrec.content.embeddings import EmbeddingTable
from freshrec.content.fusion import FusedContent, FusionBlock
from freshrec.content.indexer import ContentIndexer
from freshrec.content.keywords import KeywordEncoder
from freshrec.content.lazy import LazyEncoder
from freshrec.content.profile import content_profile
from freshrec.content.text import content_hash, item_text
from freshrec.errors import StoreError, ValidationError
from freshrec.models.factors import ImplicitFactors
from freshrec.retrieval.ann import VectorIndex, VectorIndexConfig
from freshrec.store.base import Store
from freshrec.types import Item

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
FloatMatrix = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
OnVectors = Callable[[list[int]], None]

TEXT_BLOB = "content/text-embeddings"
MAX_MAPPING_ITEMS = 20_000  # rows the content -> factors regression learns from, at most
REFIT_EVERY = 5  # retrains between refits of the mapping when the catalogue barely grew


@dataclass(frozen=True, slots=True)
class Query:
    """A free-text query, encoded: by the language model, or as keywords without one."""

    text: FloatMatrix | None
    keywords: FloatMatrix | None


_STATED_CACHE = 10_000  # user texts kept encoded (and their nearest items)
K = TypeVar("K")
V = TypeVar("V")
_WARM_BATCH = 256  # stated texts per encoder call at start-up


@dataclass(frozen=True, slots=True)
class ItemTexts:
    """What ``ContentService.read_items`` derives from items without touching any state."""

    texts: list[str]
    hashes: list[str]
    keywords: npt.NDArray[np.float32]


class ContentService:
    """Content state of one engine, indexed by the engine's ``iidx``.

    Args:
        config: the ``content`` settings.
        background: encode texts on a worker thread (False: inline, deterministic).
        on_text_vectors: called with the iidxs whose text embedding just changed (the
            engine gives them content-predicted factors); runs on the worker thread.
    """

    def __init__(
        self,
        config: ContentConfig,
        *,
        background: bool = True,
        on_text_vectors: OnVectors | None = None,
    ) -> None:
        self.config = config
        self.on_text_vectors = on_text_vectors
        self.keywords = EmbeddingTable(*_describe(KeywordEncoder(config.keyword_dim)))
        self._keyword_encoder = KeywordEncoder(config.keyword_dim)
        dim = config.vector_dim or 1
        self.vectors = EmbeddingTable("item-vector", f"dim-{dim}", dim)
        self.encoder: LazyEncoder | None = None
        self.text: EmbeddingTable | None = None
        self.index: VectorIndex | None = None
        self._indexer: ContentIndexer | None = None
        self._available: dict[int, bool] = {}
        self._lock = threading.Lock()
        self._stated: OrderedDict[str, FloatMatrix] = OrderedDict()
        # (stated text, k, index generation) -> nearest items (``nearest_to_text``)
        self._text_nearest: OrderedDict[tuple[str, int, int], IntArray] = OrderedDict()
        self.mapping = ContentToFactors(config.mapping_l2)
        self._predictions = PredictionCache()
        self._rows_at_fit = 0
        self._retrains_since_fit = 0
        self._saved_changes = -1  # EmbeddingTable.changes as last saved (-1: never)
        self._background = background
        if config.encoder != "none":
            self.encoder = LazyEncoder(config.encoder, config.model_cache_dir, config.threads)

    # -- catalogue ----------------------------------------------------------------------------

    def validate(self, items: Sequence[Item]) -> None:
        """Raise ``ValidationError`` (field ``vector``) for a vector of the wrong dimension."""
        for position, item in enumerate(items):
            if item.vector is None:
                continue
            if self.config.vector_dim is None:
                raise ValidationError(
                    f"item {position} has a vector but content.vector_dim is not configured",
                    "vector",
                )
            if len(item.vector) != self.config.vector_dim:
                raise ValidationError(
                    f"item {position}: vector has {len(item.vector)} dimensions, "
                    f"content.vector_dim is {self.config.vector_dim}",
                    "vector",
                )

    def reserve(self, n_items: int) -> None:
        """Grow the per-item tables to ``n_items`` rows now (before the write lock)."""
        self.keywords.reserve(n_items)
        if self.config.vector_dim:
            self.vectors.reserve(n_items)

    def read_items(self, items: Sequence[Item]) -> ItemTexts:
        """Texts, their hashes and keyword vectors of ``items``: pure, so off every lock.

        Hashing the words of a bulk upsert took 1.7 s per 20k items; done here, before the
        engine's write lock, answers do not wait for it.
        """
        texts = [item_text(item) for item in items]
        hashes = [content_hash(t) for t in texts]
        return ItemTexts(texts, hashes, self._keyword_encoder.encode(texts))

    def on_items(
        self, iidxs: Sequence[int], items: Sequence[Item], read: ItemTexts | None = None
    ) -> None:
        """Bring every space up to date with these (new or changed) items.

        ``read``: ``read_items(items)``, computed beforehand off the lock (else here).
        """
        read = read if read is not None else self.read_items(items)
        texts = read.texts
        stale = [
            k
            for k, (i, h) in enumerate(zip(iidxs, read.hashes, strict=True))
            if self.keywords.hash_of(i) != h
        ]
        if stale:
            self.keywords.put(
                [iidxs[k] for k in stale], read.keywords[stale], [read.hashes[k] for k in stale]
            )
        with_vectors = [
            (i, item.vector)
            for i, item in zip(iidxs, items, strict=True)
            if item.vector is not None
        ]
        if with_vectors:
            self.vectors.put(
                [i for i, _ in with_vectors],
                np.asarray([v for _, v in with_vectors], dtype=np.float32),
                ["own"] * len(with_vectors),
            )
        for iidx, item in zip(iidxs, items, strict=True):
            self._set_available(iidx, item.available)
        worded = [(i, t) for i, t in zip(iidxs, texts, strict=True) if t]
        if worded and self.encoder is not None:
            self._text_indexer().submit([i for i, _ in worded], [t for _, t in worded])

    def _text_indexer(self) -> ContentIndexer:
        with self._lock:
            if self._indexer is None:
                assert self.encoder is not None
                self.text = EmbeddingTable(*_describe(self.encoder))
                self.index = VectorIndex(VectorIndexConfig(dim=self.encoder.dim, metric="cosine"))
                self._indexer = ContentIndexer(
                    self.encoder,
                    self.text,
                    batch_size=self.config.batch_size,
                    on_encoded=self._on_encoded,
                    background=self._background,
                )
            return self._indexer

    def _on_encoded(self, iidxs: list[int], vectors: FloatMatrix) -> None:
        assert self.index is not None
        shown = [k for k, i in enumerate(iidxs) if self._available.get(i, True)]
        if shown:
            self.index.upsert(np.asarray([iidxs[k] for k in shown], dtype=np.int64), vectors[shown])
        if self.on_text_vectors is not None:
            self.on_text_vectors(iidxs)

    def _set_available(self, iidx: int, available: bool) -> None:
        was = self._available.get(iidx, True)
        self._available[iidx] = available
        if self.index is None or self.text is None or was == available:
            return
        if not available:
            self.index.remove(np.asarray([iidx], dtype=np.int64))
        elif (vector := self.text.vector(iidx)) is not None:
            self.index.upsert(np.asarray([iidx], dtype=np.int64), vector[None, :])

    def ensure(self, iidxs: Sequence[int]) -> None:
        """Encode now any of ``iidxs`` still waiting (an answer is about to need them)."""
        if self._indexer is not None:
            self._indexer.ensure(iidxs)

    def flush(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Encode everything waiting (before a retrain; after a bulk import).

        ``progress`` is called with ``(items encoded, items in all)`` after each batch.
        """
        if self._indexer is not None:
            self._indexer.flush(progress)

    @property
    def pending(self) -> int:
        """Items waiting for their text embedding."""
        return 0 if self._indexer is None else self._indexer.pending

    # -- users and queries --------------------------------------------------------------------

    def warm_stated(self, texts: Iterable[str]) -> int:
        """Encode users' stated tastes ahead of their first answer (start-up); return how many.

        A stated text is otherwise encoded by the first answer that needs it: ~2 ms each,
        which made the first seconds of serving a restarted 100k-user shop twice as costly
        per answer. Keeps the newest distinct texts the cache holds, encoded in batches.
        """
        if self.encoder is None:
            return 0
        distinct = list(dict.fromkeys(t.strip() for t in texts if t.strip()))[-_STATED_CACHE:]
        with self._lock:
            todo = [text for text in distinct if text not in self._stated]
        for start in range(0, len(todo), _WARM_BATCH):
            chunk = todo[start : start + _WARM_BATCH]
            vectors = self.encoder.encode(chunk)
            with self._lock:
                for text, vector in zip(chunk, vectors, strict=True):
                    _remember(self._stated, text, vector)
        return len(todo)

    def encode_text(self, text: str) -> FloatMatrix | None:
        """Embedding of a free text (a user's stated tastes, a query); None without a model."""
        text = text.strip()
        if not text or self.encoder is None:
            return None
        with self._lock:
            cached = self._stated.get(text)
            if cached is not None:
                self._stated.move_to_end(text)
                return cached
        vector = self.encoder.encode([text])[0]
        with self._lock:
            _remember(self._stated, text, vector)
        return vector

    def profile(
        self, recent: Sequence[tuple[int, float]], stated_text: str = ""
    ) -> FloatMatrix | None:
        """A user's unit vector in text-embedding space, or None when nothing is known."""
        if self.text is None and not stated_text:
            return None
        stated = self.encode_text(stated_text) if stated_text else None
        table = self.text
        if table is None:
            return stated
        window = list(recent)[-self.config.profile_events :]
        return content_profile(
            table,
            window,
            recency_decay=self.config.profile_recency_decay,
            stated=stated,
            stated_weight=self.config.stated_weight,
        )

    def scores(self, query: FloatMatrix, n_items: int, n: int | None = None) -> FloatArray | None:
        """Cosine to ``query`` for the ``n`` nearest items (default ``candidates``), 0 elsewhere.

        Shape [n_items], float64. Uses the ANN index above its exact-search size, so the cost
        does not grow with the catalogue; hidden items are never in the index.
        """
        if self.index is None or len(self.index) == 0:
            return None
        ids, sims = self.index.search(query, n or self.config.candidates)
        out = np.zeros(n_items, dtype=np.float64)
        keep = ids < n_items
        out[ids[keep]] = sims[keep]
        return out

    def exact_scores(
        self, query: FloatMatrix, candidates: Sequence[int], n_items: int
    ) -> FloatArray | None:
        """Cosine to ``query`` for exactly ``candidates`` (``rank``), 0 elsewhere."""
        if self.text is None or not candidates:
            return None
        rows = np.asarray(candidates, dtype=np.int64)
        matrix = self.text.matrix
        rows = rows[rows < len(matrix)]
        out = np.zeros(n_items, dtype=np.float64)
        out[rows] = matrix[rows] @ query
        return out

    def nearest(self, query: FloatMatrix, k: int) -> IntArray | None:
        """The ``k`` items nearest ``query`` in text space (ANN), best first; candidates."""
        if self.index is None or len(self.index) == 0:
            return None
        ids, _ = self.index.search(query, k)
        return ids

    def nearest_to_text(self, text: str, k: int) -> IntArray | None:
        """``nearest`` for a profile made of stated text alone (a new user's), cached.

        The answer depends only on the text and the index, so it is kept per text until the
        index changes: an ANN query over 384-d vectors was ~0.6 ms of each such answer.
        """
        index = self.index
        text = text.strip()
        if index is None or not text:
            return None
        key = (text, k, index.generation)
        with self._lock:
            hit = self._text_nearest.get(key)
            if hit is not None:
                self._text_nearest.move_to_end(key)
                return hit
        vector = self.encode_text(text)
        found = None if vector is None else self.nearest(vector, k)
        if found is not None:
            found.flags.writeable = False  # shared between answers
            with self._lock:
                _remember(self._text_nearest, key, found)
        return found

    def scores_at(self, query: FloatMatrix, items: IntArray) -> FloatArray | None:
        """Cosine to ``query`` of ``items`` (0 for items without an embedding)."""
        if self.text is None:
            return None
        matrix = self.text.matrix
        inside = items < len(matrix)
        out = np.zeros(len(items), dtype=np.float64)
        out[inside] = matrix[items[inside]] @ query
        return out

    def query(self, text: str) -> Query:
        """Encode a free-text query: the language model's vector, or keywords without one."""
        vector = self.encode_text(text)
        if vector is not None:
            return Query(vector, None)
        return Query(None, self._keyword_encoder.encode([text])[0])

    def query_scores(self, query: Query, n_items: int, n: int) -> FloatArray | None:
        """Scores of the items nearest ``query``: ANN over text embeddings, else keywords."""
        if query.text is not None:
            return self.scores(query.text, n_items, max(self.config.candidates, 4 * n))
        assert query.keywords is not None
        matrix = self.keywords.matrix[:n_items]
        if not len(matrix):
            return None
        out = np.zeros(n_items, dtype=np.float64)
        out[: len(matrix)] = matrix @ query.keywords
        return out

    def stats(self) -> dict[str, object]:
        """What content the engine holds: model, encoded items, queue length."""
        return {
            "encoder": None if self.encoder is None else self.config.encoder,
            "text_embeddings": 0 if self.text is None else len(self.text),
            "keyword_vectors": len(self.keywords),
            "item_vectors": len(self.vectors) if self.config.vector_dim else 0,
            "pending": self.pending,
            "mapping_fitted": self.mapping.fitted,
        }

    def similar_scores(self, iidx: int, n_items: int) -> FloatArray | None:
        """Content neighbours of one item (its own score removed), shape [n_items]."""
        if self.text is None:
            return None
        vector = self.text.vector(iidx)
        if vector is None:
            return None
        out = self.scores(vector, n_items, self.config.candidates + 1)
        if out is not None and iidx < n_items:
            out[iidx] = 0.0
        return out

    # -- cold start: content -> collaborative factors ---------------------------------------

    def fused(self) -> FusedContent:
        """The fused content representation the factor mapping learns from."""
        blocks = [FusionBlock(self.keywords, self.config.keyword_weight)]
        if self.text is not None:
            blocks.insert(0, FusionBlock(self.text, self.config.text_weight))
        if self.config.vector_dim is not None:
            blocks.append(FusionBlock(self.vectors, self.config.vector_weight))
        return FusedContent(blocks)

    def fit_mapping(
        self, item_factors: FloatArray, trained: npt.NDArray[np.bool_], force: bool = False
    ) -> bool:
        """Learn content -> factors on the trained items that have content; True if fitted.

        Unless ``force``d, a fitted mapping is kept while the items it could learn from grew
        by less than 10 % and fewer than ``REFIT_EVERY`` retrains passed: warm-started
        retrains move factors little, and the refit is the costly part of a small retrain.
        """
        fused = self.fused()
        known = fused.known(len(trained)) & trained
        rows = np.flatnonzero(known)
        if self.mapping.fitted and not force:
            self._retrains_since_fit += 1
            grown = len(rows) >= 1.1 * self._rows_at_fit
            if not grown and self._retrains_since_fit < REFIT_EVERY:
                return True
        self._retrains_since_fit, self._rows_at_fit = 0, len(rows)
        if len(rows) > MAX_MAPPING_ITEMS:  # a seeded sample: the fit stays seconds at any size
            rng = np.random.default_rng(0)
            rows = np.sort(rng.choice(rows, size=MAX_MAPPING_ITEMS, replace=False))
        return self.mapping.fit(fused.rows(rows), item_factors[rows])

    def predicted_factors(self, iidxs: Sequence[int] | IntArray) -> FloatArray | None:
        """Content-predicted factors for items that have content, shape [len(iidxs), k]."""
        if not self.mapping.fitted or not len(iidxs):
            return None
        fused = self.fused()
        key = (self.mapping.generation, *((id(b.table), b.table.changes) for b in fused.blocks))
        rows = np.asarray(iidxs, dtype=np.int64)
        return self._predictions.get(key, rows, lambda some: self.mapping.predict(fused.rows(some)))

    def place(
        self,
        factors: ImplicitFactors,
        n_items: int,
        refit: bool,
        only: Sequence[int] | None = None,
    ) -> None:
        """Give items without behaviour content-predicted factors (item cold start).

        ``refit`` relearns the content -> factors mapping from the trained items (after a
        retrain); otherwise it is learned the first time enough items have content.
        ``only`` limits the placement to these items (just encoded).
        """
        if not factors.fitted:
            return
        if refit or not self.mapping.fitted:
            item_factors, trained, _ = factors.trained_state()
            if not self.fit_mapping(item_factors, trained):
                return
        targets = factors.items_without_evidence(n_items)
        if only is not None:
            targets = np.intersect1d(targets, np.asarray(only, dtype=np.int64))
        placement = self._placement(targets)
        if placement is not None:
            factors.set_content_factors(*placement)

    def placement(
        self, trained: npt.NDArray[np.bool_], n_items: int
    ) -> tuple[list[int], FloatArray] | None:
        """Content-predicted factors for the items ``trained`` leaves out, without placing them.

        A retrain computes these outside the engine's lock (~0.7 s at 100k items) and its
        install places them; items that got behaviour meanwhile are skipped there.
        """
        if not self.mapping.fitted:
            return None
        untrained = np.ones(n_items, dtype=np.bool_)
        m = min(n_items, len(trained))
        untrained[:m] = ~trained[:m]
        return self._placement(np.flatnonzero(untrained))

    def _placement(self, targets: npt.NDArray[np.int64]) -> tuple[list[int], FloatArray] | None:
        present = self._content_table().present
        targets = np.asarray(targets, dtype=np.int64)
        placed = targets[targets < len(present)]
        placed = placed[present[placed]]
        predicted = self.predicted_factors(placed)
        return None if predicted is None else (placed.tolist(), predicted)

    def has_content(self, iidx: int) -> bool:
        """Whether the item's content is known in every enabled space that matters."""
        return self._content_table().vector(iidx) is not None

    def _content_table(self) -> EmbeddingTable:
        """The table whose rows say an item's content is known: text when encoded, else keywords."""
        if self.text is not None and self.encoder is not None:
            return self.text
        return self.keywords

    # -- persistence --------------------------------------------------------------------------

    def save(self, store: Store, id_of: Callable[[int], str]) -> None:
        """Save text embeddings (the costly ones; keywords and vectors rebuild from items).

        Skipped when nothing was encoded since the last save or load: at 100k items the blob
        is ~77 MB, and every retrain asks for a save.
        """
        table = self.text
        if table is None or not len(table) or table.changes == self._saved_changes:
            return
        changes = table.changes
        store.put_blob(TEXT_BLOB, table.to_bytes(id_of))
        self._saved_changes = changes

    def restore(self, store: Store, iidx_of: Callable[[str], int | None]) -> int:
        """Load saved text embeddings made by the same model; return how many rows."""
        if self.encoder is None:
            return 0
        blob = store.get_blob(TEXT_BLOB)
        if blob is None:
            return 0
        self._text_indexer()
        assert self.text is not None and self.index is not None
        try:
            loaded = self.text.load(blob, iidx_of)
        except StoreError:
            log.warning("saved text embeddings are damaged; items will be re-encoded")
            return 0
        rows = np.flatnonzero(self.text.present)
        shown = np.asarray([r for r in rows if self._available.get(int(r), True)], dtype=np.int64)
        if len(shown):
            self.index.upsert(shown, self.text.matrix[shown])
        self._saved_changes = self.text.changes  # what the store holds already
        return loaded

    def close(self) -> None:
        """Stop the encoding worker."""
        if self._indexer is not None:
            self._indexer.close()


def _describe(encoder: KeywordEncoder | LazyEncoder) -> tuple[str, str, int]:
    return encoder.name, encoder.version, encoder.dim


def _remember(cache: OrderedDict[K, V], key: K, value: V) -> None:
    """Put ``value`` in an LRU of ``_STATED_CACHE`` entries (the caller holds the lock)."""
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > _STATED_CACHE:
        cache.popitem(last=False)
