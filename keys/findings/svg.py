"""Inline SVG: small-multiple bar charts over time and a schematic map of the regions.

Shapes carry a ``<title>`` (read out by screen readers, shown on hover); every
text is escaped; nothing is fetched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from keys.findings.page import esc

MAX_DAY_BARS = 120  # a longer span is charted by month
SHADES = ("#f1f1f1", "#fde0c5", "#facba6", "#f59e72", "#e4653f", "#b33a1c")

# Hand-placed outlines of Belarus's regions (roughly where they lie; not to scale).
REGION_SHAPES: dict[str, tuple[str, tuple[int, int]]] = {
    "vitebsk": ("150,10 330,0 420,40 400,130 300,140 230,120 160,110", (290, 70)),
    "grodno": ("10,110 160,110 200,130 190,230 100,240 20,210", (100, 175)),
    "minsk_oblast": ("160,110 230,120 300,140 310,260 220,270 190,230 200,130",
                     (262, 252)),
    "minsk_city": ("230,165 270,165 270,200 230,200", (250, 187)),
    "mogilev": ("300,140 400,130 440,160 440,260 310,260", (370, 200)),
    "brest": ("20,210 100,240 190,230 220,270 230,340 30,340 10,270", (120, 290)),
    "gomel": ("220,270 310,260 440,260 450,340 230,340", (335, 305)),
}


def month_key(day: str) -> str:
    return day[:7]


def buckets(first: str, last: str) -> tuple[list[str], Callable[[str], str]]:
    """The bars of a chart from ``first`` to ``last`` (ISO days): one per day, or one
    per month when that is more than MAX_DAY_BARS days; and how a day maps to its bar."""
    try:
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        return [], month_key
    span = (end - start).days + 1
    if span <= MAX_DAY_BARS:
        return [(start + dt.timedelta(days=i)).isoformat() for i in range(span)], str
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months, month_key


def bars(title: str, labels: Sequence[str], values: Sequence[int], top: int,
         links: Sequence[str]) -> str:
    """One small bar chart: ``values`` against ``labels`` on a shared scale ``top``;
    a bar links to ``links[i]`` when it is not empty."""
    width, height, pad = 300, 90, 14
    step = width / max(len(values), 1)
    parts = [f'<svg role="img" width="{width}" '
             f'height="{height + pad}" viewBox="0 0 {width} {height + pad}">'
             f"<title>{esc(title)}</title>",
             f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>']
    for i, (label, value) in enumerate(zip(labels, values)):
        if not value:
            continue
        h = max(1.0, height * value / max(top, 1))
        rect = (f'<rect x="{i * step:.2f}" y="{height - h:.2f}" width="{max(step - 1, 1):.2f}" '
                f'height="{h:.2f}" fill="#c0504d"><title>{esc(label)}: {value}</title></rect>')
        parts.append(f'<a href="{esc(links[i])}">{rect}</a>' if links[i] else rect)
    if labels:
        parts.append(f'<text x="0" y="{height + pad - 2}">{esc(labels[0])}</text>')
        parts.append(f'<text x="{width}" y="{height + pad - 2}" text-anchor="end">'
                     f"{esc(labels[-1])}</text>")
    parts.append("</svg>")
    return "".join(parts)


def shade(count: int, top: int) -> str:
    """The fill of a region: class ceil(count × 5 / top) of five, none for 0."""
    if count <= 0 or top <= 0:
        return SHADES[0]
    steps = len(SHADES) - 1
    return SHADES[min(steps, -(-count * steps // top))]


def region_map(title: str, regions: dict[str, tuple[str, int, str]], legend: str) -> str:
    """The schematic map: ``regions`` is id -> (label, count, link); unknown ids are
    left off the map (they are in the table beside it)."""
    top = max((c for _, c, _ in regions.values()), default=0)
    parts = ['<svg role="img" width="460" height="420" '
             f'viewBox="0 0 460 420"><title>{esc(title)}</title>']
    for rid, (points, (x, y)) in REGION_SHAPES.items():
        label, count, url = regions.get(rid, (rid, 0, ""))
        shape = (f'<polygon points="{points}" fill="{shade(count, top)}" stroke="#333">'
                 f"<title>{esc(label)}: {count}</title></polygon>"
                 f'<text x="{x}" y="{y}" text-anchor="middle">{count}</text>')
        parts.append(f'<a href="{esc(url)}">{shape}</a>' if url and count else shape)
        above = 30 if rid == "minsk_city" else 13  # the city's name above its square
        parts.append(f'<text x="{x}" y="{y - above}" text-anchor="middle">{esc(label)}</text>')
    parts.append(_legend(top, legend))
    parts.append("</svg>")
    return "".join(parts)


def _legend(top: int, legend: str) -> str:
    steps = len(SHADES) - 1
    parts = [f'<text x="10" y="370">{esc(legend)}</text>']
    for i in range(steps + 1):
        if i == 0:
            text = "0"
        else:
            low, high = (i - 1) * top // steps + 1, i * top // steps
            text = (str(low) if low == high else f"{low}–{high}") if low <= high else "–"
        parts.append(f'<rect x="{10 + i * 72}" y="378" width="16" height="16" '
                     f'fill="{SHADES[i]}" stroke="#333"/>'
                     f'<text x="{30 + i * 72}" y="391">{esc(text)}</text>')
    return "".join(parts)
