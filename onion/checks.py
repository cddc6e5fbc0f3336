"""What serve, status and rotate check before they act: the data directory is one, and
(for serve's closing line) whether the analysts' keys are usable.

Both follow the rules the app's own commands follow (contract.DataDir.problem,
app.analystkeys.keys_problem).
Standard library and contract only at import time: ``python -m onion --help`` and the
offline signing commands run without PyNaCl (tests/onion/test_without_stem.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from contract import DATA_HINT, ENV_DATABASE_URL, DataDir
from onion.errors import UsageError


def require_data_dir(data: Path, env: Mapping[str, str]) -> None:
    """Refuse (creating nothing) a path that is not a data directory ``app init`` made
    (contract.DataDir.problem, the rule app's commands follow)."""
    problem = DataDir(data).problem(env.get(ENV_DATABASE_URL, ""))
    if problem is not None:
        raise UsageError(problem, DATA_HINT)


def analyst_key_problem(data: Path, env: Mapping[str, str]) -> tuple[Path, str | None]:
    """The analysts.pub the app reads, and why the app cannot seal to its keys (then
    every form answers 503), or None if they are usable (app.analystkeys.keys_problem)."""
    from app.analystkeys import analyst_keys_path, keys_problem

    return analyst_keys_path(data, env), keys_problem(data, env)
