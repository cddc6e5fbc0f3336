"""A real gunicorn serving the real app on 127.0.0.1, for functional, load and fault tests.

    with LiveServer.start(tmp_path) as srv:
        srv.url("/en/")           # http://127.0.0.1:PORT/en/
        srv.kill_master()         # SIGKILL, then srv.restart()
        srv.analyst_key           # nacl PrivateKey that opens what it stored

Everything runs from this checkout's virtualenv; the data directory is private to
the server. ``start()`` runs ``python -m app init`` (migrations, orphan sweep)
before gunicorn, as ``make run`` does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nacl.public import PrivateKey

from keys.pubkey import encode_public
from testkit.procfs import alive

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class LiveServer:
    data: Path
    port: int
    analyst_key: PrivateKey
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path(os.devnull))
    wsgi_app: ClassVar[str] = "app.wsgi:app"  # a subclass may serve another app (bench)

    @classmethod
    def start(cls, tmp: Path, *, extra_env: dict[str, str] | None = None,
              analyst_key: PrivateKey | None = None, keys: bool = True) -> LiveServer:
        data = tmp / "data"
        data.mkdir(parents=True, exist_ok=True)
        key = analyst_key or PrivateKey.generate()
        if keys:
            (data / "analysts.pub").write_text(
                "# test analyst\n" + encode_public(bytes(key.public_key)) + "\n"
            )
        port = free_port()
        env = dict(os.environ)
        env.update({
            "SKRYNKA_DATA": str(data),
            "SKRYNKA_BIND": f"127.0.0.1:{port}",
            "SKRYNKA_ALLOW_LOCAL_HOST": "1",
            "PYTHONPATH": str(ROOT),
        })
        env.update(extra_env or {})
        server = cls(data=data, port=port, analyst_key=key, env=env, log=tmp / "gunicorn.log")
        server.init()
        server.launch()
        return server

    def init(self) -> None:
        subprocess.run([sys.executable, "-m", "app", "init"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True, timeout=120)

    def launch(self, timeout: float = 60) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                 self.wsgi_app],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_port(self.port, timeout, self.proc)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def pids(self) -> list[int]:
        """Master first, then its running workers (not a worker that has exited and
        waits for the master to reap it: pgrep lists those zombies too)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [self.proc.pid] + [p for p in map(int, out.stdout.split()) if alive(p)]

    def kill_master(self) -> None:
        """SIGKILL the whole process group: master and workers die at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill_master()
        self.init()
        self.launch()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def run_app(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """``python -m app ARGS`` against this server's data directory."""
        return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300, **kw)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
