"""Child process for ``test_recovery.py``: ingest forever, acknowledging on stdout.

Usage: ``python recovery_writer.py DATA_DIR BATCH_SIZE CONFIG_JSON``. After each ``ingest``
returns, prints the index of the last event of that batch (flushed), so the parent knows which
events were acknowledged when it kills this process with SIGKILL.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# A cap so an orphaned writer cannot run forever; the test kills it long before.
MAX_EVENTS = 2_000_000
BASE_TIME = 1_700_000_000
TYPES = ("click", "click", "view", "purchase", "like")
N_ITEMS = 100


def event(k: int) -> dict[str, Any]:
    """Event number ``k`` (deterministic): 37 users in two parity taste groups, 100 items."""
    user = k % 37
    item = user % 2 + 2 * ((k * 7_919) % 50)
    return {
        "user_id": f"u{user}",
        "item_id": f"i{item}",
        "type": TYPES[k % len(TYPES)],
        "timestamp": BASE_TIME + k,
        "event_id": f"e{k}",
    }


def main() -> int:
    from freshrec import Engine, EngineConfig

    data_dir, batch_size, config_json = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    config = EngineConfig.from_dict(json.loads(config_json))
    engine = Engine.open(data_dir, config)
    engine.upsert_items({"item_id": f"i{item}"} for item in range(N_ITEMS))
    k = 0
    while k < MAX_EVENTS:
        result = engine.ingest([event(k + j) for j in range(batch_size)])
        if result.errors or result.accepted != batch_size:
            print(f"unexpected ingest result {result}", file=sys.stderr, flush=True)
            return 1
        k += batch_size
        print(k - 1, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
