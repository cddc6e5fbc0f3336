"""Rotation: a new onion key, both addresses served for a grace period, and an unsigned
announcement "old address -> new address, valid from <day>" to sign (onion/announce.py,
format: onion/ANNOUNCEMENT.md).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from onion import state
from onion.announce import Announcement
from onion.errors import OnionKeyError


def day(ts: float) -> str:
    """The UTC day of a timestamp, ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def rotate(data: Path, grace_seconds: float | None, now: float | None = None,
           default_grace: float = state.DEFAULT_GRACE_DAYS * state.DAY) -> tuple[Path, str]:
    """Make a new key; the current one enters its grace period. Returns the announcement
    path and the new address. ``grace_seconds=None``: the running serve's --grace-days,
    else ``default_grace``."""
    now = time.time() if now is None else now
    if grace_seconds is None:
        status = state.read_status(data) or {}
        running = status.get("grace_seconds")
        grace_seconds = float(running) if isinstance(running, (int, float)) else default_grace
    with state.locked(data):
        services = state.load_services(data)
        if not services:
            raise OnionKeyError("there is no onion address to rotate yet",
                                "run `python -m onion serve` once first")
        old = state.current(services)
        new, _ = state.new_service(data)
        new = replace(new, added=now)
        superseded = replace(old, superseded_at=now, grace_seconds=grace_seconds)
        others = [s for s in services if s is not old]
        state.save_services(data, [*others, superseded, new])
    until = superseded.retire_at(default_grace)
    assert until is not None
    ann = Announcement(old.address, new.address, day(now), day(until))
    path = state.onion_dir(data) / "announcements" / f"{day(now)}-{new.address[:16]}.txt"
    state.write_atomic(path, ann.body())
    return path, new.address
