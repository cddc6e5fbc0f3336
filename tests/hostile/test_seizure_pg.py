"""A seized PostgreSQL server: what its data directory tells about when reports arrived.

Issue 13 (part 1): SECURITY.md promises that only the coarse day of arrival is
kept; with PostgreSQL that promise cannot hold, and SECURITY.md must say exactly
what a seizer recovers. This test measures it instead of assuming it.

The real gunicorn serves the real app on its own PostgreSQL cluster (default
settings, except fsync off for speed, which changes no byte PostgreSQL writes).
Three reports are sent about 1.5 s apart, each with its window (time.time()
just before the POST and just after the receipt). The data directory is then
read as a seizer would, with testkit/seizure_pg.py, in five states:

- ``running``: right after the last receipt, server and database running (what a
  disk imaged live, or unplugged before the next checkpoint, holds);
- ``checkpointed``: after ``CHECKPOINT``;
- ``stopped``: gunicorn stopped, then PostgreSQL stopped cleanly (``pg_ctl stop``);
- ``recycled``: PostgreSQL started again as it was, then ``SELECT pg_switch_wal();
  CHECKPOINT;`` (``wal_recycle = on``, the default);
- ``purged``: PostgreSQL restarted with ``wal_recycle = off``, then the same twice
  (docs/postgresql.md's mitigation).

The findings (JSON in the test's tmp directory, also printed) are turned into
claims, and SECURITY.md's PostgreSQL part (between the ``postgresql-seizure``
markers) must state each true claim's sentence and none of the false ones: a new
leak fails the test until it is documented, and so does a documented leak the
test no longer finds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from testkit.live_client import Multipart, get_form, post, report_fields, token
from testkit.liveserver import ROOT, LiveServer
from testkit.pg import Cluster
from testkit.seizure_pg import (
    Window,
    commit_times,
    heap_xmins,
    insert_xids,
    log_hits,
    raw_times,
    stat_hits,
    waldump,
)

REPORTS = 3
STATES = ("running", "checkpointed", "stopped", "recycled", "purged")
SPACING = 1.5  # seconds between reports: no two windows share a second
SETTLE = 0.3  # seconds before the first look: our own reads' atimes are not a report's
QUIET = 1.2  # seconds of no report before a checkpoint (its time is not a report's)
SETTINGS = ("fsync=off",)
SWITCH = ("SELECT pg_switch_wal()", "CHECKPOINT")
BEGIN = "<!-- postgresql-seizure: begin"
END = "<!-- postgresql-seizure: end -->"

#: claim -> (SECURITY.md's sentence when true, its sentence when false or None)
CLAIMS: dict[str, tuple[str, str | None]] = {
    "wal_commit_times": (
        "the WAL holds each report's commit time to the microsecond", None),
    "kept_after_checkpoint": ("A checkpoint does not remove them", None),
    "kept_after_shutdown": ("nor does stopping PostgreSQL cleanly", None),
    "recycled_keeps": (
        "with `wal_recycle = on` (the default) the checkpoint after `pg_switch_wal()` "
        "renames the old segment for reuse with its commit records intact", None),
    "kept_after_switch": (
        "even `pg_switch_wal()` and a checkpoint leave them in `pg_wal`",
        "`SELECT pg_switch_wal(); CHECKPOINT;` with `wal_recycle = off` removes the "
        "segment files that held them from `pg_wal`"),
    "wal_inserts_link": (
        "the WAL's insert records into the reports table carry the same transaction ids", None),
    "xmin_links": ("each row's `xmin` names the transaction that stored it", None),
    "wal_segment_mtime": (
        "the modification time of the WAL segment being written is the time of the "
        "latest commit", None),
    "table_mtime_checkpoint": (
        "the reports table's file has the modification time of the checkpoint that wrote it",
        None),
    "table_files_grew": (
        "Until a checkpoint writes them, the modification and access times of the reports "
        "table's files (table and indexes) can be a report's arrival", None),
    "other_file_times": (
        "other files' times in the data directory fall inside a report's arrival",
        "no other file or directory had a time inside a report's arrival"),
    "raw_outside_wal": (
        "bytes outside `pg_wal` hold a report's arrival time",
        "no byte outside `pg_wal` held a report's arrival time"),
    "log_lines": (
        "PostgreSQL's log has a line stamped at a report's arrival",
        "with the default logging settings PostgreSQL's log has no line stamped at a "
        "report's arrival"),
    "commit_ts": (
        "`pg_commit_ts` holds commit times",
        "`pg_commit_ts` stays empty (`track_commit_timestamp = off`, the default)"),
}


def _sql(url: str, *statements: str) -> list[Any]:
    """Run each statement in autocommit; the rows of each SELECT (None for others)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    out: list[Any] = []
    try:
        with engine.connect() as conn:
            for s in statements:
                result = conn.exec_driver_sql(s)
                out.append(result.fetchall() if s.lstrip().startswith("SELECT") else None)
    finally:
        engine.dispose()
    return out


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster.create(prefix="skrynka-seize-")
    try:
        c.start(SETTINGS)
        _sql(c.url(), "CREATE DATABASE skrynka")
        yield c
    finally:
        c.stop("immediate")
        c.remove()


