"""``python -m keys summary DIR``: the summary folder of a decrypt output directory.

Reads every report folder of DIR (through the cache, keys.findings.records),
counts (keys.findings.counts) and writes OUTDIR: index.html, style.css,
lists/*.html, reports/*.html and tables/*.csv. Every run renders the index, lists and
tables from the records, and each report page whose fingerprint changed
(keys.findings.pagecache); it writes only files whose bytes changed and removes pages
no report needs any more, so a run after more batches were decrypted gives exactly
what a fresh run gives. The folder can always be made again, so files (0600) are not
fsynced one by one; a file that changes is replaced atomically.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from keys import output
from keys.errors import OutputError, SummaryError
from keys.findings import csvs, evidence_pages
from keys.findings.counts import Tally, tally
from keys.findings.evidence import Evidence, gather
from keys.findings.form import default_form_path, load_form
from keys.findings.index import index_page
from keys.findings.labels import Labels
from keys.findings.official import load_official, outputs
from keys.findings.page import STYLE, STYLE_FILE
from keys.findings.pagecache import PageCache
from keys.findings.pages import find_links, list_pages, report_page, up_to
from keys.findings.records import CACHE_FILE, Scan, scan
from keys.findings.sources import section, sources
from keys.state import STATE_FILE

SUBDIRS = ("lists", "reports", "tables")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_THREADS = 4
_MAX_PENDING = 512
_OURS = re.compile(r"[A-Za-z0-9_.-]+\.(html|csv)|\..+\.tmp-[0-9a-f]{16}")
_NOT_DECRYPT_HINT = ("give the folder `python -m keys decrypt --out` wrote: it holds "
                     f"{STATE_FILE} and one folder per report")


@dataclass
class Result:
    out_dir: Path
    reports: int = 0
    parsed: int = 0  # report.json files read this run (the others came from the cache)
    written: int = 0  # files whose bytes changed
    rendered: int = 0  # report pages rendered (the others were unchanged: pagecache)
    removed: int = 0
    left_out: list[str] = field(default_factory=list)
    form: Path | None = None
    examined: int = 0  # reports whose attachments were examined this run
    groups: int = 0  # incident groups of more than one report
    gps: int = 0  # reports with a photo that carries a location

    def line(self) -> str:
        return (f"summary of {self.reports} reports in {self.out_dir} ({self.parsed} read, "
                f"the rest from its cache; {self.written} files written, {self.removed} "
                f"removed); {len(self.left_out)} report folders left out; {self.groups} "
                f"incidents with more than one report; {self.gps} reports with photos that "
                "carry a location (see its GPS list before sharing anything)")


def summarize(in_dir: Path, out_dir: Path | None = None, lang: str = "en",
              form_path: Path | None = None, official_path: Path | None = None) -> Result:
    """Write the summary of ``in_dir`` into ``out_dir`` (default ``in_dir/summary``);
    with ``official_path``, the official per-station figures beside the counting reports
    (keys.findings.official)."""
    _check_input(in_dir)
    out_dir = in_dir / "summary" if out_dir is None else out_dir
    form = load_form(form_path if form_path is not None else default_form_path())
    official = load_official(official_path, Labels(form, lang)) if official_path else None
    _prepare(in_dir, out_dir)
    found = scan(in_dir, out_dir / CACHE_FILE)
    labels = Labels(form, lang)
    counted = tally(found.records)
    evidence = gather(in_dir, out_dir, counted.records, found.stamps)
    result = Result(out_dir, len(found.records), found.parsed, left_out=found.left_out,
                    form=form.path, examined=evidence.examined,
                    groups=sum(len(g.report_ids) > 1 for g in evidence.groups),
                    gps=len(evidence.gps_reports()))
    writer = _Writer(out_dir, result)
    try:
        pages = _render(writer, in_dir, found, counted, labels, evidence, official is not None)
        if official is not None:
            for name, data in outputs(counted, official, labels).items():
                writer.put(name, data)
        writer.sweep()  # waits for every write first
        pages.save()
    finally:
        writer.pool.shutdown(wait=True, cancel_futures=True)
    return result


def _render(writer: _Writer, in_dir: Path, found: Scan, counted: Tally, labels: Labels,
            evidence: Evidence, official: bool = False) -> PageCache:
    """Put every file of the summary; the report pages' cache is saved by the caller
    once every write has succeeded."""
    left_out, stamps = found.left_out, found.stamps
    writer.put(STYLE_FILE, STYLE.encode("utf-8"))
    tables = {**csvs.all_tables(counted, labels), **evidence_pages.tables(evidence)}
    for name, data in tables.items():
        writer.put(f"tables/{name}", data)
    for name, text in [*list_pages(counted, labels), *evidence_pages.list_pages(evidence, labels)]:
        writer.put(f"lists/{name}", text.encode("utf-8"))
    links, up = find_links(counted.records), up_to(in_dir, writer.out)
    cache = PageCache(writer.out, labels, up)
    for record in counted.records:
        name = f"reports/{record.id}.html"
        fp = cache.fingerprint(record, stamps[record.id], links, evidence)
        if cache.fresh(record.id, fp):
            writer.kept.add(name)
            continue
        writer.result.rendered += 1
        writer.put(name, report_page(record, labels, links, up, evidence).encode("utf-8"),
                   done=partial(cache.written, record.id, fp))
    origin = section(sources(in_dir, (r.id for r in counted.records)), labels)
    writer.put("index.html", index_page(counted, labels, left_out, evidence, official,
                                        origin).encode("utf-8"))
    return cache


def _check_input(in_dir: Path) -> None:
    if not in_dir.is_dir():
        raise SummaryError(f"{in_dir} is not a directory", hint=_NOT_DECRYPT_HINT)
    if not (in_dir / STATE_FILE).is_file():
        raise SummaryError(f"{in_dir} is not a decrypt output directory (no {STATE_FILE})",
                           hint=_NOT_DECRYPT_HINT)


def _prepare(in_dir: Path, out_dir: Path) -> None:
    """Make OUTDIR and its folders; refuse a symlink or a file where one should be."""
    if out_dir.resolve() == in_dir.resolve():
        raise SummaryError("the summary cannot be written into DIR itself",
                           hint="leave --out out (DIR/summary) or give another folder")
    for path in [out_dir] + [out_dir / d for d in SUBDIRS]:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise SummaryError(f"{path} is not a folder (a file or a symlink)",
                                   hint="move it aside, or give --out another folder") from None
        except OSError as exc:
            raise SummaryError(f"cannot create {path}: {exc.strerror}",
                               hint="check the path and its permissions") from None


class _Writer:
    """Writes files whose bytes changed; :meth:`sweep` removes what this run did not write.

    A file not there yet is created in place (0600, ``O_EXCL``: a file an interrupted
    run left half-written differs, so the next run replaces it); a file that is there
    is read, and replaced atomically (temp file, rename) only if its bytes differ."""

    def __init__(self, out_dir: Path, result: Result) -> None:
        self.out = out_dir
        self.result = result
        self.kept: set[str] = set()
        self.present = {f"{sub}/{e.name}" for sub in SUBDIRS for e in os.scandir(out_dir / sub)}
        self.present |= {e.name for e in os.scandir(out_dir)}
        self.pool = ThreadPoolExecutor(_THREADS)
        self.pending: list[Future[bool]] = []

    def close(self) -> None:
        """Wait for every write (raising the first error), then stop the threads."""
        try:
            self._collect(self.pending)
        finally:
            self.pending = []
            self.pool.shutdown(wait=True, cancel_futures=True)

    def put(self, name: str, data: bytes, done: Callable[[str], None] | None = None) -> None:
        """Write ``name`` (by a thread of the pool: creating files waits on the disk);
        then, in that thread, ``done(path)``."""
        self.kept.add(name)
        if len(self.pending) >= _MAX_PENDING:
            self._collect(self.pending[: _MAX_PENDING // 2])
            del self.pending[: _MAX_PENDING // 2]
        self.pending.append(self.pool.submit(self._put, name, data, done))

    def _collect(self, futures: list[Future[bool]]) -> None:
        self.result.written += sum(f.result() for f in futures)  # re-raises a write's error

    def _put(self, name: str, data: bytes, done: Callable[[str], None] | None) -> bool:
        path = os.path.join(self.out, name)
        changed = True
        if name not in self.present:
            output.write_new(Path(path), data, sync=False)
        elif not self._same(path, data):
            self._replace(path, data)
        else:
            changed = False
        if done is not None:
            done(path)
        return changed

    @staticmethod
    def _same(path: str, data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                return f.read(len(data) + 1) == data
        except OSError:
            return False

    @staticmethod
    def _replace(path: str, data: bytes) -> None:
        head, tail = os.path.split(path)
        tmp = os.path.join(head, f".{tail}.tmp-{os.urandom(8).hex()}")
        try:
            output.write_new(Path(tmp), data, sync=False)
            os.replace(tmp, path)
        except (OSError, OutputError) as exc:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            reason = exc.strerror if isinstance(exc, OSError) else exc.message
            raise SummaryError(f"cannot write {path}: {reason}",
                               hint="check the free disk space and permissions") from None

    def sweep(self) -> None:
        self.close()
        for sub in SUBDIRS:
            for entry in os.scandir(self.out / sub):
                name = f"{sub}/{entry.name}"
                if name not in self.kept and _OURS.fullmatch(entry.name) \
                        and not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.path)
                    self.result.removed += 1
