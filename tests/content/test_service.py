"""The engine's content seam: spaces kept in step with items, ANN hits, profiles, mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from freshrec.config import ContentConfig
from freshrec.content.service import ContentService
from freshrec.errors import ValidationError
from freshrec.store.memory import MemoryStore
from freshrec.types import Item

ITEMS = [
    Item("a", title="Cheap running shoes", text="Light trainers for road running."),
    Item("b", title="Trail running shoes", text="Grippy soles for muddy trails."),
    Item("c", title="Garden hose", text="Twenty metres of flexible hose for watering plants."),
    Item("d", title="Watering can", text="A metal can for watering the garden."),
    Item("e", title="Mystery box", vector=(0.0, 1.0, 0.0)),
]


def service(tmp_path: Path | None = None, **settings: object) -> ContentService:
    config = ContentConfig(vector_dim=3, **settings)  # type: ignore[arg-type]
    return ContentService(config, background=False)


def test_vectors_of_the_wrong_dimension_are_refused_by_field() -> None:
    content = service()
    with pytest.raises(ValidationError) as caught:
        content.validate([Item("x", vector=(1.0, 2.0))])
    assert caught.value.field == "vector"
    with pytest.raises(ValidationError):
        ContentService(ContentConfig(encoder="none")).validate([Item("x", vector=(1.0,))])


def test_keyword_only_service_still_fuses_and_maps() -> None:
    content = service(encoder="none")
    content.on_items(range(len(ITEMS)), ITEMS)
    assert content.text is None and content.index is None
    assert content.scores(np.ones(3, dtype=np.float32), 5) is None
    fused = content.fused()
    assert fused.dim == 512 + 3
    assert fused.known(6).tolist() == [True, True, True, True, True, False]


def test_language_model_space_finds_neighbours_and_hides_items() -> None:
    content = service()
    content.on_items(range(len(ITEMS)), ITEMS)
    assert content.pending == 0 and content.text is not None
    near = content.similar_scores(0, len(ITEMS))
    assert near is not None and near[0] == 0 and int(np.argmax(near)) == 1
    query = content.encode_text("something to water my plants")
    assert query is not None
    hits = content.scores(query, len(ITEMS))
    assert hits is not None and set(np.argsort(-hits)[:2].tolist()) == {2, 3}
    hidden = Item("c", title=ITEMS[2].title, text=ITEMS[2].text, available=False)
    content.on_items([2], [hidden])
    hits = content.scores(query, len(ITEMS))
    assert hits is not None and hits[2] == 0 and int(np.argmax(hits)) == 3


def test_profile_follows_recent_items_and_stated_taste() -> None:
    content = service()
    content.on_items(range(len(ITEMS)), ITEMS)
    runner = content.profile([(2, 1.0), (0, 1.0)])
    gardener = content.profile([], stated_text="I love gardening and plants")
    assert runner is not None and gardener is not None
    text = content.text
    assert text is not None
    assert float(text.matrix[1] @ runner) > float(text.matrix[3] @ runner)
    assert float(text.matrix[3] @ gardener) > float(text.matrix[1] @ gardener)
    assert content.profile([]) is None


def test_text_embeddings_survive_a_restart_without_re_encoding() -> None:
    store = MemoryStore()
    first = service()
    first.on_items(range(4), ITEMS[:4])
    first.save(store, lambda i: ITEMS[i].item_id)
    second = service()
    ids = {item.item_id: i for i, item in enumerate(ITEMS)}
    assert second.restore(store, ids.get) == 4
    second.on_items(range(4), ITEMS[:4])
    assert second.pending == 0
    assert first.text is not None and second.text is not None
    assert np.array_equal(first.text.matrix[:4], second.text.matrix[:4])


def test_mapping_predicts_factors_for_items_with_content() -> None:
    rng = np.random.default_rng(0)
    items = [Item(f"i{k}", title=f"item {k} word{k % 7} colour{k % 5}") for k in range(120)]
    content = service(encoder="none")
    content.on_items(range(120), items)
    fused = content.fused().rows(range(120))
    factors = fused @ rng.normal(size=(fused.shape[1], 4))
    trained = np.ones(120, dtype=np.bool_)
    trained[100:] = False
    assert content.fit_mapping(factors, trained)
    predicted = content.predicted_factors(list(range(100, 120)))
    assert predicted is not None and predicted.shape == (20, 4)
    corr = np.corrcoef(predicted.ravel(), factors[100:].ravel())[0, 1]
    assert corr > 0.5


class _CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.blob_writes = 0

    def put_blob(self, name: str, data: bytes) -> None:
        self.blob_writes += 1
        super().put_blob(name, data)


def test_embeddings_are_saved_only_when_something_was_encoded_since() -> None:
    store = _CountingStore()
    content = service()
    id_of = lambda i: ITEMS[i].item_id  # noqa: E731
    content.on_items(range(2), ITEMS[:2])
    content.save(store, id_of)
    content.save(store, id_of)  # nothing new: the ~77 MB write of a large catalogue is skipped
    assert store.blob_writes == 1
    content.on_items([2], [ITEMS[2]])
    content.save(store, id_of)
    assert store.blob_writes == 2
    restored = service()
    restored.restore(store, {item.item_id: i for i, item in enumerate(ITEMS)}.get)
    restored.save(store, id_of)  # the store already holds what was loaded
    assert store.blob_writes == 2


def test_nearest_to_text_is_cached_until_the_index_changes() -> None:
    content = service()
    content.on_items(range(4), ITEMS[:4])
    text = "something to water my plants"
    first = content.nearest_to_text(text, 2)
    assert first is not None and set(first.tolist()) == {2, 3}
    assert content.nearest_to_text(text, 2) is first  # the same answer, not a new query
    vector = content.encode_text(text)
    assert vector is not None
    direct = content.nearest(vector, 2)
    assert direct is not None and direct.tolist() == first.tolist()
    everything = content.nearest_to_text(text, 10)
    assert everything is not None and sorted(everything.tolist()) == [0, 1, 2, 3]
    hose = Item("f", title="Hose reel", text="Keeps the garden hose for watering plants tidy.")
    content.on_items([5], [hose])  # a new item: the index changed, so the query runs again
    again = content.nearest_to_text(text, 10)
    assert again is not None and sorted(again.tolist()) == [0, 1, 2, 3, 5]
