"""The app under gunicorn on loopback, as a child process we can restart."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from onion.errors import OnionError, UsageError

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def parse_bind(bind: str) -> tuple[str, int]:
    """``127.0.0.1:PORT`` only: the web server never listens beyond loopback."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--bind wants HOST:PORT, not {bind!r}")
    if host not in LOOPBACK:
        raise UsageError(f"--bind {bind}: the web server listens only on loopback",
                         "use 127.0.0.1:PORT; tor forwards onion traffic to it")
    return ("127.0.0.1" if host == "localhost" else host.strip("[]")), int(port)


class Web:
    def __init__(self, bind: str, env: dict[str, str], wsgi: str = "app.wsgi:app") -> None:
        self.host, self.port = parse_bind(bind)
        self.env = env
        self.wsgi = wsgi
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "gunicorn"]
        conf = ROOT / "gunicorn.conf.py"
        if conf.exists():
            cmd += ["-c", str(conf)]
        return cmd + ["--bind", self.target, self.wsgi]

    def start(self, timeout: float = 60.0) -> None:
        env = dict(self.env, SKRYNKA_BIND=self.target)
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (code := self.proc.poll()) is not None:
                self.proc = None
                raise OnionError(f"gunicorn exited with code {code} at start",
                                 f"is {self.target} already in use? see the lines above")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise OnionError(f"gunicorn did not listen on {self.target} within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    def stop(self, timeout: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except ProcessLookupError:
                pass
        # workers left behind by a killed master
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
