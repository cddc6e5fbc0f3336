"""Election night over Tor (issue 18, part 1): voters on a steady-then-spike profile
under an introduction/rendezvous flood and slow heads and bodies, with tor's PoW
defense on (as serve sets it) and off, on the private Tor network of testkit/tornet.py.

Per run (each on a fresh ``onion serve``): receipts (first try and after one retry on a
new circuit), time to receipt p50/p95/p99, the PoW effort voters' tors paid (CIRC
``HS_POW``), the ``pow-params`` the descriptor published against what serve asked, CPU
seconds per process group, the busiest second of the service tor's main thread and of
gunicorn, the limit that bound first (read from those figures), and every acknowledged
report found exactly once after export + decrypt. Voters use client tors of their own
(several, as on the real network each voter solves PoW on their own device); the flood
uses the network's client tor (and two more in the 3x run). All of it runs on one 2-core
machine: the client side's CPU is in the table so the figures can be read honestly. On
the default server no run's suggested effort moves: tor recomputes it every 300 s, and
only when its PoW queue backed up; `make soak` runs longer, with one run whose queue rate
is throttled below the flood's. Two more runs (PoW on, PoW off; 330 s each, past the
300 s update) put the service's tor in a cgroup capped at a few % of one core: an
EMULATED small server that the same flood saturates (bench/surge_small.py; skipped with
a row saying why when no cgroup is writable).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

from bench import Row, surge_small
from testkit.onion_serve import Served
from testkit.surge.cgroup import CpuCap
from testkit.surge.observe import ClientTors
from testkit.surge.scenario import (
    Flood,
    Outcome,
    binding_limit,
    ours_busy,
    run_surge,
    utilisation,
)
from testkit.surge.voters import Profile
from testkit.tornet import TorNet

GROUP = "surge"
CORES = 2


def log(msg: str) -> None:
    print(f"bench: surge: {msg}", file=sys.stderr, flush=True)


def sizes(soak: bool) -> tuple[Profile, Flood]:
    if soak:  # longer than tor's 300 s effort update period, so the suggested effort moves
        return (Profile(rate=1.5, steady_s=360, spike_s=60, seed=1802),
                Flood(intro=24, heads=64, bodies=12, lead_s=20))
    return Profile(rate=1, steady_s=60, spike_s=20, seed=1801), Flood(intro=12, heads=32,
                                                                        bodies=6, lead_s=10)


def pow_rows(name: str, out: Outcome, pow_on: bool) -> list[Row]:
    rows = []
    for when, (fetched, params) in (("before", out.pow_before), ("after", out.pow_after)):
        match = fetched and ((params is not None and params.type == "v1") if pow_on
                             else params is None)
        rows.append(Row(GROUP, f"{name}: descriptor pow-params {when} run "
                        f"({'v1 present' if params else 'absent'}; serve asked "
                        f"{'PoW on' if pow_on else '--no-pow'}; rate/burst never published)",
                        1.0 if match else 0.0, "matches", target="== 1", ok=match))
        if params is not None:
            rows.append(Row(GROUP, f"{name}: suggested effort published {when} run",
                            params.suggested_effort, "effort"))
    circs, paid, top, mean = out.pow_paid
    rows += [Row(GROUP, f"{name}: client intro circuits (voters + flood tors)", circs, "circuits"),
             Row(GROUP, f"{name}: intro circuits that paid PoW (effort > 0)", paid, "circuits"),
             Row(GROUP, f"{name}: PoW effort paid, max", top, "effort"),
             Row(GROUP, f"{name}: PoW effort paid, mean", mean, "effort")]
    return rows


def run_rows(name: str, out: Outcome, pow_on: bool, judged: bool,
             reconciled: tuple[int, int, int], profile: Profile) -> list[Row]:
    """The run's rows; ``judged``: the issue's targets apply (PoW on, under the flood)."""
    n = len(out.voters)
    ok = out.receipts() * 100
    p95 = out.p(0.95)
    acked, once, lost = reconciled
    m = out.meter
    rows = [
        Row(GROUP, f"{name}: voters ({profile.rate:g}/s for {profile.steady_s:g} s, then "
            f"{profile.rate * profile.spike:g}/s for {profile.spike_s:g} s; "
            f"{profile.photo_fraction:.0%} with a {profile.photo_size // 1000} KB photo)",
            n, "voters"),
        Row(GROUP, f"{name}: receipts (one retry on a new circuit)", ok, "%",
            target=">= 95 %" if judged else "", ok=(ok >= 95) if judged else None),
        Row(GROUP, f"{name}: receipts on the first try", out.first_try() * 100, "%"),
        Row(GROUP, f"{name}: time to receipt p50", out.p(0.5), "s"),
        Row(GROUP, f"{name}: time to receipt p95", p95, "s",
            target="<= 60 s" if judged else "", ok=(p95 <= 60) if judged else None),
        Row(GROUP, f"{name}: time to receipt p99", out.p(0.99), "s"),
        Row(GROUP, f"{name}: acknowledged reports found exactly once (export + decrypt)",
            once, "reports", target="== acknowledged", ok=once == acked),
        Row(GROUP, f"{name}: acknowledged reports lost", lost, "reports", target="== 0",
            ok=lost == 0),
    ]
    for why, count in sorted(out.whys().items(), key=lambda kv: -kv[1])[:4]:
        rows.append(Row(GROUP, f"{name}: failed attempts: {why}", count, "attempts"))
    rows += pow_rows(name, out, pow_on)
    for key in out.flood:
        workers = sum(a.workers for a in out.flood[key])
        rows.append(Row(GROUP, f"{name}: flood {key}: streams connected / failed "
                        f"({workers} at once on {out.flood_tors} client tor(s))",
                        out.flood_total(key, "opened"), "streams",
                        baseline=float(out.flood_total(key, "failed"))))
    if out.flood:
        rows.append(Row(GROUP, f"{name}: flood intro: new circuits connected per second",
                        out.flood_total("intro", "opened") / max(1.0, out.seconds), "/s"))
    for group, used in m.used.items():
        rows.append(Row(GROUP, f"{name}: CPU {group} (baseline: the run's seconds)", used, "s",
                        baseline=m.seconds))
    server = sum(m.used[k] for k in ("service tor", "gunicorn", "serve (supervisor)"))
    per_report = server / max(1, acked)
    per_intro = m.used["service tor"] / max(1, out.pow_paid[0])
    rows += [Row(GROUP, f"{name}: CPU of {group}, % of the cores it can use", pct, "%")
             for group, pct in utilisation(out).items()]
    rows += [
        Row(GROUP, f"{name}: machine busy, this run's processes / whole machine (others' "
            f"too; {CORES} cores; per-process vs /proc/stat counters, a few points apart)",
            ours_busy(out, CORES), "%", baseline=m.machine),
        Row(GROUP, f"{name}: service tor main thread, busiest second", m.tor_main_peak, "%"),
        Row(GROUP, f"{name}: gunicorn (all processes), busiest second", m.web_peak, "%"),
        Row(GROUP, f"{name}: service tor CPU per client introduction (rendezvous included)",
            per_intro * 1000, "ms"),
        Row(GROUP, f"{name}: introductions/s one core of service tor would take at that cost "
            "(extrapolated)", 1 / per_intro if per_intro else 0.0, "/s"),
        Row(GROUP, f"{name}: server CPU per acknowledged report (tor + gunicorn + serve, "
            "flood's cost included)", per_report * 1000, "ms"),
        Row(GROUP, f"{name}: reports/h one server core holds at that cost (extrapolated)",
            3600 / per_report if per_report else 0.0, "reports/h"),
    ]
    what, figure, unit = binding_limit(out, CORES)
    rows.append(Row(GROUP, f"{name}: binding limit: {what}", figure, unit))
    return rows


def one_run(net: TorNet, clients: tuple[ClientTors, ClientTors], root: Path, name: str,
            serve_args: list[str], flood: Flood | None, profile: Profile,
            small: bool = False) -> list[Row]:
    """One fresh ``onion serve`` with ``serve_args``, one surge, its rows. ``small``: the
    service's tor in a cgroup capped at surge_small.CAP_PCT % of a core (removed after)."""
    pow_on = "--no-pow" not in serve_args
    log(f"{name}: serve {' '.join(serve_args) or '(PoW on, defaults)'}, "
        f"{len(profile.arrivals())} voters{', flood' if flood else ''}")
    started = time.monotonic()
    extra = ["--grace-seconds", "3600", *serve_args]
    slug = "".join(c if c.isalnum() else "-" for c in name)
    srv = Served.start(root / slug, net, extra)
    cap = CpuCap(f"skrynka-surge-{os.getpid()}", surge_small.CAP_PCT) if small else None
    try:
        srv.wait_for(lambda: (srv.data / "onion" / "status.json").exists(), 60, "status")
        srv.wait_for(lambda: all(s.get("published") for s in srv.status()["services"]), 90,
                     "the descriptor upload")
        with cap or contextlib.nullcontext():
            poll = None
            if cap is not None:
                cap.add(int(srv.status()["tor_pid"]))
                log(f"{name}: service tor in cgroup v{cap.version} {cap.path}")
                poll = surge_small.EffortPoll(clients[1].nodes[-1], srv.address,
                                              net.client.proc.pid if net.client.proc else 0)
            out = run_surge(srv, net, clients[0], profile, flood,
                            grace=120 if small else 240, more_flood_tors=clients[1],
                            sidecar=poll)
            throttle = cap.throttling() if cap is not None else (0, 0, 0.0)
        reconciled = out.reconcile(srv, root / f"{slug}-out")
    finally:
        code = srv.stop()
        if code != 0:
            log(f"{name}: serve exited with {code}")
        if cap is not None:
            cap.__exit__(None, None, None)  # again, now tor has gone (no-op if removed)
    log(f"{name}: done in {time.monotonic() - started:.0f} s; receipts "
        f"{out.receipts():.0%}, p95 {out.p(0.95):.1f} s")
    judged = not serve_args and flood is not None and flood.tors == 1 and not small
    rows = run_rows(name, out, pow_on, judged, reconciled, profile)
    if poll is not None:
        rows += (surge_small.cap_rows(name, out, throttle) + surge_small.paid_rows(name, out)
                 + surge_small.flood_rows(name, poll))
    return rows


