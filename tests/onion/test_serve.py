"""``python -m onion serve`` and ``status`` with a real tor (no network needed: tor accepts
ADD_ONION before it bootstraps) and a tiny WSGI app; failures give one clear line + hint."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from stem.control import Controller

from testkit.tornet import free_ports

ROOT = Path(__file__).resolve().parents[2]
STUB = "tests.onion.wsgi_stub:app"


def onion(*args: str, env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def real_tor(tmp: Path, lines: str, port: int | None = None,
             sock: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """An operator's tor, offline (DisableNetwork), control port or socket; reusable dir."""
    port = port or free_ports(1)[0]
    data = tmp / "optor"
    data.mkdir(mode=0o700, exist_ok=True)
    control = f"ControlSocket {sock}" if sock else f"ControlPort 127.0.0.1:{port}"
    (data / "torrc").write_text(f"DataDirectory {data}\nSocksPort 0\nDisableNetwork 1\n"
                                f"{control}\n{lines}")
    proc = subprocess.Popen(["tor", "-f", str(data / "torrc"), "--defaults-torrc", os.devnull],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, MALLOC_ARENA_MAX="1"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if sock:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
            else:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            assert proc.poll() is None, "tor exited"
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("tor did not open its control port")


class Output:
    """serve's stdout, collected by a thread so waits stay bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self.thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait(self, needle: str, timeout: float, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.text.count(needle) < count:
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.text}"
            time.sleep(0.1)


@pytest.fixture
def operator_tor(tmp_path: Path) -> Iterator[int]:
    proc, port = real_tor(tmp_path, "CookieAuthentication 1\n")
    yield port
    proc.terminate()
    proc.wait(20)


def test_bind_beyond_loopback_is_refused(tmp_path: Path) -> None:
    res = onion("--data", str(tmp_path), "serve", "--bind", "0.0.0.0:8080")
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == (
        "onion: error: --bind: '0.0.0.0:8080' is not a loopback address; refusing to listen on it")
    assert res.stderr.splitlines()[1].startswith("hint: the web server listens only on loopback")


def test_bind_to_a_unix_socket_is_refused(tmp_path: Path) -> None:
    """tor and the local look reach the web server over TCP: serve wants HOST:PORT."""
    res = onion("--data", str(tmp_path), "serve", "--bind", f"unix:{tmp_path / 'web.sock'}")
    assert res.returncode == 2
    assert "serve runs the web server on a loopback TCP port, not a unix socket" in res.stderr
    assert "hint: use 127.0.0.1:PORT" in res.stderr
    assert not (tmp_path / "onion").exists()    # refused before anything was made


def test_control_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    res = onion("--data", str(tmp_path), "serve", "--control-port", "70000")
    assert res.returncode == 2
    assert res.stderr == "onion: error: --control-port 70000 is not a TCP port\n"


def test_tor_missing(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path / "empty"))
    res = onion("--data", str(tmp_path), "serve", env=env)
    assert res.returncode == 20
    assert res.stderr.splitlines() == [
        "onion: error: tor is not installed (no `tor` on PATH)",
        "hint: install it: `apt-get install tor` (or `make setup`), then try again"]


def test_tor_too_old(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tor").write_text("#!/bin/sh\necho 'Tor version 0.4.8.13.'\n")
    (bindir / "tor").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    res = onion("--data", str(tmp_path), "serve", env=env)
    assert res.returncode == 20
    assert "tor 0.4.8.13 is too old: onion-service proof-of-work needs 0.4.9.2" in res.stderr
    assert "hint: install tor 0.4.9.2 or newer" in res.stderr


def test_control_port_closed(skrynka_data: Path) -> None:
    port = free_ports(1)[0]
    res = onion("--data", str(skrynka_data), "serve", "--control-port", str(port), "--wsgi",
                STUB, "--bind", f"127.0.0.1:{free_ports(1)[0]}")
    assert res.returncode == 22
    assert f"tor's control port 127.0.0.1:{port} refused us" in res.stderr.splitlines()[0]
    assert "hint: check the path/port: is tor running" in res.stderr
    assert "`ControlPort 127.0.0.1:PORT` as in torrc.example" in res.stderr
    assert "cookie" not in res.stderr.lower()     # we never got as far as authenticating


def test_control_socket_missing(skrynka_data: Path) -> None:
    sock = skrynka_data / "no-tor-here" / "control"
    res = onion("--data", str(skrynka_data), "serve", "--control-socket", str(sock), "--wsgi",
                STUB, "--bind", f"127.0.0.1:{free_ports(1)[0]}")
    assert res.returncode == 22
    lines = res.stderr.splitlines()
    assert lines[0] == (f"onion: error: tor's control socket {sock} refused us: [Errno 2] No "
                        "such file or directory")
    assert lines[1] == ("hint: check the path/port: is tor running (`systemctl status tor`), "
                        "and does its torrc have `ControlSocket PATH` (Debian: /run/tor/control)"
                        " as in torrc.example, the same as given to serve?")
    assert "cookie" not in res.stderr.lower()


@pytest.mark.tor
def test_control_port_refuses_authentication(tmp_path: Path, skrynka_data: Path) -> None:
    hashed = subprocess.run(["tor", "--quiet", "--hash-password", "not-ours"],
                            capture_output=True, text=True, timeout=30).stdout.strip()
    proc, port = real_tor(tmp_path, f"HashedControlPassword {hashed}\n")
    try:
        res = onion("--data", str(skrynka_data), "serve", "--control-port", str(port), "--wsgi",
                    STUB, "--bind", f"127.0.0.1:{free_ports(1)[0]}")
    finally:
        proc.terminate()
        proc.wait(20)
    assert res.returncode == 22
    assert "refused our authentication" in res.stderr.splitlines()[0]
    assert "CookieAuthentication 1" in res.stderr     # the cookie hint is for this case


@pytest.mark.tor
@pytest.mark.parametrize("look", [[], ["--local-look"]], ids=["default", "local-look"])
def test_attached_serve_publishes_detached_and_cleans_up(skrynka_data: Path, operator_tor: int,
                                                         look: list[str]) -> None:
    web_port = free_ports(1)[0]
    data = skrynka_data
    env = dict(os.environ, SKRYNKA_ALLOW_LOCAL_HOST="1")  # serve's flag decides, not this
    proc = subprocess.Popen(
        [sys.executable, "-m", "onion", "--data", str(data), "serve", "--control-port",
         str(operator_tor), "--wsgi", STUB, "--bind", f"127.0.0.1:{web_port}",
         "--bootstrap-warn", "2", *look], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not any("has not bootstrapped" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "serve exited:\n" + "".join(lines)
            lines.append(line)
        text = "".join(lines)
        address = re.search(r"onion address: http://([a-z2-7]{56})\.onion/", text)
        assert address, text
        assert "proof-of-work defense on" in text
        assert ("onion: WARNING: running as root" in text) == (os.geteuid() == 0)
        local_look = f"serving on http://127.0.0.1:{web_port}/ for a local look"
        how = ("for a local look at the form, restart serve with --local-look and open "
               f"http://127.0.0.1:{web_port}/")
        assert (local_look in text, how in text) == ((True, False) if look else (False, True))
        with Controller.from_port(port=operator_tor) as ctl:
            ctl.authenticate()
            assert address.group(1) in ctl.get_info("onions/detached").split()
        local = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{web_port}/"],
                               capture_output=True, text=True, timeout=30)
        assert local.stdout == ("stub drop at 127.0.0.1\n" if look else "unknown host\n")
        onion_host = subprocess.run(
            ["curl", "-sS", "-H", f"Host: {address.group(1)}.onion",
             f"http://127.0.0.1:{web_port}/"], capture_output=True, text=True, timeout=30)
        assert onion_host.stdout == f"stub drop at {address.group(1)}.onion\n"
        assert (data / "onion" / "hostnames").read_text() == address.group(1) + ".onion\n"
        time.sleep(2.5)       # status.json is refreshed every 2 s
        status = onion("--data", str(data), "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "serve:      running" in status.stdout
        assert f"{address.group(1)}.onion  descriptor NOT published, current" in status.stdout
        assert "pow:        on" in status.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    with Controller.from_port(port=operator_tor) as ctl:
        ctl.authenticate()
        assert ctl.get_info("onions/detached").split() == []
    status = onion("--data", str(data), "status")
    assert status.returncode == 27 and "serve:      NOT running" in status.stdout


def test_status_without_serve(skrynka_data: Path) -> None:
    res = onion("--data", str(skrynka_data), "status")
    assert res.returncode == 27
    assert res.stderr.startswith("onion: error: no status in ")


@pytest.mark.tor
def test_attached_over_socket_survives_a_tor_restart(tmp_path: Path, skrynka_data: Path) -> None:
    sock = tmp_path / "optor" / "control.sock"
    optor, _ = real_tor(tmp_path, "CookieAuthentication 1\n", sock=sock)
    data = skrynka_data
    proc = subprocess.Popen(
        [sys.executable, "-m", "onion", "--data", str(data), "serve", "--control-socket",
         str(sock), "--wsgi", STUB, "--bind", f"127.0.0.1:{free_ports(1)[0]}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Output(proc)

    def detached() -> list[str]:
        with Controller.from_socket_file(str(sock)) as ctl:
            ctl.authenticate()
            return str(ctl.get_info("onions/detached", "")).split()

    try:
        out.wait("onion address: ", 30)
        sid = re.search(r"http://([a-z2-7]{56})\.onion/", out.text)
        assert sid, out.text
        assert detached() == [sid.group(1)]
        optor.kill()
        optor.wait(10)
        out.wait("lost the control connection to tor; reconnecting", 10)
        optor, _ = real_tor(tmp_path, "CookieAuthentication 1\n", sock=sock)
        out.wait("tor is back; the same address(es) are handed to it again", 30)
        assert detached() == [sid.group(1)]
        assert out.text.count("lost the control connection") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        alive = optor.poll() is None
        if alive:
            remaining = detached()
        optor.terminate()
        optor.wait(20)
    assert proc.returncode == 0, out.text
    assert alive and remaining == []


def test_serve_warns_once_when_run_as_root() -> None:
    from onion.serve import warn_if_root

    said: list[str] = []
    warn_if_root(said.append, 1000)
    assert said == []
    warn_if_root(said.append, 0)
    assert said == [
        "WARNING: running as root: a flaw in tor, gunicorn or the app would own the whole "
        "machine",
        "hint: run serve as a dedicated unprivileged user that owns the data directory "
        "(README, \"Run it as an unprivileged user\")"]


@pytest.mark.parametrize("argv,allowed", [([], "0"), (["--local-look"], "1"),
                                          (["--no-local-look"], "0")])
def test_local_look_is_opt_in(tmp_path: Path, argv: list[str], allowed: str) -> None:
    """The app answers Host: 127.0.0.1 only when asked, whatever the environment says."""
    from onion.cli import parser
    from onion.serve import ServeConfig, Server

    args = parser().parse_args(["serve", *argv])
    cfg = ServeConfig(data=tmp_path, local_look=args.local_look,
                      env={"SKRYNKA_ALLOW_LOCAL_HOST": "1"})
    server = Server(cfg, print)
    assert server.web.env["SKRYNKA_ALLOW_LOCAL_HOST"] == allowed
    text = server.not_bootstrapped(-1)
    assert text.startswith("tor has not bootstrapped (0%, no network?); ")
    if allowed == "1":
        assert text.endswith("serving on http://127.0.0.1:8086/ for a local look")
    else:
        assert "restart serve with --local-look and open http://127.0.0.1:8086/" in text
        assert "serving on" not in text
