"""The command-line parts of backend mode (docs/onionbalance.md): serve's
``--onionbalance-frontend``, its refusals, rotate's refusal, and ``onion announce`` (the
unsigned "old frontend -> new frontend" announcement, to sign offline)."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from contract import today_date
from onion.errors import UsageError

DOCS = "docs/onionbalance.md"


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--onionbalance-frontend", action="append", metavar="ADDRESS.onion",
                   help="backend mode: serve as one Onionbalance instance of this frontend "
                   "address (a torrc service: on the tor serve launches, or, with "
                   "--control-socket/--control-port, on your tor as `skrynka-onion "
                   "backend-config` prints it; repeat it during a frontend rotation, the new "
                   f"address first; see {DOCS})")
    p.add_argument("--instance-address", metavar="ADDRESS.onion",
                   help="attached backend mode: the instance service's address (its "
                   "HiddenServiceDir/hostname), shown by `skrynka-onion status`")


def frontends(args: argparse.Namespace) -> tuple[str, ...]:
    """The checked frontend addresses, or () outside backend mode; refuses what backend
    mode cannot do."""
    attached = args.control_port is not None or bool(args.control_socket)
    if args.instance_address and not (args.onionbalance_frontend and attached):
        raise UsageError("--instance-address is for attached backend mode",
                         "give it with --onionbalance-frontend and --control-socket or "
                         "--control-port; the tor serve launches tells serve its address")
    if not args.onionbalance_frontend:
        return ()
    from onion import backend
    if args.client_auth:
        raise UsageError("--client-auth cannot be used with --onionbalance-frontend: the "
                         "frontend's descriptor is published by onionbalance, not by serve",
                         "a staff-only drop runs without Onionbalance")
    return backend.check_frontends(args.onionbalance_frontend).frontends


def instance_address(args: argparse.Namespace) -> str | None:
    """``--instance-address``, checked (a v3 address), or None."""
    if not args.instance_address:
        return None
    from onion import announce
    from onion.errors import AnnouncementError

    addr = str(args.instance_address).strip().lower()
    try:
        announce.check_address(addr)
    except AnnouncementError as exc:
        raise UsageError(f"--instance-address {addr}: {exc.message}",
                         "copy it from the instance's HiddenServiceDir/hostname") from exc
    return addr


def cmd_backend_config(args: argparse.Namespace) -> int:
    """Print the torrc lines and the ob_config of the instance service for the operator's
    tor (attached backend mode), exactly as serve checks them."""
    from onion import backend, torrc
    from onion.web import loopback_tcp

    be = backend.check_frontends(args.onionbalance_frontend)
    hs_dir = args.hs_dir.rstrip("/")
    lines = backend.service_lines(
        hs_dir, str(loopback_tcp(args.bind)), pow_enabled=not args.no_pow,
        pow_queue_rate=args.pow_queue_rate, pow_queue_burst=args.pow_queue_burst,
        max_streams=args.max_streams)
    print(f"# put into your tor's configuration (after `make install`: "
          f"/etc/tor/torrc.d/skrynka-instance.conf), see {DOCS}")
    print(lines, end="")
    print(f"# tor reads {backend.OB_CONFIG} when it loads the service: first `install -d -m "
          f"0700 -o debian-tor -g debian-tor {hs_dir}`, write {hs_dir}/{backend.OB_CONFIG} "
          "as below (owner debian-tor, mode 0600), then `systemctl reload tor`")
    print(backend.ob_config_text(be), end="")
    if hs_dir != torrc.SYSTEM_HS_DIR:
        print(f"# serve checks the lines above but for the directory ({torrc.SYSTEM_HS_DIR} "
              "in its hints)")
    return 0


def config_parser(sub: Any, add: Any) -> None:
    from contract import DEFAULT_MAX_STREAMS
    from onion import torrc

    p = add(sub, "backend-config", "print the torrc lines and ob_config of an Onionbalance "
            "instance on your tor (attached backend mode: serve --control-socket "
            "--onionbalance-frontend)")
    p.add_argument("--onionbalance-frontend", action="append", required=True,
                   metavar="ADDRESS.onion", help="the frontend address (repeat: new first)")
    p.add_argument("--bind", default="127.0.0.1:8086", help="serve's --bind (default "
                   "127.0.0.1:8086)")
    p.add_argument("--hs-dir", default=torrc.SYSTEM_HS_DIR,
                   help=f"the instance's HiddenServiceDir (default {torrc.SYSTEM_HS_DIR})")
    p.add_argument("--no-pow", action="store_true", help="as serve's --no-pow (not advised)")
    p.add_argument("--pow-queue-rate", type=int, default=250)
    p.add_argument("--pow-queue-burst", type=int, default=2500)
    p.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS)
    p.set_defaults(func=cmd_backend_config)


def refuse_rotate(data: Path) -> None:
    from onion import backend

    if backend.is_backend(data):
        raise UsageError(
            f"{data} is an Onionbalance backend (it has {backend.instance_dir(data)}): the "
            "frontend address rotates, not a backend",
            f"make a new frontend key on the frontend host, write the announcement with "
            f"`python -m onion announce OLD NEW`, and restart each backend with both "
            f"--onionbalance-frontend NEW --onionbalance-frontend OLD ({DOCS})")


def cmd_announce(args: argparse.Namespace) -> int:
    from onion import announce, state

    today = today_date()
    valid_from = args.valid_from or today.isoformat()
    old_until = args.old_until or (today + datetime.timedelta(days=14)).isoformat()
    ann = announce.Announcement(args.old, args.new, valid_from, old_until)
    announce.parse(ann.body())                 # checks both addresses and both days
    out = Path(args.out or f"announcement-{args.new[:16]}.txt")
    try:
        state.write_atomic(out, ann.body())
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from exc
    print(f"onion: announcement: {out} ({ann.summary()}; the old address until {old_until})")
    print(f"onion: next: sign it offline: python -m onion sign --key signing.key {out}; then "
          "copy it and its .sig into each backend's DATA/onion/announcements/")
    return 0


def announce_parser(sub: Any, add: Any) -> None:
    p = add(sub, "announce", "write an (unsigned) announcement OLD -> NEW for an address "
            "that moved elsewhere than by `onion rotate` (an Onionbalance frontend)")
    p.add_argument("old", help="the old address (xxx.onion)")
    p.add_argument("new", help="the new address (xxx.onion)")
    p.add_argument("--valid-from", help="day the new address works from (default today, UTC)")
    p.add_argument("--old-until", help="last day of the old address (default today + 14)")
    p.add_argument("--out", help="file to write (default announcement-<new prefix>.txt)")
    p.set_defaults(func=cmd_announce)
