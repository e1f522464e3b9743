"""A real crash: SIGKILL a writer mid-ingest, reopen its data dir, count what survived.

Contract (DESIGN.md): an event is acknowledged when ``ingest`` returns; from then on it
survives a crash and its ``event_id`` is a duplicate, also after a restart.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from freshrec import Engine, EngineConfig

WRITER = Path(__file__).with_name("recovery_writer.py")
BATCH = 100
MIN_ACKED = 5_000
# Retraining is off, so the state after a restart is exactly "the log, replayed".
CONFIG: dict[str, Any] = {"training": {"retrain_every_events": 0}, "factors": {"factors": 8}}
# Safety nets so a broken writer fails the test instead of hanging it (not timing asserts).
READ_TIMEOUT_S = 60.0


def load_writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("recovery_writer", WRITER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_and_kill(data_dir: Path, stderr_path: Path) -> tuple[int, int]:
    """Start the writer, SIGKILL it once ``MIN_ACKED`` events are acknowledged.

    Returns (last acknowledged event index, exit status).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(data_dir), str(BATCH), json.dumps(CONFIG)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    acked = -1
    try:
        while acked + 1 < MIN_ACKED:
            try:
                line = lines.get(timeout=READ_TIMEOUT_S)
            except queue.Empty:
                pytest.fail(f"writer silent for {READ_TIMEOUT_S}s at {acked}")
            if line is None:
                pytest.fail(f"writer exited early: {stderr_path.read_text()}")
            acked = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        status = proc.wait(timeout=READ_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Every line printed before the kill is an acknowledgement too.
    reader.join(timeout=READ_TIMEOUT_S)
    while True:
        line = lines.get_nowait() if not lines.empty() else None
        if line is None:
            break
        acked = int(line)
    return acked, status


def as_dict(event: Any) -> dict[str, Any]:
    return {k: v for k, v in event._asdict().items() if v is not None}


@pytest.mark.slow
def test_every_acknowledged_event_survives_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    last_acked, status = run_and_kill(data_dir, tmp_path / "writer.err")
    assert status == -signal.SIGKILL
    acked = last_acked + 1
    assert acked >= MIN_ACKED
    writer = load_writer()
    config = EngineConfig.from_dict(CONFIG)

    with Engine.open(data_dir, config) as engine:
        stored = [e for batch in engine.store.iter_events() for _, e in batch]
        count = engine.stats()["events"]
        # Every acknowledged event is there; at most the one in-flight batch beyond them.
        assert acked <= count == len(stored) <= acked + BATCH
        # Batches commit whole, in order, without gaps or duplicates.
        assert count % BATCH == 0
        assert [e.event_id for e in stored] == [f"e{k}" for k in range(count)]
        assert [as_dict(e) for e in stored[:acked]] == [
            {**writer.event(k), "timestamp": float(writer.event(k)["timestamp"])}
            for k in range(acked)
        ]

        # The restarted engine answers exactly like a fresh one fed the same stored log.
        with Engine.open(None, config) as fresh:
            fresh.upsert_items(item.to_dict() for item in engine.store.iter_items())
            fresh.ingest([as_dict(e) for e in stored])
            assert fresh.stats()["events"] == count
            for key in ("users", "items"):
                assert fresh.stats()[key] == engine.stats()[key]
            for user in [f"u{k}" for k in range(37)] + ["nobody"]:
                got = [r.item_id for r in engine.recommend(user, n=10)]
                assert got == [r.item_id for r in fresh.recommend(user, n=10)], user
                assert got or user == "nobody"
            for item in ["i0", "i1", "i42", "i99"]:
                assert [r.item_id for r in engine.similar(item, n=5)] == [
                    r.item_id for r in fresh.similar(item, n=5)
                ]

        # Sending the acknowledged events again: every one is a duplicate.
        again = engine.ingest([writer.event(k) for k in range(acked)])
        assert (again.accepted, again.duplicates, again.errors) == (0, acked, [])
        assert engine.stats()["events"] == count
