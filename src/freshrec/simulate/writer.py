"""Write a synthetic shop to files that ``freshrec import`` and ``replay`` read back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.simulate.shop import ShopConfig, SyntheticShop
from freshrec.simulate.traffic import EVENT_TYPES, EventColumns


@dataclass(frozen=True, slots=True)
class ShopFiles:
    """Paths of one written shop."""

    items: Path
    users: Path
    events: Path


def write_shop(
    directory: str | Path,
    config: ShopConfig,
    *,
    events_format: str = "csv",
    progress: Callable[[int], None] | None = None,
) -> ShopFiles:
    """Generate a shop and write ``items.jsonl``, ``users.jsonl`` and ``events.csv``/``.jsonl``.

    Args:
        directory: created if missing; existing files of the same names are replaced.
        config: what to generate.
        events_format: ``"csv"`` (columns ``user_id,item_id,type,timestamp,value``, empty
            value when none) or ``"jsonl"``.
        progress: called with the number of events written since its previous call.

    Returns:
        The three paths. Events are in non-decreasing timestamp order.

    Raises:
        ValueError: ``events_format`` is neither ``"csv"`` nor ``"jsonl"``.

    Example:
        >>> import tempfile
        >>> files = write_shop(tempfile.mkdtemp(), ShopConfig(n_users=5, n_items=30, n_events=9))
        >>> files.events.read_text().splitlines()[0]
        'user_id,item_id,type,timestamp,value'
    """
    if events_format not in ("csv", "jsonl"):
        raise ValueError(f"events_format must be 'csv' or 'jsonl', got {events_format!r}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    shop = SyntheticShop(config)
    files = ShopFiles(
        items=folder / "items.jsonl",
        users=folder / "users.jsonl",
        events=folder / f"events.{events_format}",
    )
    _write_jsonl(files.items, shop.items())
    _write_jsonl(files.users, shop.users())
    with files.events.open("w", encoding="utf-8", newline="") as out:
        if events_format == "csv":
            out.write("user_id,item_id,type,timestamp,value\n")
        for chunk in shop.events_arrays():
            lines = _csv_lines(chunk) if events_format == "csv" else _jsonl_lines(chunk)
            out.writelines(lines)
            if progress is not None:
                progress(len(chunk))
    return files


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def _value_cells(chunk: EventColumns) -> list[str]:
    # Ratings are whole stars, so "4" rather than "4.0"; NaN (no value) is an empty cell.
    return ["" if v != v else f"{v:g}" for v in chunk.value.tolist()]


def _csv_lines(chunk: EventColumns) -> list[str]:
    types = np.array(EVENT_TYPES)[chunk.type].tolist()
    return [
        f"u{user},i{item},{kind},{stamp},{value}\n"
        for user, item, kind, stamp, value in zip(
            chunk.user.tolist(),
            chunk.item.tolist(),
            types,
            chunk.timestamp.tolist(),
            _value_cells(chunk),
            strict=True,
        )
    ]


def _jsonl_lines(chunk: EventColumns) -> list[str]:
    types = np.array(EVENT_TYPES)[chunk.type].tolist()
    lines = []
    for user, item, kind, stamp, value in zip(
        chunk.user.tolist(),
        chunk.item.tolist(),
        types,
        chunk.timestamp.tolist(),
        _value_cells(chunk),
        strict=True,
    ):
        record = {"user_id": f"u{user}", "item_id": f"i{item}", "type": kind, "timestamp": stamp}
        record["value"] = float(value) if value else None
        lines.append(json.dumps(record) + "\n")
    return lines
