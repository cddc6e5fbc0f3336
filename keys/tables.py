"""The report plaintext's shape, and the tables rebuilt from every report folder.

``DIR/reports.csv`` and ``DIR/reports.jsonl`` list every report folder in the
output directory, ordered by server chain and sequence number;
``DIR/citations.csv`` every citation of a receipt code (keys.citations).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from keys import citations, output
from keys.receipt import MAX_CITES, is_code
from keys.state import State

MAX_REPORT_JSON = 16 << 20
_ID_DIR = re.compile(r"[0-9a-f]{32}")


class BadReport(ValueError):
    """The plaintext is not a Skrynka report."""


_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")  # two parsers could read two different reports
    return obj


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_report(raw: bytes | bytearray) -> dict[str, Any]:
    """The report plaintext as a dict, if it has the shape the server writes (SPEC 3.4):
    strict JSON (no duplicate keys, no NaN or Infinity, no lone surrogate) with the
    required keys."""
    try:
        report = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique,
                            parse_constant=_not_json)
        ok = _shape_ok(report)
    except (UnicodeDecodeError, ValueError, RecursionError, TypeError, AttributeError,
            KeyError):  # KeyError: "form", "fields" or "attachments" missing
        ok = False
    if not ok:
        raise BadReport("its plaintext is not a Skrynka report")
    if lone_surrogate(report):
        raise BadReport("report plaintext not valid: lone surrogate (a \\ud800-\\udfff "
                        "escape that is not half of a pair)")
    result: dict[str, Any] = report
    return result


def lone_surrogate(value: Any) -> bool:
    """Whether any string (key or value) in a parsed JSON value holds a lone surrogate:
    JSON may escape one (``"\\ud800"``) but it is no character and cannot be written
    as UTF-8. A pair of escapes becomes one character when parsed, so any surrogate
    left in a string is alone."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _shape_ok(report: Any) -> bool:
    form, fields, atts = report["form"], report["fields"], report["attachments"]
    fields_ok = isinstance(fields, dict) and all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(c, str) for c in v))
        for v in fields.values()
    )
    atts_ok = isinstance(atts, list) and all(
        isinstance(a, dict) and isinstance(a.get("id"), str) and bool(_HEX32.fullmatch(a["id"]))
        and isinstance(a.get("name"), str) and type(a.get("size")) is int
        and isinstance(a.get("envelope_sha256"), str)
        and bool(_HEX64.fullmatch(a["envelope_sha256"]))
        for a in atts
    )
    return bool(
        report.get("format") == "skrynka-report" and type(report.get("version")) is int
        and report["version"] == 1
        and isinstance(form, dict) and isinstance(form.get("id"), str)
        and type(form.get("version")) is int and isinstance(report.get("lang"), str)
        and isinstance(report.get("received_day"), str) and fields_ok and atts_ok
        and _receipts_ok(report)
    )


def _receipts_ok(report: dict[str, Any]) -> bool:
    """``receipt``, ``cites`` and ``form_nonce`` are optional (reports sealed before them
    have none), but well-formed when present: a code in its written form, a list of
    at most MAX_CITES such codes, 32 hex digits."""
    cites = report.get("cites", [])
    nonce = report.get("form_nonce", "0" * 32)
    return (
        ("receipt" not in report or is_code(report["receipt"]))
        and isinstance(cites, list) and len(cites) <= MAX_CITES and all(map(is_code, cites))
        and isinstance(nonce, str) and bool(_HEX32.fullmatch(nonce))
    )


def write_tables(out_dir: Path, state: State) -> citations.Links:
    """Rebuild DIR/reports.csv, DIR/reports.jsonl and DIR/citations.csv from every
    report folder; returns the links found between reports."""
    found: list[tuple[tuple[int, str, int, str], str, int | None, str, dict[str, Any]]] = []
    for entry in os.scandir(out_dir):
        if not _ID_DIR.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        report = _read_report(Path(entry.path) / output.REPORT_FILE)
        if report is None:
            continue
        where = state.ids.get(bytes.fromhex(entry.name))
        chain, seq = (where[0].hex(), where[1]) if where else ("", None)
        order = (0 if where else 1, chain, seq or 0, entry.name)
        found.append((order, chain, seq, entry.name, report))
    found.sort(key=lambda f: f[0])
    links = citations.link([(i, r) for _, _, _, i, r in found])
    columns, rows = output.table_rows(((c, s, i, r) for _, c, s, i, r in found), links)
    output.write_atomic(out_dir / "reports.csv", output.render_csv(columns, rows))
    output.write_atomic(out_dir / "reports.jsonl", output.render_jsonl(columns, rows))
    output.write_atomic(out_dir / citations.CITATIONS_FILE, output.render_csv(
        citations.CITATION_COLUMNS, links.rows))
    return links


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_REPORT_JSON + 1)
        report = json.loads(data.decode("utf-8"))
        return report if isinstance(report, dict) and _shape_ok(report) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
