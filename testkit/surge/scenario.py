"""One surge run against a running ``onion serve``: flood (optional) + voters, measured.

    out = run_surge(srv, net, voter_tors, Profile(...), Flood(intro=6, heads=24, bodies=4))
    out.receipts, out.p(0.95), out.cpu, out.lost_after_export(tmp)

CPU seconds are read from /proc for each group of processes (service tor, gunicorn
master + workers, serve itself, relays + authority, the voters' client tors, the
flood's client tor, this driver); a 1 s sampler keeps the busiest second of the service
tor's main thread and of gunicorn, and how busy the whole machine was.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from testkit.onion_serve import Served
from testkit.procfs import cpu_seconds
from testkit.slowloris import percentile
from testkit.surge.flood import IntroFlood, SlowBodies, SlowHeads
from testkit.surge.observe import (
    ClientTors,
    PowParams,
    PowWatch,
    children,
    machine_busy,
    published_pow,
    thread_cpu,
)
from testkit.surge.voters import Election, Profile, Voter
from testkit.tornet import TorNet


@dataclass(frozen=True)
class Flood:
    intro: int = 6      # introduction/rendezvous flood threads
    heads: int = 24     # slow-head streams
    bodies: int = 4     # slow-body uploads
    lead_s: float = 10  # the flood starts this long before the first voter


class CpuMeter:
    """CPU seconds per group between start and stop, and per-second peaks."""

    def __init__(self, groups: dict[str, Callable[[], float]], tor_pid: int,
                 web_pid: int) -> None:
        self.groups = groups
        self.tor_pid = tor_pid
        self.web_pid = web_pid
        self.used: dict[str, float] = {}
        self.tor_main_peak = 0.0    # busiest second of the service tor's main thread, %
        self.tor_main_hot = 0       # seconds it ran >= 90 % of a core
        self.web_peak = 0.0         # busiest second of gunicorn (all processes), %
        self.machine = 0.0          # whole machine busy over the run, % of all cores
        self.seconds = 0.0
        self._start: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def web(self) -> float:
        return self.groups["gunicorn"]()

    def _sample(self) -> None:
        last = (time.monotonic(), thread_cpu(self.tor_pid, self.tor_pid), self.web())
        while not self._stop.wait(1.0):
            now = (time.monotonic(), thread_cpu(self.tor_pid, self.tor_pid), self.web())
            dt = max(1e-3, now[0] - last[0])
            tor_pct = 100 * (now[1] - last[1]) / dt
            self.tor_main_peak = max(self.tor_main_peak, tor_pct)
            self.tor_main_hot += tor_pct >= 90
            self.web_peak = max(self.web_peak, 100 * (now[2] - last[2]) / dt)
            last = now

    def __enter__(self) -> CpuMeter:
        self._start = {k: f() for k, f in self.groups.items()}
        self._t0 = time.monotonic()
        self._busy0 = machine_busy()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.used = {k: f() - self._start[k] for k, f in self.groups.items()}
        self.seconds = time.monotonic() - self._t0
        busy = machine_busy()
        self.machine = 100 * (busy[0] - self._busy0[0]) / max(1, busy[1] - self._busy0[1])


@dataclass
class Outcome:
    voters: list[Voter]
    meter: CpuMeter
    pow_before: tuple[bool, PowParams | None]
    pow_after: tuple[bool, PowParams | None]
    pow_paid: tuple[int, int, int, float]   # intro circuits, with effort > 0, max, mean
    flood: dict[str, IntroFlood | SlowHeads | SlowBodies] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def acknowledged(self) -> list[Voter]:
        return [v for v in self.voters if v.acknowledged]

    def receipts(self) -> float:
        return sum(v.ok for v in self.voters) / max(1, len(self.voters))

    def first_try(self) -> float:
        return sum(v.first_ok for v in self.voters) / max(1, len(self.voters))

    def p(self, q: float) -> float:
        return percentile([v.seconds for v in self.voters if v.ok], q)

    def whys(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.voters:
            for w in v.whys:
                out[w] = out.get(w, 0) + 1
        return out

    def busy_answers(self) -> int:
        """503s the app gave voters, and slow-body uploads it refused as busy."""
        n = sum(c for w, c in self.whys().items() if "HTTP 503" in w)
        bodies = self.flood.get("bodies")
        return n + (bodies.answers.get(503, 0) if isinstance(bodies, SlowBodies) else 0)

    def reconcile(self, srv: Served, out: Path) -> tuple[int, int, int]:
        """Export and decrypt: (acknowledged, found exactly once, lost) for this run's
        voters (a token found twice counts as not exactly once)."""
        reports = srv.export_and_decrypt(out)
        texts = [str(r.get("fields")) for r, _ in reports]
        acked = self.acknowledged
        counts = [sum(v.token in t for t in texts) for v in acked]
        return len(acked), sum(c == 1 for c in counts), sum(c == 0 for c in counts)


def groups(srv: Served, net: TorNet, voter_tors: ClientTors) -> dict[str, Callable[[], float]]:
    st = srv.status()
    tor_pid, web_pid = int(st["tor_pid"]), int(st["web_pid"])
    serve_pid = srv.proc.pid if srv.proc is not None else 0
    relays = [n.proc.pid for n in net.nodes[:-1] if n.proc is not None]
    flood_tor = [net.client.proc.pid] if net.client.proc is not None else []
    return {
        "service tor": lambda: cpu_seconds([tor_pid]),
        "gunicorn": lambda: (cpu_seconds([web_pid], reaped_children=True)
                             + cpu_seconds(children(web_pid))),
        "serve (supervisor)": lambda: cpu_seconds([serve_pid]),
        "relays + authority": lambda: cpu_seconds(relays),
        "voters' client tors": lambda: cpu_seconds(voter_tors.pids()),
        "flood's client tor": lambda: cpu_seconds(flood_tor),
        "driver (this python)": lambda: cpu_seconds([os.getpid()]),
    }


def run_surge(srv: Served, net: TorNet, voter_tors: ClientTors, profile: Profile,
              flood: Flood | None, *, grace: float = 300.0) -> Outcome:
    """Flood (on the network's own client tor) while the voters (on ``voter_tors``) vote."""
    address = srv.address
    srv.fetch(address, "/en/", timeout=150)
    before = published_pow(net.client, address)
    st = srv.status()
    meter = CpuMeter(groups(srv, net, voter_tors), int(st["tor_pid"]), int(st["web_pid"]))
    limit = flood.lead_s + profile.steady_s + profile.spike_s + grace if flood else 0
    attackers: dict[str, IntroFlood | SlowHeads | SlowBodies] = {}
    if flood is not None:
        port = net.socks_port
        attackers = {"intro": IntroFlood(port, address, flood.intro, limit),
                     "heads": SlowHeads(port, address, flood.heads, limit),
                     "bodies": SlowBodies(port, address, flood.bodies, limit)}
    started = time.monotonic()
    with meter, PowWatch([*voter_tors.nodes, net.client]) as watch:
        for a in attackers.values():
            a.__enter__()
        try:
            if flood is not None:
                time.sleep(flood.lead_s)
            voters = Election(address, voter_tors.socks_ports, profile).run(grace=grace)
        finally:
            for a in attackers.values():
                a.stop()
        paid = watch.summary()
    seconds = time.monotonic() - started
    after = published_pow(net.client, address)
    return Outcome(voters, meter, before, after, paid, attackers, seconds)


def binding_limit(out: Outcome, cores: int) -> tuple[str, float, str]:
    """(what bound first, the figure that shows it, its unit), from the measurements."""
    fails = len(out.voters) - sum(v.ok for v in out.voters)
    circuit_fails = sum(c for w, c in out.whys().items()
                        if w.startswith("socks") or w == "timeout")
    if out.meter.machine >= 90:
        top = max(out.meter.used, key=lambda k: out.meter.used[k])
        return f"the machine's {cores} cores (most CPU: {top})", out.meter.machine, "% busy"
    if out.meter.tor_main_hot >= 3:
        return ("the service tor's main thread (>= 90 % of a core)",
                float(out.meter.tor_main_hot), "s at >= 90 %")
    if out.busy_answers():
        return "gunicorn's upload cap / gate (503 busy)", float(out.busy_answers()), "answers"
    if circuit_fails and circuit_fails * 2 >= fails:
        return "tor circuits (introduction/rendezvous failures)", float(circuit_fails), "failures"
    return "none reached at this load", out.meter.machine, "% busy"
