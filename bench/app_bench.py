"""App figures through a real gunicorn on loopback, as a voter and the operator feel them.

(a) Small reports: the server's CPU per acknowledged report (user + system of the
    gunicorn master and its workers, from /proc, over the run, divided by the receipts
    the client got) for the real app, against ``bench/floor_app.py`` (read, seal,
    durable commit, nothing else) measured in the same run with the same body and
    client; target: app <= 1.5 x floor. The app with its receipt-page cache off
    (``bench/uncached_app.py``: what the cache is worth), a bare Flask endpoint
    (``bench/bare_app.py``) and a naive ORM insert per request (``bench/naive_app.py``)
    run beside them for information. The load client (``testkit/keepalive.py``) sends
    pre-built requests over keep-alive sockets from a process of its own; its CPU is
    printed too, and no figure with a target depends on its clock. Rounds alternate
    between the sides.
(b) One 512 MiB upload: worker CPU per MiB (from /proc) and the peak RSS of the worker
    that took it (VmHWM, reset just before the upload, and 50 ms samples); target:
    peak <= idle + 16 MiB. MB/s is printed for information.
(c) Idle RSS of the gunicorn master and workers (bare Flask beside them), information.

Only good answers count (the app's 303 See Other to a receipt page, 201 from the
others), and the sides that store (app, uncached, floor) must hold every report sent.
Since the receipt page became a GET of its own after the 303 (issue 13), the load posts
only: the receipt page's render (cached or not) is not in these figures, so the
"uncached" row no longer shows what the cache is worth.
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import Row
from testkit.keepalive import Load, request_bytes, run_load
from testkit.live_client import (
    MIB,
    RECEIPT_LOCATION_RE,
    FilePart,
    Multipart,
    export_and_open,
    find_report,
    get,
    get_form,
    pattern,
    post,
    report_fields,
    token,
)
from testkit.liveserver import LiveServer
from testkit.procfs import cpu_seconds, peak_rss_kib, reset_peak_rss, rss_kib

GROUP = "app"
CONNECTIONS = 8  # keep-alive connections of the one client process
SMALL_COUNT = 2000
FLOOR_RATIO = 1.5  # target: app CPU per report <= this x the floor's
RSS_ALLOWANCE_MIB = 16  # target: peak worker RSS during the upload <= idle + this
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


class UncachedServer(LiveServer):
    wsgi_app = "bench.uncached_app:app"


SIDES = ("floor", "app", "uncached", "bare", "naive")
SERVERS: dict[str, type[LiveServer]] = {
    "floor": FloorServer, "app": LiveServer, "uncached": UncachedServer, "bare": BareServer,
    "naive": NaiveServer}
GOOD: dict[str, tuple[int, re.Pattern[bytes] | None]] = {
    "floor": (201, None), "app": (303, RECEIPT_LOCATION_RE),
    "uncached": (303, RECEIPT_LOCATION_RE),
    "bare": (201, None), "naive": (201, None)}
STORING = ("floor", "app", "uncached")  # every good answer is a report in the database


def log(msg: str) -> None:
    print(f"bench: app: {msg}", file=sys.stderr, flush=True)


# -- (a) small reports: server CPU per acknowledged report -------------------------------------


@dataclass(frozen=True)
class Round:
    """One side's run of ``count`` requests."""

    count: int
    good: int
    server_cpu: float  # seconds, master + workers (reaped children included)
    client_cpu: float  # seconds, the load client process
    seconds: float  # wall clock, information only
    statuses: Counter[int]
    workers_changed: bool = False  # a worker died or was replaced during the run

    @property
    def cpu_ms(self) -> float:
        """Server CPU milliseconds per good answer (infinite when there was none)."""
        return self.server_cpu * 1000 / self.good if self.good else math.inf

    @property
    def rate(self) -> float:
        return self.good / self.seconds if self.seconds else 0.0


def small_request(srv: LiveServer) -> tuple[str, bytes, str]:
    """(path, body, content type) of one small Russian report, as the form posts it."""
    page = get_form(srv.port, "ru")
    description = ("На участке №12 председатель не пустил наблюдателей; бюллетени унесли "
                   "в подсобку и считали при закрытых дверях. ") * 3
    body = Multipart(page.hidden + report_fields(
        description, what=["observers_barred", "opaque_counting"], town="Гомель", station="12",
        at="20:15"))
    return page.action, b"".join(body), body.content_type


