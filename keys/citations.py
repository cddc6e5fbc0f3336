"""Links between reports: a later report citing the receipt codes of earlier ones.

Every report the server seals carries its own receipt code (``receipt``) and the
codes the voter typed into the form's follow-up field (``cites``), both inside the
sealed plaintext (SPEC 3.4). The server never stores a code in clear, so only here,
on the analyst's side, can a citation be matched with the report it names.

:func:`link` matches every report folder of an output directory against every other
(rebuilt on each run, so a report decrypted from a later batch links to earlier ones
and the other way round); ``DIR/citations.csv`` lists every citation, one a row.
A citation whose code matches no report (not yet decrypted, mistyped in a way the
check symbol missed, or made up) keeps an empty ``cited_report_id``.

Reports sealed from the same form page (``form_nonce``: a double click on "Send",
or the page sent again after going back) are listed as ``same_form``: analysts
decide whether they are duplicates, nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CITATIONS_FILE = "citations.csv"
CITATION_COLUMNS = ["citing_report_id", "cited_code", "cited_report_id"]


@dataclass
class Links:
    """What :func:`link` found, by report id (hex)."""

    receipt: dict[str, str] = field(default_factory=dict)  # report -> its own code
    cites: dict[str, list[str]] = field(default_factory=dict)  # report -> reports it cites
    cited_by: dict[str, list[str]] = field(default_factory=dict)  # report -> reports citing it
    same_form: dict[str, list[str]] = field(default_factory=dict)  # report -> others, same page
    rows: list[dict[str, str]] = field(default_factory=list)  # citations.csv, in report order

    @property
    def unresolved(self) -> int:
        """Citations whose code matches no report in the directory (yet)."""
        return sum(1 for row in self.rows if not row["cited_report_id"])


def link(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> Links:
    """Links among ``(report id, report)`` pairs (in table order: the order of the rows)."""
    links = Links()
    by_code: dict[str, list[str]] = {}
    by_nonce: dict[str, list[str]] = {}
    for rid, report in reports:
        code = report.get("receipt")
        if isinstance(code, str):
            links.receipt[rid] = code
            by_code.setdefault(code, []).append(rid)
        nonce = report.get("form_nonce")
        if isinstance(nonce, str):
            by_nonce.setdefault(nonce, []).append(rid)
    for rid, report in reports:
        for code in _codes(report.get("cites")):
            targets = [t for t in by_code.get(code, []) if t != rid]
            links.rows.append({"citing_report_id": rid, "cited_code": code,
                               "cited_report_id": "; ".join(targets)})
            for target in targets:
                _add(links.cites, rid, target)
                _add(links.cited_by, target, rid)
    for same in by_nonce.values():
        for rid in same:
            if len(same) > 1:
                links.same_form[rid] = [other for other in same if other != rid]
    return links


def _codes(value: Any) -> list[str]:
    return [c for c in value if isinstance(c, str)] if isinstance(value, list) else []


def _add(table: dict[str, list[str]], key: str, value: str) -> None:
    values = table.setdefault(key, [])
    if value not in values:
        values.append(value)
