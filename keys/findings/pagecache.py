"""Which report pages a run need not render again: ``OUTDIR/.pages.json``.

A report page depends on the report (its report.json's modification time and size, as
keys.findings.records keys its cache), its attachments' evidence, the reports it cites and
that cite it, its incident group, the form and language, the way to DIR, and the code that
renders it. All of that goes into one fingerprint per page. The cache keeps, per report,
the fingerprint with the size and modification time of the page file as written; a later
run skips a page only if all three still match, so a page deleted or edited since is
written again, and the output stays what a fresh run gives (``make bench``, "keys summary":
a run with nothing new no longer renders and compares 100,000 pages).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from keys.findings import cachefile
from keys.findings.evidence import Evidence, Item
from keys.findings.labels import Labels
from keys.findings.pages import Links
from keys.findings.records import Record

CACHE = ".pages.json"
_FORMAT = "skrynka-summary-pages"
_VERSION = 1
#: the modules whose code shapes a report page (a change to any renders every page again)
_RENDERERS = ("keys.findings.pages", "keys.findings.page", "keys.findings.evidence_pages",
              "keys.findings.evidence", "keys.findings.labels", "keys.findings.words",
              "keys.findings.pagecache")


def _renderers_digest() -> bytes:
    h = hashlib.sha256()
    for name in _RENDERERS:
        module = sys.modules[name]
        h.update(Path(str(module.__file__)).read_bytes())
    return h.digest()


class PageCache:
    """The fingerprints of the last run's report pages, and this run's."""

    def __init__(self, out_dir: Path, labels: Labels, up_to_dir: str) -> None:
        self.path = out_dir / CACHE
        self.reports_dir = out_dir / "reports"
        self.base = hashlib.blake2b(
            _renderers_digest() + repr((labels.lang, labels.form, up_to_dir)).encode("utf-8"),
            digest_size=16).digest()
        self.old = cachefile.load(self.path, _FORMAT, _VERSION)
        self.files = self._stat_pages() if self.old else {}
        self.new: dict[str, Any] = {}

    def _stat_pages(self) -> dict[str, tuple[int, int]]:
        """name -> (size, mtime_ns) of the regular files in reports/ now."""
        found = {}
        for entry in os.scandir(self.reports_dir):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                found[entry.name] = (st.st_size, st.st_mtime_ns)
        return found

    def fingerprint(self, record: Record, stamp: list[int], links: Links,
                    evidence: Evidence) -> str:
        rid = record.id
        group = evidence.group_of.get(rid)
        shared = None if group is None or len(group.report_ids) < 2 else (
            group.id, group.report_ids, group.independent, group.reasons)
        parts = (stamp, [links.by_code.get(code) for code in record.cites],
                 links.cited_by.get(rid), links.same_form.get(rid), shared,
                 _items(evidence.items.get(rid)))
        return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=16,
                               key=self.base).hexdigest()

    def fresh(self, rid: str, fp: str) -> bool:
        """Whether reports/<rid>.html is the page of ``fp``, unchanged since it was written
        (then it is kept in the new cache as it is)."""
        entry = self.old.get(rid)
        if not (isinstance(entry, list) and len(entry) == 3 and entry[0] == fp
                and self.files.get(f"{rid}.html") == (entry[1], entry[2])):
            return False
        self.new[rid] = entry
        return True

    def written(self, rid: str, fp: str, path: str) -> None:
        """Note the page just written (or found to be the same) at ``path``."""
        st = os.stat(path, follow_symlinks=False)
        self.new[rid] = [fp, st.st_size, st.st_mtime_ns]

    def save(self) -> None:
        if self.new != self.old:
            cachefile.save(self.path, _FORMAT, _VERSION, self.new)


def _items(items: list[Item] | None) -> str:
    """The attachments' evidence as text that does not depend on whether it came from
    the evidence cache (which keeps the facts in sorted order) or was just examined."""
    if not items:
        return ""
    return json.dumps([dataclasses.asdict(i) for i in items], sort_keys=True)
