"""``python -m onion serve``: tor + gunicorn, supervised.

One loop (main thread) ticks every second: restart gunicorn if it died, relaunch tor or
reconnect its control port if either went away (then publish the same addresses again),
follow ``services.json`` (rotation) and retire addresses whose grace period is over, and
write ``status.json`` for ``onion status``. SIGINT/SIGTERM stop everything cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from contract import (
    CHECKOUT,
    DEFAULT_MAX_STREAMS,
    ENV_ALLOW_LOCAL_HOST,
    ENV_DATA,
    ENV_HOSTNAMES_FILE,
    DataDir,
)
from onion import backend, checks, running, state, torrc
from onion.errors import OnionError, StateError
from onion.onionkey import OnionKey
from onion.tor import LinkConfig, Say, TorLink
from onion.web import Web


@dataclass(frozen=True)
class ServeConfig:
    data: Path
    bind: str = "127.0.0.1:8086"
    control_port: int | None = None      # attach to an operator's tor ...
    control_socket: str | None = None    # ... or to its control socket
    tor_config: str = ""                 # extra torrc lines for the tor we launch
    grace_seconds: float = state.DEFAULT_GRACE_DAYS * state.DAY
    pow_enabled: bool = True
    pow_queue_rate: int = 250
    pow_queue_burst: int = 2500
    max_streams: int = DEFAULT_MAX_STREAMS
    client_auth: tuple[str, ...] = ()
    bootstrap_warn: float = 60.0
    local_look: bool = False             # also answer Host: 127.0.0.1/localhost
    wsgi: str = "app.wsgi:app"
    init: bool = False                   # run `python -m app init` once the lock is held
    frontends: tuple[str, ...] = ()      # backend mode: Onionbalance frontend(s), current first
    instance_address: str | None = None  # attached backend mode: the torrc instance's address
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def attached(self) -> bool:
        return self.control_port is not None or self.control_socket is not None

    @property
    def backend(self) -> backend.Backend | None:
        return backend.Backend(self.frontends) if self.frontends else None

    def link(self, target: str) -> LinkConfig:
        """What :class:`~onion.tor.TorLink` needs of this configuration (``target``: the
        web server, for a backend's ``HiddenServicePort``)."""
        extra = self.tor_config
        if self.frontends:
            extra += backend.torrc_lines(
                self.data, target, pow_enabled=self.pow_enabled,
                pow_queue_rate=self.pow_queue_rate, pow_queue_burst=self.pow_queue_burst,
                max_streams=self.max_streams)
        return LinkConfig(
            tor_dir=DataDir(self.data).tor, control_port=self.control_port,
            control_socket=self.control_socket, extra_config=extra,
            pow_enabled=self.pow_enabled, pow_queue_rate=self.pow_queue_rate,
            pow_queue_burst=self.pow_queue_burst, max_streams=self.max_streams,
            client_auth=self.client_auth, torrc_service=bool(self.frontends))


class Server:
    def __init__(self, cfg: ServeConfig, say: Say) -> None:
        self.cfg = cfg
        self.say = say
        env = dict(cfg.env)
        env[ENV_DATA] = str(cfg.data)
        env[ENV_HOSTNAMES_FILE] = str(state.hostnames_path(cfg.data))
        env[ENV_ALLOW_LOCAL_HOST] = "1" if cfg.local_look else "0"  # the flag decides
        self.web = Web(cfg.bind, env, cfg.wsgi)
        self.tor = TorLink(cfg.link(self.web.target), say)
        self.backend = cfg.backend
        self.instance: OnionKey | None = None      # own-tor backend mode: its key
        self.instance_address: str | None = None   # backend mode: the instance's address
        self.sole_service = False                  # attached: the torrc has one service
        self.stop_event = threading.Event()
        self.started = time.time()
        self.services: list[state.Service] = []
        self.services_mtime = 0.0
        self.warned_bootstrap = False
        self.bootstrapped = False
        self.said_published: set[str] = set()
        self.last_error = ""
        self.dirty = False

    def keys(self) -> dict[str, OnionKey]:
        if self.instance is not None:    # backend mode: tor runs it from its torrc
            return {self.instance.address: self.instance}
        return {s.address: state.load_key(self.cfg.data, s) for s in self.services}

    def refresh_services(self) -> bool:
        """Retire what is due, reload services.json; True if the set changed."""
        if self.backend is not None:     # the frontend rotates, not a backend
            return False
        for gone in state.retire_due(self.cfg.data, self.cfg.grace_seconds):
            self.say(f"grace period over: retired {gone.address}")
        path = state.onion_dir(self.cfg.data) / "services.json"
        mtime = path.stat().st_mtime
        if mtime == self.services_mtime and self.services:
            return False
        self.services_mtime = mtime
        before = [s.address for s in self.services]
        self.services = state.load_services(self.cfg.data)
        state.write_hostnames(self.cfg.data, self.services, self.cfg.grace_seconds)
        return before != [s.address for s in self.services]

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        warn_if_root(self.say, os.geteuid())
        if self.backend is None:
            state.ensure_services(self.cfg.data)
            self.refresh_services()
        elif not self.cfg.attached:      # attached: check_attached() writes, once tor has it
            self.instance = backend.prepare(self.cfg.data, self.backend)
            self.instance_address = self.instance.address
            backend.write_hostnames(self.cfg.data, self.backend)
        try:
            self.tor.start()
            if self.backend is not None and self.cfg.attached:
                self.check_attached(self.backend)
            self.web.start()
            self.tor.publish_all(self.keys(), self.web.target)
            self.announce()
            self.loop()
        finally:
            self.say("stopping tor and gunicorn")
            try:
                self.tor.stop()
            finally:
                self.web.stop()
                self.write_status(running=False)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_event.set()

    def announce(self) -> None:
        pow_text = "on" if self.cfg.pow_enabled else "OFF"
        if self.backend is not None:
            self.announce_backend(self.backend)
        else:
            cur = state.current(self.services)
            self.say(f"onion address: http://{cur.address}/")
        for s in self.services:
            if s.superseded_at is not None:
                self.say(f"also serving the old address during its grace period: {s.address}")
        self.say(f"proof-of-work defense {pow_text}; at most {self.cfg.max_streams} streams "
                 "per circuit")
        look = "answers its onion names" + (
            " and, for a local look, 127.0.0.1/localhost" if self.cfg.local_look else " only")
        self.say(f"web server on http://{self.web.target}/ (loopback only; {look})")
        keys, problem = checks.analyst_key_problem(self.cfg.data, self.cfg.env)
        if problem is None:
            self.say("next: wait for 'descriptor published' (or run `python -m onion status`), "
                     "then open the onion address in Tor Browser; Ctrl-C stops")
            return
        what, _, hint = problem.partition("; hint: ")
        self.say(f"no usable analyst key ({what}): every form page answers 503 and no "
                 f"report can be sent until an analyst key is added to {keys}")
        hint = hint or ("on the analyst's offline laptop run `python -m keys keygen`, then "
                        f"copy the skrynka1… line of its .pub file into {keys}")
        self.say(f"hint: {hint}; serve needs no restart. Ctrl-C stops")

    def announce_backend(self, be: backend.Backend) -> None:
        self.say(f"onion address: http://{be.current}/ (Onionbalance frontend; this serve is "
                 "one of its backends)")
        for old in be.old:
            self.say(f"also serving the old frontend address: {old}")
        if self.instance_address is None:
            self.say("instance address: not known yet (it is learnt from tor's next upload "
                     "when its torrc has this one service; or give serve --instance-address "
                     f"from {torrc.SYSTEM_HS_DIR}/hostname)")
            return
        self.say(f"instance address: {self.instance_address} (put it into onionbalance's "
                 f"config.yaml on the frontend host; {backend.instance_hint()})")

    def check_attached(self, be: backend.Backend) -> None:
        """Attached backend mode: the operator's tor must run the instance from its torrc,
        port 80 to our --bind (refused otherwise, with the lines to add)."""
        wanted = backend.service_lines(
            torrc.SYSTEM_HS_DIR, self.web.target, pow_enabled=self.cfg.pow_enabled,
            pow_queue_rate=self.cfg.pow_queue_rate, pow_queue_burst=self.cfg.pow_queue_burst,
            max_streams=self.cfg.max_streams)
        services = torrc.parse_hs_options(self.tor.hs_services())
        service, warnings = torrc.check_instance(services, self.web.target, wanted)
        for warning in warnings:
            self.say(f"WARNING: tor's instance service {service.directory}: {warning}")
        self.sole_service = len(services) == 1
        self.instance_address = backend.attached_address(Path(service.directory),
                                                         self.cfg.instance_address)
        backend.prepare_attached(self.cfg.data)
        backend.write_hostnames(self.cfg.data, be)
        self.set_instance_id()

    def set_instance_id(self) -> None:
        if self.instance_address is not None:
            self.tor.instance_id = self.instance_address.removesuffix(".onion")
            self.tor.note_instance_built()

    def learn_instance(self) -> None:
        """Attached backend, address unknown, one torrc service: the one service id tor
        reports uploaded that no controller added (ADD_ONION) is the instance's."""
        if self.instance_address is not None or not self.sole_service:
            return
        with self.tor.lock:
            seen = set(self.tor.uploads)
        found = seen - self.tor.ephemeral()
        if len(found) == 1:
            self.instance_address = found.pop() + ".onion"
            self.set_instance_id()
            with self.tor.lock:
                self.tor.published.add(self.instance_address[:-6])
            self.say(f"instance address (from tor's upload): {self.instance_address} (tor's "
                     "torrc has this one service; --instance-address makes it certain)")

    def loop(self) -> None:
        last_status = 0.0
        while not self.stop_event.wait(1.0):
            self.tick()
            if time.monotonic() - last_status >= 2.0:
                self.write_status(running=True)
                last_status = time.monotonic()

    def tick(self) -> None:
        if not self.web.alive():
            if self.web.proc is not None:
                self.say("gunicorn exited; starting it again")
            self._try(self.web.restart)
        if not self.tor.healthy():
            self._try(lambda: self.tor.recover(self.web.target))
        self.dirty = self.refresh_services() or self.dirty
        if self.dirty and self.tor.healthy():
            self._try(self.republish)
        self.check_bootstrap()
        if self.backend is not None and self.cfg.attached:
            self._try(self.learn_instance)
        self.report_published()

    def republish(self) -> None:
        self.tor.publish_all(self.keys(), self.web.target)
        self.dirty = False
        self.say("now serving: " + ", ".join(s.address for s in self.services))

    def report_published(self) -> None:
        with self.tor.lock:
            new = self.tor.published - self.said_published
            self.said_published = set(self.tor.published)
        for sid in sorted(new):
            self.say(f"descriptor published: {sid}.onion")
        if new:
            self.write_status(running=True)

    def _try(self, action: Callable[[], None]) -> None:
        try:
            action()
        except (OnionError, OSError) as exc:
            if str(exc) != self.last_error:      # say it once, not every second
                self.say(f"{exc} (will retry)")
            self.last_error = str(exc)
        else:
            self.last_error = ""

    def check_bootstrap(self) -> None:
        if self.bootstrapped:
            return
        pct = self.tor.bootstrap()
        if pct >= 100:
            self.bootstrapped = True
            self.say("tor has bootstrapped: the onion service is reachable over Tor")
        elif not self.warned_bootstrap and time.time() - self.started > self.cfg.bootstrap_warn:
            self.warned_bootstrap = True
            self.say(self.not_bootstrapped(pct))

    def not_bootstrapped(self, pct: int) -> str:
        head = f"tor has not bootstrapped ({max(pct, 0)}%, no network?); "
        url = f"http://{self.web.target}/"
        if self.cfg.local_look:
            return head + f"serving on {url} for a local look"
        return head + ("for a local look at the form, restart serve with --local-look and "
                       f"open {url}")

    def write_status(self, running: bool) -> None:
        with self.tor.lock:
            published = set(self.tor.published)
        status: dict[str, Any] = {
            "pid": os.getpid(), "running": running,
            "tor_pid": self.tor.proc.pid if self.tor.proc is not None else None,
            "web_pid": self.web.proc.pid if self.web.proc is not None else None,
            "mode": "attached" if self.cfg.attached else "launched",
            "backend": self._backend_status(published, running),
            "bootstrap": self.tor.bootstrap() if running else -1,
            "pow": self.cfg.pow_enabled, "grace_seconds": self.cfg.grace_seconds,
            "max_streams": self.cfg.max_streams,
            "client_auth": bool(self.cfg.client_auth), "web": f"http://{self.web.target}/",
            "tor_restarts": self.tor.restarts, "web_restarts": self.web.restarts,
            "services": [{"address": s.address,
                          "published": s.address[:-6] in published and running,
                          "retire_at": s.retire_at(self.cfg.grace_seconds)}
                         for s in self.services],
        }
        state.write_status(self.cfg.data, status)

    def _backend_status(self, published: set[str], running: bool) -> dict[str, Any] | None:
        if self.backend is None:
            return None
        addr = self.instance_address
        return {"frontends": list(self.backend.frontends), "instance": addr,
                "published": addr is not None and addr[:-6] in published and running}


def warn_if_root(say: Say, euid: int) -> None:
    """One loud warning when serve runs as root (as `make run` does on a fresh machine)."""
    if euid == 0:
        say("WARNING: running as root: a flaw in tor, gunicorn or the app would own the "
            "whole machine")
        say("hint: run serve as a dedicated unprivileged user that owns the data directory "
            "(README, \"Run it as an unprivileged user\")")


def serve(cfg: ServeConfig, say: Say) -> None:
    """Check, in this order and before anything is written: the options (--bind), tor (if
    we launch it), the data directory, and that no other serve runs with it."""
    server = Server(cfg, say)
    server.tor.preflight()
    if cfg.init:  # `make run`: a new data directory is made, a running serve's is left alone
        os.makedirs(cfg.data, mode=0o700, exist_ok=True)
    else:
        checks.require_data_dir(cfg.data, cfg.env)
    with running.hold(cfg.data):
        if cfg.init:
            _init(cfg)
        server.run()


def _init(cfg: ServeConfig) -> None:
    """``python -m app init`` (data directory, migrations, export key), as a command of its
    own: onion imports nothing of the app. Its lines go to serve's output as they are."""
    argv = [sys.executable, "-m", "app", "--data", str(cfg.data), "init"]
    done = subprocess.run(argv, env=cfg.env, cwd=CHECKOUT, check=False)
    if done.returncode != 0:
        raise StateError(f"`python -m app init` failed (exit {done.returncode}); serve did "
                         "not start", hint="its own error lines above say why")
