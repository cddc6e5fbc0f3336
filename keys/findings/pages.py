"""The list pages (the reports behind a number) and one page per report."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from keys.findings import evidence_pages, svg
from keys.findings.counts import Counts, Key, Tally
from keys.findings.evidence import Evidence
from keys.findings.labels import Labels
from keys.findings.page import document, esc, href, link, table
from keys.findings.records import Record


@dataclass
class Links:
    """Citations between the reports: the codes a report cites, by code the reports."""

    by_code: dict[str, list[str]]
    cited_by: dict[str, list[str]]
    same_form: dict[str, list[str]]


def find_links(records: list[Record]) -> Links:
    by_code: dict[str, list[str]] = {}
    by_nonce: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: r.id):
        if r.receipt:
            by_code.setdefault(r.receipt, []).append(r.id)
        if r.form_nonce:
            by_nonce.setdefault(r.form_nonce, []).append(r.id)
    cited_by: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: r.id):
        for code in dict.fromkeys(r.cites):
            for target in by_code.get(code, []):
                if target != r.id and r.id not in cited_by.get(target, []):
                    cited_by.setdefault(target, []).append(r.id)
    same = {rid: [o for o in ids if o != rid] for ids in by_nonce.values() if len(ids) > 1
            for rid in ids}
    return Links(by_code, cited_by, same)


def title(counts: Counts, key: Key, labels: Labels) -> str:
    """What a list page lists, in words."""
    kind = counts.kind
    if kind == "all":
        return labels.word("reports")
    if kind == "attachments":
        return labels.word("with_attachments")
    if kind == "category-region":
        return f"{labels.choice('what', key[0])} × {labels.choice('region', key[1])}"
    if kind == "category-day":
        return f"{labels.choice('what', key[0])}, {key[1]}"
    if kind == "station":
        return f"{labels.field('station')}: {labels.station(key[0], key[1])}"
    if kind == "town":
        return f"{labels.field('town')}: {key[1]} ({labels.choice('region', key[0])})"
    if kind == "day":
        return f"{labels.word('day')}: {key[0] or labels.word('not_given')}"
    name = {"category": "what", "region": "region", "stage": "stage"}[kind]
    return f"{labels.field(name)}: {labels.choice(name, key[0])}"


def list_pages(tally: Tally, labels: Labels) -> Iterator[tuple[str, str]]:
    """(file name in lists/, page) of every count's list (per category and day only while
    the charts have a bar per day: nothing links them when they count by month)."""
    rows = {r.id: _list_row(r, labels) for r in tally.records}  # each report's row, once
    headers = [labels.word("report"), labels.word("day"), labels.field("what"),
               labels.field("region"), labels.field("town")]
    head = table(headers, [], numeric_from=99).split("<tbody>")[0]
    for counts in tally.all_counts():
        if counts is tally.category_day and not per_day(tally):
            continue
        pages: dict[str, list[Key]] = {}
        for key in counts.groups:
            pages.setdefault(counts.page(key), []).append(key)
        for name, keys in pages.items():
            sections = []
            for key in keys:
                records = counts.groups[key]
                sections.append(f'<h1 id="{esc(counts.slug(key))}">'
                                f"{esc(title(counts, key, labels))}: {len(records)}</h1>\n"
                                + head + "<tbody>\n" + "".join(rows[r.id] for r in records)
                                + "</tbody>\n</table></div>")
            heading = title(counts, keys[0], labels) if len(keys) == 1 else \
                f"{labels.field(counts.kind)}: {labels.choice('region', keys[0][0])}"
            yield f"{name}.html", document(heading, labels.lang, [_nav(labels)] + sections, "../")


def per_day(tally: Tally) -> bool:
    """Whether the charts over time have a bar per day (else per month)."""
    bars, _ = svg.buckets(tally.first_day(), tally.last_day())
    return bool(bars) and len(bars[0]) == 10


def _list_row(r: Record, labels: Labels) -> str:
    cells = [link(f"../reports/{r.id}.html", r.id), esc(r.day()), esc(labels.answer(r, "what")),
             esc(labels.choice("region", r.text("region"))), esc(r.text("town"))]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"


def _nav(labels: Labels) -> str:
    return f'<nav>{link("../index.html", labels.word("back"))}</nav>'


def report_page(record: Record, labels: Labels, links: Links, up_to_dir: str,
                evidence: Evidence) -> str:
    """A report's page; ``up_to_dir``: the way from OUTDIR/reports/ to the decrypt
    output directory (its attachments are linked there, never copied)."""
    w = labels.word
    meta = [[esc(w("received")), esc(record.received_day)],
            [esc(w("form_version")), esc(f"{record.form_id} {record.form_version}")],
            [esc(w("language")), esc(record.lang)],
            [esc(w("receipt")), esc(record.receipt)]]
    body = [_nav(labels), f"<h1>{esc(w('report'))} {esc(record.id)}</h1>",
            table(["", ""], meta, numeric_from=99), f"<h2>{esc(w('answers'))}</h2>",
            _answers(record, labels)]
    items = evidence.items.get(record.id)  # every report with attachments has its items
    if items:
        body += [f"<h2>{esc(w('attachments'))}</h2>",
                 evidence_pages.attachments_html(record.id, items, labels, up_to_dir)]
    body.append(evidence_pages.group_html(record.id, evidence, labels))
    body += _citations(record, labels, links)
    return document(f"{w('report')} {record.id}", labels.lang, body, "../")


def _answers(record: Record, labels: Labels) -> str:
    names = labels.form.names()
    known = set(names)
    rows = []
    for name in names + sorted(n for n in record.fields if n not in known):
        if name in record.fields:
            rows.append([esc(labels.field(name)),
                         f'<span class="answer">{esc(labels.answer(record, name))}</span>'])
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _report_link(rid: str) -> str:
    return link(f"{rid}.html", rid)


def _citations(record: Record, labels: Labels, links: Links) -> list[str]:
    w = labels.word
    out = []
    if record.cites:
        items = []
        for code in record.cites:
            targets = [t for t in links.by_code.get(code, []) if t != record.id]
            found = ", ".join(_report_link(t) for t in targets) or esc(w("not_here"))
            items.append(f"<li>{esc(code)}: {found}</li>")
        out += [f"<h2>{esc(w('cites'))}</h2>", "<ul>" + "".join(items) + "</ul>"]
    for key, ids in (("cited_by", links.cited_by.get(record.id)),
                     ("same_form", links.same_form.get(record.id))):
        if ids:
            out += [f"<h2>{esc(w(key))}</h2>",
                    "<ul>" + "".join(f"<li>{_report_link(i)}</li>" for i in ids) + "</ul>"]
    return out


def up_to(in_dir: Path, out_dir: Path) -> str:
    """The relative URL from OUTDIR/reports/ to the decrypt output directory."""
    rel = os.path.relpath(in_dir.resolve(), (out_dir / "reports").resolve())
    return "/".join(href(p) if p != ".." else p for p in Path(rel).parts)
