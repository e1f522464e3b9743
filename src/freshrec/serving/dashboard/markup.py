"""HTML pieces of the dashboard: escaping, tables, panels, the page's one stylesheet.

Everything shown is escaped here (``e``); charts arrive as SVG built by ``charts`` from
escaped text (pygal writes through an XML serialiser).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence

STYLE = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;
margin:0;color:#1f2328;background:#f4f5f7}
header{background:#1f2937;color:#f9fafb;padding:.8em 1.5em;display:flex;gap:1.5em;
align-items:center;flex-wrap:wrap}
header h1{font-size:1.3em;margin:0}header a{color:#cbd5e1}header .stamp{color:#9ca3af}
header form{margin-left:auto}header form.sign-out{margin-left:0}
header .sign-out button{background:none;color:#cbd5e1;padding:0;text-decoration:underline;
cursor:pointer}
input{font:inherit;padding:.25em .5em;border:1px solid #94a3b8;border-radius:4px}
button{font:inherit;padding:.25em .8em;border:0;border-radius:4px;background:#4269d0;color:#fff}
main{padding:1em 1.5em;max-width:1400px;margin:0 auto}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1em}
section{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:.8em 1em;
margin-bottom:1em}
.grid>section{margin-bottom:0}.wide{grid-column:1/-1}
h2{font-size:1.1em;margin:.1em 0 .4em}h3{font-size:.95em;margin:.6em 0 .2em;color:#374151}
.note{color:#5f6b7a;font-size:.88em;margin:.2em 0 .5em}
figure{margin:0}figure svg{width:100%;height:auto;display:block}
.pair{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:.5em 1.5em}
.pair.wider-right{grid-template-columns:minmax(0,2fr) minmax(0,3fr)}
@media (max-width:900px){.pair,.pair.wider-right,.grid{grid-template-columns:minmax(0,1fr)}}
.cards{display:flex;flex-wrap:wrap;gap:.6em;margin:.3em 0 .6em}
.card{background:#f7f8fa;border:1px solid #e3e5e8;border-radius:6px;padding:.35em .8em;
min-width:9em}.card b{display:block;font-size:1.35em;font-variant-numeric:tabular-nums}
.card span{color:#5f6b7a;font-size:.85em}
table{border-collapse:collapse;margin:.3em 0 .8em;width:100%}
td,th{padding:.2em .6em;text-align:left;vertical-align:top;border-bottom:1px solid #eef0f2}
th{background:#f3f4f6;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:.7em;background:#4269d0;border-radius:2px;margin-right:.4em}
.warn{background:#fde8e8;border:1px solid #f5b5b5;border-radius:6px;padding:.5em .8em}
.better{color:#1d7a34;font-weight:600}.worse{color:#c0262d;font-weight:600}
.undecided{color:#5f6b7a;font-weight:600}
.pygal-chart .ci path{stroke-width:2.5 !important;stroke-opacity:.95 !important}
.pygal-chart.intervals .ci{stroke:inherit !important}
"""


def e(value: object) -> str:
    """Return ``value`` as text escaped for HTML (attribute-safe)."""
    return html.escape(str(value), quote=True)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()
) -> str:
    """Return an HTML table; columns at the ``numeric`` indices are right-aligned."""
    head = "".join(
        f"<th{' class=num' if k in numeric else ''}>{e(h)}</th>" for k, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if k in numeric else ''}>{e(cell)}</td>"
            for k, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    empty = f"<tr><td colspan={len(headers)}>none yet</td></tr>"
    return f"<table><tr>{head}</tr>{body or empty}</table>"


def section(title: str, body: str, note: str = "", anchor: str = "", wide: bool = False) -> str:
    """Return one panel: a heading, an optional note on where its numbers come from, a body."""
    attributes = (f" id={e(anchor)}" if anchor else "") + (" class=wide" if wide else "")
    explained = f"<p class=note>{e(note)}</p>" if note else ""
    return f"<section{attributes}><h2>{e(title)}</h2>{explained}{body}</section>"


def figure(anchor: str, title: str, svg: str) -> str:
    """Return a titled chart; ``anchor`` is its element id (tests and links find it by that)."""
    return f"<figure id={e(anchor)}><h3>{e(title)}</h3>{svg}</figure>"


def cards(items: Iterable[tuple[str, object]]) -> str:
    """Return a row of headline figures: ``(label, value)`` each."""
    return (
        "<div class=cards>"
        + "".join(
            f"<div class=card><b>{e(value)}</b><span>{e(label)}</span></div>"
            for label, value in items
        )
        + "</div>"
    )


def clock(unix_seconds: float, with_seconds: bool = False) -> str:
    """Return ``HH:MM`` (or ``HH:MM:SS``) in UTC for a unix time."""
    return time.strftime("%H:%M:%S" if with_seconds else "%H:%M", time.gmtime(unix_seconds))
