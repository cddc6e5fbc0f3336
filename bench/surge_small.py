"""The surge on an EMULATED small server (issue 18, part 1): the service's tor confined by
a cgroup to a few % of one core (testkit/surge/cgroup.py), so the flood this 2-core box
can produce saturates it, as it would a small VPS's tor. gunicorn is not capped (what a
report costs it is in the default-server rows). Each run is longer than tor's 300 s
suggested-effort update, the voters' spike comes after it, and a poller fetches the
descriptor every ~30 s to record the suggested effort published over time, with the
flood's connected streams and its client tor's CPU at each point.

Used by bench/surge_bench.py (not a bench module of its own).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from bench import Row
from testkit.procfs import cpu_seconds
from testkit.surge.observe import published_pow
from testkit.surge.scenario import Attackers, Flood, Outcome
from testkit.surge.voters import Profile
from testkit.tornet import Node

CAP_PCT = 2.0   # % of one core for the service's tor (the flood needs ~2.5 %: 20/s x 1.25 ms)
FLOOD_TOR = "client"   # the network's client tor, which the (one-tor) flood uses


def sizes() -> tuple[Profile, Flood]:
    """Flood from 20 s in; steady voters for 280 s (the 300 s effort update falls in
    it), then the spike."""
    return (Profile(rate=0.2, steady_s=280, spike_s=30, seed=1803),
            Flood(intro=12, heads=32, bodies=6, lead_s=20))


@dataclass
class Sample:
    t: float            # seconds after the poller started
    effort: int         # published suggested effort, -1 when the fetch failed or no PoW
    flood_opened: int   # flood intro streams connected so far
    flood_cpu: float    # CPU seconds of the flood's client tor so far


@dataclass
class EffortPoll:
    """Every ``every`` s: the descriptor's suggested effort (fetched on ``node``, a tor
    neither voters nor the flood use) and the flood's progress."""

    node: Node
    address: str
    flood_pid: int
    every: float = 30.0
    samples: list[Sample] = field(default_factory=list)
    attackers: Attackers = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __call__(self, attackers: Attackers) -> EffortPoll:
        self.attackers = attackers
        return self

    def _sample(self, t0: float) -> None:
        effort = -1
        with contextlib.suppress(Exception):
            _, params = published_pow(self.node, self.address, timeout=20)
            effort = params.suggested_effort if params else -1
        opened = sum(int(a.opened) for a in self.attackers.get("intro", []))
        self.samples.append(Sample(time.monotonic() - t0, effort, opened,
                                   cpu_seconds([self.flood_pid])))

    def _run(self) -> None:
        t0 = time.monotonic()
        while True:
            self._sample(t0)
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> EffortPoll:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)


def _rise(samples: list[Sample]) -> int | None:
    """Index of the first sample whose published effort is above the first one's."""
    known = [s for s in samples if s.effort >= 0]
    if not known:
        return None
    for i, s in enumerate(samples):
        if s.effort > known[0].effort:
            return i
    return None


def _rate(a: Sample, b: Sample) -> tuple[float, float]:
    dt = max(1e-3, b.t - a.t)
    return (b.flood_opened - a.flood_opened) / dt, 100 * (b.flood_cpu - a.flood_cpu) / dt


def flood_rows(name: str, poll: EffortPoll) -> list[Row]:
    """The suggested effort over time; the flood's intro rate and its tor's CPU before
    and after the effort rose."""
    s = poll.samples
    if len(s) < 2:
        return [Row("surge", f"{name}: effort poller got fewer than 2 samples", len(s), "")]
    series = " ".join(f"{x.t:.0f}:{x.effort if x.effort >= 0 else '?'}" for x in s)
    rows = [Row("surge", f"{name}: suggested effort published over time (s:effort) {series}",
                max(x.effort for x in s), "effort, max")]
    i = _rise(s)
    if i is None or i == 0:
        rate, cpu = _rate(s[0], s[-1])
        return [*rows,
                Row("surge", f"{name}: effort never rose; flood intro streams connected/s",
                    rate, "/s"),
                Row("surge", f"{name}: flood's client tor CPU, % of a core", cpu, "%")]
    before, after = _rate(s[0], s[i - 1]), _rate(s[i], s[-1])
    rows += [Row("surge", f"{name}: effort rose between {s[i - 1].t:.0f} s and {s[i].t:.0f} s"
                 " of the flood", s[i].effort, "effort"),
             Row("surge", f"{name}: flood intro streams connected/s after the rise "
                 "(baseline: before)", after[0], "/s", baseline=before[0]),
             Row("surge", f"{name}: flood's client tor CPU after the rise, % of a core "
                 "(baseline: before)", after[1], "%", baseline=before[1])]
    return rows


def paid_rows(name: str, out: Outcome) -> list[Row]:
    """Effort paid on introduction circuits: the voters' tors against the flood's."""
    rows = []
    for who, pick in (("voters'", lambda n: n != FLOOD_TOR),
                      ("the flood's", lambda n: n == FLOOD_TOR)):
        eff = [e for _, n, e in out.intro_log if pick(n)]
        rows += [Row("surge", f"{name}: {who} intro circuits, paid effort > 0 "
                     "(baseline: all)", sum(e > 0 for e in eff), "circuits",
                     baseline=float(len(eff))),
                 Row("surge", f"{name}: {who} intro circuits, effort max / mean (baseline)",
                     max(eff, default=0), "effort",
                     baseline=sum(eff) / len(eff) if eff else None)]
    return rows


def cap_rows(name: str, out: Outcome, throttle: tuple[int, int, float]) -> list[Row]:
    """How hard the cap bound, and the binding limit read with it."""
    periods, throttled, secs = throttle
    used = out.meter.used["service tor"] / max(1e-9, out.meter.seconds)
    share = 100 * throttled / max(1, periods)
    rows = [Row("surge", f"{name}: service tor CPU, % of its cap ({CAP_PCT:g} % of a core)",
                100 * used / (CAP_PCT / 100), "%"),
            Row("surge", f"{name}: CFS periods in which the service tor was throttled",
                share, "%", baseline=float(periods)),
            Row("surge", f"{name}: time the service tor waited for its quota", secs, "s")]
    effort = [p.suggested_effort if p else 0 for _, p in (out.pow_before, out.pow_after)]
    if effort[1] > effort[0]:
        what = f"tor's PoW queue (suggested effort {effort[0]} -> {effort[1]})"
    elif share >= 50:
        what = "the service tor's CPU cap (throttled in most periods)"
    else:
        what = "not the cap (see the default binding-limit row)"
    ok = sum(v.ok for v in out.voters)
    per_h = 3600 * ok / max(1e-9, out.seconds)
    return [*rows,
            Row("surge", f"{name}: binding limit (small server): {what}", share, "% throttled"),
            Row("surge", f"{name}: receipts per hour under the flood (this run's offered "
                "load, not a capacity)", per_h, "reports/h")]
