"""Slow clients (issue 13): a probe voter's reports while a trickle of bytes attacks.

Three attacks on a real gunicorn on loopback, each for ``SECONDS`` (``--soak``: longer),
while one probe voter fetches the form and files a small report again and again:

- slow heads: 20x as many connections as the server has threads send
  ``GET / HTTP/1.1\\r\\nHost: `` and nothing more, reopened as soon as they are cut;
- slow uploads: twice as many uploads as every worker's upload cap together, each
  trickled at 1.4 KiB/s (above the workers' 1 KiB/s floor, so never cut for slowness);
- both at once.

Rows per attack: probe attempts, failures (target 0), probe p50/p95 and the slowest
(target: every probe under 10 s), the attacker's bytes/s and connections opened.
One more row, computed: how many Tor circuits it takes to hold every upload slot
(the per-circuit stream cap, contract.DEFAULT_MAX_STREAMS). Figures of the code before
the gate (b77f0bd, 2 x 32 threads, issue 13) are in SECURITY.md.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import Row
from testkit.live_client import get_form
from testkit.liveserver import ROOT, LiveServer
from testkit.slowloris import Probe, ProbeResult, SlowBodies, SlowHeads

GROUP = "slow clients"
BOUND_S = 10.0
RATE = 1434.0  # bytes/s per trickled upload


def log(msg: str) -> None:
    print(f"bench: slow: {msg}", file=sys.stderr, flush=True)


def pool() -> tuple[int, int, int]:
    """(workers, threads per worker, upload cap per worker) as configured."""
    from app.gate import SPARE_THREADS

    text = (ROOT / "gunicorn.conf.py").read_text()
    found = [re.search(rf"^{n} = (\d+)", text, re.M) for n in ("workers", "threads")]
    workers, threads = (int(m.group(1)) if m else 0 for m in found)
    return workers, threads, max(1, threads - SPARE_THREADS)


def attack_rows(tmp: Path, name: str, heads: int, bodies: int, seconds: float) -> list[Row]:
    log(f"{name}: {heads} slow heads, {bodies} slow uploads, {seconds:.0f} s of probes")
    with LiveServer.start(tmp) as srv, ExitStack() as stack:
        page = get_form(srv.port, "en")
        attackers: list[SlowHeads | SlowBodies] = []
        if heads:
            attackers.append(stack.enter_context(SlowHeads(srv.port, heads)))
        if bodies:
            attackers.append(stack.enter_context(
                SlowBodies(srv.port, page, bodies, rate=RATE)))
        deadline = time.monotonic() + 30
        while (any(a.opened < a.count for a in attackers)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        time.sleep(2.0)  # let the heads arrive and the uploads fill the caps
        result: ProbeResult = Probe(srv.port, "en", timeout=BOUND_S + 20).run(seconds)
        for a in attackers:
            a.stop()
        rate = sum(a.bytes_per_s() for a in attackers)
        opened = sum(a.opened for a in attackers)
        busy = sum(a.answers.get(503, 0) for a in attackers if isinstance(a, SlowBodies))
    if result.failures:
        log(f"{name}: failures: {result.failures[:5]}")
    slowest = max(result.times) if result.times else float("inf")
    rows = [
        Row(GROUP, f"{name}: probe reports attempted", len(result.times), "reports"),
        Row(GROUP, f"{name}: probe reports failed", len(result.failures), "reports",
            target="== 0", ok=not result.failures and bool(result.times)),
        Row(GROUP, f"{name}: probe p50 (form + report)", result.p50, "s"),
        Row(GROUP, f"{name}: probe p95 (form + report)", result.p95, "s",
            target=f"< {BOUND_S:.0f} s", ok=result.p95 < BOUND_S),
        Row(GROUP, f"{name}: slowest probe", slowest, "s", target=f"< {BOUND_S:.0f} s",
            ok=slowest < BOUND_S),
        Row(GROUP, f"{name}: attacker sends", rate, "bytes/s"),
        Row(GROUP, f"{name}: attacker connections opened", opened, "connections"),
    ]
    if bodies:
        rows.append(Row(GROUP, f"{name}: uploads refused as busy (503)", busy, "answers"))
    return rows


def circuit_rows() -> list[Row]:
    from contract import DEFAULT_MAX_STREAMS

    workers, _threads, cap = pool()
    slots = workers * cap
    return [Row(GROUP, f"tor circuits to hold all {slots} upload slots "
                f"({DEFAULT_MAX_STREAMS} streams each)", -(-slots // DEFAULT_MAX_STREAMS),
                "circuits", target=">= 8", ok=slots // DEFAULT_MAX_STREAMS >= 8)]


def run(soak: bool) -> list[Row]:
    workers, threads, cap = pool()
    seconds = 120.0 if soak else 40.0
    heads, bodies = 20 * workers * threads, 2 * workers * cap
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="slow-bench-") as d:
        root = Path(d)
        rows += attack_rows(root / "heads", "slow heads", heads, 0, seconds)
        rows += attack_rows(root / "bodies", "slow uploads", 0, bodies, seconds)
        rows += attack_rows(root / "both", "both", heads // 2, bodies, seconds)
    return rows + circuit_rows()
