"""``python -m onion serve`` against the real app, joined to the private Tor network.

The analyst key is made with the real keys CLI; reports are fetched and posted through
the network's Tor client with ``curl --socks5-hostname`` (the name goes to tor, no DNS).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stem import Signal as TorSignal

from testkit.tornet import TorNet, free_ports

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "correct horse battery staple e2e"
CURL_TIMEOUT = 28  # curl's exit code for --max-time reached


def run(args: list[str], env: dict[str, str], timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    if check:
        assert res.returncode == 0, f"{args} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


@dataclass
class Curl:
    code: int           # curl's exit status (0 ok, 97 SOCKS failure, 28 timeout)
    status: int         # HTTP status (0 if none)
    body: str
    url: str = ""


def curl_socks(socks_port: int, url: str, body: Path, extra: list[str] | None = None,
               max_time: float = 30, user: str | None = None) -> Curl:
    """curl ``url`` through tor's SOCKS port (the name goes to tor, no DNS); ``user``: SOCKS
    credentials of its own, so tor gives it a circuit of its own (IsolateSOCKSAuth)."""
    proxy = f"socks5h://{user}:x@127.0.0.1:{socks_port}" if user else \
        f"socks5h://127.0.0.1:{socks_port}"
    res = subprocess.run(
        ["curl", "-sS", "-o", str(body), "-w", "%{http_code}", "--max-time", str(max_time),
         "-x", proxy, *(extra or []), url], capture_output=True, text=True,
        timeout=max_time + 10)
    text = body.read_text(errors="replace") if body.exists() else ""
    body.unlink(missing_ok=True)
    return Curl(res.returncode, int(res.stdout or 0), text, url)


@dataclass
class Served:
    root: Path
    net: TorNet
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "serve.log"

    @classmethod
    def start(cls, root: Path, net: TorNet, extra: list[str] | None = None,
              port: int | None = None, own_tor: bool = True) -> Served:
        """``own_tor=False``: serve attaches to a tor ``extra`` names (--control-port)."""
        root.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, SKRYNKA_DATA=str(root / "data"), PYTHONPATH=str(ROOT))
        env.pop("SKRYNKA_HOSTNAMES_FILE", None)
        srv = cls(root=root, net=net, env=env)
        srv.make_analyst_key()
        run(["-m", "app", "init"], env)
        (root / "network.torrc").write_text(net.service_config())
        port = port or free_ports(1)[0]
        tor = ["--tor-config", str(root / "network.torrc")] if own_tor else []
        with open(srv.log, "ab") as log:
            srv.proc = subprocess.Popen(
                [sys.executable, "-m", "onion", "serve", *tor, "--bind", f"127.0.0.1:{port}",
                 *(extra or [])],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        srv.wait_for(lambda: "onion address:" in srv.log_text(), 60, "serve to start")
        return srv

    def make_analyst_key(self) -> None:
        (self.root / "pass").write_text(PASSPHRASE + "\n")
        run(["-m", "keys", "keygen", "--out", str(self.key_file), "--passphrase-file",
             str(self.root / "pass"), "--kdf-memory-mib", "64", "--kdf-passes", "1"], self.env)
        self.data.mkdir(parents=True, exist_ok=True)
        pub = Path(str(self.key_file) + ".pub").read_text()
        (self.data / "analysts.pub").write_text(pub)

    @property
    def key_file(self) -> Path:
        return self.root / "analyst.key"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, cond: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}):\n{self.log_text()}")
            if cond():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n"
                             + self.log_text()[-3000:])

    def services(self) -> list[dict[str, Any]]:
        raw = json.loads((self.data / "onion" / "services.json").read_text())
        return list(raw["services"])

    @property
    def address(self) -> str:
        return next(s["address"] for s in self.services() if s["superseded_at"] is None)

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.data / "onion" / "status.json").read_text()))

    def hostnames(self) -> list[str]:
        """The served names in file order (an old one carries a ``# until …`` comment)."""
        text = (self.data / "onion" / "hostnames").read_text()
        return [line.split("#", 1)[0].strip() for line in text.splitlines()
                if line.split("#", 1)[0].strip()]

    def curl(self, url: str, extra: list[str] | None = None, max_time: float = 30) -> Curl:
        return curl_socks(self.net.socks_port, url, self.root / "curl.body", extra, max_time)

    def fetch(self, address: str, path: str = "/", timeout: float = 120,
              extra: list[str] | None = None) -> Curl:
        """GET (or what ``extra`` says) through Tor, retrying SOCKS/timeout failures.

        Each attempt may take up to 60 s: after the service's tor restarts, the client
        must first give up the intro points of its cached descriptor and fetch the new
        one. An attempt cut at 15 s (as this once did) abandons that every time and the
        address looked dead for minutes; a voter's Tor Browser waits longer too.
        """
        deadline = time.monotonic() + timeout
        last = Curl(-1, 0, "")
        while time.monotonic() < deadline:
            last = self.curl(f"http://{address}{path}", extra,
                             max_time=min(60, max(5, deadline - time.monotonic())))
            if last.code == 0:
                return last
            if last.code == CURL_TIMEOUT:
                self.new_client_circuits()
            time.sleep(1)
        raise AssertionError(f"{address}{path} did not answer within {timeout} s "
                             f"(curl exit {last.code})\n{self.log_text()[-3000:]}")

    def new_client_circuits(self) -> None:
        """What a voter's "New Tor circuit for this site" does (SIGNAL NEWNYM).

        A client that sent its introduction just as the service's tor was killed
        got an ack from the old intro point and then waits on that rendezvous
        circuit, and tor attaches every new request to it, for minutes (seen in
        the client's info log). That is tor's client, not the service: the
        service was published again meanwhile, as the tests check first.
        """
        with self.net.client.controller() as ctl:
            ctl.signal(TorSignal.NEWNYM)

    def wait_republished(self, old_pid: int, timeout: float = 60) -> None:
        """Wait until serve relaunched tor and every service's descriptor is uploaded again."""
        def done() -> bool:
            st = self.status()
            services = st.get("services") or []
            return (st.get("tor_pid") not in (None, old_pid) and bool(services)
                    and all(s.get("published") for s in services))

        self.wait_for(done, timeout, "serve to relaunch tor and publish its services again")

    def tor_pid(self) -> int:
        pid = self.status().get("tor_pid")
        assert isinstance(pid, int), self.status()
        return pid

    def export_and_decrypt(self, out: Path) -> list[tuple[dict[str, Any], Path]]:
        """``python -m app export`` then ``python -m keys decrypt``: each report.json and
        the folder it is in (with the attachments)."""
        batch = out.with_suffix(".batch")
        run(["-m", "app", "export", "--out", str(batch)], self.env)
        run(["-m", "keys", "decrypt", "--signer", str(self.data / "export.key"),
             "--key", str(self.key_file), "--passphrase-file",
             str(self.root / "pass"), "--out", str(out), str(batch)], self.env)
        assert (out / "reports.jsonl").exists()
        return [(json.loads(p.read_text("utf-8")), p.parent)
                for p in sorted(out.glob("**/report.json"))]

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode
