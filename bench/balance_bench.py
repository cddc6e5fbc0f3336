"""Onionbalance figures (issue 18 part 2) on the private Tor network (``make soak`` only).

Two Skrynka backends behind one frontend address (testkit/onionbalance.py). Figures: the
first fetch through the frontend after onionbalance starts, the share of reports per
backend, memory of the added processes, and after one backend is SIGKILLed: failed tries,
the outage (first failure to the next acknowledged report), the slowest acknowledged try,
and when onionbalance drops the dead backend from the frontend descriptor. Every
acknowledged report must decrypt exactly once. ``make bench`` skips it (the short version
is tests/e2e/test_onionbalance.py in ``make test``); the row set is empty without tor.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import Row
from testkit.onionbalance import Balanced, Vote, count_markers, decrypt_backends, outage
from testkit.tornet import TorNet

GROUP = "balance"
BEFORE = 40               # voters before the kill
AFTER_SECONDS = 900       # voters after the kill, one after another, for this long
DROP_RE = re.compile(r"Instance (\S+) is offline")


def log(msg: str) -> None:
    print(f"bench: balance: {msg}", file=sys.stderr, flush=True)


def run(soak: bool) -> list[Row]:
    if not soak:
        return []
    if shutil.which("tor") is None:
        log("tor is not installed: skipped")
        return []
    with tempfile.TemporaryDirectory(prefix="balance-bench-") as d:
        root = Path(d)
        net = TorNet.start(root / "net")
        try:
            net.wait_client_bootstrapped(150)
            return _measure(root, net)
        finally:
            net.stop()


def _measure(root: Path, net: TorNet) -> list[Row]:
    bal = Balanced.start(root / "bal", net, n=2)
    try:
        first = bal.wait_frontend(300)
        log(f"first fetch through the frontend {first:.0f} s after onionbalance started")
        before = [bal.post_report(f"before{i}") for i in range(BEFORE)]
        held = [b.report_count() for b in bal.backends]
        rss = bal.rss_mib()
        victim = bal.backends[1]
        dead = victim.instance()
        victim.kill()
        t_kill = time.monotonic()
        after = _after(bal, t_kill)
        dropped = _dropped_after(bal, dead, t_kill)
        found = decrypt_backends(bal.backends, root / "out")
    finally:
        bal.stop()
    acked = [v for v in before + after if v.ok]
    counts = count_markers(found, [v.marker for v in acked])
    lost = sum(1 for v in acked if sum(counts[v.marker].values()) != 1)
    rows = [
        Row(GROUP, "first fetch after onionbalance start", first, "s", target="<= 240 s",
            ok=first <= 240),
        Row(GROUP, "before kill: acknowledged", sum(v.ok for v in before), "reports",
            target=f"== {BEFORE}", ok=all(v.ok for v in before)),
        Row(GROUP, "before kill: on backend0", held[0], "reports"),
        Row(GROUP, "before kill: on backend1", held[1], "reports", target=">= 1",
            ok=min(held) >= 1),
        Row(GROUP, "after kill: tries", len(after), "tries"),
        Row(GROUP, "after kill: failed tries", sum(not v.ok for v in after), "tries"),
        Row(GROUP, "after kill: outage (first failure to next ack)", outage(after), "s"),
        Row(GROUP, "after kill: slowest acknowledged try",
            max((v.seconds for v in after if v.ok), default=0.0), "s"),
        Row(GROUP, "dead backend dropped from descriptor after", dropped, "s",
            target="measured (-1: not within the run)"),
        Row(GROUP, "acknowledged reports lost or doubled", lost, "reports", target="== 0",
            ok=lost == 0),
    ]
    rows += [Row(GROUP, f"RSS {name}", mib, "MiB") for name, mib in rss.items()]
    return rows


def _after(bal: Balanced, t_kill: float) -> list[Vote]:
    votes: list[Vote] = []
    while time.monotonic() - t_kill < AFTER_SECONDS:
        votes.append(bal.post_report(f"after{len(votes)}"))
        if not votes[-1].ok:
            log(f"after kill +{votes[-1].started - t_kill:.0f} s: {votes[-1].detail}")
    return votes


def _dropped_after(bal: Balanced, dead: str, t_kill: float) -> float:
    """Seconds from the kill until onionbalance said the instance is offline (-1: not yet);
    read from onionbalance's log, whose lines carry the wall-clock time."""
    wall_kill = time.time() - (time.monotonic() - t_kill)
    for line in bal.ob_log().splitlines():
        m = DROP_RE.search(line)
        if m and m.group(1).startswith(dead[:16]):
            stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
            if stamp >= wall_kill - 1:
                return stamp - wall_kill
    return -1.0
