"""The CSV tables of the summary (OUTDIR/tables/), for spreadsheets.

``reports.csv`` has one header for every batch and form version: the base
columns, then one column per answer field of the form (the newest form's, or the
election form's names without a form file). Choices are written as their labels
in the summary's language, several joined with "; "; dates as YYYY-MM-DD text;
station numbers as digits without leading zeros (the column is text: import it
as text to keep it so). Cells that a spreadsheet would run as a formula are
defused as in the decrypt tables (keys.output.csv_row). Fields a report has but
the form does not are on its report page, not in the CSV.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from keys import output
from keys.findings.counts import Key, Tally, choice_order, station_order
from keys.findings.labels import Labels

BASE = ["report_id", "received_day", "form_version", "lang", "receipt", "attachments"]
BOM = b"\xef\xbb\xbf"


def render(rows: Iterable[Sequence[object]]) -> bytes:
    return BOM + b"".join(output.csv_row(list(row)) for row in rows)


def reports_csv(tally: Tally, labels: Labels) -> bytes:
    names = labels.form.names()
    rows: list[Sequence[object]] = [BASE + names]
    for r in tally.records:
        rows.append([r.id, r.received_day, r.form_version, r.lang, r.receipt,
                     len(r.attachments)] + [labels.answer(r, n) for n in names])
    return render(rows)


def _seen(keys: Iterable[Key], index: int) -> list[str]:
    return [k[index] for k in keys]


def by_choice(tally: Tally, labels: Labels, which: str) -> bytes:
    """by_category.csv / by_region.csv / by_stage.csv: id, label, reports."""
    counts = {"what": tally.category, "region": tally.region, "stage": tally.stage}[which]
    rows: list[Sequence[object]] = [[f"{_NAMES[which]}_id", _NAMES[which], "reports"]]
    for cid in choice_order(labels.form, which, _seen(counts.groups, 0)):
        rows.append([cid, labels.choice(which, cid), counts.count((cid,))])
    return render(rows)


_NAMES = {"what": "category", "region": "region", "stage": "stage"}


def by_station(tally: Tally, labels: Labels) -> bytes:
    rows: list[Sequence[object]] = [["region_id", "region", "station", "reports"]]
    for key in station_order(labels.form, tally.station.groups):
        rows.append([key[0], labels.choice("region", key[0]), key[1],
                     tally.station.count(key)])
    return render(rows)


def by_town(tally: Tally, labels: Labels) -> bytes:
    rows: list[Sequence[object]] = [["region_id", "region", "town", "reports"]]
    for key in town_order(tally, labels):
        rows.append([key[0], labels.choice("region", key[0]), key[1], tally.town.count(key)])
    return render(rows)


def town_order(tally: Tally, labels: Labels) -> list[Key]:
    """Towns by number of reports (most first), then region order, then name."""
    regions = choice_order(labels.form, "region", _seen(tally.town.groups, 0))
    rank = {r: i for i, r in enumerate(regions)}
    return sorted(tally.town.groups,
                  key=lambda k: (-tally.town.count(k), rank[k[0]], k[1]))


def by_day(tally: Tally, labels: Labels) -> bytes:
    rows: list[Sequence[object]] = [["day", "reports"]]
    for (day,) in sorted(tally.day.groups, key=lambda k: (not k[0], k[0])):
        rows.append([day, tally.day.count((day,))])
    return render(rows)


def category_by_region(tally: Tally, labels: Labels) -> bytes:
    cats, regions = matrix_axes(tally, labels)
    rows: list[Sequence[object]] = [["category_id", "category"] + regions + ["total"]]
    for cat in cats:
        rows.append([cat, labels.choice("what", cat)]
                    + [tally.category_region.count((cat, reg)) for reg in regions]
                    + [tally.category.count((cat,))])
    return render(rows)


def matrix_axes(tally: Tally, labels: Labels) -> tuple[list[str], list[str]]:
    """The category × region table's rows (category ids) and columns (region ids)."""
    cats = choice_order(labels.form, "what", _seen(tally.category.groups, 0))
    regions = choice_order(labels.form, "region", _seen(tally.region.groups, 0))
    return cats, regions


def all_tables(tally: Tally, labels: Labels) -> dict[str, bytes]:
    """File name -> contents of every table."""
    return {
        "reports.csv": reports_csv(tally, labels),
        "by_category.csv": by_choice(tally, labels, "what"),
        "by_region.csv": by_choice(tally, labels, "region"),
        "by_stage.csv": by_choice(tally, labels, "stage"),
        "by_station.csv": by_station(tally, labels),
        "by_town.csv": by_town(tally, labels),
        "by_day.csv": by_day(tally, labels),
        "category_by_region.csv": category_by_region(tally, labels),
    }
