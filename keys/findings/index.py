"""index.html: totals, counts by every way of counting, the category × region table,
small multiples over time and the schematic map; every number links to its list."""

from __future__ import annotations

from keys.findings import csvs, evidence_pages, svg
from keys.findings.counts import Counts, Key, Tally, choice_order, station_order
from keys.findings.evidence import Evidence
from keys.findings.labels import Labels
from keys.findings.page import count_link, document, esc, href, link, table

INDEX_ROWS = 100  # towns and stations on the index: the busiest; all of them in the CSV
TABLE_FILES = ("reports.csv", "by_category.csv", "by_region.csv", "by_stage.csv",
               "by_station.csv", "by_town.csv", "by_day.csv", "category_by_region.csv")
EVIDENCE_FILES = ("groups.csv", "evidence.csv")


def list_url(counts: Counts, key: Key) -> str:
    return counts.url(key)


def _cell(counts: Counts, key: Key) -> str:
    return count_link(counts.count(key), list_url(counts, key))


def index_page(tally: Tally, labels: Labels, left_out: list[str],
               evidence: Evidence | None = None, official: bool = False,
               sources: str = "") -> str:
    """The index; ``sources``: the section on the chains the reports came from
    (keys.findings.sources.section), shown under the totals."""
    w = labels.word
    body = [f"<h1>{esc(w('title'))}</h1>"]
    if labels.form.path is None:
        body.append(f'<p class="note">{esc(w("no_form"))}</p>')
    body.append(_totals(tally, labels))
    if sources:
        body.append(sources)
    body += [_section("map", labels), _map(tally, labels),
             _section("by_category", labels), _choices(tally.category, "what", labels),
             _section("category_region", labels), _matrix(tally, labels),
             _section("over_time", labels), _multiples(tally, labels),
             _section("by_region", labels), _choices(tally.region, "region", labels),
             _section("by_stage", labels), _choices(tally.stage, "stage", labels),
             _section("by_town", labels), _towns(tally, labels),
             _section("by_station", labels), _stations(tally, labels),
             _section("by_day", labels), _days(tally, labels)]
    if evidence is not None:
        body += evidence_pages.index_sections(evidence, labels)
    if official:
        body += [_section("official", labels),
                 f"<p>{link('lists/official.html', labels.word('official_intro'))}</p>"]
    files = TABLE_FILES + (EVIDENCE_FILES if evidence is not None else ()) + (
        ("official_vs_reports.csv",) if official else ())
    body += [_section("tables", labels),
             "<ul>" + "".join(f"<li>{link(href('tables', n), n)}</li>" for n in files)
             + "</ul>"]
    if left_out:
        body.append(_section("left_out", labels))
        body.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in left_out) + "</ul>")
    return document(w("title"), labels.lang, body)


def _section(key: str, labels: Labels) -> str:
    return f'<h2 id="{key}">{esc(labels.word(key))}</h2>'


def _totals(tally: Tally, labels: Labels) -> str:
    w = labels.word
    first, last = tally.first_day(), tally.last_day()
    period = f"{first} – {last}" if first else w("none")
    rows = [[esc(w("reports")), _cell(tally.everything, ())],
            [esc(w("with_attachments")), _cell(tally.attached, ())],
            [esc(w("period")), esc(period)]]
    return table(["", w("count")], rows)


def _choices(counts: Counts, name: str, labels: Labels) -> str:
    ids = choice_order(labels.form, name, (k[0] for k in counts.groups))
    rows = [[esc(labels.choice(name, cid)), _cell(counts, (cid,))] for cid in ids]
    return table([labels.field(name), labels.word("count")], rows)


def _matrix(tally: Tally, labels: Labels) -> str:
    cats, regions = csvs.matrix_axes(tally, labels)
    headers = [labels.field("what")] + [labels.choice("region", r) for r in regions]
    rows = [[esc(labels.choice("what", c))]
            + [_cell(tally.category_region, (c, r)) for r in regions]
            + [_cell(tally.category, (c,))] for c in cats]
    return table(headers + [labels.word("total")], rows)


def _towns(tally: Tally, labels: Labels) -> str:
    keys = csvs.town_order(tally, labels)  # most reports first
    rows = [[esc(labels.choice("region", k[0])), esc(k[1]), _cell(tally.town, k)]
            for k in keys[:INDEX_ROWS]]
    return table([labels.field("region"), labels.field("town"), labels.word("count")], rows,
                 numeric_from=2) + _more(len(keys), "by_town.csv", labels)


def _stations(tally: Tally, labels: Labels) -> str:
    keys = station_order(labels.form, tally.station.groups)
    if len(keys) > INDEX_ROWS:  # the busiest, in the table's order
        top = set(sorted(keys, key=lambda k: -tally.station.count(k))[:INDEX_ROWS])
        keys = [k for k in keys if k in top]
    rows = [[esc(labels.choice("region", k[0])), esc(k[1]), _cell(tally.station, k)]
            for k in keys]
    return table([labels.field("region"), labels.field("station"), labels.word("count")],
                 rows, numeric_from=2) + _more(len(tally.station.groups), "by_station.csv",
                                               labels)


def _more(total: int, csv_name: str, labels: Labels) -> str:
    """Under a table cut to INDEX_ROWS rows: where the whole of it is."""
    if total <= INDEX_ROWS:
        return ""
    text = labels.word("more").format(shown=INDEX_ROWS, total=total)
    return f"<p>{esc(text)} {link(href('tables', csv_name), csv_name)}</p>"


def _days(tally: Tally, labels: Labels) -> str:
    keys = sorted(tally.day.groups, key=lambda k: (not k[0], k[0]))
    rows = [[esc(k[0] or labels.word("not_given")), _cell(tally.day, k)] for k in keys]
    return table([labels.word("day"), labels.word("count")], rows)


def _multiples(tally: Tally, labels: Labels) -> str:
    bars, bucket = svg.buckets(tally.first_day(), tally.last_day())
    if not bars:
        return f"<p>{esc(labels.word('none'))}</p>"
    per_month = len(bars[0]) == 7
    cats = [c for c in choice_order(labels.form, "what", (k[0] for k in tally.category.groups))
            if c]
    series = {c: dict.fromkeys(bars, 0) for c in cats}
    for (cat, day), group in tally.category_day.groups.items():
        if cat and day and bucket(day) in series[cat]:
            series[cat][bucket(day)] += len(group)
    top = max((v for s in series.values() for v in s.values()), default=0)
    figures = []
    for cat in cats:
        name = labels.choice("what", cat)
        links = [list_url(tally.category_day, (cat, b)) if series[cat][b] and not per_month
                 else "" for b in bars]
        chart = svg.bars(name, bars, list(series[cat].values()), top, links)
        figures.append(f"<figure>{chart}<figcaption>{esc(name)}: "
                       f"{_cell(tally.category, (cat,))}</figcaption></figure>")
    note = f"<p>{esc(labels.word('by_month'))}</p>" if per_month else ""
    return note + '<div class="multiples">' + "".join(figures) + "</div>"


def _map(tally: Tally, labels: Labels) -> str:
    regions = {}
    for rid in choice_order(labels.form, "region", (k[0] for k in tally.region.groups)):
        if rid in svg.REGION_SHAPES:
            regions[rid] = (labels.choice("region", rid), tally.region.count((rid,)),
                            list_url(tally.region, (rid,)))
    return "<figure>" + svg.region_map(labels.word("map"), regions, labels.word("legend")) \
        + "</figure>"
