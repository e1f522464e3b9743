"""Property-based fuzzing of every operation in the OpenAPI schema: never a 5xx.

Schemathesis generates valid and invalid requests from ``/openapi.json`` (its examples,
coverage and fuzzing phases) and sends them through the app in-process with an admin key,
against an engine on a real SQLite store. On top of "no 5xx", each call checks that GETs
change nothing and that ``POST /v1/events`` stored exactly the events it acknowledged; at the
end the store is reopened and must hold every acknowledged event.

``FRESHREC_FUZZ_EXAMPLES`` sets the fuzzing examples per operation (default 30; the
benchmark run uses 1000). ``FRESHREC_FUZZ_REPORT`` names a JSON file for the request counts.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from freshrec import Engine, EngineConfig
from freshrec.serving import KeyStore, create_app

EXAMPLES = int(os.environ.get("FRESHREC_FUZZ_EXAMPLES", "30"))
CONFIG = EngineConfig.from_dict(
    {
        "store": {"synchronous_full": False},
        "training": {"retrain_every_events": 0},
        "factors": {"factors": 8, "iterations": 4},
    }
)

DATA = Path(tempfile.mkdtemp(prefix="freshrec-fuzz-"))
ENGINE = Engine.open(DATA, CONFIG)
ENGINE.upsert_items([{"item_id": f"i{k}", "categories": ["c"]} for k in range(20)])
ENGINE.ingest(
    [
        {"user_id": f"u{k % 5}", "item_id": f"i{k % 20}", "type": "click", "timestamp": 1e9 + k}
        for k in range(200)
    ]
)
ADMIN = KeyStore(ENGINE.store).create("admin")
# Schemathesis ends the app's lifespan after each operation; the engine outlives them all.
APP = create_app(ENGINE, auth=KeyStore(ENGINE.store), max_body_bytes=200_000, close_engine=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(modes=list(schemathesis.GenerationMode))

CALLS: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()
ACKNOWLEDGED = 0


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_errors(case: Any) -> None:
    global ACKNOWLEDGED
    label = f"{case.method} {case.path}"
    before = ENGINE.stats()
    response = case.call(headers={"Authorization": f"Bearer {ADMIN}"})
    CALLS[label] += 1
    STATUSES[str(response.status_code)] += 1
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
    after = ENGINE.stats()
    if case.method == "GET":
        assert after == before, f"{label} changed the engine"
    if case.path == "/v1/events" and response.status_code == 202:
        accepted = response.json()["accepted"]
        ACKNOWLEDGED += accepted
        assert after["events"] - before["events"] == accepted


def test_every_acknowledged_event_survives_a_reopen() -> None:
    """Runs after the fuzz operations above (file order): close, reopen, count."""
    ENGINE.close()
    with Engine.open(DATA, CONFIG) as reopened:
        stored = reopened.stats()["events"]
    shutil.rmtree(DATA, ignore_errors=True)
    report = {
        "examples_per_operation_setting": EXAMPLES,
        "requests": sum(CALLS.values()),
        "requests_per_operation": dict(sorted(CALLS.items())),
        "statuses": dict(sorted(STATUSES.items())),
        "events_acknowledged": ACKNOWLEDGED,
        "events_in_store_after_reopen": stored,
    }
    print("\nfuzz report:", json.dumps(report, indent=1))
    if path := os.environ.get("FRESHREC_FUZZ_REPORT"):
        Path(path).write_text(json.dumps(report, indent=1))
    assert CALLS, "the fuzz operations did not run"
    assert all(int(status) < 500 for status in STATUSES)
    assert stored == 200 + ACKNOWLEDGED, "an acknowledged event was lost"
