"""Talking to tor: find and check the binary, launch it or attach, publish services.

The only module that imports stem: it turns stem's exceptions into
:class:`~onion.errors.OnionError` subclasses, so the rest of the package (and every
``python -m onion`` command but ``serve``) runs without it. Services are published with a
raw ADD_ONION so that the proof-of-work defense (tor >= 0.4.9.2; stem 1.8.2 has no
parameter for it) and per-circuit stream limits are always set. :class:`TorLink` is our
tor (launched or attached) and the services published on it, as ``serve`` supervises them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import stem
import stem.connection
import stem.control
import stem.process
from stem.control import Controller

from contract import DEFAULT_MAX_STREAMS
from onion.errors import ControlLost, ControlRefused, OnionError, TorFailed, TorMissing
from onion.onionkey import OnionKey
from onion.torrc import check_version, parse_version, torrc_text, unreachable_hint

Say = Callable[[str], None]

@dataclass(frozen=True)
class PublishOptions:
    target: str                    # "127.0.0.1:PORT"
    pow_enabled: bool = True
    pow_queue_rate: int = 250
    pow_queue_burst: int = 2500
    max_streams: int = DEFAULT_MAX_STREAMS
    detach: bool = False
    client_auth: tuple[str, ...] = ()    # base32 x25519 public keys


def find_tor() -> str:
    path = shutil.which("tor")
    if path is None:
        raise TorMissing("tor is not installed (no `tor` on PATH)")
    return path


def binary_version(tor_cmd: str) -> tuple[int, int, int, int]:
    try:
        out = subprocess.run([tor_cmd, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except OSError as exc:
        raise TorFailed(f"cannot run {tor_cmd}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise TorFailed(f"`{tor_cmd} --version` did not answer within 30 s") from exc
    return parse_version(out)


def launch(tor_cmd: str, tor_dir: Path, extra_config: str = "") -> subprocess.Popen[bytes]:
    """Start our own tor; returns once it listens on the control port (not bootstrapped)."""
    tor_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(tor_dir, 0o700)
    torrc = tor_dir / "torrc"
    torrc.write_text(torrc_text(tor_dir, extra_config))
    port_file = tor_dir / "control-port"
    if port_file.exists():
        port_file.unlink()
    lines: list[str] = []
    try:
        proc = stem.process.launch_tor(
            tor_cmd=tor_cmd, args=["-f", str(torrc), "--defaults-torrc", os.devnull],
            completion_percent=0, init_msg_handler=lines.append, timeout=None,
            take_ownership=False)
    except OSError as exc:
        detail = next((ln for ln in reversed(lines) if "[err]" in ln or "[warn]" in ln), "")
        raise TorFailed(f"tor did not start: {exc} {detail}".strip(),
                        f"see {tor_dir / 'tor.log'} and {torrc}") from exc
    return proc  # type: ignore[no-any-return]


def control_port_from_file(tor_dir: Path) -> int | None:
    try:
        text = (tor_dir / "control-port").read_text()
    except OSError:
        return None
    m = re.search(r"PORT=127\.0\.0\.1:(\d+)", text)
    return int(m.group(1)) if m else None


def connect(*, port: int | None = None, socket_path: str | None = None) -> Controller:
    """Open and authenticate (cookie) a control connection."""
    where = f"control socket {socket_path}" if socket_path else f"control port 127.0.0.1:{port}"
    try:
        if socket_path:
            ctl = Controller.from_socket_file(socket_path)
        else:
            ctl = Controller.from_port(address="127.0.0.1", port=port or 9051)
    except stem.SocketError as exc:
        raise ControlRefused(f"tor's {where} refused us: {exc}",
                             unreachable_hint(exc, socket_path)) from exc
    try:
        ctl.authenticate()
    except (stem.connection.AuthenticationFailure, stem.SocketError) as exc:
        ctl.close()
        raise ControlRefused(f"tor's {where} refused our authentication: {exc}") from exc
    try:
        version = ctl.get_version()
        check_version((version.major, version.minor, version.micro, version.patch or 0),
                      f"the tor behind the {where} is")
    except OnionError:
        ctl.close()
        raise
    return ctl


def add_onion_command(key: OnionKey, opts: PublishOptions) -> str:
    flags = ["MaxStreamsCloseCircuit"]
    if opts.detach:
        flags.append("Detach")
    if opts.client_auth:
        flags.append("V3Auth")
    parts = ["ADD_ONION", key.tor_key_blob(), "Flags=" + ",".join(flags),
             f"MaxStreams={opts.max_streams}"]
    if opts.pow_enabled:
        parts += ["PoWDefensesEnabled=1", f"PoWQueueRate={opts.pow_queue_rate}",
                  f"PoWQueueBurst={opts.pow_queue_burst}"]
    parts.append(f"Port=80,{opts.target}")
    parts += [f"ClientAuthV3={k}" for k in opts.client_auth]
    return " ".join(parts)


def publish(ctl: Controller, key: OnionKey, opts: PublishOptions) -> None:
    """ADD_ONION. A detached copy left by an earlier serve (killed before it could clean up,
    maybe with other options or another target) is replaced."""
    if opts.detach and key.service_id in detached(ctl):
        remove(ctl, key)
    try:
        reply = ctl.msg(add_onion_command(key, opts))
    except stem.SocketError as exc:
        raise ControlRefused(f"control connection lost while publishing: {exc}") from exc
    if not reply.is_ok():
        text = str(reply)
        hint = ("this tor does not know an option we send; it needs 0.4.9.2 or later"
                if "Unrecognized" in text else None)
        raise TorFailed(f"tor refused to publish {key.address}: {text}", hint)


def detached(ctl: Controller) -> set[str]:
    try:
        text = ctl.get_info("onions/detached", "")
    except stem.ControllerError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def remove(ctl: Controller, key: OnionKey) -> None:
    with contextlib.suppress(stem.SocketError):
        ctl.msg(f"DEL_ONION {key.service_id}")


def bootstrap_percent(ctl: Controller) -> int:
    try:
        text = ctl.get_info("status/bootstrap-phase")
    except (stem.ControllerError, stem.SocketError):
        return -1
    m = re.search(r"PROGRESS=(\d+)", text)
    return int(m.group(1)) if m else -1


def listen_hs_desc(ctl: Controller, on_uploaded: Callable[[str], None]) -> None:
    """Call ``on_uploaded(service_id)`` for every HS_DESC UPLOADED event."""
    def handler(event: object) -> None:
        if getattr(event, "action", None) == "UPLOADED":
            on_uploaded(str(getattr(event, "address", "")))

    ctl.add_event_listener(handler, stem.control.EventType.HS_DESC)  # type: ignore[arg-type]


def hs_options(ctl: Controller) -> list[str]:
    """``GETCONF HiddenServiceOptions``: the torrc services' lines, ``Name=value``, in order
    (onion/torrc.py reads them)."""
    reply = ctl.msg("GETCONF HiddenServiceOptions")
    if not reply.is_ok():
        raise TorFailed(f"tor refused GETCONF HiddenServiceOptions: {reply}")
    return [str(content) for _, _, content in reply.content()]


def descriptor_built(ctl: Controller, service_id: str) -> bool:
    """True if tor holds a built descriptor of its service ``service_id`` (tor builds one
    once it has the network and uploads it when the introduction points are up: seconds)."""
    try:
        return bool(ctl.get_info(f"hs/service/desc/id/{service_id}", ""))
    except stem.ControllerError:
        return False


@contextlib.contextmanager
def stem_errors() -> Iterator[None]:
    """Turn stem's exceptions into ours; nothing outside this module needs to know stem."""
    try:
        yield
    except stem.SocketError as exc:
        detail = f": {exc}" if str(exc) else ""
        raise ControlLost(f"the control connection to tor broke{detail}") from exc
    except stem.ControllerError as exc:
        raise TorFailed(f"tor refused a control command: {exc}") from exc


