"""Onionbalance on the private Tor network: N Skrynka backends behind one frontend address.

Following /work/shared/onionbalance-private-network.md: each backend is a real
``python -m onion serve --onionbalance-frontend FRONTEND`` (its own data directory, its own
export key and chain, the same analyst key), the frontend key comes from
``onionbalance-config``, and ``onionbalance --is-testnet`` talks to a tor of its own that
joined the network, started once that tor has bootstrapped (else onionbalance finds no
cached consensus).

Voters are curl through the network's client tor, each with SOCKS credentials of its own:
tor isolates streams by SOCKS credentials (IsolateSOCKSAuth, on by default), so each voter
gets a rendezvous circuit of its own and picks an introduction point from the frontend
descriptor at random, as separate Tor Browsers do. Nothing else about the client is tuned.

    with Balanced.start(root, net, n=2) as bal:
        bal.wait_frontend(240)            # seconds until the first fetch answered
        vote = bal.post_report("voter-1")
        found = decrypt_backends(bal.backends, out_root)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from keys.reader import open_batch
from testkit.formfill import answers, curl_form_args, parse_form
from testkit.onion_serve import Curl, Served, curl_socks, run
from testkit.procfs import alive, rss_kib
from testkit.tornet import Node, TorNet, free_ports, terminate, wait_bootstrapped

BIN = Path(sys.executable).parent


class Backend(Served):
    """A Served whose analyst key is the one already placed in its root (same analysts)."""

    def make_analyst_key(self) -> None:
        if not self.key_file.exists():
            super().make_analyst_key()
            return
        self.data.mkdir(parents=True, exist_ok=True)
        shutil.copy(f"{self.key_file}.pub", self.data / "analysts.pub")

    def instance(self) -> str:
        return str((self.data / "onion" / "instance" / "hostname").read_text().strip())

    def instance_published(self) -> bool:
        path = self.data / "onion" / "status.json"
        be = self.status().get("backend") if path.exists() else None
        return isinstance(be, dict) and bool(be.get("published"))

    def report_count(self) -> int:
        """How many reports its database holds (``python -m app stats``: counts only)."""
        res = run(["-m", "app", "stats"], self.env)
        m = re.search(r"^reports: (\d+)$", res.stdout, re.M)
        assert m, res.stdout
        return int(m.group(1))

    def pids(self) -> list[int]:
        """serve, its tor, gunicorn and gunicorn's workers."""
        if self.proc is None:
            return []
        return [self.proc.pid, *descendants(self.proc.pid)]

    def kill(self) -> None:
        """As a seized or unplugged machine: SIGKILL serve, its tor and its gunicorn."""
        st = self.status()
        victims = self.pids()
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in (st.get("web_pid"), st.get("tor_pid")):
            if isinstance(pid, int):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass
class Vote:
    """One voter's attempt: GET the form and POST a report through the frontend."""

    voter: str
    marker: str
    ok: bool
    page: str                            # the receipt page (its code is in the report)
    started: float
    seconds: float
    detail: str = ""


