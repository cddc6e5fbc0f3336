"""``python -m onion status``'s lines: what a running serve last wrote (``status.json``), or,
with serve stopped, the addresses it would publish, never shown as published."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from onion import rotation, state

START_HINT = "start it with `make run` or `python -m onion serve`"


def ago(ts: float) -> str:
    secs = int(max(0.0, time.time() - ts))
    return f"{secs // 86400}d {secs % 86400 // 3600}h {secs % 3600 // 60}m {secs % 60}s"


def started_at(pid: int) -> float | None:
    """When process ``pid`` started, from the kernel (/proc): status.json keeps no time
    (invariant 6: nothing finer than the day on disk). None where /proc cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
        boot = next(float(line.split()[1]) for line in
                    Path("/proc/stat").read_text("ascii").splitlines()
                    if line.startswith("btime "))
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def running(pid: int, st: dict[str, Any] | None) -> list[str]:
    """serve (``pid``, 0 if not written yet) holds the lock; ``st`` is status.json."""
    if st is None or not pid or st.get("pid") != pid or not st.get("running"):
        return [f"serve:      running, pid {pid or '?'} (starting: no status written yet)"]
    lines = [
        f"serve:      running, pid {pid}",
        f"uptime:     {_uptime(pid)}",
        f"tor:        {st.get('mode')}, bootstrap {st.get('bootstrap')}%, "
        f"restarted {st.get('tor_restarts', 0)} time(s)",
        f"pow:        {'on' if st.get('pow') else 'OFF'}, max streams per circuit "
        f"{st.get('max_streams')}, client auth {'on' if st.get('client_auth') else 'off'}",
        f"web:        {st.get('web')} (restarted {st.get('web_restarts', 0)} time(s))",
    ]
    lines += backend_lines(st.get("backend"))
    for s in st.get("services", []):
        pub = "published" if s.get("published") else "NOT published"
        retire = s.get("retire_at")
        extra = f", retired on {rotation.day(float(retire))}" if retire else ", current"
        lines.append(f"address:    {s['address']}  descriptor {pub}{extra}")
    return lines


def backend_lines(be: Any) -> list[str]:
    """Backend mode (docs/onionbalance.md): the frontend(s) voters use, the instance address
    onionbalance's config.yaml needs, and whether tor uploaded the instance's descriptor."""
    if not isinstance(be, dict):
        return []
    fronts = [str(f) for f in be.get("frontends", [])]
    lines = [f"frontend:   {fronts[0]}  (Onionbalance; voters use this address)"] if fronts \
        else []
    lines += [f"frontend:   {old}  (old, still served)" for old in fronts[1:]]
    pub = "published" if be.get("published") else "NOT published"
    if be.get("instance") is None:    # attached backend mode, address not learnt yet
        lines.append("instance:   address not known yet (serve --instance-address, from the "
                     "instance's HiddenServiceDir/hostname)")
        return lines
    lines.append(f"instance:   {be.get('instance')}  descriptor {pub} (for onionbalance's "
                 "config.yaml)")
    return lines


def _uptime(pid: int) -> str:
    started = started_at(pid)
    return "unknown (no /proc)" if started is None else ago(started)


def stopped(data: Path) -> list[str]:
    """No serve runs: nothing is published; list what serve would publish at its start."""
    lines = [f"serve:      NOT running: no onion address is published ({START_HINT})"]
    grace = (state.read_status(data) or {}).get("grace_seconds")
    default = float(grace) if isinstance(grace, (int, float)) else (
        state.DEFAULT_GRACE_DAYS * state.DAY)
    for s in state.load_services(data):
        retire = s.retire_at(default)
        role = f"old, kept until {rotation.day(retire)}" if retire is not None else "current"
        lines.append(f"address:    {s.address}  configured ({role}), not published: serve "
                     "is not running")
    hostname = state.onion_dir(data) / "instance" / "hostname"   # backend mode
    if hostname.is_file():
        lines.append(f"instance:   {hostname.read_text().strip()}  Onionbalance backend, not "
                     "published: serve is not running")
    return lines
