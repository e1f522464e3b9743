"""Committed events that fail to apply in memory: writes refused, readiness says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from freshrec import Engine
from freshrec.config import EngineConfig
from freshrec.errors import EngineDegradedError
from freshrec.serving import create_app

EVENT = {"user_id": "u1", "item_id": "i1", "type": "click", "timestamp": 1_700_000_000}


def test_a_failed_apply_refuses_writes_until_a_restart_rebuilds_from_the_log(
    tmp_path: Path, engine_config: EngineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    engine = Engine.open(data, engine_config)
    engine.upsert_items([{"item_id": "i1"}, {"item_id": "i2"}])
    engine.ingest([EVENT, {**EVENT, "item_id": "i2", "timestamp": 1_700_000_001}])

    def broken(*_: Any) -> None:
        raise MemoryError("injected")

    # The fault lands after the commit: the log has the event, memory does not.
    monkeypatch.setattr(engine._state, "index_events", broken)
    with TestClient(create_app(engine, auth=None, open_access=True)) as client:
        refused = client.post("/v1/events", json={**EVENT, "user_id": "u2"})
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert refused.json()["error"]["code"] == "degraded"
        monkeypatch.undo()
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "degraded"
        assert "restart" in ready.json()["error"]["message"]
        again = client.post("/v1/events", json={**EVENT, "user_id": "u3"})
        assert again.status_code == 503  # refused even though applying works again
        assert client.put("/v1/items/i9", json={}).status_code == 503
        assert client.get("/v1/recommendations/u1").status_code == 200  # reads go on
        with pytest.raises(EngineDegradedError):
            engine.ingest([EVENT])
        assert engine.store.count_events() == 3  # the committed one, never acknowledged
    # Shutting the app down closed the engine (and let go of its directory).
    with Engine.open(data, engine_config) as restarted:
        assert restarted.degraded is None
        assert restarted.stats()["events"] == 3
        assert restarted.history("u2") == ["i1"]
