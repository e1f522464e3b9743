"""pygal set up for the dashboard: one look for every chart, and SVG fit to inline in a page.

``configured`` gives a chart the page's fonts, colours and sizes with pygal's tooltip script
off; ``render`` returns the SVG without what only that script reads (``_page_ready``).
"""

from __future__ import annotations

import re
from typing import Any

import pygal
from pygal.style import Style
from pygal.util import alter

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
WIDTH, HEIGHT = 640, 300
_SCRIPT_ONLY = frozenset({"x", "y", "x_label"})
_COORDINATES = ("d", "cx", "cy", "x", "y", "x1", "x2", "y1", "y2", "width", "height", "transform")
_DECIMALS = re.compile(r"-?\d+\.\d{2,}")


class StackedBar(pygal.StackedBar):
    """pygal's stacked bars, with each bar's ``node`` metadata (``data-value``) applied.

    pygal's ``Bar`` applies it; its ``StackedBar._bar`` draws the rect without.
    """

    def _bar(
        self,
        serie: Any,
        parent: Any,
        x: float,
        y: float,
        i: int,
        zero: float,
        secondary: bool = False,
    ) -> Any:
        drawn = super()._bar(serie, parent, x, y, i, zero, secondary)
        alter(list(parent)[-1], serie.metadata.get(i))  # the rect it just drew
        return drawn


def configured(colors: tuple[str, ...], legend: bool, kind: str, height: int = HEIGHT) -> Any:
    """Return pygal's config for one chart of ``kind``: the page's look, its series' colours."""
    config = pygal.Config()
    config.classes = ["pygal-chart", kind]  # the page's stylesheet tells kinds apart
    config.style = Style(
        background="transparent",
        plot_background="transparent",
        foreground="#333",
        foreground_strong="#111",
        foreground_subtle="#8a8f98",
        guide_stroke_color="#d5d9df",
        major_guide_stroke_color="#d5d9df",
        major_guide_stroke_dasharray="4,4",
        stroke_width="2",
        font_family=FONT,
        label_font_size=12,
        major_label_font_size=12,
        value_font_size=12,
        legend_font_size=13,
        no_data_font_size=20,
        opacity=".85",
        opacity_hover=".95",
        colors=colors,
    )
    config.js = []  # no tooltip script: nothing is fetched, the page stays script-free
    config.disable_xml_declaration = True
    config.explicit_size = False  # scales to the page's width (viewBox only)
    config.width, config.height = WIDTH, height
    config.show_legend = legend and len(colors) > 0
    config.legend_at_bottom = True
    config.legend_at_bottom_columns = min(max(len(colors), 1), 4)
    config.truncate_legend = 40
    config.truncate_label = -1  # labels are short already; pygal would cut times to "0…"
    config.show_x_guides = False
    config.margin = 6
    config.margin_right = 18  # room for the last value label of a horizontal axis
    config.max_scale = 8  # at most about eight value labels: readable at half the page
    config.no_data_text = "no data yet"
    return config


def render(chart: Any) -> str:
    """Return the chart as an inline ``<svg>`` element, tidied by ``_page_ready``."""
    chart.add_xml_filter(_page_ready)
    svg: str = chart.render(is_unicode=True)
    return svg


def _page_ready(root: Any) -> Any:
    """Strip what only pygal's tooltip script reads, and round coordinates to 0.1 px.

    Gone: the ``<script>`` pygal always writes (its config as JSON), the point coordinates
    repeated in ``<desc>`` for it, and comments: a line chart weighs about 40% less.
    """
    for parent in list(root.iter()):
        for child in list(parent):
            tag = child.tag
            if (
                not isinstance(tag, str)
                or tag == "script"
                or (tag == "desc" and child.get("class", "").split(" ")[0] in _SCRIPT_ONLY)
            ):
                parent.remove(child)
        for name in _COORDINATES:
            value = parent.get(name)
            if value is not None:
                parent.set(name, _DECIMALS.sub(_rounded, value))
    return root


def _rounded(match: re.Match[str]) -> str:
    return f"{float(match.group()):.1f}"
