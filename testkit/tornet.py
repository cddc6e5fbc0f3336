"""A private Tor network on 127.0.0.1 for the end-to-end tests.

One directory authority, five relays and one client (TestingTorNetwork mode), following
/work/shared/tor-private-network.md. Five relays, not the recipe's minimum of three: with
exactly four nodes every 4-hop onion circuit must use all of them, and a relaunched onion
tor logged "No available nodes" while choosing paths; spares leave path selection room.
The onion service's own tor is launched by ``python -m onion serve`` with
:meth:`TorNet.service_config` as extra torrc lines.

    with TorNet.start(tmp_dir) as net:
        net.wait_client_bootstrapped(120)
        net.socks_port            # the client's SOCKS port for curl/Chromium
        net.service_config()      # torrc lines that join this network

Every tor started here runs with MALLOC_ARENA_MAX=1 in its own session and is killed on
``stop()`` (also on a failed start); nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import stem
from stem.control import Controller

RELAYS = 5

VOTING_INTERVAL = 20
VOTE_DELAY = 4

COMMON = """TestingTorNetwork 1
AssumeReachable 1
PathsNeededToBuildCircuits 0.67
TestingDirAuthVoteExit *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthNIntervalsValid 2
ShutdownWaitLength 0
"""

RELAY = """Address 127.0.0.1
SocksPort 0
ExitRelay 0
ExitPolicy reject *:*
ServerDNSDetectHijacking 0
ServerDNSTestAddresses
ServerDNSResolvConfFile /dev/null
"""


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(int(s.getsockname()[1]))
    finally:
        for s in socks:
            s.close()
    return ports


def terminate(proc: subprocess.Popen[bytes], wait: float = 10) -> None:
    """SIGTERM a process still running, SIGKILL it if it has not exited within ``wait`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(wait)


def tor_env() -> dict[str, str]:
    return dict(os.environ, MALLOC_ARENA_MAX="1")


def fingerprint(data: Path, nick: str) -> str:
    out = subprocess.run(
        ["tor", "--ignore-missing-torrc", "-f", "/dev/null", "--defaults-torrc", "/dev/null",
         "--DataDirectory", str(data), "--ORPort", "1", "--Nickname", nick,
         "--list-fingerprint"], capture_output=True, text=True, timeout=60, check=True,
        env=tor_env())
    m = re.search(rf"^{nick} ([0-9A-F ]{{40,}})$", out.stdout, re.M)
    assert m, out.stdout + out.stderr
    return m.group(1).replace(" ", "")


@dataclass
class Node:
    name: str
    data: Path
    control_port: int
    proc: subprocess.Popen[bytes] | None = None

    def launch(self, torrc: str) -> None:
        self.data.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data, 0o700)
        path = self.data / "torrc"
        path.write_text(torrc)
        log = open(self.data / "tor.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(["tor", "-f", str(path), "--defaults-torrc", "/dev/null"],
                                     stdout=log, stderr=subprocess.STDOUT, env=tor_env(),
                                     start_new_session=True)
        log.close()

    def controller(self) -> Controller:
        ctl = Controller.from_port(address="127.0.0.1", port=self.control_port)
        ctl.authenticate()
        return ctl

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)


@dataclass
class TorNet:
    root: Path
    nodes: list[Node] = field(default_factory=list)
    dir_authority: str = ""
    socks_port: int = 0

    @classmethod
    def start(cls, root: Path) -> TorNet:
        net = cls(root=root)
        try:
            net._start()
        except BaseException:
            net.stop()
            raise
        return net

    def _start(self) -> None:
        ports = free_ports(4 + 2 * RELAYS + 1)
        auth_or, auth_dir, self.socks_port = ports[0], ports[1], ports[2]
        auth = Node("auth0", self.root / "auth0", ports[3])
        keys = auth.data / "keys"
        keys.mkdir(parents=True, mode=0o700)
        subprocess.run(
            ["tor-gencert", "--create-identity-key", "--passphrase-fd", "0",
             "-i", str(keys / "authority_identity_key"), "-s", str(keys / "authority_signing_key"),
             "-c", str(keys / "authority_certificate"), "-m", "12", "-a",
             f"127.0.0.1:{auth_dir}"], input=b"\n", capture_output=True, timeout=60, check=True)
        cert = (keys / "authority_certificate").read_text()
        m = re.search(r"^fingerprint ([0-9A-F]{40})$", cert, re.M)
        assert m, cert
        fpr = fingerprint(auth.data, "auth0")
        self.dir_authority = (f"DirAuthority auth0 orport={auth_or} no-v2 v3ident={m.group(1)} "
                              f"127.0.0.1:{auth_dir} {fpr}")
        offset = (int(time.time()) + 6 + 2 * VOTE_DELAY) % VOTING_INTERVAL
        auth.launch(self._torrc(auth, or_port=auth_or) + RELAY + f"""DirPort 127.0.0.1:{auth_dir}
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingV3AuthInitialVotingInterval {VOTING_INTERVAL}
TestingV3AuthInitialVoteDelay {VOTE_DELAY}
TestingV3AuthInitialDistDelay {VOTE_DELAY}
V3AuthVotingInterval {VOTING_INTERVAL}
V3AuthVoteDelay {VOTE_DELAY}
V3AuthDistDelay {VOTE_DELAY}
AuthDirVoteStableGuaranteeMinUptime 0
AuthDirVoteStableGuaranteeMTBF 0
TestingV3AuthVotingStartOffset {offset}
""")
        self.nodes.append(auth)
        for i in range(RELAYS):
            relay = Node(f"relay{i}", self.root / f"relay{i}", ports[4 + 2 * i])
            relay.launch(self._torrc(relay, or_port=ports[5 + 2 * i]) + RELAY)
            self.nodes.append(relay)
        client = Node("client", self.root / "client", ports[4 + 2 * RELAYS])
        client.launch(self._torrc(client) + f"SocksPort 127.0.0.1:{self.socks_port}\n")
        self.nodes.append(client)

    def _torrc(self, node: Node, or_port: int | None = None) -> str:
        text = (COMMON + f"DataDirectory {node.data}\nNickname {node.name}\n"
                f"ControlPort 127.0.0.1:{node.control_port}\nCookieAuthentication 1\n"
                f"{self.dir_authority}\n")
        if or_port is not None:
            text += f"ORPort 127.0.0.1:{or_port}\n"
        return text

    @property
    def client(self) -> Node:
        return self.nodes[-1]

    def service_config(self) -> str:
        """torrc lines for a tor (serve's) that should join this network."""
        return COMMON + self.dir_authority + "\n"

    def pids(self) -> list[int]:
        return [n.proc.pid for n in self.nodes if n.proc is not None]

    def wait_client_bootstrapped(self, timeout: float) -> None:
        wait_bootstrapped(self.client, timeout, watch=self.nodes)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        for node in self.nodes:
            if node.proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(node.proc.pid, signal.SIGKILL)

    def __enter__(self) -> TorNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_bootstrapped(node: Node, timeout: float, watch: list[Node] | None = None) -> None:
    """Wait until ``node``'s tor reports 100 % bootstrapped; fail at once if it (or any tor
    of ``watch``) exited."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for other in watch or [node]:
            if other.proc is not None and other.proc.poll() is not None:
                raise RuntimeError(f"tor {other.name} exited: see {other.data / 'tor.log'}")
        try:
            with node.controller() as ctl:
                last = ctl.get_info("status/bootstrap-phase")
                if "PROGRESS=100" in last:
                    return
        except (stem.SocketError, stem.ControllerError) as exc:
            last = str(exc)
        time.sleep(1)
    raise TimeoutError(f"tor {node.name} did not bootstrap: {last}")
