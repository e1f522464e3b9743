"""The headline quality, guarded: a fixed synthetic replay lands in a narrow band.

The shop is the project's own generator with a fixed seed, replayed with the default
settings (the language model included) through the same ``replay`` the CLI runs. The band
is the measured figure ± 0.01 (±17 of 1,734 evaluated events): a change that moves quality
by more than run-to-run noise of tie-breaks fails here and has to say why in its note.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from freshrec.config import EngineConfig
from freshrec.errors import ValidationError
from freshrec.evaluation import replay
from freshrec.readers import read_events, read_items
from freshrec.simulate.shop import ShopConfig
from freshrec.simulate.writer import write_shop

MEASURED_HR = 0.2820  # 2026-12-02, defaults of this commit (0.2941 with a window of 10)
BAND = 0.01


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list]:
    folder = tmp_path_factory.mktemp("shop")
    files = write_shop(Path(folder), ShopConfig(n_users=600, n_items=400, n_events=30_000, seed=7))
    weights = EngineConfig().events.weights
    events = read_events(files.events, known_types=weights, strict=True).records
    return events, read_items(files.items, strict=True).records


def test_fixed_synthetic_replay_stays_in_its_band(shop: tuple[list, list]) -> None:
    events, items = shop
    report = replay(events, items).to_dict()
    assert report["evaluated"] == 1_734  # the protocol picks the same questions
    assert abs(report["hr@10"] - MEASURED_HR) <= BAND, report


def test_seen_only_candidates_never_score_above_the_whole_catalogue(
    shop: tuple[list, list],
) -> None:
    events, items = shop
    whole = replay(events, items).to_dict()
    seen = replay(events, items, candidates="seen").to_dict()
    assert seen["evaluated"] == whole["evaluated"]
    # Fewer candidates: targets nobody touched before cannot be hit, the rest move up a
    # little; the two stay close on a shop whose items are all touched early.
    assert seen["hr@10"] > 0 and abs(seen["hr@10"] - whole["hr@10"]) < 0.05


def test_replay_rejects_an_unknown_candidate_set(shop: tuple[list, list]) -> None:
    events, items = shop
    with pytest.raises(ValidationError, match="candidates"):
        replay(events[:10], items, candidates="everything")