def _send_reports(server: LiveServer) -> list[Window]:
    windows: list[Window] = []
    for n in range(REPORTS):
        if windows:
            time.sleep(max(0.0, windows[-1].after + SPACING - time.time()))
        page = get_form(server.port, "en")
        body = Multipart(page.hidden + report_fields(f"seizure {n} {token('pg')}"))
        before = time.time()
        resp = post(server.port, page.action, body)
        after = time.time()
        assert resp.is_receipt, (resp.status, resp.text[:300])
        windows.append(Window(before, after))
    return windows


#: Every file of the app's tables, their indexes and TOAST tables, named for what it is.
RELATION_FILES = """
SELECT CASE WHEN c.relnamespace = 'public'::regnamespace THEN c.relname
            ELSE 'toast of ' || coalesce(o.relname, '?') END,
       pg_relation_filepath(c.oid)
FROM pg_class c
LEFT JOIN pg_class o ON c.relname IN ('pg_toast_' || o.oid, 'pg_toast_' || o.oid || '_index')
WHERE c.relnamespace IN ('public'::regnamespace, 'pg_toast'::regnamespace)
  AND c.relkind IN ('r', 'i', 't') AND (c.relnamespace = 'public'::regnamespace
  OR o.relnamespace = 'public'::regnamespace)
"""


def _name(path: str, files: dict[str, str]) -> str:
    """A path with the parts that differ between runs named by what they are."""
    if path in files:
        return f"<{files[path]} file>"
    return re.sub(r"^pg_wal/[0-9A-F]{24}$", "pg_wal/<segment>", path)


def examine(c: Cluster, files: dict[str, str], windows: list[Window]) -> dict[str, Any]:
    """Everything the data directory gives away now (file times read first)."""
    times = stat_hits(c.data, windows)
    records = waldump(c.bin, c.data / "pg_wal")
    commits = commit_times(records)
    matched = {n: [x for x, t in commits.items() if w.holds(t)]
               for n, w in enumerate(windows, 1)}
    table = next(path for path, name in files.items() if name == "reports")
    return {
        "report_commits": matched,
        "commit_times": {str(x): f"{commits[x]:.6f}" for xs in matched.values() for x in xs},
        "wal_insert_xids": sorted(insert_xids(records, "1663/" + table.split("/", 1)[1])),
        "heap_xmins": sorted(heap_xmins(c.data / table)),
        "stat_hits": {_name(p, files): v for p, v in times.items()},
        "raw_hits": {_name(p, files): v for p, v in raw_times(c.data, windows).items()},
        "log_hits": log_hits(c.log, windows),
        "pg_commit_ts": sorted(p.name for p in (c.data / "pg_commit_ts").iterdir()),
        "table_mtime": (c.data / table).stat().st_mtime,
        "wal_mtimes": {p.name: p.stat().st_mtime for p in (c.data / "pg_wal").iterdir()},
    }


def _timed(action: Callable[[], object]) -> Window:
    before = time.time()
    action()
    return Window(before, time.time())


def seize(c: Cluster, server: LiveServer, files: dict[str, str],
          windows: list[Window]) -> dict[str, Any]:
    url = c.url("skrynka")
    found: dict[str, Any] = {"windows": [[w.before, w.after] for w in windows]}
    time.sleep(SETTLE)  # the coarse clock that stamps files must pass the last window
    found["running"] = examine(c, files, windows)
    time.sleep(max(0.0, windows[-1].after + QUIET - time.time()))
    found["checkpoint"] = asdict(_timed(lambda: _sql(url, "CHECKPOINT")))
    found["checkpointed"] = examine(c, files, windows)
    server.stop()
    c.stop("fast")
    found["stopped"] = examine(c, files, windows)
    c.start(SETTINGS)  # wal_recycle = on, the default
    _sql(url, *SWITCH)
    found["recycled"] = examine(c, files, windows)
    c.stop("fast")
    c.start((*SETTINGS, "wal_recycle=off"))
    _sql(url, *SWITCH, *SWITCH)  # twice: WAL must also pass the segment recycled above
    found["purged"] = examine(c, files, windows)
    return found