def measure(srv: LiveServer, path: str, body: bytes, ctype: str, count: int,
            good: tuple[int, re.Pattern[bytes] | None]) -> Round:
    """Send ``count`` requests; the server's CPU over the run, from /proc."""
    request = request_bytes(srv.port, "POST", path, body, ctype)
    pids = srv.pids()
    before = cpu_seconds(pids, reaped_children=True)
    res = run_load(Load(srv.port, request, count, CONNECTIONS, good[0], good[1]))
    server = cpu_seconds(pids, reaped_children=True) - before
    return Round(count, res.good, server, res.client_cpu, res.seconds, res.statuses,
                 workers_changed=srv.pids() != pids)


def stored_reports(srv: LiveServer) -> int:
    """How many reports the server's database holds (``python -m app stats``)."""
    out = srv.run_app("stats", check=True).stdout
    return int(next(line for line in out.splitlines() if line.startswith("reports:")).split()[1])


@dataclass
class Sides:
    """Every round of every side, and what went wrong."""

    rounds: dict[str, list[Round]] = field(default_factory=lambda: {n: [] for n in SIDES})
    problems: Counter[str] = field(default_factory=Counter)

    def note(self, name: str, r: Round) -> None:
        self.rounds[name].append(r)
        status = GOOD[name][0]
        for s, n in r.statuses.items():
            if s != status:
                self.problems[f"{name}: answered {s or 'nothing'}"] += n
        if r.statuses[status] != r.good:
            self.problems[f"{name}: {status} that is not the good answer"] += (
                r.statuses[status] - r.good)
        if r.workers_changed:
            self.problems[f"{name}: workers changed during a round"] += 1

    def best(self, name: str) -> Round:
        """The round with the least server CPU per good answer (the least disturbed)."""
        return min(self.rounds[name], key=lambda r: r.cpu_ms)


def measure_sides(tmp: Path, count: int, rounds: int, warmup: int = 100) -> Sides:
    """Every side, same body and client, rounds alternating between the sides."""
    sides = Sides()
    servers: dict[str, LiveServer] = {}
    try:
        for name in SIDES:  # recycling off (gunicorn.conf.py): a round reads fixed processes
            servers[name] = SERVERS[name].start(
                tmp / f"small-{name}", extra_env={"GUNICORN_CMD_ARGS": "--max-requests 0"})
        path, body, ctype = small_request(servers["app"])
        for name, srv in servers.items():  # imports, first database pages
            measure(srv, path, body, ctype, warmup, GOOD[name])
        for k in range(rounds):  # alternate, so drift on a noisy box hits every side
            for name in SIDES:
                sides.note(name, measure(servers[name], path, body, ctype, count, GOOD[name]))
            log(f"round {k + 1}: " + ", ".join(
                f"{name} {sides.rounds[name][-1].cpu_ms:.2f} ms CPU/report "
                f"({sides.rounds[name][-1].rate:.0f}/s)" for name in SIDES))
        sent = warmup + rounds * count
        for name in STORING:
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
    best = {name: sides.best(name) for name in SIDES}
    floor, app = best["floor"].cpu_ms, best["app"].cpu_ms
    client = max(r.client_cpu * 1000 / r.count for rs in sides.rounds.values() for r in rs)
    log(f"small reports: {CONNECTIONS} keep-alive connections, {count} requests per side "
        f"and round, best of {rounds}; baseline: bench/floor_app.py")
    return [
        Row(GROUP, "small reports: server CPU per receipt (master + workers, /proc); "
            "baseline floor", app, "ms", floor, f"ratio <= {FLOOR_RATIO}",
            app <= FLOOR_RATIO * floor and not sides.problems),
        Row(GROUP, "small reports: the app, receipt page rendered each time (info); "
            "baseline app", best["uncached"].cpu_ms, "ms", app),
        Row(GROUP, "small requests: server CPU per 201, bare Flask (info); baseline floor",
            best["bare"].cpu_ms, "ms", floor),
        Row(GROUP, "small requests: server CPU per 201, naive ORM insert (info); baseline floor",
            best["naive"].cpu_ms, "ms", floor),
        Row(GROUP, "small reports: receipts/s by the client's clock (info); baseline floor",
            best["app"].rate, "req/s", best["floor"].rate),
        Row(GROUP, "small reports: load client's own CPU per request (info)", client, "ms"),
    ]


