"""A small configuration file the running server follows (analyst keys, onion names)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class WatchedFile:
    """A small text file re-read only when its change time, inode or size changes (one
    stat), and parsed again only when its text did change.

    Not the modification time: app/dayclock.py sets it back to the start of the day
    every few seconds, so an edit that keeps the size could go unseen. The change
    time moves on every such pin too; then the file is read again and found equal."""

    def __init__(self, path: Path, parse: Callable[[str], Any]) -> None:
        self.path = path
        self.parse = parse
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._text: str | None = None
        self._value: Any = None
        self._error: Exception | None = None

    def get(self) -> Any:
        """The parsed content; re-raises the parse error if the file is bad."""
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (st.st_ctime_ns, st.st_ino, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp or (self._value is None and self._error is None):
                self._stamp = stamp
                try:
                    text = self._read(stamp)
                    if text != self._text or (self._value is None and self._error is None):
                        self._text = text
                        self._value, self._error = self.parse(text), None
                except Exception as exc:  # the caller decides; it is reported once
                    self._value, self._error = None, exc
                    self._text = None
            if self._error is not None:
                raise self._error
            return self._value

    def _read(self, stamp: tuple[int, int, int] | None) -> str:
        if stamp is None:
            return ""
        return self.path.read_text(encoding="utf-8")