def _all_found(state: dict[str, Any]) -> bool:
    """Each report's window holds exactly one commit record's time."""
    return all(len(xids) == 1 for xids in state["report_commits"].values())


def claims(found: dict[str, Any]) -> dict[str, bool]:
    states = [found[s] for s in STATES]
    running = found["running"]
    xids = {x for xs in running["report_commits"].values() for x in xs}
    ckpt = Window(found["checkpoint"]["before"], found["checkpoint"]["after"])
    table_times = [p for p in running["stat_hits"] if p.startswith("<")]
    other_times = [p for s in states for p in s["stat_hits"]
                   if p != "pg_wal/<segment>" and not p.startswith("<")]
    return {
        "wal_commit_times": _all_found(running),
        "kept_after_checkpoint": _all_found(found["checkpointed"]),
        "kept_after_shutdown": _all_found(found["stopped"]),
        "recycled_keeps": not any(found["recycled"]["report_commits"].values())
        and "pg_wal/<segment>" in found["recycled"]["raw_hits"],
        "kept_after_switch": any(found["purged"]["report_commits"].values())
        or "pg_wal/<segment>" in found["purged"]["raw_hits"],
        "wal_inserts_link": bool(xids) and xids <= set(running["wal_insert_xids"]),
        "xmin_links": bool(xids) and all(
            xids <= set(found[s]["heap_xmins"]) for s in STATES[1:]),
        "wal_segment_mtime": any(
            "mtime report 3" in v for p, v in running["stat_hits"].items()
            if p == "pg_wal/<segment>"),
        "table_mtime_checkpoint": ckpt.holds(found["checkpointed"]["table_mtime"]),
        "table_files_grew": bool(table_times),
        "other_file_times": bool(other_times),
        "raw_outside_wal": any(p != "pg_wal/<segment>" for s in states for p in s["raw_hits"]),
        "log_lines": any(s["log_hits"] for s in states),
        "commit_ts": any(s["pg_commit_ts"] for s in states),
    }


def security_section() -> str:
    text = (ROOT / "SECURITY.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "SECURITY.md lost its markers"
    return " ".join(text.split(BEGIN, 1)[1].split(END, 1)[0].split())


def mismatches(found: dict[str, bool], section: str) -> list[str]:
    """What SECURITY.md's section says wrongly or leaves out, claim by claim."""
    wrong = []
    for name, holds in found.items():
        said_true, said_false = CLAIMS[name]
        if holds != (said_true in section):
            wrong.append(f"{name} is {holds}: SECURITY.md must "
                         f"{'say' if holds else 'not say'} {said_true!r}")
        if said_false is not None and (not holds) != (said_false in section):
            wrong.append(f"{name} is {holds}: SECURITY.md must "
                         f"{'not say' if holds else 'say'} {said_false!r}")
    return wrong


def test_security_md_check_fails_both_ways() -> None:
    """A leak SECURITY.md leaves out fails, and so does one it claims that is gone."""
    empty = {"report_commits": {}, "wal_insert_xids": [], "heap_xmins": [], "stat_hits": {},
             "raw_hits": {}, "log_hits": [], "pg_commit_ts": [], "table_mtime": 0.0}
    assert set(claims({**{s: empty for s in STATES},
                       "checkpoint": {"before": 1.0, "after": 2.0}})) == set(CLAIMS)
    section = security_section()
    assert mismatches({"wal_commit_times": True}, section) == []
    assert mismatches({"wal_commit_times": False}, section)  # claimed, not found
    assert mismatches({"log_lines": False}, section) == []
    assert mismatches({"log_lines": True}, section)  # found, not documented
    assert mismatches({"log_lines": True}, section.replace(CLAIMS["log_lines"][1], "")
                      + CLAIMS["log_lines"][0]) == []


@pytest.mark.postgres
def test_what_a_seized_postgresql_data_directory_reveals(
    cluster: Cluster, tmp_path: Path
) -> None:
    started = time.monotonic()
    with LiveServer.start(tmp_path, extra_env={
        "SKRYNKA_DATABASE_URL": cluster.url("skrynka")}) as server:
        files = {path: name for name, path in _sql(cluster.url("skrynka"), RELATION_FILES)[0]}
        windows = _send_reports(server)
        found = seize(cluster, server, files, windows)
    found["claims"] = claims(found)
    (tmp_path / "seizure_pg.json").write_text(json.dumps(found, indent=2, sort_keys=True))
    print(json.dumps(found, indent=2, sort_keys=True))

    wrong = mismatches(found["claims"], security_section())
    assert not wrong, "\n".join(wrong) + f"\nfindings: {tmp_path / 'seizure_pg.json'}"
    assert time.monotonic() - started < 60
