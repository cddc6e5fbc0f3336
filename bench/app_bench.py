"""App figures through a real gunicorn on loopback (issue 3, item 10).

(a) small-report submissions per second (validation, sealing, durable commit)
    next to a bare Flask endpoint answering 201 (``bench/bare_app.py``) under
    the same ``gunicorn.conf.py``, in the same run, same client, keep-alive;
    and the issue's reference point, a naive ORM insert per request
    (``bench/naive_app.py``), against the same baseline;
    and the ceiling: an endpoint doing only what every report must cost (read,
    seal, durable commit; ``bench/floor_app.py``), against the same baseline;
(b) one 512 MiB upload end to end, and the peak worker RSS during it;
(c) idle RSS of the gunicorn master and workers (bare Flask as the baseline).
"""

from __future__ import annotations

import hashlib
import http.client
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import Row
from testkit.live_client import (
    MIB,
    FilePart,
    Multipart,
    export_and_open,
    find_report,
    get,
    get_form,
    pattern,
    post,
    report_fields,
    rss_kib,
    token,
)
from testkit.liveserver import LiveServer

GROUP = "app"
CLIENT_PROCS = 1
CLIENT_THREADS = 8  # one client process, 8 keep-alive connections (threads)
SMALL_COUNT = 2000
BIG = 512 * MIB
BIG_ENV = {"SKRYNKA_MAX_FILE_MB": "600", "SKRYNKA_MAX_REPORT_MB": "600",
           "SKRYNKA_STORAGE_BUDGET_MB": "2000"}
SAMPLE_EVERY = 0.05


class BareServer(LiveServer):
    wsgi_app = "bench.bare_app:app"


class NaiveServer(LiveServer):
    wsgi_app = "bench.naive_app:app"


class FloorServer(LiveServer):
    wsgi_app = "bench.floor_app:app"


def log(msg: str) -> None:
    print(f"bench: app: {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (from /proc/<pid>/stat)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# -- (a) small reports per second -------------------------------------------------------------


def _client(args: tuple[int, str, bytes, str, int, int]) -> tuple[Counter[int], float]:
    """One client process: ``threads`` keep-alive connections sharing ``count`` requests."""
    port, path, body, ctype, count, threads = args
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    left = [count]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": ctype}
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            with lock:
                statuses[status] += 1
        conn.close()

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return statuses, time.monotonic() - started


def hammer(port: int, path: str, body: bytes, ctype: str, count: int) -> tuple[float, Counter[int]]:
    """Requests per second for ``count`` POSTs from CLIENT_PROCS x CLIENT_THREADS clients."""
    per = [count // CLIENT_PROCS + (i < count % CLIENT_PROCS) for i in range(CLIENT_PROCS)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(CLIENT_PROCS) as pool:
        started = time.monotonic()
        results = pool.map(_client, [(port, path, body, ctype, n, CLIENT_THREADS) for n in per])
        elapsed = time.monotonic() - started
    statuses: Counter[int] = Counter()
    for s, _ in results:
        statuses.update(s)
    return count / elapsed, statuses


def small_body(srv: LiveServer) -> tuple[str, bytes, str]:
    page = get_form(srv.port, "ru")
    description = ("На участке №12 председатель не пустил наблюдателей; бюллетени унесли "
                   "в подсобку и считали при закрытых дверях. ") * 3
    body = Multipart(page.hidden + report_fields(
        description, what=["observers_barred", "opaque_counting"], town="Гомель", station="12",
        at="20:15"))
    return page.action, b"".join(body), body.content_type


def measure(srv: LiveServer, path: str, body: bytes, ctype: str, count: int, good: int
            ) -> tuple[float, float, Counter[int]]:
    """(answers with status ``good`` per second, server CPU ms per request, statuses).

    Only good answers count: a server that died or refused shows as slow, not fast."""
    pids = srv.pids()
    before = cpu_seconds(pids)
    rate, statuses = hammer(srv.port, path, body, ctype, count)
    return rate * statuses[good] / count, (cpu_seconds(pids) - before) * 1000 / count, statuses


SIDES = ("bare", "naive", "floor", "app")


def stored_reports(srv: LiveServer) -> int:
    """How many reports the server's database holds (``python -m app stats``)."""
    out = srv.run_app("stats", check=True).stdout
    return int(next(line for line in out.splitlines() if line.startswith("reports:")).split()[1])


@dataclass
class Sides:
    """Per side: requests/s and server CPU ms per request of each round; what went wrong."""

    rates: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in SIDES})
    cpus: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in SIDES})
    problems: Counter[int | str] = field(default_factory=Counter)


