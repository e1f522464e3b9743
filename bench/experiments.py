"""Online experiments end to end: A/A error rates, A/B power, interleaving against A/B, SRM.

Every run is ``freshrec.simulate.experiment.simulate_experiment``: the closed-loop shop's
users (hidden drifting tastes, a position-biased choice model that is not the engine's) ask a
real in-memory engine, which answers by the experiment's variants and learns from their
events; the report is looked at every ``--look-every`` requests.

    .venv/bin/python bench/experiments.py aa --runs 100 --requests 20000
    .venv/bin/python bench/experiments.py ab --runs 20 --requests 20000
    .venv/bin/python bench/experiments.py interleave --runs 20 --requests 20000
    .venv/bin/python bench/experiments.py interleave --runs 20 --requests 20000 \
        --user-propensity-sd 1.0 --ab-requests 80000
    .venv/bin/python bench/experiments.py srm

``--user-propensity-sd`` makes the simulated users differ in how readily they click
(``ChoiceModel.user_propensity_sd``; 0, the default, makes them alike), the between-user
variance an A/B test pays for and interleaving cancels; ``--ab-requests`` lets the A/B arm of
``interleave`` run longer than interleaving, so it decides and the ratio can be taken.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from freshrec.measurement import stats
from freshrec.measurement.experiments import ExperimentSpec
from freshrec.simulate.choice import ChoiceModel
from freshrec.simulate.experiment import aa_variants, simulate_experiment

TRENDING_ONLY = {"blend": {"covisitation": 0, "factors": 0, "trending": 1}}
# Baseline first: "better" means the full home feed beats trending-only.
PAIR = {
    "scenario": "home",
    "variants": [
        {"name": "trending", "share": 0.5, "settings": TRENDING_ONLY},
        {"name": "full", "share": 0.5, "settings": {}},
    ],
}


def first_decision(report: dict[str, Any], key: str = "decisions") -> tuple[str, int | None]:
    """The first look's non-undecided decision of the comparison and its request count."""
    for look in report["looks"]:
        decision = look[key]["full"]
        if decision != "undecided":
            return decision, look["requests"]
    return "undecided", None


