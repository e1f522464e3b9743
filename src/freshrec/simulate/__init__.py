"""Synthetic shop data for tests and scale benchmarks: catalogue, users, drifting traffic."""

from freshrec.simulate.choice import ChoiceModel
from freshrec.simulate.closed_loop import ClosedLoopShop, LoopSummary, Outcome, run_loop
from freshrec.simulate.shop import ShopConfig, SyntheticShop
from freshrec.simulate.traffic import EVENT_TYPES, EventColumns
from freshrec.simulate.writer import ShopFiles, write_shop

__all__ = [
    "EVENT_TYPES",
    "ChoiceModel",
    "ClosedLoopShop",
    "EventColumns",
    "LoopSummary",
    "Outcome",
    "ShopConfig",
    "ShopFiles",
    "SyntheticShop",
    "run_loop",
    "write_shop",
]
