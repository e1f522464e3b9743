import json
from pathlib import Path

import pytest

from freshrec.readers import read_events, read_items
from freshrec.simulate import ShopConfig, SyntheticShop, write_shop
from freshrec.types import BUILTIN_EVENT_TYPES, parse_user

CONFIG = ShopConfig(n_users=50, n_items=60, n_events=3_000, seed=5)


@pytest.mark.parametrize("events_format", ["csv", "jsonl"])
def test_written_shop_reads_back_without_errors(tmp_path: Path, events_format: str) -> None:
    written: list[int] = []
    files = write_shop(
        tmp_path / "shop", CONFIG, events_format=events_format, progress=written.append
    )
    assert files.events.name == f"events.{events_format}"
    assert sum(written) == CONFIG.n_events
    events = read_events(files.events, known_types=BUILTIN_EVENT_TYPES, strict=True).records
    expected = list(SyntheticShop(CONFIG).events())
    assert [(e.user_id, e.item_id, e.type, e.timestamp, e.value) for e in events] == [
        (r["user_id"], r["item_id"], r["type"], float(r["timestamp"]), r["value"]) for r in expected
    ]
    items = read_items(files.items, strict=True).records
    assert [i.item_id for i in items] == [f"i{n}" for n in range(CONFIG.n_items)]
    with files.users.open(encoding="utf-8") as lines:
        users = [parse_user(json.loads(line)) for line in lines]
    assert len(users) == CONFIG.n_users


def test_unknown_events_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="parquet"):
        write_shop(tmp_path, CONFIG, events_format="parquet")
