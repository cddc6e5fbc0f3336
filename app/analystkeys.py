"""The analysts' public keys the server seals to (``analysts.pub``), and who may read.

The server follows the file while it runs (app/watched.py). Every change of the
set of keys is logged, naming each key by its fingerprint (keys.pubkey.fingerprint,
the same the analyst's tool prints): a key appended by someone else receives every
later report, so the change must not go unseen (SECURITY.md, "Who else can read").
The set last logged is kept in ``$SKRYNKA_DATA/analysts.logged`` (the keys'
``skrynka1…`` lines), so the change is logged once by whichever worker sees it
first, also across a restart, and a worker's start logs nothing when the set is
the one logged before. The line names keys only; it is a fact about the
configuration, never about a report or a request.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from app.errors import ConfigError
from app.watched import WatchedFile
from keys.envelope import MAX_RECIPIENTS
from keys.errors import KeyFileError
from keys.pubkey import encode_public, fingerprint, parse_recipients

log = logging.getLogger("skrynka")
LOGGED_FILE = "analysts.logged"


def describe(keys: Sequence[bytes]) -> str:
    """``N key(s): FP, FP`` in the file's order."""
    return f"{len(keys)} key(s): " + ", ".join(fingerprint(k) for k in keys)


def check_count(path: Path, keys: Sequence[bytes]) -> None:
    if len(keys) > MAX_RECIPIENTS:
        raise ConfigError(f"{path} lists {len(keys)} keys; at most {MAX_RECIPIENTS}")


class KeySet:
    """Parses analysts.pub for a WatchedFile and logs each change of the key set."""

    def __init__(self, path: Path, logged: Path | None = None) -> None:
        self.path = path
        self.logged = logged  # where the set last logged is kept (None: in memory only)
        self.current: tuple[bytes, ...] | None = None
        self._lock = threading.Lock()

    def parse(self, text: str) -> tuple[bytes, ...]:
        keys = tuple(parse_recipients(text, str(self.path)))
        check_count(self.path, keys)
        self.note(keys)
        return keys

    def note(self, keys: tuple[bytes, ...]) -> None:
        """Log ``keys`` if they are not the set logged last (the order does not count)."""
        with self._lock:
            if self.current is not None and set(self.current) == set(keys):
                return
            before = self._swap(keys)
            self.current = keys
        if before is None:
            log.warning("analyst keys: sealing to %s", describe(keys))
        elif set(before) != set(keys):
            added = [fingerprint(k) for k in keys if k not in before]
            removed = [fingerprint(k) for k in before if k not in keys]
            log.warning(
                "analyst keys changed: now sealing to %s (added: %s; removed: %s)",
                describe(keys), ", ".join(added) or "none", ", ".join(removed) or "none",
            )

    def _swap(self, keys: tuple[bytes, ...]) -> tuple[bytes, ...] | None:
        """The set logged before (None: none known), recording ``keys`` in its place."""
        if self.logged is None:
            return self.current
        try:
            return _swap_file(self.logged, keys)
        except OSError as exc:
            log.warning("cannot keep the analyst key set in %s (%s)", self.logged,
                        type(exc).__name__)
            return self.current


def _swap_file(path: Path, keys: tuple[bytes, ...]) -> tuple[bytes, ...] | None:
    """Under an exclusive lock of ``path``: its keys (None if none or unreadable), then
    ``keys`` written in their place. One worker at a time, so one logs a change."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, os.fstat(fd).st_size, 0)  # a small file of our own
        try:
            before: tuple[bytes, ...] | None = tuple(
                parse_recipients(raw.decode("ascii"), str(path)))
        except (KeyFileError, ValueError):
            before = None
        if before is None or set(before) != set(keys):
            os.ftruncate(fd, 0)
            os.pwrite(fd, "".join(encode_public(k) + "\n" for k in keys).encode("ascii"), 0)
            os.fsync(fd)
        return before
    finally:
        os.close(fd)  # releases the lock


def watched_keys(path: Path, data: Path | None = None) -> WatchedFile:
    """analysts.pub as the running server follows it: a tuple of keys, or the error.
    ``data``: the data directory, where the set last logged is kept."""
    logged = None if data is None else data / LOGGED_FILE
    return WatchedFile(path, KeySet(path, logged).parse)
