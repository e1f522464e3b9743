"""``freshrec experiment simulate``: an online experiment against the closed-loop shop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from freshrec import cli_output as show
from freshrec.config import EngineConfig
from freshrec.errors import ReadError
from freshrec.simulate.experiment import (
    DEFAULT_SETTINGS,
    DEFAULT_SHOP,
    aa_variants,
    simulate_experiment,
)
from freshrec.simulate.shop import ShopConfig

experiment_app = typer.Typer(
    name="experiment",
    help="Online experiments: run one against simulated users.",
    no_args_is_help=True,
    cls=show.FlagHelpGroup,
)


@experiment_app.command("simulate")
def simulate(
    variants: Annotated[
        Path,
        typer.Option(
            "--variants",
            exists=True,
            dir_okay=False,
            help="The experiment (the body of PUT /v1/experiments/{name}) as JSON.",
        ),
    ],
    requests: Annotated[
        int, typer.Option(min=1, help="Recommendation requests to simulate.")
    ] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Seed of users, reactions and the assignment salt.")
    ] = 0,
    aa: Annotated[
        bool, typer.Option("--aa", help="Give every variant the first one's settings.")
    ] = False,
    users: Annotated[
        int, typer.Option(min=1, help="Users of the simulated shop.")
    ] = DEFAULT_SHOP.n_users,
    items: Annotated[
        int, typer.Option(min=1, help="Items of the simulated shop.")
    ] = DEFAULT_SHOP.n_items,
    history: Annotated[
        int, typer.Option(min=0, help="Events of the shop's past, loaded before the experiment.")
    ] = DEFAULT_SHOP.n_events,
    look_every: Annotated[
        int, typer.Option(min=1, help="Requests between two looks at the report.")
    ] = 500,
    config: Annotated[
        Path | None,
        typer.Option("--config", exists=True, dir_okay=False, help="Engine settings (JSON)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON line.")
    ] = False,
) -> None:
    """Simulated users see the variants' answers and click or buy; print the report.

    The users have hidden, drifting tastes and a position-biased choice model that is not
    the engine's (`freshrec.simulate.choice`). The report has the shape of
    `GET /v1/experiments/{name}` plus `looks` (every comparison's decision every
    `--look-every` requests) and `loop` (what the users did).
    """
    try:
        spec: Any = json.loads(variants.read_text())
    except json.JSONDecodeError as exc:
        show.error(f"{variants}: not JSON ({exc})")
        raise typer.Exit(2) from None
    try:
        settings = (
            EngineConfig.from_file(config)
            if config is not None
            else EngineConfig.from_dict(DEFAULT_SETTINGS)
        )
        if aa:
            if not isinstance(spec, dict) or not isinstance(spec.get("variants"), list):
                raise ReadError(f"{variants}: expected an object with a list of variants")
            spec = aa_variants(spec)
        shop = ShopConfig(n_users=users, n_items=items, n_events=history, seed=seed)
        with show.progress_bar("simulating requests", requests, "requests") as advance:
            report = simulate_experiment(
                spec,
                requests,
                seed,
                shop,
                settings,
                look_every=look_every,
                on_request=lambda number: advance(1000) if number % 1000 == 999 else None,
            )
    except (ReadError, ValueError) as exc:
        show.error(str(exc))
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report))
        return
    table: dict[str, Any] = {}
    for row in report["variants"]:
        ctr = row["ctr"]
        table[f"{row['name']} ctr"] = f"{ctr['value']:.4f} [{ctr['low']:.4f}, {ctr['high']:.4f}]"
        table[f"{row['name']} users / lists"] = f"{row['users']} / {row['lists']}"
    for comparison in report["comparisons"]:
        lift = comparison["lift"]
        interval = f"{lift['value']:+.3f} [{lift['low']:+.3f}, {lift['high']:+.3f}]"
        table[f"{comparison['variant']} vs {comparison['baseline']}"] = (
            f"{comparison['decision']} (lift {interval})"
        )
    table["sample ratio mismatch"] = (
        f"{report['srm']['mismatch']} (p = {report['srm']['p_value']:.3g})"
    )
    show.summary(f"simulated {report['design']} experiment, {requests:,} requests", table)


@experiment_app.command("estimate")
def estimate(
    data: Annotated[
        Path,
        typer.Option("--data", exists=True, file_okay=False, help="Data directory of an engine."),
    ],
    settings: Annotated[
        Path,
        typer.Option(
            "--settings",
            exists=True,
            dir_okay=False,
            help="The configuration to evaluate: a partial settings tree (JSON).",
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", exists=True, dir_okay=False, help="Engine settings (JSON)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Estimate another configuration's CTR from the randomised lists a server logged.

    IPS and SNIPS over the lists drawn with ``measurement.exploration_share`` above 0:
    the event log is replayed through an engine with ``--settings`` over ``--config``
    (docs/measurement.md). The directory is opened as a writer would (one process at a
    time), so stop the server first or work on a copy.
    """
    from freshrec.engine import Engine
    from freshrec.errors import FreshrecError
    from freshrec.measurement.off_policy import estimate_ctr
    from freshrec.store.base import is_forgotten

    try:
        base = EngineConfig.from_file(config) if config is not None else EngineConfig()
        partial = json.loads(settings.read_text())
        if not isinstance(partial, dict):
            raise ReadError(f"{settings}: expected a JSON object of settings")
        target = base.merged(partial)
        with Engine.open(data, base, background_training=False) as source:
            events = [
                pair
                for batch in source.store.iter_events()
                for pair in batch
                if not is_forgotten(pair[1])
            ]
            lists = [served for served, _ in source.measurement.log.lists()]
            items = list(source.store.iter_items())
        result = estimate_ctr(events, lists, items, target, base.measurement.click_types)
    except (FreshrecError, ValueError, OSError) as exc:
        show.error(str(exc))
        raise typer.Exit(2) from None
    summary = result.to_dict()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    table = {
        "randomised lists": summary["lists"],
        "positions where the target agrees": (
            f"{summary['matched_positions']} of {summary['positions']}"
        ),
        "SNIPS ctr": _interval(summary["snips"]),
        "IPS ctr": _interval(summary["ips"]),
    }
    show.summary(f"off-policy estimate of {settings.name}", table)


def _interval(interval: dict[str, float]) -> str:
    return f"{interval['value']:.4f} [{interval['low']:.4f}, {interval['high']:.4f}]"


def register(app: typer.Typer) -> None:
    """Add ``experiment`` to ``app`` (idempotent)."""
    if not any(group.name == "experiment" for group in app.registered_groups):
        app.add_typer(experiment_app, name="experiment")
