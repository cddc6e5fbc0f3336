"""The evidence part of the summary (issue 16, parts 2 and 3), from keys.evidence.

For every report with attachments: each attachment's SHA-256 as it arrived (the
evidentiary copy, never modified), and for images a metadata report (device, serial
numbers, capture time, GPS, software, C2PA/ProofMode) and a working copy with the
metadata removed, in ``OUTDIR/shared/<report id>/`` (written only when
keys.evidence.scrub.verify_clean finds nothing left). ``OUTDIR/.evidence.json`` keeps
what was found per report, keyed by its report.json's modification time and size (as
keys.findings.records saw them), so a later run looks only at new or changed reports.
Then every report goes into exactly one corroboration group (keys.evidence.groups),
from the cached facts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from keys.evidence.groups import Group, ReportInfo, group_reports, report_info
from keys.evidence.scrub import AttachmentEvidence, process_report_folder
from keys.findings import cachefile
from keys.findings.records import Record

SHARED = "shared"
POOL_FROM = 200  # reports to examine before the work is shared among processes
MAX_WORKERS = 8
CHUNK = 32
CACHE = ".evidence.json"
_FORMAT = "skrynka-summary-evidence"
_VERSION = 1
FACTS = ("format", "width", "height", "make", "model", "body_serial", "lens_model",
          "lens_serial", "owner", "unique_id", "software", "capture_time", "gps_lat", "gps_lon")


@dataclass
class Item:
    """One attachment, as the pages show it."""

    file: str
    kind: str  # image, other, missing, damaged
    sha256: str = ""
    size: int = 0
    gps: bool = False
    c2pa: bool = False
    proofmode: bool = False
    facts: dict[str, Any] = field(default_factory=dict)  # the non-empty FACTS
    identifying: list[str] = field(default_factory=list)
    phash: int | None = None
    shared: str = ""  # the scrubbed copy's file name in shared/<report id>/, if written
    shared_sha256: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class Evidence:
    items: dict[str, list[Item]]  # report id -> its attachments
    groups: list[Group]
    group_of: dict[str, Group]
    examined: int = 0  # reports whose attachments were read this run

    def gps_reports(self) -> list[str]:
        return sorted(rid for rid, items in self.items.items() if any(i.gps for i in items))


def _item(ev: AttachmentEvidence) -> Item:
    facts = ev.facts
    item = Item(ev.name, ev.kind, ev.sha256 or "", ev.size, ev.gps, phash=ev.phash,
                shared=ev.scrubbed_name or "", shared_sha256=ev.scrubbed_sha256 or "",
                problems=list(ev.problems))
    if facts is not None:
        item.c2pa, item.proofmode = facts.has_c2pa, facts.proofmode
        item.facts = {k: getattr(facts, k) for k in FACTS if getattr(facts, k) is not None}
        item.identifying = facts.identifying
    return item


def _examine(in_dir: Path, out_dir: Path, rid: str) -> list[Item]:
    target = out_dir / SHARED / rid
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)  # an earlier, changed or interrupted run's copies
    return [_item(e) for e in process_report_folder(in_dir / rid, target, sync=False)]


def _examine_all(in_dir: Path, out_dir: Path, todo: list[str]) -> list[list[Item]]:
    """:func:`_examine` for each report in ``todo``, in order. Reading, hashing and
    scrubbing photos is most of a fresh summary's time and each report is independent,
    so with many to do they are shared among one process per CPU (`make bench`,
    "keys summary": 10,000 photos among 100,000 reports on 2 cores, see the README)."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if workers < 2 or len(todo) < POOL_FROM:
        return [_examine(in_dir, out_dir, rid) for rid in todo]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_examine, repeat(in_dir), repeat(out_dir), todo,
                             chunksize=CHUNK))


def gather(in_dir: Path, out_dir: Path, records: list[Record],
           report_stamps: dict[str, list[int]]) -> Evidence:
    """Examine what is new, reuse the cache for the rest, and group every report."""
    cached = cachefile.load(out_dir / CACHE, _FORMAT, _VERSION)
    os.makedirs(out_dir / SHARED, mode=0o700, exist_ok=True)
    keep: dict[str, Any] = {}
    items: dict[str, list[Item]] = {}
    stamps: dict[str, list[int]] = {}
    for r in records:
        if not r.attachments:
            continue
        stamps[r.id], entry = report_stamps[r.id], cached.get(r.id)
        if isinstance(entry, dict) and entry.get("stamp") == stamps[r.id]:
            with contextlib.suppress(TypeError, KeyError):  # a damaged cache: examine again
                items[r.id] = [Item(**i) for i in entry["items"]]
    todo = [rid for rid in stamps if rid not in items]
    items.update(zip(todo, _examine_all(in_dir, out_dir, todo)))
    for rid, stamp in stamps.items():
        keep[rid] = {"stamp": stamp, "items": [dataclasses.asdict(i) for i in items[rid]]}
    for entry in os.scandir(out_dir / SHARED):
        if entry.name not in items and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)  # a report no longer in DIR
    if todo or keep.keys() != cached.keys():  # else it would be written as it is
        cachefile.save(out_dir / CACHE, _FORMAT, _VERSION, keep)
    groups = group_reports([_info(r, items.get(r.id, [])) for r in records])
    group_of = {rid: g for g in groups for rid in g.report_ids}
    return Evidence(items, groups, group_of, len(todo))


def _info(r: Record, items: list[Item]) -> ReportInfo:
    """What grouping needs of a report: keys.evidence.groups.report_info's rule, from the
    cached record and the cached attachment hashes (no file is read again)."""
    info = report_info(r.id, {"fields": r.fields, "receipt": r.receipt, "cites": r.cites,
                              "form_nonce": r.form_nonce})
    info.files = [i.sha256 for i in items if i.sha256]
    info.hashes = [i.phash for i in items if i.phash is not None]
    return info
