"""One surge run against a running ``onion serve``: flood (optional) + voters, measured.

    out = run_surge(srv, net, voter_tors, Profile(...), Flood(intro=6, heads=24, bodies=4))
    out.receipts, out.p(0.95), out.cpu, out.lost_after_export(tmp)

CPU seconds are read from /proc for each group of processes (service tor, gunicorn
master + workers, serve itself, relays + authority, the voters' client tors, the
flood's client tor, this driver); a 1 s sampler keeps the busiest second of the service
tor's main thread and of gunicorn, and how busy the whole machine was.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
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
    tors: int = 1       # client tors it is spread over (the network's, then extra ones)


Attackers = dict[str, list[IntroFlood | SlowHeads | SlowBodies]]
Sidecar = Callable[[Attackers], AbstractContextManager[object]]


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
    flood: dict[str, list[IntroFlood | SlowHeads | SlowBodies]] = field(default_factory=dict)
    seconds: float = 0.0
    flood_tors: int = 1
    voter_tors: int = 1
    intro_log: list[tuple[float, str, int]] = field(default_factory=list)  # PowWatch.log

    def flood_total(self, key: str, what: str) -> int:
        return sum(int(getattr(a, what)) for a in self.flood.get(key, []))

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
        return n + sum(a.answers.get(503, 0) for a in self.flood.get("bodies", [])
                       if isinstance(a, SlowBodies))

    def reconcile(self, srv: Served, out: Path) -> tuple[int, int, int]:
        """Export and decrypt: (acknowledged, found exactly once, lost) for this run's
        voters (a token found twice counts as not exactly once)."""
        reports = srv.export_and_decrypt(out)
        texts = [str(r.get("fields")) for r, _ in reports]
        acked = self.acknowledged
        counts = [sum(v.token in t for t in texts) for v in acked]
        return len(acked), sum(c == 1 for c in counts), sum(c == 0 for c in counts)


def groups(srv: Served, net: TorNet, voter_tors: ClientTors,
           flood_tor_pids: list[int]) -> dict[str, Callable[[], float]]:
    st = srv.status()
    tor_pid, web_pid = int(st["tor_pid"]), int(st["web_pid"])
    serve_pid = srv.proc.pid if srv.proc is not None else 0
    relays = [n.proc.pid for n in net.nodes[:-1] if n.proc is not None]
    return {
        "service tor": lambda: cpu_seconds([tor_pid]),
        "gunicorn": lambda: (cpu_seconds([web_pid], reaped_children=True)
                             + cpu_seconds(children(web_pid))),
        "serve (supervisor)": lambda: cpu_seconds([serve_pid]),
        "relays + authority": lambda: cpu_seconds(relays),
        "voters' client tors": lambda: cpu_seconds(voter_tors.pids()),
        "flood's client tors": lambda: cpu_seconds(flood_tor_pids),
        "driver (this python)": lambda: cpu_seconds([os.getpid()]),
    }


def run_surge(srv: Served, net: TorNet, voter_tors: ClientTors, profile: Profile,
              flood: Flood | None, *, grace: float = 300.0,
              more_flood_tors: ClientTors | None = None,
              sidecar: Sidecar | None = None) -> Outcome:
    """Flood (on the network's own client tor, and ``more_flood_tors`` if ``flood.tors``
    asks for more) while the voters (on ``voter_tors``) vote. ``sidecar``, if given, is
    entered with the attackers once they run and left when they stop (an observer)."""
    address = srv.address
    srv.fetch(address, "/en/", timeout=150)
    before = published_pow(net.client, address)
    st = srv.status()
    nodes = [net.client, *(more_flood_tors.nodes if more_flood_tors else [])]
    ports = [net.socks_port, *(more_flood_tors.socks_ports if more_flood_tors else [])]
    n = min(len(nodes), flood.tors) if flood else 1
    nodes, ports = nodes[:n], ports[:n]
    meter = CpuMeter(groups(srv, net, voter_tors, [x.proc.pid for x in nodes if x.proc]),
                     int(st["tor_pid"]), int(st["web_pid"]))
    limit = flood.lead_s + profile.steady_s + profile.spike_s + grace if flood else 0
    attackers: dict[str, list[IntroFlood | SlowHeads | SlowBodies]] = {}
    if flood is not None:
        attackers = {"intro": [IntroFlood(p, address, max(1, flood.intro // n), limit)
                               for p in ports],
                     "heads": [SlowHeads(p, address, max(1, flood.heads // n), limit)
                               for p in ports],
                     "bodies": [SlowBodies(p, address, max(1, flood.bodies // n), limit)
                                for p in ports]}
    everyone = [a for group in attackers.values() for a in group]
    started = time.monotonic()
    with meter, PowWatch([*voter_tors.nodes, *nodes]) as watch:
        for a in everyone:
            a.__enter__()
        try:
            with sidecar(attackers) if sidecar else contextlib.nullcontext():
                if flood is not None:
                    time.sleep(flood.lead_s)
                voters = Election(address, voter_tors.socks_ports, profile).run(grace=grace)
        finally:
            for a in everyone:
                a.stop()
        paid = watch.summary()
        log = watch.log(started)
    seconds = time.monotonic() - started
    after = published_pow(net.client, address)
    return Outcome(voters, meter, before, after, paid, attackers, seconds, flood_tors=n,
                   voter_tors=len(voter_tors.nodes), intro_log=log)


def utilisation(out: Outcome) -> dict[str, float]:
    """Each group's CPU over the run as % of what it can use: one core per tor process
    (tor's main loop is one thread), one per gunicorn worker (2), one per client tor."""
    used, secs = out.meter.used, max(1e-9, out.meter.seconds)
    return {
        "service tor": 100 * used["service tor"] / secs,
        "gunicorn (2 workers)": 100 * used["gunicorn"] / secs / 2,
        "flood's client tors": 100 * used["flood's client tors"] / secs / out.flood_tors,
        "voters' client tors": 100 * used["voters' client tors"] / secs / out.voter_tors,
        "relays + authority (6 tors)": 100 * used["relays + authority"] / secs / 6,
    }


def ours_busy(out: Outcome, cores: int) -> float:
    """CPU of every process this run started, as % of the machine's cores."""
    return 100 * sum(out.meter.used.values()) / max(1e-9, out.meter.seconds) / cores


def binding_limit(out: Outcome, cores: int) -> tuple[str, float, str]:
    """(what bound first, the figure that shows it, its unit), from the measurements."""
    fails = len(out.voters) - sum(v.ok for v in out.voters)
    circuit_fails = sum(c for w, c in out.whys().items()
                        if w.startswith("socks") or w == "timeout")
    util = utilisation(out)
    top = max(util, key=lambda k: util[k])
    effort = [p.suggested_effort if p else 0 for _, p in (out.pow_before, out.pow_after)]
    if effort[1] > effort[0]:
        return ("tor's PoW queue (it backed up: tor raised the suggested effort "
                f"{effort[0]} -> {effort[1]})", float(circuit_fails), "failed attempts")
    if out.meter.tor_main_hot >= 3:
        return ("the service tor's main thread (>= 90 % of a core)",
                float(out.meter.tor_main_hot), "s at >= 90 %")
    if out.busy_answers():
        return "gunicorn's upload cap / gate (503 busy)", float(out.busy_answers()), "answers"
    busy = max(ours_busy(out, cores), out.meter.machine)
    if busy >= 85:
        return (f"the machine's {cores} cores (closest to its own ceiling: {top})", busy,
                "% busy")
    if circuit_fails and circuit_fails * 2 >= fails:
        return "tor circuits (introduction/rendezvous failures)", float(circuit_fails), "failures"
    return f"none reached; closest to its ceiling: {top}", util[top], "% of its cores"