def run_one(args: tuple[dict[str, Any], int, int, int, float]) -> dict[str, Any]:
    spec, requests, seed, look_every, propensity_sd = args
    started = time.perf_counter()
    choice = ChoiceModel(user_propensity_sd=propensity_sd)
    report = simulate_experiment(spec, requests, seed, look_every=look_every, choice=choice)
    sequential, at = first_decision(report)
    naive, naive_at = (
        first_decision(report, "fixed_horizon")
        if spec.get("design") != "interleave"
        else ("", None)
    )
    return {
        "seed": seed,
        "decision": sequential,
        "decided_at": at,
        "naive": naive,
        "naive_at": naive_at,
        "final": report["comparisons"][0]["decision"],
        "srm_flagged": any(look["srm_mismatch"] for look in report["looks"]),
        "ctr": {v["name"]: v["ctr"]["value"] for v in report["variants"]},
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_many(
    spec: dict[str, Any],
    runs: int,
    requests: int,
    look_every: int,
    workers: int,
    propensity_sd: float = 0.0,
) -> list[dict[str, Any]]:
    jobs = [(spec, requests, seed, look_every, propensity_sd) for seed in range(runs)]
    with ProcessPoolExecutor(workers) as pool:
        results = []
        for result in pool.map(run_one, jobs):
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def aa(args: argparse.Namespace) -> dict[str, Any]:
    results = run_many(
        aa_variants(PAIR), args.runs, args.requests, args.look_every, args.workers, args.sd
    )
    false = sum(r["decision"] != "undecided" for r in results)
    naive = sum(r["naive"] != "undecided" for r in results)
    return {
        "runs": len(results),
        "false_decisions_sequential": false,
        "false_rate_sequential": false / len(results),
        "false_decisions_naive": naive,
        "false_rate_naive": naive / len(results),
        "srm_flagged_runs": sum(r["srm_flagged"] for r in results),
    }


def ab(args: argparse.Namespace) -> dict[str, Any]:
    results = run_many(PAIR, args.runs, args.requests, args.look_every, args.workers, args.sd)
    better = [r for r in results if r["decision"] == "better"]
    return {
        "runs": len(results),
        "better": len(better),
        "better_share": len(better) / len(results),
        "worse": sum(r["decision"] == "worse" for r in results),
        "median_requests_to_decide": statistics.median(r["decided_at"] for r in better)
        if better
        else None,
        "decided_at": [r["decided_at"] for r in results],
    }


def interleave(args: argparse.Namespace) -> dict[str, Any]:
    spec = {**PAIR, "design": "interleave"}
    inter = run_many(spec, args.runs, args.requests, args.look_every, args.workers, args.sd)
    ab_requests = args.requests if args.ab_requests is None else args.ab_requests
    split = run_many(PAIR, args.runs, ab_requests, args.look_every, args.workers, args.sd)
    ratios, censored = [], []
    for i, s in zip(inter, split, strict=True):
        inter_at = i["decided_at"] if i["decision"] == "better" else None
        ab_at = s["decided_at"] if s["decision"] == "better" else None
        if inter_at and ab_at:
            ratios.append(ab_at / inter_at)
        # A design that never decided took longer than the other: +inf (or 0) in the
        # median, instead of dropping the seeds that favour interleaving (or A/B) most.
        if inter_at or ab_at:
            censored.append(ab_at / inter_at if inter_at and ab_at else math.inf if inter_at else 0)
    return {
        "runs": len(inter),
        "user_propensity_sd": args.sd,
        "interleave_better": sum(r["decision"] == "better" for r in inter),
        "ab_better": sum(r["decision"] == "better" for r in split),
        "interleave_requests": [r["decided_at"] for r in inter],
        "ab_requests": [r["decided_at"] for r in split],
        "median_ratio_ab_over_interleave": statistics.median(ratios) if ratios else None,
        "paired_seeds": len(ratios),
        "median_ratio_undecided_as_slower": statistics.median(censored) if censored else None,
    }


def srm(args: argparse.Namespace) -> dict[str, Any]:
    """Sample-ratio checks on real assignments: a 49/51 split is flagged, fair ones are not."""
    users = [f"user-{k}" for k in range(100_000)]
    broken = stats.srm([49_000, 51_000], [0.5, 0.5])
    flagged = 0
    started = time.perf_counter()
    for salt in range(args.splits):
        spec = ExperimentSpec.from_dict(
            "srm", {"variants": [{"name": "a"}, {"name": "b"}], "salt": f"s{salt}"}
        )
        counts = {"a": 0, "b": 0}
        for user in users:
            counts[spec.variant_of(user)] += 1
        flagged += stats.srm([counts["a"], counts["b"]], [0.5, 0.5]).mismatch
    return {
        "split_49_51_p_value": broken.p_value,
        "split_49_51_flagged": broken.mismatch,
        "fair_splits": args.splits,
        "fair_splits_flagged": flagged,
        "seconds": round(time.perf_counter() - started, 1),
        "assignment_share_sd": float(np.sqrt(0.25 / len(users))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["aa", "ab", "interleave", "srm"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--ab-requests", type=int, help="interleave: the A/B arm's requests")
    parser.add_argument(
        "--user-propensity-sd", dest="sd", type=float, default=0.0,
        help="how much the simulated users differ in click propensity (logit sd)",
    )  # fmt: skip
    parser.add_argument("--look-every", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--splits", type=int, default=1_000)
    args = parser.parse_args()
    started = time.perf_counter()
    summary = {"aa": aa, "ab": ab, "interleave": interleave, "srm": srm}[args.kind](args)
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
