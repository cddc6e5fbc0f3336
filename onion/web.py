"""The app under gunicorn on a loopback TCP port, as a child process we can restart."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from contract import ENV_BIND, Bind, BindRefused, parse_bind
from onion.errors import UsageError, WebFailed

ROOT = Path(__file__).resolve().parent.parent


def loopback_tcp(value: str) -> Bind:
    """``--bind``: a loopback ``HOST:PORT`` (contract's rule); a unix socket is refused,
    since tor and the local look reach the web server over TCP."""
    try:
        bind = parse_bind(value)
    except BindRefused as exc:
        raise UsageError(f"--bind: {exc.message}", exc.hint) from None
    if bind.unix_path:
        raise UsageError(f"--bind {value}: serve runs the web server on a loopback TCP port, "
                         "not a unix socket",
                         "use 127.0.0.1:PORT; tor forwards onion traffic to it")
    return bind


class Web:
    def __init__(self, bind: str, env: dict[str, str], wsgi: str = "app.wsgi:app") -> None:
        self.bind = loopback_tcp(bind)
        self.host, self.port = self.bind.host, self.bind.port
        self.env = env
        self.wsgi = wsgi
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def target(self) -> str:
        """``HOST:PORT`` (``[::1]:PORT`` for IPv6), as gunicorn and ADD_ONION want it."""
        return str(self.bind)

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "gunicorn"]
        conf = ROOT / "gunicorn.conf.py"
        if conf.exists():
            cmd += ["-c", str(conf)]
        return cmd + ["--bind", self.target, self.wsgi]

    def start(self, timeout: float = 60.0) -> None:
        env = dict(self.env)
        env[ENV_BIND] = self.target
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (code := self.proc.poll()) is not None:
                self.proc = None
                raise WebFailed(f"gunicorn exited with code {code} at start",
                                 f"is {self.target} already in use? see the lines above")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise WebFailed(f"gunicorn did not listen on {self.target} within {timeout:.0f} s")

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
