"""The analysts' public keys the server seals to (``analysts.pub``), and who may read.

The server follows the file while it runs (app/watched.py). Every change of the
set of keys is logged once per process, naming each key by its fingerprint
(keys.pubkey.fingerprint, the same the analyst's tool prints): a key appended by
someone else receives every later report, so the change must not go unseen
(SECURITY.md, "Who else can read"). The line names keys only; it is a fact about
the configuration, never about a report or a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from app.errors import ConfigError
from app.watched import WatchedFile
from keys.envelope import MAX_RECIPIENTS
from keys.pubkey import fingerprint, parse_recipients

log = logging.getLogger("skrynka")


def describe(keys: Sequence[bytes]) -> str:
    """``N key(s): FP, FP`` in the file's order."""
    return f"{len(keys)} key(s): " + ", ".join(fingerprint(k) for k in keys)


def check_count(path: Path, keys: Sequence[bytes]) -> None:
    if len(keys) > MAX_RECIPIENTS:
        raise ConfigError(f"{path} lists {len(keys)} keys; at most {MAX_RECIPIENTS}")


class KeySet:
    """Parses analysts.pub for a WatchedFile and logs each change of the key set."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: tuple[bytes, ...] | None = None
        self._lock = threading.Lock()

    def parse(self, text: str) -> tuple[bytes, ...]:
        keys = tuple(parse_recipients(text, str(self.path)))
        check_count(self.path, keys)
        self.note(keys)
        return keys

    def note(self, keys: tuple[bytes, ...]) -> None:
        """Log ``keys`` if they are not the set seen last (the order does not count)."""
        with self._lock:
            before, self.current = self.current, keys
        if before is None:
            log.warning("analyst keys: sealing to %s", describe(keys))
            return
        if set(before) == set(keys):
            return
        added = [fingerprint(k) for k in keys if k not in before]
        removed = [fingerprint(k) for k in before if k not in keys]
        log.warning(
            "analyst keys changed: now sealing to %s (added: %s; removed: %s)",
            describe(keys), ", ".join(added) or "none", ", ".join(removed) or "none",
        )


def watched_keys(path: Path) -> WatchedFile:
    """analysts.pub as the running server follows it: a tuple of keys, or the error."""
    return WatchedFile(path, KeySet(path).parse)