def measure_sides(tmp: Path, count: int, rounds: int, warmup: int = 100) -> Sides:
    """Every side, same body and client, rounds alternating between the sides."""
    sides = Sides()
    servers: dict[str, LiveServer] = {}
    try:
        servers["app"] = LiveServer.start(tmp / "small-app")
        servers["bare"] = BareServer.start(tmp / "small-bare")
        servers["naive"] = NaiveServer.start(tmp / "small-naive")
        servers["floor"] = FloorServer.start(tmp / "small-floor")
        path, body, ctype = small_body(servers["app"])
        for srv in servers.values():
            hammer(srv.port, path, body, ctype, warmup)  # imports, first DB pages
        for r in range(rounds):  # alternate, so drift on a noisy box hits every side
            for name in SIDES:
                good = 200 if name == "app" else 201
                rate, cpu, statuses = measure(servers[name], path, body, ctype, count, good)
                sides.rates[name].append(rate)
                sides.cpus[name].append(cpu)
                sides.problems.update({s: n for s, n in statuses.items() if s != good})
            log(f"round {r + 1}: " + ", ".join(
                f"{name} {sides.rates[name][-1]:.0f}/s ({sides.cpus[name][-1]:.2f} ms CPU each)"
                for name in SIDES))
        sent = warmup + rounds * count
        for name in ("floor", "app"):  # both store for real: every 201/200 is in the database
            held = stored_reports(servers[name])
            if held != sent:
                log(f"{name}: {sent} reports sent, {held} stored")
                sides.problems[f"{name}: stored count differs"] += 1
    finally:
        for srv in servers.values():
            srv.stop()
    if sides.problems:
        log(f"problems: {dict(sides.problems)}")
    return sides


def bench_small(tmp: Path, count: int, rounds: int) -> list[Row]:
    sides = measure_sides(tmp, count, rounds)
    best = {name: max(sides.rates[name]) for name in SIDES}
    cpu = {name: min(sides.cpus[name]) for name in SIDES}
    ratio = best["app"] / best["bare"]
    return [
        Row(GROUP, f"small reports/s ({CLIENT_PROCS * CLIENT_THREADS} keep-alive clients, "
            f"{count} each side, best of {rounds}; baseline bare Flask 201)",
            best["app"], "req/s", best["bare"], "ratio >= 0.6",
            ratio >= 0.6 and not sides.problems),
        Row(GROUP, "reference: naive ORM insert + commit per request, no sealing (issue: "
            "'near 0.55 here'); baseline bare Flask", best["naive"], "req/s", best["bare"]),
        Row(GROUP, "ceiling: read + seal + durable commit only, no parsing, validation or "
            "pages (bench/floor_app.py); baseline bare Flask", best["floor"], "req/s",
            best["bare"]),
        Row(GROUP, "server CPU (workers, user+sys) per small report; baseline bare Flask",
            cpu["app"], "ms", cpu["bare"]),
        Row(GROUP, "server CPU per request, naive ORM reference; baseline bare Flask",
            cpu["naive"], "ms", cpu["bare"]),
        Row(GROUP, "server CPU per request, ceiling (read + seal + commit); baseline bare Flask",
            cpu["floor"], "ms", cpu["bare"]),
    ]


# -- (b) one 512 MiB upload, (c) idle RSS ------------------------------------------------------


