"""What measuring costs: durable list logging throughput, and recommend latency over HTTP.

1. ``ListLog`` alone: one thread appends served lists of 10 items as fast as it can, then
   waits for the group commits (fsync on, as the event store): lists/s durably.
2. ``freshrec serve`` on an imported synthetic shop (100k items), paced wrk at 500 req/s on
   random users (bench/http/recommend.lua), alternating runs with measurement off
   (``measurement.enabled = false``: no list logged, no assignment) and on (every answer
   logged, a running A/B experiment assigning every user): the peer is the same server
   binary with measurement off, measured in the same session.

    .venv/bin/python bench/measurement_overhead.py --items 100000 --users 100000 --events 1000000

Needs ``wrk`` on PATH (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from freshrec.measurement.lists import ServedList
from freshrec.measurement.log import ListLog
from freshrec.simulate import ShopConfig, write_shop
from http_load import FRESHREC, HERE, free_port, run_wrk, wait_ready

ENCODER_OFF = {"content": {"encoder": "none"}}
EXPERIMENT = {
    "scenario": "home",
    "variants": [
        {"name": "control", "settings": {}},
        {
            "name": "trending",
            "settings": {"blend": {"covisitation": 0, "factors": 0, "trending": 1}},
        },
    ],
}


def log_throughput(directory: Path, lists: int) -> dict[str, float]:
    log = ListLog(directory / "measurement.db", flush_seconds=0.2, synchronous_full=True)
    items = tuple(f"i{k}" for k in range(10))
    scores = tuple(1.0 - k / 10 for k in range(10))
    started = time.perf_counter()
    for k in range(lists):
        log.append_list(
            ServedList(
                f"r{k}", f"u{k % 5000}", "home", None, None, "v1", 1e9 + k, k, items, scores
            ),
            0.5,
        )
    appended = time.perf_counter() - started
    assert log.flush(600.0)
    total = time.perf_counter() - started
    log.close()
    return {
        "lists": lists,
        "append_us_per_list": round(appended / lists * 1e6, 2),
        "durable_lists_per_second": round(lists / total),
    }


def serve(
    data: Path, settings: dict[str, Any], env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    path = data.parent / f"settings-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(settings))
    port = free_port()
    server = subprocess.Popen(
        [*FRESHREC, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port),
         "--open", "--config", str(path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    return server, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--lists", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="an imported shop to copy instead")
    parser.add_argument("--keep", type=Path, help="keep a copy of the imported shop here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freshrec-measure-"))
    report: dict[str, Any] = {"log": log_throughput(work, args.lists)}
    print(json.dumps(report["log"]), flush=True)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    data = work / "data"
    if args.data is not None:
        shutil.copytree(args.data, data)
    else:
        shop = write_shop(
            work / "shop",
            ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=0),
        )
        config = work / "import.json"
        config.write_text(json.dumps(ENCODER_OFF))
        subprocess.run(
            [*FRESHREC, "import", "--data", str(data), "--events", str(shop.events),
             "--items", str(shop.items), "--users", str(shop.users), "--batch", "5000",
             "--config", str(config)],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        if args.keep is not None:
            shutil.copytree(data, args.keep)
    wrk_env = {"FRESHREC_USERS": str(args.users), "FRESHREC_RATE": str(args.rate)}
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    try:
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                settings = {**ENCODER_OFF, "measurement": {"enabled": mode == "on"}}
                server, base = serve(data, settings, env)
                try:
                    if mode == "on":  # kept in the data directory: 409 from the second run
                        put = httpx.put(f"{base}/v1/experiments/overhead", json=EXPERIMENT)
                        assert put.status_code in (200, 409), put.text
                    run_wrk(base, HERE / "http" / "recommend.lua", 5, 10, wrk_env)  # warm-up
                    result = run_wrk(
                        base, HERE / "http" / "recommend.lua", args.seconds, 10, wrk_env
                    )
                finally:
                    server.terminate()
                    server.wait(timeout=60)
                print(json.dumps({"mode": mode, **result}), flush=True)
                runs[mode].append(result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for mode, results in runs.items():
        report[mode] = {
            "p50_ms": sorted(r["p50_ms"] for r in results)[len(results) // 2],
            "p99_ms": sorted(r["p99_ms"] for r in results)[len(results) // 2],
            "rps": [r["rps"] for r in results],
        }
    report["added_p50_ms"] = round(report["on"]["p50_ms"] - report["off"]["p50_ms"], 3)
    report["added_p99_ms"] = round(report["on"]["p99_ms"] - report["off"]["p99_ms"], 3)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
