"""Scenarios shared by the hostile tests (small counts) and bench/hostile_bench.py (soak).

Each scenario runs against a real gunicorn (testkit/liveserver.py), is bounded in
count and in time, and returns its figures; the caller asserts on them.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nacl.public import PrivateKey

from testkit.hostile.batch_reader import decrypt_batches
from testkit.hostile.client import LANGS, FormPage, ProtocolError, get_form, make_report, submit
from testkit.hostile.ledger import Ledger, Opened, Tally, percentile
from testkit.liveserver import LiveServer
from testkit.procfs import rss_kib

MIB = 1 << 20


@contextmanager
def live(tmp: Path, **env: str) -> Iterator[LiveServer]:
    srv = LiveServer.start(tmp, extra_env=env)
    try:
        yield srv
    finally:
        srv.stop()


# --- after a run: export, decrypt, look for leftovers ----------------------------------


def export(srv: LiveServer, out: Path) -> Path | None:
    """``python -m app export --out OUT``; None when there was nothing to export."""
    res = srv.run_app("export", "--out", str(out))
    if res.returncode != 0:
        if "nothing to export" in (res.stdout + res.stderr).lower():
            return None
        raise AssertionError(f"export failed ({res.returncode}): {res.stderr}{res.stdout}")
    if out.is_dir():
        files = sorted(p for p in out.iterdir() if p.is_file())
        assert len(files) == 1, f"export wrote {files}"
        return files[0]
    return out if out.exists() else None


class Exports:
    """Every batch exported from one server, in order, decrypted together."""

    def __init__(self, srv: LiveServer, where: Path) -> None:
        self.srv = srv
        self.where = where
        self.batches: list[Path] = []
        where.mkdir(parents=True, exist_ok=True)

    def export(self) -> None:
        path = export(self.srv, self.where / f"batch-{len(self.batches) + 1:03d}.skb")
        if path is not None:
            self.batches.append(path)

    def opened(self) -> list[Opened]:
        return decrypt_batches(self.batches, self.srv.analyst_key)


ORPHAN_PIECES = (
    "SELECT count(*) FROM blob_chunks WHERE attachment_id NOT IN"
    " (SELECT attachment_id FROM attachments)"
)
PIECELESS = (
    "SELECT count(*) FROM attachments WHERE attachment_id NOT IN"
    " (SELECT attachment_id FROM blob_chunks)"
)


def db_count(data: Path) -> int:
    db = sqlite3.connect(f"file:{data / 'skrynka.db'}?mode=ro", uri=True, timeout=30)
    try:
        return int(db.execute("SELECT count(*) FROM reports").fetchone()[0])
    finally:
        db.close()


def orphan_owners(data: Path) -> set[int]:
    """The pids that wrote pieces no attachment row owns (uploads in flight or cut off)."""
    db = sqlite3.connect(f"file:{data / 'skrynka.db'}?mode=ro", uri=True, timeout=30)
    try:
        return {int(r[0]) for r in db.execute(
            ORPHAN_PIECES.replace("count(*)", "DISTINCT owner"))}
    finally:
        db.close()


def orphans(data: Path) -> list[str]:
    """Ciphertext no committed report owns (pieces without an attachment row), and
    attachments whose pieces are missing; also any file of the old layout."""
    db = sqlite3.connect(f"file:{data / 'skrynka.db'}?mode=ro", uri=True, timeout=30)
    try:
        loose = int(db.execute(ORPHAN_PIECES).fetchone()[0])
        missing = int(db.execute(PIECELESS).fetchone()[0])
    finally:
        db.close()
    out = [f"{loose} orphan piece(s)"] if loose else []
    out += [f"{missing} attachment(s) without pieces"] if missing else []
    out += [f"{sub}/{p.name}" for sub in ("incoming", "blobs") if (data / sub).is_dir()
            for p in (data / sub).iterdir()]
    return out


# --- clients ------------------------------------------------------------------------


@dataclass
class Clients:
    """``n`` threads submitting reports until stopped or ``total`` is reached."""

    srv: LiveServer
    ledger: Ledger
    n: int
    seed: int
    big_fraction: float = 0.0
    big_bytes: int = 0
    total: int | None = None
    timeout: float = 60.0
    on_outcome: Callable[[int], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    _issued: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _next(self) -> bool:
        with self._lock:
            if self.stop.is_set() or (self.total is not None and self._issued >= self.total):
                return False
            self._issued += 1
            return True

    def _run(self, i: int) -> None:
        rng = random.Random(self.seed * 7919 + i)
        forms: dict[str, FormPage] = {}
        while self._next():
            lang = rng.choice(LANGS)
            big = self.big_bytes and rng.random() < self.big_fraction
            report = make_report(rng, lang, attachment_bytes=self.big_bytes if big else 0,
                                 files=rng.randint(1, 2))
            form = forms.get(lang)
            if form is None:
                try:
                    form = forms[lang] = get_form(self.srv.port, lang, self.timeout)
                except (OSError, ProtocolError):
                    form = None  # submit() fetches it again and records the failure
            outcome = submit(self.srv.port, report, form=form, timeout=self.timeout)
            self.ledger.record(report, outcome)
            if self.on_outcome:
                self.on_outcome(outcome.status)
            if not outcome.acknowledged:
                forms.pop(lang, None)
                if outcome.status == 0:
                    time.sleep(rng.uniform(0.2, 0.5))  # the server is restarting

    def start(self) -> Clients:
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(self.n)]
        for t in self._threads:
            t.start()
        return self

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = sum(t.is_alive() for t in self._threads)
        if alive:
            raise AssertionError(f"{alive} client threads still running after {timeout} s")

    def finish(self, timeout: float) -> None:
        self.stop.set()
        self.join(timeout)


# --- 1. crash consistency ---------------------------------------------------------------


@dataclass
class CrashResult:
    tally: Tally
    worker_kills: int
    master_kills: int
    seconds: float
    statuses: dict[int, int]
    orphans_before_init: int
    orphans_after_init: list[str]
    recover_seconds: list[float]  # master kill -> serving again
    batches: list[Path] = field(default_factory=list)  # what was exported at the end
    key: PrivateKey | None = None  # the analyst key that opens them


def crash_run(tmp: Path, *, seconds: float, kills: int, clients: int, seed: int,
              big_fraction: float = 0.1, big_bytes: int = 2 * MIB) -> CrashResult:
    """Submit from ``clients`` threads while SIGKILLing workers and the master ``kills`` times."""
    rng = random.Random(seed)
    ledger = Ledger()
    worker_kills = master_kills = 0
    recover: list[float] = []
    started = time.monotonic()
    # a budget that cannot run out: this run is about crashes, not a full store
    srv = LiveServer.start(tmp, extra_env={"SKRYNKA_STORAGE_BUDGET_MB": "1000000"})
    try:
        crowd = Clients(srv, ledger, clients, seed, big_fraction, big_bytes).start()
        # kill moments at random, fixed up front so restarts do not stretch the run
        moments = sorted(rng.uniform(1.0, max(1.0, seconds - 3.0)) for _ in range(kills))
        for moment in moments:
            time.sleep(max(0.2, started + moment - time.monotonic()))
            workers = srv.pids()[1:]
            if workers and rng.random() < 0.6:
                os.kill(rng.choice(workers), signal.SIGKILL)
                worker_kills += 1
            else:
                t0 = time.monotonic()
                srv.restart()  # SIGKILL the process group, init (sweep), gunicorn again
                recover.append(time.monotonic() - t0)
                master_kills += 1
        time.sleep(max(0.0, started + seconds - time.monotonic()))
        crowd.finish(timeout=120)
        srv.kill_master()  # the last crash: leftovers of in-flight uploads stay
        before = len(orphans(srv.data))
        srv.restart()  # `python -m app init`, then gunicorn (its start-up sweep)
        after = orphans(srv.data)  # no client runs now, so nothing may be left
        exports = Exports(srv, tmp / "export")
        exports.export()
        tally = ledger.reconcile(exports.opened())
    finally:
        srv.stop()
    return CrashResult(tally, worker_kills, master_kills, time.monotonic() - started,
                       dict(ledger.statuses), before, after, recover, exports.batches,
                       srv.analyst_key)


# --- 3. load --------------------------------------------------------------------------------


@dataclass
class LoadRound:
    submissions: int
    seconds: float
    p50: float
    p99: float
    statuses: dict[int, int]
    rss_kib: dict[int, int]  # pid -> RSS after the round

    @property
    def throughput(self) -> float:
        return self.submissions / self.seconds if self.seconds else 0.0


def load_round(srv: LiveServer, ledger: Ledger, *, total: int, concurrency: int,
               seed: int, timeout: float = 600) -> LoadRound:
    before = len(ledger.latencies)
    statuses_before = dict(ledger.statuses)
    t0 = time.monotonic()
    crowd = Clients(srv, ledger, concurrency, seed, total=total, timeout=120).start()
    crowd.join(timeout)
    seconds = time.monotonic() - t0
    lat = ledger.latencies[before:]
    statuses = {k: v - statuses_before.get(k, 0) for k, v in ledger.statuses.items()
                if v - statuses_before.get(k, 0)}
    return LoadRound(total, seconds, percentile(lat, 0.5), percentile(lat, 0.99), statuses,
                     {pid: rss_kib(pid) for pid in srv.pids()})


# --- 2. full disk -------------------------------------------------------------------------


@contextmanager
def tmpfs(where: Path, size_mb: int) -> Iterator[bool]:
    """Mount a ``size_mb`` tmpfs on ``where``; yields False if mounting is not allowed."""
    import subprocess

    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs",
                          str(where)], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(where)], capture_output=True,
                              timeout=30).returncode == 0:
                break
            time.sleep(0.5)
        else:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill_disk(where: Path) -> Path:
    """Write a file in ``where`` until the filesystem is full; returns it (delete to free)."""
    filler = where / "filler"
    block = b"\xff" * (64 << 10)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError:
                break
        while True:  # the last partial block
            try:
                if os.write(fd, b"\xff" * 512) == 0:
                    break
            except OSError:
                break
    finally:
        os.close(fd)
    return filler


def wait_workers(srv: LiveServer, n: int = 2, timeout: float = 30.0) -> list[int]:
    """The master and its ``n`` workers once all are up (master first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = srv.pids()
        if len(pids) == n + 1:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"gunicorn has {srv.pids()} after {timeout} s, not master + {n}")
