"""The dashboard's charts: SVG drawn on the server by pygal and inlined in the page.

pygal's tooltip script is switched off (``js=[]``) and the ``<script>`` it always writes is
removed, so a chart is one script-free ``<svg>`` element and the page needs nothing else:
no asset route, no request to another host, the same page on a keyed server as in open
access. Every drawn value keeps the number it shows in a ``data-value`` attribute (the
report's number, unrounded), intervals their bounds in ``data-low`` / ``data-high``, and a
``<title>`` the browser shows on hover.

>>> svg = lines([Series("home", "#4269d0", [Point(0.25, "home: 25%"), Point(None)])], ["a", "b"])
>>> svg.startswith("<svg") and 'data-value="0.25"' in svg and "<script" not in svg
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pygal

from freshrec.serving.dashboard.drawing import HEIGHT, StackedBar, configured, render

Format = Callable[[float], str]

# Observable's ten categorical colours: distinct for the common colour-vision deficiencies.
PALETTE = (
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
)
BETTER, WORSE, UNDECIDED = "#3ca951", "#e5484d", "#9498a0"


def percent(value: float) -> str:
    """Format a share as a percentage with one decimal (``0.1234`` → ``12.3%``)."""
    return f"{value:.1%}"


def signed_percent(value: float) -> str:
    """Format a relative change with its sign (``0.052`` → ``+5.2%``)."""
    return f"{value:+.1%}"


def count(value: float) -> str:
    """Format a count or rate without needless decimals (``12.0`` → ``12``)."""
    return f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:,.1f}"


@dataclass(frozen=True, slots=True)
class Point:
    """One drawn value: ``None`` draws nothing (a gap); ``low``/``high`` draw its interval.

    ``clip``: draw the interval within ``[-clip, clip]`` only (an interval of an experiment
    without data reaches +1e6); ``data-low``/``data-high`` keep the real bounds.
    """

    value: float | None
    note: str = ""
    low: float | None = None
    high: float | None = None
    color: str | None = None
    clip: float | None = None

    def drawn(self) -> list[float]:
        """Return the value and the drawn interval bounds that exist."""
        bounds = [v for v in (self.low, self.high) if v is not None]
        if self.clip is not None:
            bounds = [min(max(v, -self.clip), self.clip) for v in bounds]
        return ([] if self.value is None else [self.value]) + bounds

    def to_pygal(self) -> dict[str, Any] | None:
        """Return pygal's value dict (value, interval, hover title, DOM attributes)."""
        if self.value is None:
            return None
        node = {"data-value": _number(self.value)}
        drawn: dict[str, Any] = {"value": self.value}
        if self.low is not None and self.high is not None:
            _, low, high = self.drawn()
            drawn["ci"] = {"low": low, "high": high}
            node.update({"data-low": _number(self.low), "data-high": _number(self.high)})
        if self.note:
            drawn["tooltip"] = self.note
        if self.color:
            drawn["color"] = self.color
        drawn["node"] = node
        return drawn


@dataclass(frozen=True, slots=True)
class Series:
    """A named, coloured list of points, one per x label."""

    name: str
    color: str
    points: Sequence[Point] = field(default_factory=tuple)


def colors_for(names: Sequence[str]) -> dict[str, str]:
    """Give each name a palette colour in order (the same group, the same colour everywhere)."""
    return {name: PALETTE[k % len(PALETTE)] for k, name in enumerate(names)}


def lines(
    series: Sequence[Series],
    x_labels: Sequence[str],
    formatter: Format = percent,
    major_every: int = 5,
) -> str:
    """Return lines over time, one per series (``None`` points are gaps), from zero up."""
    chart = pygal.Line(
        configured(_colors(series), legend=True, kind="lines"),
        allow_interruptions=True,
        x_labels=list(x_labels),
        x_labels_major_every=major_every,
        show_minor_x_labels=False,
        dots_size=2.5,
        value_formatter=formatter,
        range=(0, _top(series)),
    )
    for one in series:
        chart.add(one.name, [p.to_pygal() for p in one.points])
    return render(chart)


def intervals(series: Sequence[Series], formatter: Format = percent, height: int = HEIGHT) -> str:
    """Return one point with its interval bar per series, side by side (no lines).

    Each series is one labelled position on the x axis, in order.
    """
    # Blank positions at both ends keep the outer points off the frame.
    labels = ["", *(one.name for one in series), ""]
    chart = pygal.Line(
        configured(_colors(series), legend=False, kind="intervals", height=height),
        stroke=False,
        x_labels=labels,
        dots_size=5,
        value_formatter=formatter,
        range=_span(series, include_zero=False),
    )
    for k, one in enumerate(series):
        values: list[dict[str, Any] | None] = [None] * len(labels)
        values[k + 1] = one.points[0].to_pygal() if one.points else None
        chart.add(one.name, values)
    return render(chart)


def lift_bars(labels: Sequence[str], points: Sequence[Point], formatter: Format) -> str:
    """Return horizontal bars from zero with interval whiskers, one per label (colour each)."""
    series = [Series("lift", UNDECIDED, points)]
    chart = pygal.HorizontalBar(
        configured(
            _colors(series), legend=False, kind="lift", height=max(160, 90 + 64 * len(points))
        ),
        x_labels=list(labels),
        value_formatter=formatter,
        range=_span(series, include_zero=True),
        max_scale=5,  # signed percentages are wide labels
    )
    chart.add("lift", [p.to_pygal() for p in points])
    return render(chart)


def hbars(labels: Sequence[str], points: Sequence[Point], formatter: Format, color: str) -> str:
    """Return horizontal bars with their values printed, first label on top."""
    series = [Series("", color, points)]
    chart = pygal.HorizontalBar(
        configured(
            _colors(series), legend=False, kind="bars", height=max(120, 40 + 26 * len(points))
        ),
        x_labels=list(reversed(labels)),
        value_formatter=formatter,
        print_values=True,
    )
    chart.add("", [p.to_pygal() for p in reversed(points)])
    return render(chart)


def stacked(series: Sequence[Series], x_labels: Sequence[str], major_every: int = 5) -> str:
    """Return stacked bars over time, one colour per series."""
    chart = StackedBar(
        configured(_colors(series), legend=True, kind="stacked"),
        x_labels=list(x_labels),
        x_labels_major_every=major_every,
        show_minor_x_labels=False,
        value_formatter=count,
    )
    for one in series:
        chart.add(one.name, [p.to_pygal() for p in one.points])
    return render(chart)


def _colors(series: Sequence[Series]) -> tuple[str, ...]:
    return tuple(one.color for one in series) or PALETTE


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, int) else repr(float(value))


def _values(series: Sequence[Series]) -> list[float]:
    return [v for one in series for p in one.points for v in p.drawn()]


def _top(series: Sequence[Series]) -> float:
    values = _values(series)
    return max(values) * 1.1 if values and max(values) > 0 else 1.0


def _span(series: Sequence[Series], include_zero: bool) -> tuple[float, float]:
    """The value axis: every point and interval inside it, with a margin."""
    values = _values(series) + ([0.0] if include_zero else [])
    if not values:
        return (0.0, 1.0)
    low, high = min(values), max(values)
    pad = (high - low) * 0.12 or abs(high) * 0.1 or 0.01
    bottom = low - pad
    if low >= 0 and bottom < 0:  # shares never go below zero
        bottom = 0.0
    return (bottom, high + pad)
