"""Synthetic shop data for tests and scale benchmarks: catalogue, users, drifting traffic."""

from freshrec.simulate.shop import ShopConfig, SyntheticShop
from freshrec.simulate.traffic import EVENT_TYPES, EventColumns
from freshrec.simulate.writer import ShopFiles, write_shop

__all__ = ["EVENT_TYPES", "EventColumns", "ShopConfig", "ShopFiles", "SyntheticShop", "write_shop"]
