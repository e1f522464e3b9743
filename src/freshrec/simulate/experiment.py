"""An online experiment end to end on a laptop: the closed-loop shop against a real engine.

``simulate_experiment`` loads a synthetic shop's catalogue and past log into an in-memory
engine, starts the experiment, and runs the loop: each request is answered by
``Engine.serve`` (the user's variant, logged with its recommendation id), the simulated user
reacts by the choice model of ``freshrec.simulate.choice`` (not the engine's), and their
events go back through ``Engine.ingest`` (attributed to the list, learned from before the
next request). The report is the engine's own (``GET /v1/experiments/{name}``), looked at
every ``look_every`` requests as a team would look at a dashboard.

>>> report = simulate_experiment(
...     {"variants": [{"name": "a"}, {"name": "b", "settings": {"blend": {"trending": 1.0}}}]},
...     requests=200, seed=1, shop=ShopConfig(n_users=60, n_items=50, n_events=1_000, seed=1),
...     look_every=100)
>>> [look["requests"] for look in report["looks"]], report["design"]
([100, 200], 'ab')
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from freshrec.config import EngineConfig
from freshrec.engine import Engine
from freshrec.simulate.choice import ChoiceModel
from freshrec.simulate.closed_loop import ClosedLoopShop, run_loop
from freshrec.simulate.shop import ShopConfig, SyntheticShop

EXPERIMENT = "simulated"
# A small shop that answers in well under a millisecond, so a benchmark can run hundreds of
# seeded experiments of 20,000 requests.
DEFAULT_SHOP = ShopConfig(n_users=2_000, n_items=300, n_events=20_000, seed=0)
# The language model is not needed to compare blends; loading it would dominate a short run.
DEFAULT_SETTINGS: dict[str, Any] = {"content": {"encoder": "none"}}


def aa_variants(spec: dict[str, Any]) -> dict[str, Any]:
    """The same experiment with every variant answering with the first one's settings."""
    twin = copy.deepcopy(spec)
    first = twin["variants"][0].get("settings", {})
    for variant in twin["variants"]:
        variant["settings"] = copy.deepcopy(first)
    return twin


def simulate_experiment(
    spec: dict[str, Any],
    requests: int,
    seed: int,
    shop: ShopConfig = DEFAULT_SHOP,
    settings: EngineConfig | None = None,
    n: int = 10,
    look_every: int = 500,
    on_request: Callable[[int], None] | None = None,
    choice: ChoiceModel | None = None,
) -> dict[str, Any]:
    """Run the experiment ``spec`` (a ``PUT /v1/experiments`` body) for ``requests`` requests.

    Args:
        spec: the experiment's definition (scenario, design, variants, salt, cuped).
        requests: how many recommendation requests the simulated users make.
        seed: seed of the users' draws, their reactions and the assignment salt.
        shop: the synthetic shop (catalogue, users, past log).
        settings: engine settings (default: no text encoder).
        n: items per answer.
        look_every: the report is taken every this many requests (its decisions are in
            ``looks``).
        on_request: called with each request's number (progress).
        choice: how the simulated users react (default ``ChoiceModel()``).

    Returns:
        The experiment's report after the last request, with ``looks`` (the decision of
        every comparison at every look) and ``loop`` (what the simulated users did).
    """
    config = settings or EngineConfig.from_dict(DEFAULT_SETTINGS)
    spec = {**spec, "salt": spec.get("salt", f"seed-{seed}")}
    synthetic = SyntheticShop(shop)
    loop = ClosedLoopShop(synthetic, seed, choice or ChoiceModel())
    looks: list[dict[str, Any]] = []
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items(synthetic.items())
        engine.upsert_users(synthetic.users())
        batch: list[dict[str, Any]] = []
        for event in loop.history():
            batch.append(event)
            if len(batch) == 5_000:
                engine.ingest(batch)
                batch = []
        engine.ingest(batch)
        engine.answering.reseed(seed)  # the team-draft coin: a seed repeats its run
        engine.measurement.put_experiment(EXPERIMENT, spec)
        scenario = engine.measurement.experiment(EXPERIMENT).scenario

        def answer(user_id: str) -> dict[str, Any]:
            return engine.serve(user_id, n, scenario, at=loop.now).to_dict()

        def after(number: int) -> None:
            if (number + 1) % look_every == 0:
                report = engine.measurement.experiment_report(EXPERIMENT)
                looks.append(
                    {
                        "requests": number + 1,
                        "decisions": {c["variant"]: c["decision"] for c in report["comparisons"]},
                        # What a naive test at every look would say (A/A benchmarks count it).
                        "fixed_horizon": {
                            c["variant"]: c["fixed_horizon"]["decision"]
                            for c in report["comparisons"]
                            if "fixed_horizon" in c
                        },
                        "srm_mismatch": report["srm"]["mismatch"],
                    }
                )
            if on_request is not None:
                on_request(number)

        summary = run_loop(loop, answer, engine.ingest, requests, after)
        report = engine.measurement.experiment_report(EXPERIMENT)
    report["looks"] = looks
    report["loop"] = {
        "requests": summary.requests,
        "shown": summary.shown,
        "clicks": summary.clicks,
        "purchases": summary.purchases,
    }
    return report
