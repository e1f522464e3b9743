"""Panels of what answers led to, and of the model that gave them.

Numbers come from the measurement counters, the same ones ``GET /v1/reports/series``
(per time bucket: the time charts) and ``GET /v1/reports/online`` (all lists so far, with
95% Wilson intervals: the interval charts and the table) return. The model panel adds
``engine.stats()``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from freshrec.serving.context import ServingContext
from freshrec.serving.dashboard import charts
from freshrec.serving.dashboard.markup import cards, clock, figure, section, table

BUCKETS = 30


@dataclass(frozen=True, slots=True)
class Timeline:
    """The time axis of the measurement charts: the last ``BUCKETS`` buckets, oldest first.

    ``starts``: bucket start times, unix seconds (multiples of ``bucket_seconds``); the last
    bucket holds now.
    """

    starts: list[int]
    labels: list[str]
    bucket_seconds: int

    @classmethod
    def ending_now(cls, bucket_seconds: int, now: float | None = None) -> Timeline:
        """Return the axis of the ``BUCKETS`` buckets up to the one holding ``now``."""
        current = int(time.time() if now is None else now)
        last = current - current % bucket_seconds
        starts = [last - k * bucket_seconds for k in range(BUCKETS - 1, -1, -1)]
        return cls(starts, [clock(s) for s in starts], bucket_seconds)

    @property
    def minutes(self) -> int:
        """How far back the axis reaches, in whole minutes."""
        return BUCKETS * self.bucket_seconds // 60

    def slots(self) -> dict[int, int]:
        """Map each bucket start to its position on the axis."""
        return {start: k for k, start in enumerate(self.starts)}


def group_name(row: dict[str, Any]) -> str:
    """Return ``scenario · variant`` (the scenario alone outside experiments)."""
    variant = row.get("variant")
    return f"{row['scenario']} · {variant}" if variant else str(row["scenario"])


def outcomes(ctx: ServingContext, timeline: Timeline) -> str:
    """CTR and conversion over time and in total, per scenario and variant."""
    measurement = ctx.engine.measurement
    groups = measurement.online_report(["scenario", "variant"])["groups"]
    rows = measurement.series(["scenario", "variant"])
    names = [group_name(g) for g in groups]
    names += sorted({group_name(r) for r in rows} - set(names))
    colors = charts.colors_for(names)
    over_time = {
        key: _rate_lines(rows, names, colors, timeline, key) for key in ("clicks", "conversions")
    }
    totals = {
        key: [
            charts.Series(
                group_name(g),
                colors[group_name(g)],
                [_interval(g[key], f"{group_name(g)}: {label} ", g["impressions"])],
            )
            for g in groups
        ]
        for key, label in (("ctr", "CTR"), ("conversion_rate", "conversion rate"))
    }
    span = f"last {timeline.minutes} minutes, {timeline.bucket_seconds} s buckets, UTC"
    body = (
        "<div class=pair>"
        + figure(
            "ctr-over-time",
            f"CTR over time ({span})",
            charts.lines(over_time["clicks"], timeline.labels),
        )
        + figure(
            "conversion-over-time",
            f"Conversion rate over time ({span})",
            charts.lines(over_time["conversions"], timeline.labels),
        )
        + figure(
            "ctr-by-group", "CTR so far, with its 95% interval", charts.intervals(totals["ctr"])
        )
        + figure(
            "conversion-by-group",
            "Conversion rate so far, with its 95% interval",
            charts.intervals(totals["conversion_rate"]),
        )
        + "</div>"
        + _groups_table(groups)
    )
    return section(
        "Outcomes by scenario and variant",
        body,
        "Attributed clicks and purchases over impressions of served lists (measurement "
        "counters: GET /v1/reports/series over time, GET /v1/reports/online in total).",
        anchor="outcomes",
        wide=True,
    )


def model(ctx: ServingContext, stats: dict[str, Any], timeline: Timeline) -> str:
    """The serving model version, how far its training reaches, lists per model version."""
    events, trained = stats["events"], stats["trained_through_events"]
    figures = [
        ("serving model_version", stats["model_version"]),
        ("trained through events", f"{trained:,}"),
        ("events in the engine", f"{events:,}"),
        ("events since that training", f"{max(events - trained, 0):,}"),
        ("training now", "yes" if stats["training"] else "no"),
    ]
    rows = ctx.engine.measurement.series(["model_version"])
    versions = sorted({str(r["model_version"]) for r in rows})
    colors = charts.colors_for(versions)
    slots = timeline.slots()
    per_version = {v: [charts.Point(None)] * len(slots) for v in versions}
    for row in rows:
        k = slots.get(row["time"])
        if k is not None:
            version, n = str(row["model_version"]), row["lists"]
            note = f"{clock(row['time'])} UTC, {version}: {n:,} lists"
            per_version[version][k] = charts.Point(n, note)
    series = [charts.Series(v, colors[v], per_version[v]) for v in versions]
    return section(
        "Model",
        cards(figures)
        + figure(
            "model-versions",
            f"Lists served per model version (last {timeline.minutes} minutes, UTC)",
            charts.stacked(series, timeline.labels),
        ),
        "engine.stats(): the version answering now and the events its training saw; lists "
        "per model_version from the measurement counters.",
        anchor="model",
    )


def _rate_lines(
    rows: Sequence[dict[str, Any]],
    names: Sequence[str],
    colors: dict[str, str],
    timeline: Timeline,
    key: str,
) -> list[charts.Series]:
    """One line per group: ``key`` (clicks or conversions) per impression in each bucket."""
    slots = timeline.slots()
    points = {name: [charts.Point(None)] * len(slots) for name in names}
    for row in rows:
        k = slots.get(row["time"])
        if k is None or not row["impressions"]:
            continue
        name, hits, shown = group_name(row), row[key], row["impressions"]
        note = f"{clock(row['time'])} UTC, {name}: {hits / shown:.1%} ({hits:,} {key} / {shown:,})"
        points[name][k] = charts.Point(round(hits / shown, 6), note)
    return [charts.Series(name, colors[name], points[name]) for name in names]


def _interval(share: dict[str, float], label: str, impressions: int) -> charts.Point:
    value, low, high = share["value"], share["low"], share["high"]
    note = f"{label}{value:.2%} [{low:.2%}, {high:.2%}] of {impressions:,} impressions"
    return charts.Point(value, note, low, high)


def _groups_table(groups: Sequence[dict[str, Any]]) -> str:
    def share(interval: dict[str, float]) -> str:
        return f"{interval['value']:.2%} [{interval['low']:.2%}, {interval['high']:.2%}]"

    rows = [
        (
            group_name(g),
            f"{g['lists']:,}",
            f"{g['impressions']:,}",
            f"{g['clicks']:,}",
            f"{g['conversions']:,}",
            f"{g['revenue']:,.2f}",
            share(g["ctr"]),
            share(g["conversion_rate"]),
        )
        for g in groups
    ]
    headers = (
        "scenario · variant",
        "lists",
        "impressions",
        "clicks",
        "conversions",
        "revenue",
        "CTR [95%]",
        "conversion [95%]",
    )
    return table(headers, rows, numeric=range(1, 8))
