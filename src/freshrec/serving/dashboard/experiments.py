"""The experiments panel: each variant's CTR with its interval, each comparison's lift and decision.

Numbers are ``engine.measurement.experiment_report(name)``, the body of
``GET /v1/experiments/{name}``: Wilson intervals for a variant's CTR; for a comparison the
lift interval against zero (a confidence sequence, valid at every look) and its decision.
"""

from __future__ import annotations

from typing import Any

from freshrec.serving.context import ServingContext
from freshrec.serving.dashboard import charts
from freshrec.serving.dashboard.markup import e, figure, section, table

DECISION_COLORS = {"better": charts.BETTER, "worse": charts.WORSE}
# Without data a lift interval reaches +1e6: draw it within ±100% (or the lift itself).
LIFT_DRAWN = 1.0


def experiments(ctx: ServingContext) -> str:
    """Every experiment, running or stopped, in name order."""
    measurement = ctx.engine.measurement
    specs = measurement.experiments()
    if not specs:
        body = (
            "<p>No experiments yet: <code>PUT /v1/experiments/{name}</code> (admin) starts one.</p>"
        )
    else:
        body = "".join(
            _experiment(k, measurement.experiment_report(spec.name)) for k, spec in enumerate(specs)
        )
    return section(
        "Experiments",
        body,
        "GET /v1/experiments/{name}: variants' CTR with 95% Wilson intervals; each "
        "comparison's lift against its baseline with its 95% confidence sequence and decision.",
        anchor="experiments",
        wide=True,
    )


def _experiment(k: int, report: dict[str, Any]) -> str:
    interleaved = report["design"] == "interleave"
    variants = report["variants"]
    colors = charts.colors_for([v["name"] for v in variants])
    ctr = [
        charts.Series(
            v["name"],
            colors[v["name"]],
            [
                charts.Point(
                    v["ctr"]["value"],
                    f"{v['name']}: CTR {_share(v['ctr'])} of {v['impressions']:,} impressions, "
                    f"{v['users']:,} users",
                    v["ctr"]["low"],
                    v["ctr"]["high"],
                )
            ],
        )
        for v in variants
    ]
    comparisons = report["comparisons"]
    labels = [
        f"{c['variant']} vs {c['baseline']}: {c['lift']['value']:+.1%}, {c['decision']}"
        for c in comparisons
    ]
    lifts = [_lift_point(c, interleaved) for c in comparisons]
    lift_title = (
        "Preference minus an even split, with its interval"
        if interleaved
        else "Lift in CTR over the baseline, with its interval (0 = no change)"
    )
    srm = report["srm"]
    head = (
        f"<h3 data-experiment='{e(report['name'])}'>{e(report['name'])}: "
        f"{e(report['scenario'])}, {e(report['design'])}, {e(report['status'])}</h3>"
        + (
            f"<p class=warn>Sample ratio mismatch (p = {srm['p_value']:.3g}): assignment or "
            "logging is broken; do not trust the comparisons.</p>"
            if srm["mismatch"]
            else f"<p class=note>Sample ratio check p = {srm['p_value']:.3g}: no mismatch.</p>"
        )
    )
    rows = [
        (
            c["variant"],
            c["baseline"],
            f"{c['lift']['value']:+.2%} [{c['lift']['low']:+.2%}, {c['lift']['high']:+.2%}]",
            c["decision"],
            c["method"],
        )
        for c in comparisons
    ]
    return (
        head
        + "<div class=pair>"
        + figure(
            f"experiment-{k}-ctr",
            "CTR per variant, with its 95% interval",
            charts.intervals(ctr, height=230),
        )
        + figure(
            f"experiment-{k}-lift",
            lift_title,
            charts.lift_bars(labels, lifts, charts.signed_percent),
        )
        + "</div>"
        + table(("variant", "baseline", "lift [95%]", "decision", "method"), rows)
    )


def _lift_point(comparison: dict[str, Any], interleaved: bool) -> charts.Point:
    lift, decision = comparison["lift"], comparison["decision"]
    what = "preference − 50%" if interleaved else "lift"
    note = (
        f"{comparison['variant']} vs {comparison['baseline']}: {what} {lift['value']:+.2%} "
        f"[{lift['low']:+.2%}, {lift['high']:+.2%}], {decision}"
    )
    return charts.Point(
        lift["value"],
        note,
        lift["low"],
        lift["high"],
        color=DECISION_COLORS.get(decision, charts.UNDECIDED),
        clip=max(LIFT_DRAWN, abs(lift["value"]) * 1.2),
    )


def _share(interval: dict[str, float]) -> str:
    return f"{interval['value']:.2%} [{interval['low']:.2%}, {interval['high']:.2%}]"
