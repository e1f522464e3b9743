"""Content building blocks: item text, keyword vectors, the embedding table, the encoding
queue, fusion, the content-to-factors mapping and the user profile."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from freshrec.content.coldstart import MIN_TRAINING_ITEMS, ContentToFactors
from freshrec.content.embeddings import EmbeddingTable
from freshrec.content.fusion import FusedContent, FusionBlock
from freshrec.content.indexer import ContentIndexer
from freshrec.content.keywords import KeywordEncoder
from freshrec.content.profile import content_profile
from freshrec.content.text import content_hash, item_text
from freshrec.errors import StoreError
from freshrec.types import Item


class CountingEncoder(KeywordEncoder):
    """The keyword encoder, counting the texts it was asked to encode."""

    def __init__(self) -> None:
        super().__init__(dim=32)
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode(texts)


def test_item_text_does_not_repeat_title_or_named_categories() -> None:
    movie = Item(
        "1",
        title="Toy Story (1995)",
        text="Toy Story (1995). Genres: Comedy.",
        categories=("Comedy",),
    )
    assert item_text(movie) == "Toy Story (1995). Genres: Comedy."
    shoe = Item("2", title="Trail shoe", text="Grippy sole", categories=("shoes", "outdoor"))
    assert item_text(shoe) == "Trail shoe. Grippy sole. Categories: shoes, outdoor."
    assert item_text(Item("3")) == ""


def test_content_hash_tracks_text() -> None:
    assert content_hash("a") == content_hash("a") != content_hash("b")
    assert len(content_hash("")) == 16


def test_keyword_vectors_share_words() -> None:
    enc = KeywordEncoder(dim=256)
    a, b, c = enc.encode(["red running shoes", "red shoes", "blue garden hose"])
    assert a @ b > 0.5 > abs(a @ c)
    assert np.allclose(np.linalg.norm(enc.encode(["x y z"]), axis=1), 1.0)
    with pytest.raises(ValueError):
        KeywordEncoder(dim=2)


def test_embedding_table_rounds_trip_and_rejects_another_model() -> None:
    table = EmbeddingTable("kw", "v1", 4)
    vectors = np.array([[0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0]], dtype=np.float32)
    table.put([3, 100], vectors, ["h3", "h100"])
    assert len(table) == 2 and table.present[3] and not table.present[4]
    assert table.hash_of(3) == "h3" and table.hash_of(4) is None
    ids = {3: "a", 100: "b"}
    data = table.to_bytes(ids.__getitem__)
    again = EmbeddingTable("kw", "v1", 4)
    assert again.load(data, {"a": 0, "b": 1}.get) == 2
    assert np.array_equal(again.vector(0), table.vector(3))  # float16-exact: bit-identical
    assert again.hash_of(1) == "h100"
    assert EmbeddingTable("kw", "v2", 4).load(data, {"a": 0}.get) == 0
    with pytest.raises(StoreError):
        again.load(b"not a table", {"a": 0}.get)
    with pytest.raises(ValueError):
        table.put([1], np.zeros((1, 3), dtype=np.float32), ["x"])


def test_indexer_inline_encodes_only_changed_texts() -> None:
    encoder = CountingEncoder()
    table = EmbeddingTable(encoder.name, encoder.version, encoder.dim)
    seen: list[list[int]] = []
    indexer = ContentIndexer(
        encoder, table, background=False, on_encoded=lambda iidxs, _: seen.append(iidxs)
    )
    assert indexer.submit([0, 1], ["red shoes", "blue hat"]) == 2
    assert table.present[:2].all() and seen == [[0, 1]]
    assert indexer.submit([0, 1], ["red shoes", "green hat"]) == 1  # only item 1 changed
    assert encoder.calls[-1] == ["green hat"]
    assert np.allclose(table.vector(1), KeywordEncoder(32).encode(["green hat"])[0], atol=1e-3)


def test_background_indexer_encodes_and_ensure_serves_a_request() -> None:
    encoder = CountingEncoder()
    table = EmbeddingTable(encoder.name, encoder.version, encoder.dim)
    indexer = ContentIndexer(encoder, table, batch_size=8)
    try:
        indexer.submit(list(range(200)), [f"item number {i}" for i in range(200)])
        indexer.ensure([199])  # the request's item is there when ensure returns
        assert table.present[199]
        indexer.flush()
        assert indexer.pending == 0 and table.present[:200].all()
        assert sum(len(c) for c in encoder.calls) == 200  # nothing encoded twice
    finally:
        indexer.close()


def test_indexer_concurrent_submits_keep_the_newest_text() -> None:
    encoder = CountingEncoder()
    table = EmbeddingTable(encoder.name, encoder.version, encoder.dim)
    indexer = ContentIndexer(encoder, table, batch_size=4)

    def write(version: int) -> None:
        for i in range(50):
            indexer.submit([i], [f"text {i} version {version}"])

    threads = [threading.Thread(target=write, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    indexer.submit(list(range(50)), [f"final {i}" for i in range(50)])
    indexer.flush()
    indexer.close()
    for i in range(50):
        assert table.hash_of(i) == content_hash(f"final {i}")


def test_fusion_weights_blocks_and_marks_known_items() -> None:
    a = EmbeddingTable("a", "1", 2)
    b = EmbeddingTable("b", "1", 3)
    a.put([0, 1], np.array([[3, 4], [1, 0]], dtype=np.float32), ["x", "y"])
    b.put([1], np.array([[0, 0, 2]], dtype=np.float32), ["z"])
    fused = FusedContent([FusionBlock(a, 1.0), FusionBlock(b, 0.5)])
    rows = fused.rows([0, 1, 5])
    assert rows.shape == (3, 5)
    assert np.allclose(rows[0], [0.6, 0.8, 0, 0, 0], atol=1e-3)
    assert np.allclose(rows[1], [1, 0, 0, 0, 0.5])
    assert not rows[2].any()
    assert fused.known(6).tolist() == [True, True, False, False, False, False]
    assert FusedContent([FusionBlock(a, 0.0)]).dim == 0


def test_content_to_factors_recovers_a_linear_map_and_needs_enough_items() -> None:
    rng = np.random.default_rng(3)
    content = rng.normal(size=(300, 10))
    truth = rng.normal(size=(10, 4))
    factors = content @ truth + 2.0  # the intercept must not be shrunk
    mapping = ContentToFactors(l2=1e-6)
    assert mapping.fit(content, factors)
    assert np.allclose(mapping.predict(content[:5]), factors[:5], atol=1e-4)
    small = ContentToFactors(l2=1.0)
    assert not small.fit(content[: MIN_TRAINING_ITEMS - 1], factors[: MIN_TRAINING_ITEMS - 1])
    with pytest.raises(RuntimeError):
        small.predict(content)


def test_profile_weights_recent_items_and_stated_taste() -> None:
    table = EmbeddingTable("t", "1", 2)
    table.put([0, 1], np.array([[1, 0], [0, 1]], dtype=np.float32), ["a", "b"])
    newest_first = content_profile(table, [(0, 1.0), (1, 1.0)], recency_decay=0.1)
    assert newest_first is not None and newest_first[1] > 0.99  # item 1 is the newest
    assert content_profile(table, [(0, -1.0), (7, 1.0)], recency_decay=0.8) is None
    stated = np.array([1.0, 0.0], dtype=np.float32)
    only_words = content_profile(table, [], recency_decay=0.8, stated=stated)
    assert only_words is not None and np.allclose(only_words, stated)
