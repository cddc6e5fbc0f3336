"""Hostile-condition figures (issue 5): crashes, load, damaged batches, a tor kill.

``make bench`` runs short versions, ``make soak`` long ones; every loop is
bounded in count and in time. Figures:

- crash: reports attempted / acknowledged / recovered / lost under SIGKILL of
  gunicorn workers and master, orphans left after start-up, restart seconds;
- load: 64 concurrent voters, throughput, p50/p99 latency, 5xx, lost, peak RSS
  of any gunicorn process and RSS growth over the last equal round;
- batch mutations: damaged batches through ``keys.decrypt`` (all must end cleanly);
- tor: seconds from SIGKILL of the onion service's tor to the onion answering
  again (private Tor network of testkit/tornet.py; the row is left out if tor is
  missing).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import Row
from testkit.hostile.ledger import Ledger
from testkit.hostile.mutations import Unclean, run_mutations
from testkit.hostile.scenarios import Exports, crash_run, load_round, wait_workers
from testkit.liveserver import LiveServer
from testkit.procfs import rss_kib

GROUP = "hostile"
SEED = int(os.environ.get("HOSTILE_SEED", "20261124"))


def log(msg: str) -> None:
    print(f"bench: hostile: {msg}", file=sys.stderr, flush=True)


def crash_rows(tmp: Path, soak: bool) -> list[Row]:
    seconds, kills, clients, big = (300, 60, 16, 0.05) if soak else (30, 6, 8, 0.1)
    log(f"crash: {clients} clients, {kills} SIGKILLs over {seconds} s")
    res = crash_run(tmp, seconds=seconds, kills=kills, clients=clients, seed=SEED,
                    big_fraction=big)
    t = res.tally
    if t.problems:
        log("crash problems: " + "; ".join(t.problems[:10]))
    restart = max(res.recover_seconds) if res.recover_seconds else 0.0
    return [
        Row(GROUP, "crash: SIGKILLs (workers + master)", res.worker_kills + res.master_kills,
            "kills"),
        Row(GROUP, "crash: submissions attempted", t.attempted, "reports"),
        Row(GROUP, "crash: acknowledged (receipt delivered)", t.acknowledged, "reports"),
        Row(GROUP, "crash: recovered intact after export", t.recovered, "reports",
            target="== acknowledged", ok=t.recovered == t.acknowledged),
        Row(GROUP, "crash: lost", t.lost, "reports", target="== 0",
            ok=t.lost == 0 and not t.problems),
        Row(GROUP, "crash: cut off by a kill or refused while restarting",
            res.statuses.get(0, 0), "attempts"),
        Row(GROUP, "crash: other answers than the receipt",
            sum(n for s, n in res.statuses.items() if s not in (0, 303)), "answers",
            target="== 0", ok=set(res.statuses) <= {0, 303}),
        Row(GROUP, "crash: unacknowledged but stored (complete)", t.unacked_present, "reports"),
        Row(GROUP, "crash: orphans after start-up", len(res.orphans_after_init), "items",
            target="== 0", ok=not res.orphans_after_init),
        Row(GROUP, "crash: slowest master restart (init + gunicorn)", restart, "s"),
    ]


class PeakRss:
    """Samples the RSS of every gunicorn process every 0.1 s; keeps the peak."""

    def __init__(self, srv: LiveServer) -> None:
        self.srv = srv
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pid in self.srv.pids():
                self.peak_kib = max(self.peak_kib, rss_kib(pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def load_rows(tmp: Path, soak: bool) -> list[Row]:
    per_round, rounds = (5000, 4) if soak else (1000, 3)
    log(f"load: {rounds} rounds of {per_round} reports from 64 concurrent voters")
    ledger = Ledger()
    # recycling off (gunicorn.conf.py): RSS growth is measured on the same processes
    with LiveServer.start(tmp, extra_env={"GUNICORN_CMD_ARGS": "--max-requests 0"}) as srv:
        pids = wait_workers(srv)
        with PeakRss(srv) as peak:
            done = [load_round(srv, ledger, total=per_round, concurrency=64, seed=SEED + k,
                               timeout=1800) for k in range(rounds)]
        restarted = srv.pids() != pids
        exports = Exports(srv, tmp / "export")
        exports.export()
        tally = ledger.reconcile(exports.opened())
    total = sum(r.submissions for r in done)
    seconds = sum(r.seconds for r in done)
    lat = sorted(ledger.latencies)
    p50 = lat[len(lat) // 2] if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    fives = sum(n for s, n in ledger.statuses.items() if s >= 500)
    growth = max(done[-1].rss_kib.get(p, 0) - done[-2].rss_kib.get(p, 0) for p in pids)
    return [
        Row(GROUP, "load: reports submitted (64 concurrent)", total, "reports"),
        Row(GROUP, "load: throughput", total / seconds if seconds else 0.0, "reports/s"),
        Row(GROUP, "load: latency p50", p50 * 1000, "ms"),
        Row(GROUP, "load: latency p99", p99 * 1000, "ms"),
        Row(GROUP, "load: 5xx answers", fives, "answers", target="== 0", ok=fives == 0),
        Row(GROUP, "load: not acknowledged", total - tally.acknowledged, "reports",
            target="== 0", ok=tally.acknowledged == total),
        Row(GROUP, "load: lost", tally.lost, "reports", target="== 0",
            ok=tally.lost == 0 and not tally.problems),
        Row(GROUP, "load: peak RSS of any gunicorn process", peak.peak_kib / 1024, "MiB"),
        Row(GROUP, "load: RSS growth over the last round", growth / 1024, "MiB",
            target="< 10 MiB", ok=growth < 10 * 1024 and not restarted),
    ]


def mutation_rows(tmp: Path, soak: bool) -> list[Row]:
    n = 20_000 if soak else 2000
    log(f"batch mutations: {n}")
    work = Path(tempfile.mkdtemp(prefix="hostile-mut-", dir="/dev/shm")) \
        if os.access("/dev/shm", os.W_OK) else tmp
    try:
        stats = run_mutations(n, SEED, work, time_limit=1800 if soak else 300)
        unclean = 0
    except Unclean as exc:
        log(f"batch mutations: UNCLEAN: {exc}")
        return [Row(GROUP, "batch mutations: unclean endings", 1, "runs", target="== 0",
                    ok=False)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        Row(GROUP, "batch mutations: damaged batches decrypted", stats.runs, "runs"),
        Row(GROUP, "batch mutations: time per damaged batch",
            1000 * stats.seconds / max(1, stats.runs), "ms"),
        Row(GROUP, "batch mutations: unclean endings", unclean, "runs", target="== 0", ok=True),
    ]


def tor_rows(tmp: Path, soak: bool) -> list[Row]:
    if shutil.which("tor") is None or shutil.which("curl") is None:
        log("tor or curl missing: tor-kill recovery row left out")
        return []
    from testkit.onion_serve import Served
    from testkit.tornet import TorNet

    kills = 5 if soak else 1
    log(f"tor: private network, {kills} SIGKILL(s) of the service's tor")
    times: list[float] = []
    with TorNet.start(tmp / "net") as net:
        net.wait_client_bootstrapped(150)
        srv = Served.start(tmp / "served", net, ["--grace-seconds", "3600"])
        try:
            srv.wait_for(lambda: (srv.data / "onion" / "status.json").exists(), 60, "status")
            address = srv.address
            srv.fetch(address, "/en/", timeout=150)
            for _ in range(kills):
                tor_pid = srv.tor_pid()
                t0 = time.monotonic()
                os.kill(tor_pid, signal.SIGKILL)
                srv.wait_republished(tor_pid, 60)
                page = srv.fetch(address, "/en/", timeout=150)
                if page.status != 200 or srv.address != address:
                    raise AssertionError(f"after the tor kill: {page.status}, {srv.address}")
                times.append(time.monotonic() - t0)
        finally:
            srv.stop()
    return [
        Row(GROUP, "tor: SIGKILL of tor -> same onion answers (worst)", max(times), "s",
            target="<= 150 s", ok=max(times) <= 150),
    ]


def _section(name: str, fn: Callable[[Path, bool], list[Row]], root: Path,
             soak: bool) -> list[Row]:
    started = time.monotonic()
    try:
        rows = fn(root / name, soak)
    except Exception:
        log(f"{name}: FAILED\n{traceback.format_exc()}")
        return [Row(GROUP, f"{name}: run failed (see stderr)", 1, "", target="runs", ok=False)]
    log(f"{name}: done in {time.monotonic() - started:.0f} s")
    return rows


def run(soak: bool) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as d:
        root = Path(d)
        for name, fn in (("crash", crash_rows), ("load", load_rows),
                         ("mutations", mutation_rows), ("tor", tor_rows)):
            rows += _section(name, fn, root, soak)
    return rows
