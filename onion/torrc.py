"""tor's text: the torrc serve writes, tor's version line, and an operator tor's onion
services (``GETCONF HiddenServiceOptions``).

Nothing here speaks to tor: onion/tor.py sends the commands and hands the reply lines here.
Attached backend mode (docs/onionbalance.md) uses :func:`check_instance`: the operator's
tor must run the Onionbalance instance from its torrc, with ``HiddenServicePort 80`` sent
to serve's ``--bind``.

``GETCONF HiddenServiceOptions`` answers every ``HiddenService*`` torrc line in file order,
as ``Name=value`` (tor spells one ``HiddenServiceOnionBalanceInstance``: names are compared
without case); each ``HiddenServiceDir`` starts the next service.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from onion.errors import InstanceMissing, TorFailed, TorTooOld

#: The instance's HiddenServiceDir on the operator's tor (Debian's tor owns /var/lib/tor).
SYSTEM_HS_DIR = "/var/lib/tor/skrynka-instance"
DOCS = "docs/onionbalance.md"
MIN_VERSION = (0, 4, 9, 2)
VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int, int]:
    m = VERSION_RE.search(text)
    if m is None:
        raise TorFailed(f"cannot read tor's version from {text.strip()[:80]!r}")
    a, b, c, d = (int(g) for g in m.groups())
    return (a, b, c, d)


def check_version(version: tuple[int, int, int, int], where: str = "tor") -> None:
    if version < MIN_VERSION:
        shown = ".".join(map(str, version))
        raise TorTooOld(f"{where} {shown} is too old: onion-service proof-of-work needs "
                        "0.4.9.2 or later")


def unreachable_hint(exc: BaseException, socket_path: str | None) -> str:
    """What to check when the control port or socket cannot be reached at all (nothing
    about cookies: we never got as far as authenticating)."""
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, PermissionError):
        return ("this user may not open the control socket: add it to tor's group (Debian: "
                "`usermod -aG debian-tor USER`) and keep `ControlSocketsGroupWritable 1` "
                "(see torrc.example)")
    what = ("`ControlSocket PATH` (Debian: /run/tor/control)" if socket_path
            else "`ControlPort 127.0.0.1:PORT`")
    return (f"check the path/port: is tor running (`systemctl status tor`), and does its "
            f"torrc have {what} as in torrc.example, the same as given to serve?")


def torrc_text(tor_dir: Path, extra: str = "") -> str:
    """The torrc of the tor serve launches (``extra``: more lines, e.g. a backend's)."""
    lines = [
        f"DataDirectory {tor_dir}",
        "ControlPort auto",
        f"ControlPortWriteToFile {tor_dir / 'control-port'}",
        "CookieAuthentication 1",
        "SocksPort 0",
        "Log notice stdout",
        f"Log notice file {tor_dir / 'tor.log'}",
        f"__OwningControllerProcess {os.getpid()}",
    ]
    return "\n".join(lines) + "\n" + extra + ("\n" if extra and not extra.endswith("\n") else "")


@dataclass
class HsService:
    """One torrc onion service as tor reports it."""

    directory: str
    ports: list[tuple[str, str]] = field(default_factory=list)   # (virtual port, target)
    options: dict[str, str] = field(default_factory=dict)        # lower-case name -> value

    @property
    def onionbalance_instance(self) -> bool:
        return self.options.get("hiddenserviceonionbalanceinstance", "0") == "1"

    def target_of(self, port: str) -> str | None:
        return next((normal_target(t) for v, t in self.ports if v == port), None)


def split_line(line: str) -> tuple[str, str]:
    name, _, value = line.partition("=")
    return name.strip(), value.strip()


def parse_hs_options(lines: list[str]) -> list[HsService]:
    """The services in a ``GETCONF HiddenServiceOptions`` reply (one ``Name=value`` a line)."""
    services: list[HsService] = []
    for line in lines:
        name, value = split_line(line)
        low = name.lower()
        if low == "hiddenservicedir":
            services.append(HsService(value.rstrip("/") or "/"))
        elif not services or not low.startswith("hiddenservice"):
            continue          # "HiddenServiceOptions" alone: no service at all
        elif low == "hiddenserviceport":
            virt, _, target = value.partition(" ")
            services[-1].ports.append((virt.strip(), target.strip() or virt.strip()))
        else:
            services[-1].options[low] = value
    return services


def normal_target(target: str) -> str:
    """``8086`` and ``127.0.0.1:8086`` are the same target to tor."""
    target = target.strip().lower()
    return f"127.0.0.1:{target}" if target.isdigit() else target


def expected_options(lines: str) -> dict[str, str]:
    """``{lower-case name: value}`` of torrc lines (as onion/backend.py writes them)."""
    out: dict[str, str] = {}
    for line in lines.splitlines():
        name, _, value = line.strip().partition(" ")
        if name and not name.startswith("#"):
            out[name.lower()] = value.strip()
    return out


def check_instance(services: list[HsService], target: str,
                   wanted: str) -> tuple[HsService, list[str]]:
    """The Onionbalance instance service whose port 80 goes to ``target``, and the lines of
    ``wanted`` (the torrc lines serve would write) that it lacks, as warnings. Refuses
    (:class:`InstanceMissing`, the lines to add in the hint) when there is none."""
    target = normal_target(target)
    found = [s for s in services if s.onionbalance_instance and s.target_of("80") == target]
    if not found:
        raise InstanceMissing(missing_reason(services, target), add_hint(wanted))
    service = found[0]
    names = {line.split(" ", 1)[0].lower(): line.split(" ", 1)[0]
             for line in wanted.splitlines() if line.strip()}
    want = expected_options(wanted)
    warnings = [f"{names[name]} is {service.options.get(name, 'not set')}, serve would set "
                f"{value}" for name, value in want.items()
                if name.startswith("hiddenservice") and name not in ("hiddenservicedir",
                                                                     "hiddenserviceport")
                and service.options.get(name) != value]
    return service, warnings


def missing_reason(services: list[HsService], target: str) -> str:
    instances = [s for s in services if s.onionbalance_instance]
    if not services:
        return "the tor serve attaches to has no onion service in its torrc (backend mode " \
               "needs an Onionbalance instance service there)"
    if not instances:
        plain = [s.directory for s in services if s.target_of("80") == target]
        more = (f"; {plain[0]} sends port 80 to {target} but lacks "
                "HiddenServiceOnionbalanceInstance 1") if plain else ""
        return f"no onion service of the tor serve attaches to is an Onionbalance instance{more}"
    sent = ", ".join(f"{s.directory} -> {s.target_of('80') or 'no port 80'}" for s in instances)
    return (f"no Onionbalance instance service of that tor sends port 80 to serve's --bind "
            f"{target} ({sent})")


def add_hint(wanted: str) -> str:
    lines = "; ".join(line for line in wanted.splitlines() if line.strip())
    return (f"add these lines to that tor's torrc, write its ob_config (`skrynka-onion "
            f"backend-config` prints both), `systemctl reload tor`, then start serve again: "
            f"{lines} ({DOCS})")