@dataclass
class Balanced:
    root: Path
    net: TorNet
    backends: list[Backend] = field(default_factory=list)
    frontends: list[str] = field(default_factory=list)    # current first
    front_tor: Node | None = None
    ob_proc: subprocess.Popen[bytes] | None = None
    ob_started: float = 0.0

    @property
    def frontend(self) -> str:
        return self.frontends[0]

    @classmethod
    def start(cls, root: Path, net: TorNet, n: int = 2, frontends: int = 1,
              grace: str = "3600") -> Balanced:
        """``n`` backends; ``frontends`` > 1: as during a frontend move, every backend serves
        them all and onionbalance publishes one descriptor for each."""
        bal = cls(root=root, net=net)
        try:
            bal._start(n, frontends, grace)
        except BaseException:
            bal.stop()
            raise
        return bal

    def _start(self, n: int, frontends: int, grace: str) -> None:
        ob = self.root / "ob"
        keys = [frontend_key(ob, f"f{j}", n) for j in range(frontends)]
        self.frontends = [key.stem + ".onion" for key in keys]
        shared = self.root / "analyst"
        shared.mkdir(parents=True)
        Served.make_analyst_key(Backend(root=shared, net=self.net, env=dict(os.environ)))
        for i in range(n):
            broot = self.root / f"backend{i}"
            broot.mkdir(parents=True)
            for name in ("analyst.key", "analyst.key.pub", "pass"):
                shutil.copy(shared / name, broot / name)
            fronts = [a for f in self.frontends for a in ("--onionbalance-frontend", f)]
            self.backends.append(Backend.start(  # type: ignore[arg-type]
                broot, self.net, [*fronts, "--grace-seconds", grace]))
        for b in self.backends:
            b.wait_for(b.instance_published, 120, "the instance descriptor to be uploaded")
        instances = "".join(f"  - address: {b.instance()}\n    name: node{i + 1}\n"
                            for i, b in enumerate(self.backends))
        (ob / "config.yaml").write_text("services:\n" + "".join(
            f"- instances:\n{instances}  key: {key.name}\n" for key in keys))
        self._start_frontend(ob)

    def _start_frontend(self, ob: Path) -> None:
        port = free_ports(1)[0]
        node = Node("obfront", self.root / "front-tor", port)
        node.launch(self.net.service_config() + f"DataDirectory {node.data}\nNickname obfront\n"
                    f"ControlPort 127.0.0.1:{port}\nCookieAuthentication 1\nSocksPort 0\n")
        self.front_tor = node
        wait_bootstrapped(node, 120)
        log = open(self.root / "onionbalance.log", "ab")  # noqa: SIM115 - lives with the process
        self.ob_proc = subprocess.Popen(
            [str(BIN / "onionbalance"), "--is-testnet", "-v", "info", "-i", "127.0.0.1",
             "-p", str(port), "-c", str(ob / "config.yaml")], cwd=ob, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.ob_started = time.monotonic()

    def ob_log(self) -> str:
        path = self.root / "onionbalance.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_frontend(self, timeout: float, address: str = "") -> float:
        """Seconds from onionbalance's start until a GET through the frontend (``address``,
        default the current one) answered."""
        address = address or self.frontend
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.ob_proc is not None and self.ob_proc.poll() is None, self.ob_log()
            res = self.curl(f"probe-{address[:8]}", f"http://{address}/en/", [],
                            max_time=min(45, max(5, deadline - time.monotonic())))
            if res.code == 0 and res.status == 200:
                return time.monotonic() - self.ob_started
            time.sleep(2)
        raise AssertionError(f"the frontend did not answer within {timeout} s\n"
                             + self.ob_log()[-3000:])

    def curl(self, voter: str, url: str, extra: list[str], max_time: float) -> Curl:
        """curl through the network's client as ``voter`` (its own SOCKS credentials)."""
        return curl_socks(self.net.socks_port, url, self.root / f"curl-{voter}.body", extra,
                          max_time, user=voter)

    def post_report(self, voter: str, max_time: float = 45, address: str = "") -> Vote:
        """One voter: GET the form, POST a report through the frontend (``address``,
        default the current one); acknowledged when the receipt shows."""
        address = address or self.frontend
        marker = f"balance {voter} {secrets.token_hex(5)}"
        t0 = time.monotonic()
        page = self.curl(voter, f"http://{address}/en/", [], max_time=max_time)
        if page.code != 0 or page.status != 200:
            return Vote(voter, marker, False, "", t0, time.monotonic() - t0,
                        f"GET: curl {page.code}, HTTP {page.status}")
        form = parse_form(page.body)
        values = answers(form, marker)
        action = urljoin(f"http://{address}/en/", form.action or "/en/")
        got = self.curl(voter, action, ["-L", *curl_form_args(values, {})], max_time=max_time)
        ok = got.code == 0 and got.status == 200 and 'class="receipt"' in got.body
        return Vote(voter, marker, ok, got.body if ok else "", t0, time.monotonic() - t0,
                    f"POST: curl {got.code}, HTTP {got.status}")

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of the processes this adds beside the network's, in MiB."""
        out: dict[str, float] = {}
        for i, b in enumerate(self.backends):
            out[f"backend{i}"] = sum(rss_kib(p) for p in b.pids() if alive(p)) / 1024
        if self.front_tor is not None and self.front_tor.proc is not None:
            out["frontend tor"] = rss_kib(self.front_tor.proc.pid) / 1024
        if self.ob_proc is not None and self.ob_proc.poll() is None:
            out["onionbalance"] = rss_kib(self.ob_proc.pid) / 1024
        return out

    def all_pids(self) -> list[int]:
        pids = [p for b in self.backends for p in b.pids()]
        if self.front_tor is not None and self.front_tor.proc is not None:
            pids.append(self.front_tor.proc.pid)
        if self.ob_proc is not None:
            pids.append(self.ob_proc.pid)
        return pids

    def stop(self) -> list[int]:
        """Stop everything; returns the pids that were running (to check none is left)."""
        pids = self.all_pids()
        if self.ob_proc is not None:
            terminate(self.ob_proc)
        if self.front_tor is not None:
            self.front_tor.stop()
        for b in self.backends:
            with contextlib.suppress(Exception):
                b.stop()
        for pid in pids:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        return pids

    def __enter__(self) -> Balanced:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def frontend_key(ob: Path, name: str, n: int) -> Path:
    """A frontend key made by ``onionbalance-config`` (as on the offline machine), in ``ob``."""
    res = subprocess.run([str(BIN / "onionbalance-config"), "--hs-version", "v3",
                          "--no-interactive", "-n", str(n), "--output", str(ob / name)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    key = next((ob / name).glob("*.key"))
    return Path(shutil.move(key, ob / key.name))


def decrypt_backends(backends: list[Backend], out_root: Path) -> dict[str, list[dict[str, Any]]]:
    """Export each backend's batch and decrypt them all in ONE ``keys decrypt`` run into one
    output directory, as the analysts do: a ``--signer NAME=export.key`` per backend (the
    directory pins them all; each chain is checked against its own key), then the reports
    split by the chain each backend's batch carries: ``{backend name: [report.json dicts]}``."""
    out_root.mkdir(parents=True, exist_ok=True)
    env = backends[0].env
    chains: dict[str, str] = {}
    args = ["-m", "keys", "decrypt", "--key", str(backends[0].key_file), "--passphrase-file",
            str(backends[0].root / "pass"), "--out", str(out_root / "all")]
    batches = []
    for i, b in enumerate(backends):
        batch = out_root / f"backend{i}.batch"
        run(["-m", "app", "export", "--out", str(batch)], b.env)
        with open_batch(batch) as bf:
            chains[bf.manifest.chain_id.hex()] = f"backend{i}"
        args += ["--signer", f"backend{i}={b.data / 'export.key'}"]
        batches.append(str(batch))
    run([*args, *batches], env)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in chains.values()}
    for line in (out_root / "all" / "reports.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        folder = out_root / "all" / row["report_id"]
        report = json.loads((folder / "report.json").read_text("utf-8"))
        found[chains[row["chain_id"]]].append(report)
    return found


def count_markers(found: dict[str, list[dict[str, Any]]],
                  markers: list[str]) -> dict[str, dict[str, int]]:
    """{marker: {backend: how many of its reports carry it}}."""
    out: dict[str, dict[str, int]] = {m: {} for m in markers}
    for name, reports in found.items():
        for report in reports:
            text = str(report.get("fields"))
            for m in markers:
                if m in text:
                    out[m][name] = out[m].get(name, 0) + 1
    return out


def outage(votes: list[Vote]) -> float:
    """Seconds from the first failed attempt to the end of the next acknowledged one (0 if
    none failed); the time to an acknowledgment if none came after the failure."""
    first = next((v for v in votes if not v.ok), None)
    if first is None:
        return 0.0
    after = [v for v in votes if v.started > first.started and v.ok]
    end = after[0] if after else votes[-1]
    return end.started + end.seconds - first.started
