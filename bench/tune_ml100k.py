"""Choose freshrec's replay defaults on the first half of the MovieLens-100K stream only.

Coordinate search from the current defaults: for each setting in ``GRID``, replay the first
half of the stream (the first 50,000 events in replay order: exactly the events and the
questions of the full replay's first half) with each candidate value, and adopt a value when
it beats the incumbent's first-half hr@10 by more than ``MIN_GAIN`` (a few hits: below that
the difference is a tie-break). Two passes over the grid. The second half is never looked at
while choosing; the chosen settings are then replayed on the whole stream and both halves
are reported.

    .venv/bin/python bench/tune_ml100k.py [--data DIR] [--passes 2] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay_peers
from freshrec.config import EngineConfig
from freshrec.evaluation import replay
from freshrec.readers import read_movielens
from freshrec.types import Event, Item

# (section, key): candidate values; the defaults are always among the incumbents.
GRID: dict[tuple[str, str], list[float]] = {
    ("factors", "factors"): [16, 32, 64],
    ("factors", "regularization"): [3.0, 10.0, 30.0],
    ("factors", "alpha"): [1.0, 4.0, 10.0],
    ("covisitation", "window_events"): [5, 10, 20],
    ("covisitation", "popularity_exponent"): [0.3, 0.5, 0.7],
    ("blend", "factors"): [0.25, 0.5, 1.0],
    ("blend", "trending"): [0.0, 0.1, 0.2],
}
MIN_GAIN = 0.0005  # ~14 hits of the first half's ~27,000 evaluated events


def first_half(events: list[Event]) -> list[Event]:
    ordered = sorted(events, key=lambda e: e.timestamp)
    return ordered[: len(ordered) // 2]


def score(
    settings: dict[str, Any], events: list[Event], items: list[Item], half: bool
) -> dict[str, float]:
    config = EngineConfig.from_dict(settings)
    report = replay(first_half(events) if half else events, items, config=config).to_dict()
    return report


def with_value(settings: dict[str, Any], section: str, key: str, value: float) -> dict[str, Any]:
    changed = copy.deepcopy(settings)
    changed.setdefault(section, {})[key] = value
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=replay_peers.DEFAULT_DATA)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = args.data.resolve()
    if not (data_dir / "u.data").is_file():
        print(f"MovieLens-100K not found at {data_dir}; nothing to tune.")
        return 0
    data = read_movielens(data_dir)
    events, items = list(data.events), list(data.items)
    defaults = EngineConfig()
    chosen: dict[str, Any] = {}
    trials: list[dict[str, Any]] = []
    with threadpool_limits(limits=1):
        best = score(chosen, events, items, half=True)["hr@10"]
        print(f"defaults: first-half hr@10 {best:.4f}")
        for sweep in range(args.passes):
            moved = False
            for (section, key), values in GRID.items():
                current = chosen.get(section, {}).get(key, getattr(getattr(defaults, section), key))
                for value in values:
                    if value == current:
                        continue
                    started = time.perf_counter()
                    trial = with_value(chosen, section, key, value)
                    hr = score(trial, events, items, half=True)["hr@10"]
                    adopted = hr > best + MIN_GAIN
                    trials.append(
                        {
                            "pass": sweep + 1,
                            "setting": f"{section}.{key}",
                            "value": value,
                            "hr_first_half": hr,
                            "adopted": adopted,
                        }
                    )
                    print(
                        f"pass {sweep + 1} {section}.{key}={value}: first half {hr:.4f}"
                        f" (incumbent {best:.4f}){' adopted' if adopted else ''}"
                        f" [{time.perf_counter() - started:.0f} s]",
                        flush=True,
                    )
                    if adopted:
                        chosen, best, current, moved = trial, hr, value, True
            if not moved:
                break
        final = score(chosen, events, items, half=False)
        baseline = score({}, events, items, half=False)
    print(f"chosen (first half only): {json.dumps(chosen) or 'the defaults'}")
    for name, report in (("defaults", baseline), ("chosen", final)):
        print(
            f"{name}: hr@10 {report['hr@10']:.4f}, first half {report['hr@10_first_half']:.4f},"
            f" second half {report['hr@10_second_half']:.4f}"
        )
    if args.json:
        print(
            json.dumps({"chosen": chosen, "trials": trials, "final": final, "defaults": baseline})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
