"""The day the censorship advice was last reviewed, from ``app/advice.toml``.

The advice itself lives in the catalogs (``[connect]``); operators change both without
code and set ``reviewed`` to the day they checked it (the page shows that day).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import tomllib

from app.errors import ConfigError

ADVICE_FILE = Path(__file__).resolve().parent / "advice.toml"


def load_reviewed(path: Path) -> str:
    """``reviewed`` of the advice file as ``YYYY-MM-DD`` (ConfigError if missing or bad)."""
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    value = doc.get("reviewed")
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise ConfigError(f"{path}: reviewed must be a day, like reviewed = 2026-12-02")
    return value.isoformat()
