"""What the surge bench and test watch: extra client tors, the PoW effort clients paid,
the published ``pow-params``, and CPU seconds per process group.

PoW effort: tor (0.4.8+) adds ``HS_POW=v1,<effort>`` to CIRC events of a client's
introduction circuits (control-spec, CIRC). stem 1.8.2 does not parse it, so the raw
event line is read. The service publishes ``pow-params v1 <seed> <suggested-effort>
<expiration>`` in its descriptor's encrypted inner layer and updates the suggested effort
every 300 s (tor's HS_UPDATE_PERIOD); PoWQueueRate/PoWQueueBurst are never published.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stem
from stem.control import Controller, EventType
from stem.descriptor.hidden_service import HiddenServiceDescriptorV3

from testkit.procfs import CLK_TCK
from testkit.tornet import COMMON, Node, TorNet, free_ports, wait_bootstrapped

POW_RE = re.compile(r"\bHS_POW=v1,(\d+)")
PARAMS_RE = re.compile(r"^pow-params (\S+) (\S+) (\d+) (\S+)$", re.M)


class ClientTors:
    """``n`` more client tors on ``net`` (each a voter's device group; own SOCKS port)."""

    def __init__(self, net: TorNet, root: Path, n: int) -> None:
        ports = free_ports(2 * n)
        self.nodes = [Node(f"surgec{i}", root / f"surgec{i}", ports[2 * i]) for i in range(n)]
        self.socks_ports = [ports[2 * i + 1] for i in range(n)]
        self.net = net

    def __enter__(self) -> ClientTors:
        try:
            for node, socks in zip(self.nodes, self.socks_ports):
                node.launch(COMMON + f"DataDirectory {node.data}\nNickname {node.name}\n"
                            f"ControlPort 127.0.0.1:{node.control_port}\n"
                            f"CookieAuthentication 1\n{self.net.dir_authority}\n"
                            f"SocksPort 127.0.0.1:{socks}\n")
            self.wait_bootstrapped(120)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_bootstrapped(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            wait_bootstrapped(node, max(1.0, deadline - time.monotonic()), watch=self.nodes)

    def pids(self) -> list[int]:
        return [n.proc.pid for n in self.nodes if n.proc is not None]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@dataclass
class PowWatch:
    """Records the effort on every client introduction circuit of the given tors."""

    nodes: list[Node]
    efforts: dict[tuple[str, str], int] = field(default_factory=dict)  # (tor, circ) -> effort
    seen: dict[tuple[str, str], float] = field(default_factory=dict)  # first event, monotonic
    _ctls: list[Controller] = field(default_factory=list)

    def __enter__(self) -> PowWatch:
        for node in self.nodes:
            ctl = node.controller()
            ctl.add_event_listener(self._handler(node.name), EventType.CIRC)
            self._ctls.append(ctl)
        return self

    def _handler(self, name: str) -> Callable[[Any], None]:
        def on_circ(event: Any) -> None:
            raw = str(event.raw_content() if hasattr(event, "raw_content") else event)
            if "PURPOSE=HS_CLIENT_INTRO" not in raw:
                return
            m = POW_RE.search(raw)
            key = (name, str(getattr(event, "id", "")) or raw.split()[1])
            effort = int(m.group(1)) if m else 0  # no HS_POW: no PoW sent (effort 0)
            self.efforts[key] = max(self.efforts.get(key, 0), effort)
            self.seen.setdefault(key, time.monotonic())
        return on_circ

    def __exit__(self, *exc: object) -> None:
        for ctl in self._ctls:
            with contextlib.suppress(Exception):
                ctl.close()

    def log(self, since: float) -> list[tuple[float, str, int]]:
        """(seconds after ``since`` it was first seen, tor name, effort) per circuit."""
        return sorted((self.seen[k] - since, k[0], e) for k, e in self.efforts.items()
                      if k in self.seen)

    def summary(self) -> tuple[int, int, int, float]:
        """(introduction circuits seen, of them with effort > 0, max effort, mean effort)."""
        vals = list(self.efforts.values())
        if not vals:
            return 0, 0, 0, 0.0
        return len(vals), sum(1 for v in vals if v > 0), max(vals), sum(vals) / len(vals)


@dataclass(frozen=True)
class PowParams:
    type: str
    seed: str
    suggested_effort: int
    expiration: str


def published_pow(node: Node, address: str, timeout: float = 60) -> tuple[bool, PowParams | None]:
    """Fetch ``address``'s descriptor afresh on ``node`` (HSFETCH), decrypt it, read its
    ``pow-params`` line. (fetched, params or None when the line is absent)."""
    sid = address.removesuffix(".onion")
    got = threading.Event()

    def on_desc(event: Any) -> None:
        if getattr(event, "address", None) == sid and event.action in ("RECEIVED", "FAILED"):
            got.set()

    with node.controller() as ctl:
        ctl.add_event_listener(on_desc, EventType.HS_DESC)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline and not text:
            got.clear()
            ctl.msg(f"HSFETCH {sid}")
            got.wait(min(20, max(1, deadline - time.monotonic())))
            with contextlib.suppress(stem.ControllerError):
                text = ctl.get_info(f"hs/client/desc/id/{sid}")
    if not text:
        return False, None
    inner = HiddenServiceDescriptorV3.from_str(text).decrypt(address)
    m = PARAMS_RE.search(str(inner))
    if m is None:
        return True, None
    return True, PowParams(m.group(1), m.group(2), int(m.group(3)), m.group(4))


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                raw = Path(f"/proc/{entry}/stat").read_text()
                if int(raw.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
    return out


def thread_cpu(pid: int, tid: int) -> float:
    """CPU seconds of one thread (tor's main thread is tid == pid)."""
    try:
        f = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)
