"""What serve, status and rotate check before they act: the data directory is one, and
(for serve's closing line) whether the analysts' keys are usable.

Each is one small function so that a shared version (contract.py, app/) can replace it.
Standard library and contract only at import time: ``python -m onion --help`` and the
offline signing commands run without PyNaCl (tests/onion/test_without_stem.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from contract import DataDir
from onion.errors import UsageError

DATA_HINT = ("make it with `python -m app init` (or `make run`), or name the right one with "
             "--data DIR or SKRYNKA_DATA")
ENV_ANALYST_KEYS = "SKRYNKA_ANALYST_KEYS"   # app/config.py's override of analysts.pub


def require_data_dir(data: Path) -> None:
    """Refuse (creating nothing) a path that is not a Skrynka data directory: one that
    ``app init`` made (its export key or SQLite database) or where serve has run."""
    layout = DataDir(data)
    marks = (layout.export_key, layout.database, layout.onion / "services.json")
    if not data.is_dir() or not any(p.exists() for p in marks):
        raise UsageError(f"no Skrynka data directory at {data}", DATA_HINT)


def analyst_keys_path(data: Path, env: Mapping[str, str]) -> Path:
    """The analysts.pub the app reads (app/config.py: $SKRYNKA_ANALYST_KEYS, else the data
    directory's)."""
    return Path(env.get(ENV_ANALYST_KEYS) or DataDir(data).analyst_keys)


def analyst_key_problem(path: Path) -> str | None:
    """Why the app cannot seal to the keys in ``path`` (then every form answers 503), or
    None if they are usable. Read as the app reads them (keys.pubkey, app.analystkeys)."""
    from app.analystkeys import check_count
    from app.errors import ConfigError
    from keys.errors import KeysError
    from keys.pubkey import read_recipients

    try:
        check_count(path, read_recipients(path))
    except (KeysError, ConfigError) as exc:
        return exc.message
    return None