# -- (b) one 512 MiB upload, (c) idle RSS ------------------------------------------------------


class RssSampler(threading.Thread):
    """Peak VmRSS of each worker, sampled every 50 ms (beside the kernel's VmHWM)."""

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


def idle_rows(tmp: Path, srv: LiveServer) -> list[Row]:
    bare = BareServer.start(tmp / "idle-bare", extra_env=BIG_ENV)
    try:
        bare_master, bare_workers = idle_rss(bare)
    finally:
        bare.stop()
    master, workers = idle_rss(srv)
    return [
        Row(GROUP, "idle RSS: gunicorn master (info); baseline bare Flask", master, "MiB",
            bare_master),
        Row(GROUP, f"idle RSS: largest of {len(workers)} workers (info); baseline bare Flask",
            max(workers), "MiB", max(bare_workers)),
    ]


@dataclass(frozen=True)
class Upload:
    ok: bool  # receipt delivered (and, when verified, the attachment decrypts the same)
    seconds: float
    worker_cpu: float  # seconds, all workers
    idle_kib: int  # of the worker that grew most
    peak_kib: int  # of that worker


def upload_big(srv: LiveServer, tok: str, seed: int) -> Upload:
    """Post one 512 MiB attachment; worker CPU and the peak RSS of the worker that took it."""
    page = get_form(srv.port, "en")
    part = FilePart("attachments", "big.mp4", BIG, lambda: pattern(seed, BIG), "video/mp4")
    body = Multipart(page.hidden + report_fields("bench " + tok), [part])
    pids = srv.pids()[1:]
    idle = {pid: rss_kib(pid) for pid in pids}
    hwm = all([reset_peak_rss(pid) for pid in pids])  # a list: reset every one
    sampler = RssSampler(pids)
    sampler.start()
    cpu_before = cpu_seconds(pids)
    started = time.monotonic()
    resp = post(srv.port, page.action, body, piece=1 << 20, timeout=600)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pids) - cpu_before
    sampler.halt.set()
    sampler.join()
    peak = {pid: max(sampler.peak[pid], peak_rss_kib(pid)) for pid in pids}
    if not resp.is_receipt:
        log(f"512 MiB upload not acknowledged: {resp.status} {resp.send_error}")
    log(f"512 MiB in {elapsed:.2f} s; worker RSS idle {sorted(idle.values())} KiB, peak "
        f"{sorted(peak.values())} KiB ({sampler.samples} samples"
        f"{', VmHWM reset before' if hwm else ', VmHWM since start: an upper bound'})")
    grew = max(pids, key=lambda p: peak[p] - idle[p])
    return Upload(resp.is_receipt, elapsed, cpu, idle[grew], peak[grew])


def bench_big(tmp: Path, verify: bool) -> list[Row]:
    seed = 512
    srv = LiveServer.start(tmp / "big", extra_env=BIG_ENV)
    try:
        rows = idle_rows(tmp, srv)
        tok = token("bench-big")
        up = upload_big(srv, tok, seed)
        ok = up.ok and (not verify or _verify_big(srv, tmp, tok, seed))
    finally:
        srv.stop()
    idle, peak = up.idle_kib / 1024, up.peak_kib / 1024
    return rows + [
        Row(GROUP, "512 MiB upload: receipt, and the attachment decrypts the same", int(ok),
            "uploads", target="== 1", ok=ok),
        Row(GROUP, "512 MiB upload: worker CPU per MiB (user+sys, /proc)",
            up.worker_cpu * 1000 * MIB / BIG, "ms/MiB"),
        Row(GROUP, "512 MiB upload: peak RSS of its worker; baseline its idle RSS", peak, "MiB",
            idle, f"<= idle + {RSS_ALLOWANCE_MIB} MiB", ok and peak - idle <= RSS_ALLOWANCE_MIB),
        Row(GROUP, "512 MiB upload: end to end, sealed and fsynced (info)",
            BIG / up.seconds / 1e6, "MB/s"),
    ]


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