def runs(flood: Flood, soak: bool) -> list[tuple[str, list[str], Flood | None]]:
    """(name, serve's extra arguments, flood) of each run, in order. ``make soak`` adds
    one whose PoW queue is throttled below the flood's rate, so the queue binds (and, the
    run being longer than 300 s, tor has a chance to raise the suggested effort)."""
    heavy = replace(flood, intro=3 * flood.intro, heads=2 * flood.heads, tors=3)
    out: list[tuple[str, list[str], Flood | None]] = [
        ("PoW on + flood", [], flood),
        ("PoW off + flood", ["--no-pow"], flood),
        ("PoW on + 3x flood on 3 tors", [], heavy)]
    if soak:
        out.append(("PoW queue 10/s (burst 20) + flood",
                    ["--pow-queue-rate", "10", "--pow-queue-burst", "20"], flood))
    return [*out, ("PoW on, no flood", [], None)]


def run(soak: bool) -> list[Row]:
    if shutil.which("tor") is None:
        log("tor missing: surge rows left out")
        return []
    profile, flood = sizes(soak)
    rows: list[Row] = []
    budget = time.monotonic() + (3600 if soak else 450)
    with tempfile.TemporaryDirectory(prefix="surge-bench-") as d:
        root = Path(d)
        with TorNet.start(root / "net") as net:
            net.wait_client_bootstrapped(150)
            with ClientTors(net, root / "voters", 3) as voters, \
                    ClientTors(net, root / "flooders", 2) as flooders:
                for name, args, fl in runs(flood, soak):
                    if fl is None and time.monotonic() > budget:
                        log(f"{name}: skipped (time budget spent)")
                        continue
                    try:
                        rows += one_run(net, (voters, flooders), root, name, args, fl,
                                        profile)
                    except Exception:
                        log(f"{name}: FAILED\n{traceback.format_exc()}")
                        rows.append(Row(GROUP, f"{name}: run failed (see stderr)", 1, "",
                                        target="runs", ok=False))
                rows += small_runs(net, (voters, flooders), root)
    return rows


def small_runs(net: TorNet, clients: tuple[ClientTors, ClientTors], root: Path) -> list[Row]:
    """PoW on and off on the emulated small server (surge_small), or a row saying why
    they could not run."""
    why = CpuCap.available()
    if why:
        log(f"small server: skipped ({why})")
        return [Row(GROUP, f"small server runs skipped: {why}", 0, "runs")]
    profile, flood = surge_small.sizes()
    rows: list[Row] = []
    for label, args in (("PoW on + flood", []), ("PoW off + flood", ["--no-pow"])):
        name = f"small server (emulated: tor at {surge_small.CAP_PCT:g} % of a core), {label}"
        try:
            rows += one_run(net, clients, root, name, args, flood, profile, small=True)
        except Exception:
            log(f"{name}: FAILED\n{traceback.format_exc()}")
            rows.append(Row(GROUP, f"{name}: run failed (see stderr)", 1, "",
                            target="runs", ok=False))
    return rows
