"""Every registered candidate source passes ``freshrec.testing.SourceContract``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import small_config
from freshrec import Engine
from freshrec.simulate import ShopConfig, SyntheticShop
from freshrec.sources import Asker
from freshrec.sources.registry import SOURCES, build
from freshrec.testing import SourceCase, SourceContract


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    shop = SyntheticShop(ShopConfig(n_users=120, n_items=150, n_events=3_000, seed=2))
    # EASE is fitted only when weighted: weight every model so each has an opinion.
    blend = {"covisitation": 1.0, "factors": 0.5, "ease": 0.3, "trending": 0.1}
    config = small_config(content={"encoder": "none"}, blend=blend)
    with Engine.open(None, config, background_training=False) as opened:
        opened.upsert_items(shop.items())
        events = list(shop.events())
        opened.ingest(events[:2_500])
        opened.train()
        opened.ingest(events[2_500:])  # online state past the fit, as in serving
        yield opened


class TestRegisteredSources(SourceContract):
    @pytest.fixture(params=sorted(SOURCES))
    def case(self, request: pytest.FixtureRequest, engine: Engine) -> SourceCase:
        state = engine._state
        n_items = len(state.items)
        users = [Asker(state.users.get(f"u{k}"), n_items) for k in (0, 3, 7, 11)]
        return SourceCase(
            build(request.param, state, engine._models), [*users, Asker(None, n_items)]
        )


def test_a_source_is_added_by_configuration_and_shows_in_the_answers() -> None:
    shop = SyntheticShop(ShopConfig(n_users=100, n_items=150, n_events=2_000, seed=5))
    config = small_config(
        content={"encoder": "none"}, blend={"sources": {"category_trending": 1.0}}
    )
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items(shop.items())
        engine.ingest(list(shop.events()))
        reasons = {why.split()[0] for r in engine.recommend("u3", 10) for why in r.why}
        assert "category_trending" in reasons


def test_an_unknown_source_name_is_refused_naming_the_setting() -> None:
    from freshrec import ValidationError

    with pytest.raises(ValidationError, match=r"blend\.sources\.nope"):
        Engine.open(None, small_config(blend={"sources": {"nope": 1.0}}))