@dataclass(frozen=True)
class LinkConfig:
    """Which tor to use (ours, launched in ``tor_dir``, or an operator's) and how to publish."""

    tor_dir: Path                        # the DataDirectory of the tor we launch
    control_port: int | None = None      # attach to an operator's tor ...
    control_socket: str | None = None    # ... or to its control socket
    extra_config: str = ""               # extra torrc lines for the tor we launch
    pow_enabled: bool = True
    pow_queue_rate: int = 250
    pow_queue_burst: int = 2500
    max_streams: int = DEFAULT_MAX_STREAMS
    client_auth: tuple[str, ...] = ()
    torrc_service: bool = False          # the service is in extra_config (onion/backend.py)

    @property
    def attached(self) -> bool:
        return self.control_port is not None or self.control_socket is not None


class TorLink:
    """Our tor (launched or attached) and the services published on it.

    Every method raises only :class:`~onion.errors.OnionError` (and OSError), never stem's
    exceptions.
    """

    def __init__(self, cfg: LinkConfig, say: Say) -> None:
        self.cfg = cfg
        self.say = say
        self.tor_dir = cfg.tor_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.ctl: Controller | None = None
        self.published: set[str] = set()    # service ids with an uploaded descriptor
        self.uploads: set[str] = set()      # every service id tor reported uploaded
        self.instance_id: str | None = None  # attached backend: the torrc instance's id
        self.serving: dict[str, OnionKey] = {}
        self.wanted: dict[str, OnionKey] = {}
        self.restarts = 0
        self.down = False
        self.lock = threading.Lock()

    def options(self, target: str) -> PublishOptions:
        c = self.cfg
        return PublishOptions(target=target, pow_enabled=c.pow_enabled,
                              pow_queue_rate=c.pow_queue_rate, pow_queue_burst=c.pow_queue_burst,
                              max_streams=c.max_streams, detach=c.attached,
                              client_auth=c.client_auth)

    def preflight(self) -> None:
        """Fail early (before gunicorn starts) when our tor is missing or too old."""
        if not self.cfg.attached:
            check_version(binary_version(find_tor()))

    def start(self) -> None:
        with stem_errors():
            if not self.cfg.attached:
                self.proc = launch(find_tor(), self.tor_dir, self.cfg.extra_config)
            self.connect()

    def connect(self) -> None:
        with stem_errors():
            if self.cfg.attached:
                ctl = connect(port=self.cfg.control_port, socket_path=self.cfg.control_socket)
            elif (port := control_port_from_file(self.tor_dir)) is None:
                raise TorFailed("the tor serve launched wrote no control port file",
                                f"see {self.tor_dir / 'tor.log'}")
            else:
                ctl = self._connect_ours(port)
            with self.lock:
                self.published.clear()
            try:
                listen_hs_desc(ctl, self._uploaded)
            except BaseException:
                ctl.close()
                raise
            self.ctl = ctl
            self.note_instance_built()

    def note_instance_built(self) -> None:
        """Attached backend: a descriptor tor built before we came (attached to a tor that
        runs for days, no upload is due soon) counts as published."""
        sid = self.instance_id
        if self.ctl is not None and sid and descriptor_built(self.ctl, sid):
            with self.lock:
                self.published.add(sid)

    def ephemeral(self) -> set[str]:
        """Service ids added over a control port and detached (not torrc services)."""
        return detached(self.ctl) if self.ctl is not None else set()

    def hs_services(self) -> list[str]:
        """The operator's torrc services (``GETCONF HiddenServiceOptions`` lines)."""
        assert self.ctl is not None
        with stem_errors():
            return hs_options(self.ctl)

    def _connect_ours(self, port: int) -> Controller:
        """The tor we launched: if it does not answer, its log says why (not the operator's
        torrc, not a cookie the operator set up)."""
        try:
            return connect(port=port)
        except ControlRefused as exc:
            raise ControlRefused(exc.message, f"the tor serve launched is not answering; see "
                                 f"{self.tor_dir / 'tor.log'}") from exc

    def _uploaded(self, service_id: str) -> None:
        """An HS_DESC UPLOADED event: one of *our* descriptors reached an HSDir (an
        operator's tor reports its other services' uploads too)."""
        ours = {key.service_id for key in self.wanted.values()} | {self.instance_id}
        with self.lock:
            self.uploads.add(service_id)
        if service_id in ours:
            with self.lock:
                self.published.add(service_id)

    def publish_all(self, keys: dict[str, OnionKey], target: str) -> None:
        assert self.ctl is not None
        self.wanted = dict(keys)
        if self.cfg.torrc_service:       # tor runs it from its torrc: nothing to add
            return
        with stem_errors():
            for address, key in keys.items():
                if address not in self.serving:
                    publish(self.ctl, key, self.options(target))
                    self.serving[address] = key
            for address in set(self.serving) - set(keys):
                remove(self.ctl, self.serving[address])
                with self.lock:
                    self.published.discard(self.serving.pop(address).service_id)

    def healthy(self) -> bool:
        if self.down or (self.proc is not None and self.proc.poll() is not None):
            return False
        return self.ctl is not None and self.ctl.is_alive()

    def recover(self, target: str) -> None:
        """Relaunch tor or reconnect; publish every address again."""
        self.serving = {}
        with stem_errors():
            if self.ctl is not None:
                self.ctl.close()
                self.ctl = None
            if not self.cfg.attached and (self.proc is None or self.proc.poll() is not None):
                if self.proc is not None:
                    self.say(f"tor exited (code {self.proc.returncode}); starting it again")
                self.proc = None
                self.down = True
                self.proc = launch(find_tor(), self.tor_dir, self.cfg.extra_config)
            elif not self.down:
                self.say("lost the control connection to tor; reconnecting")
            self.down = True
            self.connect()
        self.publish_all(self.wanted, target)
        self.down = False
        self.restarts += 1
        again = ("it runs the instance from its torrc again" if self.cfg.torrc_service
                 else "the same address(es) are handed to it again")
        self.say(f"tor is back; {again} (wait for 'descriptor published')")

    def bootstrap(self) -> int:
        return bootstrap_percent(self.ctl) if self.ctl is not None else -1

    def stop(self) -> None:
        """Remove what we published on an operator's tor, close, stop our tor (always)."""
        try:
            if self.ctl is not None:
                with stem_errors():
                    if self.cfg.attached:
                        for key in self.serving.values():
                            remove(self.ctl, key)
                    self.ctl.close()
        finally:
            self.ctl = None
            self._stop_process()

    def _stop_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
