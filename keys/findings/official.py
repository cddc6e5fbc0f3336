"""Official figures side by side (issue 16, part 4): ``summary --official FILE.csv``.

FILE.csv is an official per-precinct results table, UTF-8 (a BOM is fine), one row per
polling station, with the columns ``region`` (the form's region id, or its label in be,
ru or en), ``station`` (its number: "№ 017" is 17), ``registered`` and ``voted`` (whole
numbers), and any further columns of whole numbers (votes per candidate, "against all",
spoiled ballots, ...), shown as given. ``lists/official.html`` (linked from the index)
and ``tables/official_vs_reports.csv`` list every station where a report alleges a
counting violation (the category "opaque_counting", or the stage "counting") next to its
official turnout and results; such stations the table lacks are listed without figures.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from keys.errors import SummaryError
from keys.evidence.groups import normalise_station
from keys.findings.counts import Key, Tally, station_order
from keys.findings.labels import Labels
from keys.findings.page import count_link, document, esc, link, table
from keys.output import render_csv

REQUIRED = ("region", "station", "registered", "voted")
COUNTING_CATEGORIES = frozenset({"opaque_counting"})
COUNTING_STAGE = "counting"
MAX_ROWS = 100_000
_HINT = ("a CSV with the columns region, station, registered, voted and then one whole "
         "number per candidate or result; see python -m keys summary --help")


@dataclass
class Official:
    columns: list[str]  # the result columns after registered and voted
    rows: dict[Key, list[int]] = field(default_factory=dict)  # registered, voted, results


def _region_ids(labels: Labels) -> dict[str, str]:
    ids = {}
    for rid in labels.form.choice_ids("region"):
        ids[rid.lower()] = rid
        for lang in ("be", "ru", "en"):
            ids[labels.form.choice("region", rid, lang).strip().lower()] = rid
    return ids


def _number(text: str, line: int, column: str) -> int:
    value = text.strip().replace(" ", "").replace("\u00a0", "")
    if not value.isdigit() or not value.isascii():
        raise SummaryError(f"official table, line {line}: {column} is {text!r}, "
                           "not a whole number", hint=_HINT)
    return int(value)


def load_official(path: Path, labels: Labels) -> Official:
    """Read FILE.csv; SummaryError (with the line) for anything it cannot use."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SummaryError(f"cannot read the official table {path}: {exc}", hint=_HINT) from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if [h.lower() for h in header[:4]] != list(REQUIRED) or len(set(header)) != len(header):
        raise SummaryError(f"official table {path}: the first columns must be "
                           f"{', '.join(REQUIRED)}, each once", hint=_HINT)
    official, regions = Official(header[4:]), _region_ids(labels)
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if line > MAX_ROWS:
            raise SummaryError(f"official table: more than {MAX_ROWS} rows", hint=_HINT)
        if len(row) != len(header):
            raise SummaryError(f"official table, line {line}: {len(row)} cells, "
                               f"the header has {len(header)}", hint=_HINT)
        region = regions.get(row[0].strip().lower())
        station = normalise_station(row[1])
        if region is None or station is None or station == "0":
            raise SummaryError(f"official table, line {line}: no such region or station "
                               f"({row[0]!r}, {row[1]!r})", hint=_HINT)
        if (region, station) in official.rows:
            raise SummaryError(f"official table, line {line}: station {station} of {region} "
                               "is given twice", hint=_HINT)
        official.rows[(region, station)] = [
            _number(cell, line, name) for cell, name in zip(row[2:], header[2:])]
    return official


def alleged(tally: Tally) -> dict[Key, int]:
    """(region, station) -> how many reports there allege a counting violation."""
    out: dict[Key, int] = {}
    for key, records in tally.station.groups.items():
        n = sum(1 for r in records if COUNTING_CATEGORIES & set(r.values("what"))
                or r.text("stage") == COUNTING_STAGE)
        if n:
            out[key] = n
    return out


def _rows(tally: Tally, official: Official, labels: Labels
          ) -> list[tuple[Key, dict[str, object]]]:
    rows = []
    counts = alleged(tally)
    for key in station_order(labels.form, counts):
        figures = official.rows.get(key)
        row: dict[str, object] = {"region": labels.choice("region", key[0]),
                                  "station": key[1], "reports": counts[key]}
        if figures is not None:
            registered, voted = figures[0], figures[1]
            row.update(registered=registered, voted=voted,
                       turnout=f"{100 * voted / registered:.1f}" if registered else "")
            row.update(zip(official.columns, figures[2:]))
        rows.append((key, row))
    return rows


def outputs(tally: Tally, official: Official, labels: Labels) -> dict[str, bytes]:
    """``lists/official.html`` and ``tables/official_vs_reports.csv``."""
    w = labels.word
    rows = _rows(tally, official, labels)
    columns = ["region", "station", "reports", "registered", "voted", "turnout",
               *official.columns]
    html_rows = []
    for key, row in rows:
        cells = [esc(row["region"]), esc(row["station"]),
                 count_link(int(str(row["reports"])), "../" + tally.station.url(key))]
        cells += [esc(row.get(c, "—")) for c in columns[3:]]
        html_rows.append(cells)
    headers = [w("region"), w("station"), w("counting_reports"), w("registered"), w("voted"),
               w("turnout"), *official.columns]
    missing = sum(1 for _, row in rows if "voted" not in row)
    body = [f'<nav>{link("../index.html", w("back"))}</nav>', f"<h1>{esc(w('official'))}</h1>",
            f"<p>{esc(w('official_intro'))}</p>",
            table(headers, html_rows, numeric_from=2),
            f"<p>{esc(w('official_missing').format(n=missing))}</p>"]
    page = document(w("official"), labels.lang, body, "../")
    return {"lists/official.html": page.encode("utf-8"),
            "tables/official_vs_reports.csv": render_csv(columns, [r for _, r in rows])}
