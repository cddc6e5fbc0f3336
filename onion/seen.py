"""What ``python -m onion verify`` remembers, so that an old statement cannot be replayed.

For each verify key: the highest announcement serial seen (with the SHA-256 of that
announcement's body and its summary) and the addresses revoked so far. ``check`` refuses
(AnnouncementRefused) an announcement whose serial is lower than the highest one seen, one
with the same serial but a different body, and one whose new address was revoked; a
revocation is always accepted (revoking is permanent, so replaying one does no harm) and
remembered. The file is JSON, written atomically, mode 0600; by default
``$XDG_STATE_HOME/skrynka/announcements.json`` (``~/.local/state/skrynka/…``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import nacl.signing

from onion.announce import Announcement, Statement
from onion.errors import AnnouncementRefused, StateError

VERSION = 1


def default_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "skrynka" / "announcements.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {"version": VERSION, "keys": {}}
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}, the announcements already seen: {exc}",
                         "move it away and verify again (the serials it remembered are "
                         "then forgotten), or give another --state FILE") from exc
    if (not isinstance(data, dict) or data.get("version") != VERSION
            or not isinstance(data.get("keys"), dict)):
        raise StateError(f"{path} is not a Skrynka announcements-seen file",
                         "give another --state FILE, or move it away")
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}",
                         "give a --state FILE in a directory you can write") from exc


def _check_announcement(entry: dict[str, Any], ann: Announcement, digest: str) -> None:
    revoked = entry["revoked"].get(ann.new)
    if revoked is not None:
        raise AnnouncementRefused(
            f"REVOKED: {ann.new} was revoked as of {revoked['as_of']} (revocation serial "
            f"{revoked['serial']}); this announcement (serial {ann.serial}) must not be used",
            "do not use that address; look for the organisation's current announcement")
    if ann.serial < entry["serial"]:
        raise AnnouncementRefused(
            f"REPLAYED: this announcement has serial {ann.serial}, but serial "
            f"{entry['serial']} ({entry['summary']}) was already seen: it is an old one, "
            "replaced since", f"do not use {ann.new} on its word; the newer announcement "
            "names the current address")
    if ann.serial == entry["serial"] and digest != entry["digest"]:
        raise AnnouncementRefused(
            f"CONFLICT: another announcement with serial {ann.serial} ({entry['summary']}) "
            "was already seen; the signing key is misused or stolen",
            "trust neither; ask the organisation through a channel you already trust")


def check(path: Path, vk: nacl.signing.VerifyKey, st: Statement) -> str | None:
    """Refuse a replayed ``st`` (AnnouncementRefused), else remember it; returns a warning
    line for the user, if any."""
    data = _load(path)
    key = base64.b64encode(bytes(vk)).decode("ascii")
    entry = data["keys"].setdefault(key, {"serial": 0, "digest": "", "summary": "",
                                          "revoked": {}})
    if not (isinstance(entry, dict) and isinstance(entry.get("serial"), int)
            and isinstance(entry.get("digest"), str) and isinstance(entry.get("summary"), str)
            and isinstance(entry.get("revoked"), dict)):
        raise StateError(f"{path} is damaged (the entry of this verify key)",
                         "move it away and verify again, or give another --state FILE")
    digest = hashlib.sha256(st.body().encode("ascii")).hexdigest()
    note = None
    if isinstance(st, Announcement):
        _check_announcement(entry, st, digest)
        entry.update(serial=st.serial, digest=digest, summary=st.summary())
    else:
        entry["revoked"][st.address] = {"as_of": st.revoked_from, "serial": st.serial}
        if entry["summary"] and f"-> {st.address}," in entry["summary"]:
            note = (f"WARNING: the last announcement you verified ({entry['summary']}) "
                    f"named {st.address}: stop using it")
    _save(path, data)
    return note
