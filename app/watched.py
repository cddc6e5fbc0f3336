"""A small configuration file the running server follows (analyst keys, onion names)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class WatchedFile:
    """A small text file re-read only when its mtime or size changes (one stat)."""

    def __init__(self, path: Path, parse: Callable[[str], Any]) -> None:
        self.path = path
        self.parse = parse
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._value: Any = None
        self._error: Exception | None = None

    def get(self) -> Any:
        """The parsed content; re-raises the parse error if the file is bad."""
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp or (self._value is None and self._error is None):
                self._stamp = stamp
                try:
                    self._value, self._error = self.parse(self._read(stamp)), None
                except Exception as exc:  # the caller decides; it is reported once
                    self._value, self._error = None, exc
            if self._error is not None:
                raise self._error
            return self._value

    def _read(self, stamp: tuple[int, int] | None) -> str:
        if stamp is None:
            return ""
        return self.path.read_text(encoding="utf-8")
