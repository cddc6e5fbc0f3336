"""Onion state kept in ``$SKRYNKA_DATA/onion/`` (``contract.DataDir.onion``).

    keys/<service id>.key   onion secret keys (mode 0600, made with O_EXCL)
    services.json           which keys are served; when an old one was superseded
    hostnames               one ``xxx.onion`` per line, for the app's Host check (and,
                            in a grace period, the new address and the day: app/addresses.py)
    status.json             written by ``serve`` for ``onion status``
    serve.pid               serve's pid, locked while it runs (onion/running.py)
    announcements/          rotation announcements (to sign offline)

``rotate`` and ``serve`` both change ``services.json``; they take ``lock`` (flock) around
every read-modify-write and replace files atomically (temp + rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contract import ENV_HOSTNAMES_FILE, DataDir
from onion import onionkey
from onion.errors import StateError

DAY = 86400.0
DEFAULT_GRACE_DAYS = 14.0


@dataclass(frozen=True)
class Service:
    address: str
    key: str                       # path relative to the onion dir
    added: float
    superseded_at: float | None = None
    grace_seconds: float | None = None

    def retire_at(self, default_grace: float) -> float | None:
        if self.superseded_at is None:
            return None
        grace = self.grace_seconds if self.grace_seconds is not None else default_grace
        return self.superseded_at + grace


def onion_dir(data: Path) -> Path:
    """``data``'s onion state directory (contract.DataDir.onion)."""
    return DataDir(data).onion


def hostnames_path(data: Path) -> Path:
    """$SKRYNKA_HOSTNAMES_FILE if set, else the data directory's (contract.DataDir.hostnames)."""
    env = os.environ.get(ENV_HOSTNAMES_FILE)
    return Path(env) if env else DataDir(data).hostnames


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(data: Path) -> Iterator[None]:
    d = onion_dir(data)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(d / "lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_services(data: Path) -> list[Service]:
    path = onion_dir(data) / "services.json"
    try:
        raw = json.loads(path.read_text("utf-8"))
        return [Service(**s) for s in raw["services"]]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{path} is damaged: {exc}",
                         "restore it from backup; the keys are in the keys/ folder next to it")\
            from exc


def save_services(data: Path, services: list[Service]) -> None:
    body = {"version": 1, "services": [asdict(s) for s in services]}
    write_atomic(onion_dir(data) / "services.json", json.dumps(body, indent=1) + "\n", 0o600)


def new_service(data: Path) -> tuple[Service, onionkey.OnionKey]:
    key = onionkey.OnionKey.generate()
    rel = f"keys/{key.service_id}.key"
    onionkey.write_new(onion_dir(data) / rel, key)
    return Service(address=key.address, key=rel, added=time.time()), key


def ensure_services(data: Path) -> list[Service]:
    """The served set; on first run makes the first key (the same address ever after)."""
    with locked(data):
        services = load_services(data)
        if not services:
            service, _ = new_service(data)
            services = [service]
            save_services(data, services)
        return services


def load_key(data: Path, service: Service) -> onionkey.OnionKey:
    key = onionkey.load(onion_dir(data) / service.key)
    if key.address != service.address:
        raise StateError(f"key {service.key} does not belong to {service.address}")
    return key


def current(services: list[Service]) -> Service:
    live = [s for s in services if s.superseded_at is None]
    if len(live) != 1:
        raise StateError(f"expected one current onion address, found {len(live)}")
    return live[0]


def retire_due(data: Path, default_grace: float, now: float | None = None) -> list[Service]:
    """Drop services whose grace period is over; delete their keys. Returns the dropped."""
    now = time.time() if now is None else now
    with locked(data):
        services = load_services(data)
        due = [s for s in services
               if (r := s.retire_at(default_grace)) is not None and r <= now]
        if not due:
            return []
        save_services(data, [s for s in services if s not in due])
        for s in due:
            with contextlib.suppress(FileNotFoundError):
                (onion_dir(data) / s.key).unlink()
        return due


def hostnames_text(services: list[Service], default_grace: float) -> str:
    """One address a line; one in its grace period carries ``# until DAY, then NEW`` (the
    UTC day it is retired, the current address), which app/addresses.py shows to voters
    on the old address and the Host check ignores as a comment."""
    live = [s.address for s in services if s.superseded_at is None]
    new = live[0] if len(live) == 1 else None
    lines = []
    for s in services:
        until = s.retire_at(default_grace)
        if until is not None and new is not None:
            day = time.strftime("%Y-%m-%d", time.gmtime(until))
            lines.append(f"{s.address} # until {day}, then {new}\n")
        else:
            lines.append(s.address + "\n")
    return "".join(lines)


def write_hostnames(data: Path, services: list[Service], default_grace: float) -> None:
    write_atomic(hostnames_path(data), hostnames_text(services, default_grace))


def write_status(data: Path, status: dict[str, Any]) -> None:
    write_atomic(onion_dir(data) / "status.json", json.dumps(status, indent=1) + "\n")


def read_status(data: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((onion_dir(data) / "status.json").read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None
