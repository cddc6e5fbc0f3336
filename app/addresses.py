"""What voters need to reach the right address: the grace notice and the announcement.

* The hostnames file (written by ``onion serve``, read by app/hosts.py) marks an address
  in its grace period with a comment the Host check ignores::

      <old>.onion # until YYYY-MM-DD, then <new>.onion

  A page served on such an address shows the new address and the day. An onion address
  authenticates its server, so a notice served there is ours: a phishing copy cannot
  serve anything on the real old address.
* The latest signed announcement under ``$SKRYNKA_DATA/onion/announcements/`` (a ``.txt``
  with its ``.txt.sig``, onion/ANNOUNCEMENT.md) is shown on ``/<lang>/address`` as signed,
  unless it has expired or a signed revocation in the same folder names its new address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from onion.announce import Announcement, Revocation, Statement, parse
from onion.errors import AnnouncementError

RETIRING_RE = re.compile(
    r"^\s*(?P<old>[a-z2-7]{56}\.onion)\s*#\s*until (?P<day>\d{4}-\d{2}-\d{2}), "
    r"then (?P<new>[a-z2-7]{56}\.onion)\s*$"
)
MAX_ANNOUNCEMENT_BYTES = 4096  # a v2 announcement or its .sig is about 400 bytes


@dataclass(frozen=True)
class Moving:
    """An address in its grace period: where voters should go, and from when."""

    new: str
    day: str  # YYYY-MM-DD (UTC): the old address stops working on this day


def parse_retiring(text: str) -> dict[str, Moving]:
    """The hostnames file's addresses in their grace period: ``{old: Moving}``."""
    found = {}
    for line in text.lower().splitlines():
        if m := RETIRING_RE.match(line):
            found[m["old"]] = Moving(m["new"], m["day"])
    return found


@dataclass(frozen=True)
class Published:
    """A signed announcement as published: its exact text and signature."""

    announcement: Announcement
    text: str
    signature: str


def _read_signed(path: Path) -> tuple[Statement, str, str] | None:
    """(statement, text, signature) of a signed statement file, else None."""
    sig = path.with_name(path.name + ".sig")
    try:
        if max(path.stat().st_size, sig.stat().st_size) > MAX_ANNOUNCEMENT_BYTES:
            return None
        text = path.read_bytes().decode("ascii")
        signature = sig.read_bytes().decode("ascii")
        statement = parse(text)
    except (OSError, UnicodeDecodeError, AnnouncementError):  # unreadable or not v2
        return None
    if not statement.serial or not signature.startswith("-----BEGIN SSH SIGNATURE-----"):
        return None  # unsigned, as rotate and revoke write it
    return statement, text, signature


def latest_announcement(folder: Path, today: str) -> Published | None:
    """The signed announcement with the highest serial in ``folder``, unless it has
    expired or a signed revocation there names its new address (then None)."""
    try:
        paths = sorted(folder.glob("*.txt"))
    except OSError:
        return None
    best: Published | None = None
    revoked: set[str] = set()
    for path in paths:
        found = _read_signed(path)
        if found is None:
            continue
        statement, text, signature = found
        if isinstance(statement, Revocation):
            revoked.add(statement.address)
        elif best is None or statement.serial > best.announcement.serial:
            best = Published(statement, text, signature)
    if best is None or best.announcement.expires < today or best.announcement.new in revoked:
        return None
    return best
