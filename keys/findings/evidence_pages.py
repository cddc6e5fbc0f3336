"""The summary's evidence pieces: a report's attachments with their metadata report and
shareable copy, its incident group, and the index's corroboration and GPS sections,
the groups and GPS list pages and the evidence tables."""

from __future__ import annotations

from keys.evidence.groups import groups_csv
from keys.findings.evidence import FACTS, SHARED, Evidence, Item
from keys.findings.labels import Labels
from keys.findings.page import count_link, document, esc, href, link, table
from keys.output import render_csv

THUMB_WIDTH = 240
INDEX_GROUPS = 100
EVIDENCE_COLUMNS = ["report_id", "file", "kind", "sha256", "size", "gps", "gps_lat", "gps_lon",
                    "make", "model", "body_serial", "lens_serial", "owner", "unique_id",
                    "capture_time", "software",
                    "c2pa", "proofmode", "shared_file", "shared_sha256", "problems"]


def attachments_html(rid: str, items: list[Item], labels: Labels, up_to_dir: str) -> str:
    """A report page's attachments: the original (linked in DIR), its SHA-256, what its
    metadata says, and the copy to share (with a thumbnail)."""
    w = labels.word
    out = []
    for item in items:
        original = up_to_dir + "/" + href(rid, item.file)
        rows = [[esc(w("sha256")), f"<code>{esc(item.sha256)}</code>"],
                [esc(w("size")), esc(item.size)]]
        rows += [[esc(w(f'fact_{k}')), esc(item.facts[k])] for k in FACTS if k in item.facts]
        if item.c2pa or item.proofmode:
            rows.append([esc(w("provenance")), esc(("C2PA " if item.c2pa else "")
                                                   + ("ProofMode" if item.proofmode else ""))])
        rows += [[esc(w("problem")), esc(p)] for p in item.problems]
        warn = f'<p class="note">{esc(w("gps_warning"))}</p>' if item.gps else ""
        share = ""
        if item.shared:
            url = f"../{SHARED}/{href(rid, item.shared)}"
            share = (f"<p>{link(url, w('shared_copy'))} (<code>{esc(item.shared_sha256)}</code>)"
                     f'<br><img src="{esc(url)}" width="{THUMB_WIDTH}" alt="{esc(item.file)}"'
                     ' loading="lazy"></p>')
        out.append(f"<h3>{link(original, item.file)} ({esc(item.kind)})</h3>{warn}"
                   + table(["", ""], rows, numeric_from=99) + share)
    return "".join(out)


def group_html(rid: str, ev: Evidence, labels: Labels) -> str:
    group = ev.group_of.get(rid)
    if group is None or len(group.report_ids) < 2:
        return ""
    w = labels.word
    others = ", ".join(link(f"{r}.html", r) for r in group.report_ids if r != rid)
    text = w("group_line").format(n=len(group.report_ids), independent=group.independent)
    return (f"<h2>{esc(w('incident'))} "
            f"{link(f'../lists/groups.html#{group.id}', group.id)}</h2>"
            f"<p>{esc(text)}: {esc('; '.join(group.reasons))}</p><p>{others}</p>")


def index_sections(ev: Evidence, labels: Labels) -> list[str]:
    w = labels.word
    shared = [g for g in ev.groups if len(g.report_ids) > 1]
    rows = [[link(f"lists/groups.html#{g.id}", g.id), esc(len(g.report_ids)),
             esc(g.independent), esc("; ".join(g.reasons))] for g in shared[:INDEX_GROUPS]]
    gps = ev.gps_reports()
    return [
        f'<h2 id="corroboration">{esc(w("corroboration"))}</h2>',
        f"<p>{esc(w('groups_line').format(n=len(shared)))} "
        f"{link('tables/groups.csv', 'groups.csv')}</p>",
        table([w("incident"), w("reports"), w("independent"), w("reasons")], rows,
              numeric_from=1) if rows else "",
        f'<h2 id="gps">{esc(w("gps_heading"))}</h2>',
        f"<p>{esc(w('gps_line'))} {count_link(len(gps), 'lists/gps.html')}</p>",
    ]


def list_pages(ev: Evidence, labels: Labels) -> list[tuple[str, str]]:
    w = labels.word
    back = f'<nav>{link("../index.html", w("back"))}</nav>'
    sections = [back]
    for g in ev.groups:
        if len(g.report_ids) < 2:
            continue
        reports = ", ".join(link(f"../reports/{r}.html", r) for r in g.report_ids)
        related = ", ".join(link(f"#{x}", x) for x in g.related)
        sections.append(
            f'<h2 id="{esc(g.id)}">{esc(g.id)}: '
            f"{esc(w('group_line').format(n=len(g.report_ids), independent=g.independent))}"
            f"</h2><p>{esc('; '.join(g.reasons))}</p><p>{reports}</p>"
            + (f"<p>{esc(w('related'))}: {related}</p>" if related else ""))
    gps = [back, f"<h1>{esc(w('gps_heading'))}</h1>", "<ul>" + "".join(
        f"<li>{link(f'../reports/{r}.html', r)}</li>" for r in ev.gps_reports()) + "</ul>"]
    return [("groups.html", document(w("corroboration"), labels.lang, sections, "../")),
            ("gps.html", document(w("gps_heading"), labels.lang, gps, "../"))]


def tables(ev: Evidence) -> dict[str, bytes]:
    rows = []
    for rid in sorted(ev.items):
        for i in ev.items[rid]:
            rows.append({"report_id": rid, "file": i.file, "kind": i.kind, "sha256": i.sha256,
                         "size": i.size, "gps": "yes" if i.gps else "", **i.facts,
                         "c2pa": "yes" if i.c2pa else "",
                         "proofmode": "yes" if i.proofmode else "",
                         "shared_file": f"{SHARED}/{rid}/{i.shared}" if i.shared else "",
                         "shared_sha256": i.shared_sha256, "problems": "; ".join(i.problems)})
    return {"groups.csv": groups_csv(ev.groups),
            "evidence.csv": render_csv(EVIDENCE_COLUMNS, rows)}
