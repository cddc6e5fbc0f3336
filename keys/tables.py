"""The tables rebuilt from every report folder, in bounded memory.

``DIR/reports.csv`` and ``DIR/reports.jsonl`` list every report folder in the
output directory, ordered by server chain and sequence number;
``DIR/citations.csv`` every citation of a receipt code (keys.citations).

Two passes, one report in memory at a time: the first reads what the columns and
the links need (field names, receipt codes), the second writes each row straight
to the files. A cell longer than a spreadsheet cell can hold, more field columns
than a table should have, or a report.json too large or not a report is left out,
and :class:`Tables` says which and why: nothing drops out silently.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys import citations, output
from keys.plaintext import (
    MAX_REPORT_JSON,
    BadReport,
    check_report,
    may_escape_surrogates,
    not_writable,
    shape_ok,
)
from keys.recipients import Recipients, describe
from keys.state import State

__all__ = ["MAX_REPORT_JSON", "BadReport", "Tables", "check_report", "write_tables"]
MAX_CELL = 32767  # characters: the most a spreadsheet cell holds (Excel's limit)
MAX_FIELD_COLUMNS = 1000
MAX_FIELD_NAME = 200  # characters of a field name used as a column title
MAX_READ = 4 * MAX_REPORT_JSON  # report.json: the plaintext, indented (at most 16 deep)
_ID_DIR = re.compile(r"[0-9a-f]{32}")
_LINK_KEYS = ("receipt", "cites", "form_nonce")
_SEE = "see its report.json"


@dataclass
class Tables:
    """What the rebuild found: the links, and what was left out of the tables and why."""

    links: citations.Links
    left_out: list[str] = field(default_factory=list)

    @property
    def unresolved(self) -> int:
        return self.links.unresolved


@dataclass(frozen=True)
class _Folder:
    order: tuple[int, str, int, str]
    chain: str
    seq: int | None
    rid: str


def write_tables(out_dir: Path, state: State, recipients: Recipients | None = None) -> Tables:
    """Rebuild DIR/reports.csv, DIR/reports.jsonl and DIR/citations.csv from every
    report folder; returns the links found between reports and what was left out.
    ``recipients``: the directory's pin, for the unexpected_recipients column."""
    extra = recipients or Recipients()
    tables = Tables(citations.Links())
    folders, names, slim = _first_pass(out_dir, state, tables.left_out)
    tables.links = citations.link([(f.rid, slim[f.rid]) for f in folders])
    fields = [n for n in names if len(n) <= MAX_FIELD_NAME][:MAX_FIELD_COLUMNS]
    columns = output.BASE_COLUMNS + ["field:" + n for n in fields]
    with output.AtomicFile(out_dir / "reports.csv") as csv_out, \
            output.AtomicFile(out_dir / "reports.jsonl") as jsonl_out:
        csv_out.write(b"\xef\xbb\xbf" + output.csv_row([output.column_title(c)
                                                        for c in columns]))
        for folder in folders:
            report = _read_report(out_dir / folder.rid / output.REPORT_FILE, folder.rid, [])
            if report is None:
                report = slim[folder.rid]  # changed since the first pass: the base columns
            row = output.table_row(folder.chain, folder.seq, folder.rid, report, tables.links,
                                   describe(extra.unexpected(bytes.fromhex(folder.rid))))
            _bound(row, set(columns), folder.rid, tables.left_out)
            csv_out.write(output.csv_row([row.get(c) for c in columns]))
            jsonl_out.write(output.jsonl_row(columns, row))
    output.write_atomic(out_dir / citations.CITATIONS_FILE, output.render_csv(
        citations.CITATION_COLUMNS, tables.links.rows))
    return tables


def _first_pass(
    out_dir: Path, state: State, left_out: list[str]
) -> tuple[list[_Folder], dict[str, None], dict[str, dict[str, Any]]]:
    """The report folders in table order, every field name (in first-seen order) and,
    per report, only what the links and an unreadable report's row need."""
    folders: list[_Folder] = []
    names: dict[str, None] = {}
    slim: dict[str, dict[str, Any]] = {}
    for entry in os.scandir(out_dir):
        if not _ID_DIR.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        report = _read_report(Path(entry.path) / output.REPORT_FILE, entry.name, left_out)
        if report is None:
            continue
        where = state.ids.get(bytes.fromhex(entry.name))
        chain, seq = (where[0].hex(), where[1]) if where else ("", None)
        folders.append(_Folder((0 if where else 1, chain, seq or 0, entry.name), chain, seq,
                               entry.name))
        names.update(dict.fromkeys(report["fields"]))
        slim[entry.name] = {k: report[k] for k in _LINK_KEYS if k in report}
    folders.sort(key=lambda f: f.order)
    return folders, names, slim


def _bound(row: dict[str, Any], columns: set[str], rid: str, left_out: list[str]) -> None:
    """Leave out of ``row`` each field without a column and each cell over MAX_CELL."""
    for column in list(row):
        name = column[len("field:"):] if column.startswith("field:") else column
        if column not in columns:
            why = (f"its name is longer than {MAX_FIELD_NAME} characters"
                   if len(name) > MAX_FIELD_NAME else
                   f"the directory's reports have more than {MAX_FIELD_COLUMNS} field names")
            left_out.append(f"report {rid}: field {name[:40]!r} left out of the tables: "
                            f"{why}; {_SEE}")
            del row[column]
            continue
        length = len(output.cell_text(row[column]))
        if length > MAX_CELL:
            row[column] = f"(left out: {length} characters; {_SEE})"
            left_out.append(f"report {rid}: {name[:40]!r} left out of the tables: longer than "
                            f"{MAX_CELL} characters ({length}); {_SEE}")


def _read_report(path: Path, rid: str, left_out: list[str]) -> dict[str, Any] | None:
    """A report folder's report.json, if it is a report (else a note in ``left_out``)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_READ + 1)
        if len(data) > MAX_READ:
            left_out.append(f"report {rid}: left out of the tables: its report.json is larger "
                            f"than {MAX_READ >> 20} MiB")
            return None
        text = data.decode("utf-8")
        del data
        strings = may_escape_surrogates(text)
        report = json.loads(text)
        del text
        if isinstance(report, dict) and shape_ok(report) and not not_writable(
                report, strings=strings):
            return report
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        pass
    left_out.append(f"report {rid}: left out of the tables: its report.json cannot be read "
                    "or is not a Skrynka report (edited?)")
    return None
