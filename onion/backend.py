"""Backend mode: this serve is one Onionbalance instance behind a frontend address.

Onionbalance (docs/onionbalance.md) publishes one frontend descriptor that lists the
introduction points of several backends. A backend's tor must run its service from torrc
(``HiddenServiceDir`` + ``HiddenServiceOnionbalanceInstance 1``), not from ADD_ONION, and
read ``<HiddenServiceDir>/ob_config`` with one ``MasterOnionAddress`` line per frontend
(tor accepts several: ``MasterOnionAddress`` is a LINELIST in tor's hs_ob.c, so during a
frontend rotation a backend serves the old and the new frontend).

This module writes those files and lines; it never speaks to tor (onion/tor.py does).

    $SKRYNKA_DATA/onion/instance/            HiddenServiceDir (0700)
        hs_ed25519_secret_key                the instance key, written by serve (0600)
        ob_config                            MasterOnionAddress lines (0600)
        hostname                             written by tor

The first ``--onionbalance-frontend`` is the current frontend; any others are old ones in
their grace period. An old one gets the hostnames file's ``# until DAY, then NEW`` note
(app/addresses.py) when ``onion/announcements/`` holds an announcement old -> new (its
``old-until`` day); the app shows the signed one on ``/<lang>/address``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from onion import announce, onionkey, state
from onion.errors import AnnouncementError, UsageError

INSTANCE_DIR = "instance"
OB_CONFIG = "ob_config"
KEY_FILE = "hs_ed25519_secret_key"
DOCS = "docs/onionbalance.md"


@dataclass(frozen=True)
class Backend:
    """The frontend address(es) this backend serves, current first."""

    frontends: tuple[str, ...]

    @property
    def current(self) -> str:
        return self.frontends[0]

    @property
    def old(self) -> tuple[str, ...]:
        return self.frontends[1:]


def check_frontends(values: list[str]) -> Backend:
    """``--onionbalance-frontend`` values: v3 addresses (checksum checked), no repeats."""
    seen: list[str] = []
    for raw in values:
        addr = raw.strip().lower()
        if addr.startswith("http://"):
            addr = addr[len("http://"):].rstrip("/")
        try:
            announce.check_address(addr)
        except AnnouncementError as exc:
            raise UsageError(f"--onionbalance-frontend {raw}: {exc.message}",
                             "give the frontend's address as onionbalance-config printed it "
                             "(56 letters and digits, then .onion)") from exc
        if addr in seen:
            raise UsageError(f"--onionbalance-frontend {addr} is given twice")
        seen.append(addr)
    return Backend(tuple(seen))


def instance_dir(data: Path) -> Path:
    return state.onion_dir(data) / INSTANCE_DIR


def is_backend(data: Path) -> bool:
    """True once serve ran here in backend mode (its instance directory exists)."""
    return instance_dir(data).is_dir()


def ob_config_text(backend: Backend) -> str:
    return "".join(f"MasterOnionAddress {addr}\n" for addr in backend.frontends)


def prepare(data: Path, backend: Backend) -> onionkey.OnionKey:
    """Make the HiddenServiceDir (0700), its instance key (kept: the same instance address
    ever after) and ``ob_config`` (rewritten at each start). Returns the instance key."""
    hs = instance_dir(data)
    hs.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    hs.mkdir(exist_ok=True, mode=0o700)
    os.chmod(hs, 0o700)                   # tor refuses a HiddenServiceDir others can read
    key, _ = onionkey.load_or_create(hs / KEY_FILE)
    state.write_atomic(hs / OB_CONFIG, ob_config_text(backend), 0o600)
    return key


def prepare_attached(data: Path) -> None:
    """Attached backend mode: the instance lives in the operator tor's HiddenServiceDir;
    ours only marks this data directory as a backend's (no key, no ob_config)."""
    hs = instance_dir(data)
    hs.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    hs.mkdir(exist_ok=True, mode=0o700)


def attached_address(hs_dir: Path, given: str | None) -> str | None:
    """The instance's address: ``--instance-address``, or tor's ``hostname`` file when
    this user may read it (Debian's /var/lib/tor is tor's alone); None if neither."""
    try:
        found: str | None = (hs_dir / "hostname").read_text("ascii").strip().lower()
    except (OSError, UnicodeDecodeError):
        found = None
    if given and found and given != found:
        raise UsageError(f"--instance-address {given} is not the address of tor's instance "
                         f"service: its {hs_dir / 'hostname'} says {found}",
                         "give the address that file holds, or leave the option out")
    return given or found


def torrc_lines(data: Path, target: str, *, pow_enabled: bool, pow_queue_rate: int,
                pow_queue_burst: int, max_streams: int) -> str:
    """The service's torrc lines, with the defenses serve sets with ADD_ONION."""
    return service_lines(str(instance_dir(data)), target, pow_enabled=pow_enabled,
                         pow_queue_rate=pow_queue_rate, pow_queue_burst=pow_queue_burst,
                         max_streams=max_streams)


def service_lines(hs_dir: str, target: str, *, pow_enabled: bool, pow_queue_rate: int,
                  pow_queue_burst: int, max_streams: int) -> str:
    """The instance service's torrc lines in ``hs_dir``: the same for the tor serve
    launches (own-tor backend mode) and for an operator's tor (attached backend mode)."""
    lines = [f"HiddenServiceDir {hs_dir}",
             f"HiddenServicePort 80 {target}",
             "HiddenServiceOnionbalanceInstance 1",
             f"HiddenServiceMaxStreams {max_streams}",
             "HiddenServiceMaxStreamsCloseCircuit 1"]
    if pow_enabled:
        lines += ["HiddenServicePoWDefensesEnabled 1",
                  f"HiddenServicePoWQueueRate {pow_queue_rate}",
                  f"HiddenServicePoWQueueBurst {pow_queue_burst}"]
    return "".join(line + "\n" for line in lines)


def moves(data: Path, backend: Backend) -> dict[str, str]:
    """``{old frontend: its old-until day}`` from the announcements old -> current."""
    found: dict[str, str] = {}
    folder = state.onion_dir(data) / "announcements"
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        try:
            st = announce.parse(path.read_text("ascii"))
        except (OSError, UnicodeDecodeError, AnnouncementError):
            continue
        if (isinstance(st, announce.Announcement) and st.new == backend.current
                and st.old in backend.old):
            found[st.old] = st.old_until
    return found


def hostnames_text(data: Path, backend: Backend) -> str:
    """The Host names voters send: the frontend(s). The instance address is not among
    them: voters never see it, and a request naming it is not one of a voter's."""
    until = moves(data, backend)
    lines = [backend.current + "\n"]
    for old in backend.old:
        day = until.get(old)
        lines.append(f"{old} # until {day}, then {backend.current}\n" if day else old + "\n")
    return "".join(lines)


def write_hostnames(data: Path, backend: Backend) -> None:
    state.write_atomic(state.hostnames_path(data), hostnames_text(data, backend))


def instance_hint() -> str:
    return f"see {DOCS}"
