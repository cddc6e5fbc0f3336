"""HTML pieces: every text from a report is escaped here, every link is relative.

Pages are HTML5 without scripts or external resources; they link one local
stylesheet (``style.css``, with a print style) and read well with JavaScript off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote

_SPECIAL = re.compile("[&<>\"']")
STYLE_FILE = "style.css"
STYLE = """\
body { font-family: system-ui, sans-serif; margin: 1rem auto; max-width: 72rem;
  padding: 0 1rem; line-height: 1.4; color: #111; background: #fff; }
h1, h2, h3 { line-height: 1.2; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.5rem; text-align: left;
  vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.wide { overflow-x: auto; }
.note { background: #fff4cc; padding: 0.5rem; border-left: 4px solid #d9a400; }
dt { font-weight: 600; margin-top: 0.5rem; }
h1 { overflow-wrap: anywhere; }
.answer { white-space: pre-wrap; overflow-wrap: anywhere; }
.multiples { display: flex; flex-wrap: wrap; gap: 1rem; }
.multiples figure { margin: 0; }
figcaption { font-size: 0.9rem; max-width: 20rem; }
svg text { font-size: 11px; font-family: system-ui, sans-serif; }
a { color: #0645ad; }
nav { margin-bottom: 1rem; }
img { border: 1px solid #bbb; max-width: 100%; height: auto; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; color: #000; }
  nav, .noprint { display: none; }
  a { color: #000; text-decoration: none; }
  table, figure, svg { break-inside: avoid; page-break-inside: avoid; }
  th, td { border-color: #000; }
  .wide { overflow: visible; }
}
"""


def esc(text: object) -> str:
    s = str(text)  # most text has nothing to escape: one search instead of five replaces
    return escape(s, quote=True) if _SPECIAL.search(s) else s


def href(*parts: str) -> str:
    """A relative URL of path ``parts``, each percent-encoded."""
    return "/".join(quote(p, safe="") if p != ".." else p for p in parts)


def link(url: str, text: str) -> str:
    return f'<a href="{esc(url)}">{esc(text)}</a>'


def count_link(count: int, url: str) -> str:
    """A number linking to the list of its reports (a zero links nowhere)."""
    return link(url, str(count)) if count else "0"


def document(title: str, lang: str, body: Iterable[str], root: str = "") -> str:
    """A whole page; ``root`` is the way up to the summary folder ("" or "../")."""
    head = (f'<!DOCTYPE html>\n<html lang="{esc(lang)}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="referrer" content="no-referrer">\n'
            f"<title>{esc(title)}</title>\n"
            f'<link rel="stylesheet" href="{root}{STYLE_FILE}">\n</head>\n<body>\n')
    return head + "\n".join(body) + "\n</body>\n</html>\n"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]],
          numeric_from: int = 1) -> str:
    """A table; headers are text (escaped here), cells are HTML already (escaped by the
    caller); columns from ``numeric_from`` on are right-aligned."""
    head = "".join(f'<th{_n(i, numeric_from)} scope="col">{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{_n(i, numeric_from)}>{c}</td>" for i, c in enumerate(row))
        + "</tr>\n" for row in rows)
    thead = f"<thead><tr>{head}</tr></thead>\n" if any(headers) else ""
    return f'<div class="wide"><table>\n{thead}<tbody>\n{body}</tbody>\n</table></div>'



def _n(index: int, numeric_from: int) -> str:
    return ' class="n"' if index >= numeric_from else ""
