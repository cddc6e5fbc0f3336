"""The summary's cache files (``OUTDIR/.cache.json``, ``.evidence.json``, ``.pages.json``).

Each is one JSON object ``{"format": …, "version": …, "reports": {report id: …}}``. A
missing, damaged or foreign cache reads as empty, so the run rebuilds what it held; it
is read without following a symlink and replaced atomically (keys.output.write_atomic).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from keys import output

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def load(path: Path, fmt: str, version: int) -> dict[str, Any]:
    """The cache's per-report entries, or {} if it is missing, damaged or not ``fmt``
    ``version``."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    ok = (isinstance(data, dict) and data.get("format") == fmt
          and data.get("version") == version and isinstance(data.get("reports"), dict))
    return data["reports"] if ok else {}


def save(path: Path, fmt: str, version: int, reports: dict[str, Any]) -> None:
    """Replace the cache with ``reports``."""
    data = {"format": fmt, "version": version, "reports": reports}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    output.write_atomic(path, text.encode("utf-8"))