class RssSampler(threading.Thread):
    """Peak VmRSS of each worker, sampled every 50 ms."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = {pid: rss_kib(pid) for pid in pids}
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_kib(pid))
            self.samples += 1
            self.halt.wait(SAMPLE_EVERY)


def idle_rss(srv: LiveServer) -> tuple[float, list[float]]:
    """(master MiB, [worker MiB…]) after every worker has answered a request."""
    for _ in range(20):  # two workers, keep-alive off: spread a few GETs over both
        get(srv.port, "/en/", headers={"Connection": "close"})
    time.sleep(0.5)
    pids = srv.pids()
    return rss_kib(pids[0]) / 1024, [rss_kib(p) / 1024 for p in pids[1:]]


def bench_big(tmp: Path, verify: bool) -> list[Row]:
    rows: list[Row] = []
    seed = 512
    bare = BareServer.start(tmp / "idle-bare", extra_env=BIG_ENV)
    try:
        bare_master, bare_workers = idle_rss(bare)
    finally:
        bare.stop()
    srv = LiveServer.start(tmp / "big", extra_env=BIG_ENV)
    try:
        master, workers = idle_rss(srv)
        rows += [
            Row(GROUP, "idle RSS, gunicorn master (baseline: bare Flask)", master, "MiB",
                bare_master),
            Row(GROUP, f"idle RSS, largest of {len(workers)} workers (baseline: bare Flask)",
                max(workers), "MiB", max(bare_workers)),
        ]
        page = get_form(srv.port, "en")
        tok = token("bench-big")
        part = FilePart("attachments", "big.mp4", BIG, lambda: pattern(seed, BIG), "video/mp4")
        body = Multipart(page.hidden + report_fields("bench " + tok), [part])
        pids = srv.pids()[1:]
        idle = {pid: rss_kib(pid) for pid in pids}
        sampler = RssSampler(pids)
        sampler.start()
        cpu_before = cpu_seconds(pids)
        started = time.monotonic()
        resp = post(srv.port, page.action, body, piece=1 << 20, timeout=600)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pids) - cpu_before
        sampler.halt.set()
        sampler.join()
        ok = resp.is_receipt
        if not ok:
            log(f"512 MiB upload not acknowledged: {resp.status} {resp.send_error}")
        growth = max(sampler.peak[p] - idle[p] for p in pids) / 1024
        log(f"512 MiB in {elapsed:.2f} s; worker RSS idle {sorted(idle.values())} KiB, "
            f"peak {sorted(sampler.peak.values())} KiB over {sampler.samples} samples")
        if verify and ok:
            ok = _verify_big(srv, tmp, tok, seed)
        rows += [
            Row(GROUP, "one 512 MiB upload end to end (sealed, fsynced, receipt)",
                BIG / elapsed / 1e6, "MB/s", None, ">= 200 MB/s",
                ok and BIG / elapsed / 1e6 >= 200),
            Row(GROUP, "server CPU (workers, user+sys) per MiB of that upload", cpu * 1000 / 512,
                "ms/MiB"),
            Row(GROUP, "peak worker RSS above idle during the 512 MiB upload", growth, "MiB",
                None, "< 16 MiB", ok and growth < 16),
        ]
    finally:
        srv.stop()
    return rows


def _verify_big(srv: LiveServer, tmp: Path, tok: str, seed: int) -> bool:
    expect = hashlib.sha256()
    for chunk in pattern(seed, BIG):
        expect.update(chunk)
    got = find_report(export_and_open(srv, tmp / "big.skb", keep=0), tok)
    [entry] = got.report["attachments"]
    opened = got.attachments[entry["id"]]
    good = (opened.size, opened.sha256) == (BIG, expect.hexdigest())
    log(f"512 MiB attachment decrypted: {'matches' if good else 'DIFFERS'}")
    return good


def run(soak: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="skrynka-app-bench-") as tmp:
        rows = bench_small(Path(tmp), SMALL_COUNT * (5 if soak else 1), 3 if soak else 2)
        rows += bench_big(Path(tmp), verify=True)
    return rows
