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
                   "address (a torrc service on the tor serve launches; repeat it during a "
                   f"frontend rotation, the new address first; see {DOCS})")


def frontends(args: argparse.Namespace) -> tuple[str, ...]:
    """The checked frontend addresses, or () outside backend mode; refuses what backend
    mode cannot do."""
    if not args.onionbalance_frontend:
        return ()
    from onion import backend

    if args.control_port is not None or args.control_socket:
        raise UsageError(
            "--onionbalance-frontend needs the tor serve launches: an Onionbalance instance "
            "is a torrc service (HiddenServiceOnionbalanceInstance), which serve cannot add "
            "to your tor over its control port",
            f"run serve without --control-port/--control-socket, or configure the instance "
            f"in your tor's torrc and run one Skrynka per backend as {DOCS} shows")
    if args.client_auth:
        raise UsageError("--client-auth cannot be used with --onionbalance-frontend: the "
                         "frontend's descriptor is published by onionbalance, not by serve",
                         "a staff-only drop runs without Onionbalance")
    return backend.check_frontends(args.onionbalance_frontend).frontends


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
