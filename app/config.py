"""The app's configuration: one frozen dataclass, read from ``SKRYNKA_*`` variables.

Every value is checked when it is read, so a mistyped variable stops the
server at start-up with a clear message instead of misbehaving later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.analystkeys import analyst_keys_path
from app.errors import ConfigError, StorageError
from contract import (
    DATA_HINT,
    ENV_ALLOW_LOCAL_HOST,
    ENV_BIND,
    ENV_DATABASE_URL,
    ENV_HOSTNAMES_FILE,
    BindRefused,
    DataDir,
    mib,
    parse_bind,
)

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_FORM = PACKAGE_DIR / "forms" / "election.toml"
#: The most attachments a report may be allowed: each is a multipart part, and a
#: report has at most 200 parts (app/intake/multipart.py), text fields included.
MAX_FILES_CEILING = 100
#: Without SKRYNKA_TEXT_RESERVE_MB, this share of the budget is kept for text-only
#: reports (64 MiB of the default 2 GiB: about ten thousand of them).
DEFAULT_RESERVE_SHARE = 32


def check_bind(value: str) -> str:
    """A gunicorn bind address, checked by the project's loopback rule (contract.py):
    the address in gunicorn's form, or ConfigError (invariant 4)."""
    try:
        return str(parse_bind(value))
    except BindRefused as exc:
        raise ConfigError(f"{ENV_BIND}: {exc.message}", hint=exc.hint) from None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _optional_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    if not env.get(name, "").strip():
        return None
    return _int(env, name, minimum, minimum)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "0").strip().lower()
    if raw in ("1", "yes", "true", "on"):
        return True
    if raw in ("", "0", "no", "false", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} must be 0 or 1")


@dataclass(frozen=True)
class Config:
    """Everything the app needs to know; see README for each variable."""

    data: Path
    database_url: str
    analyst_keys: Path
    max_file_mb: int = 25
    max_report_mb: int = 100
    storage_budget_mb: int = 2048
    max_files: int = 10
    text_reserve_mb: int | None = None  # None: a 32nd of the budget
    retention_days: int = 7
    purge_min_days: int = 2  # purge asks for --yes before deleting reports exported later
    hostnames_file: Path | None = None
    allow_local_host: bool = False
    bind: str = ""
    form_path: Path = DEFAULT_FORM

    def __post_init__(self) -> None:
        if self.max_file_mb < 1 or self.max_report_mb < 1 or self.storage_budget_mb < 1:
            raise ConfigError("size limits must be positive")
        if self.max_file_mb > self.max_report_mb:
            raise ConfigError(
                f"SKRYNKA_MAX_FILE_MB ({self.max_file_mb}) is larger than "
                f"SKRYNKA_MAX_REPORT_MB ({self.max_report_mb})",
                hint="one attachment cannot be larger than a whole report",
            )
        if not 1 <= self.max_files <= MAX_FILES_CEILING:
            raise ConfigError(
                f"SKRYNKA_MAX_FILES={self.max_files} must be from 1 to {MAX_FILES_CEILING}"
            )
        self._check_reserve()
        if self.retention_days < 0:
            raise ConfigError("SKRYNKA_RETENTION_DAYS must not be negative")
        if self.purge_min_days < 0:
            raise ConfigError("SKRYNKA_PURGE_MIN_DAYS must not be negative")
        if self.bind:
            check_bind(self.bind)

    def _check_reserve(self) -> None:
        reserve = self.text_reserve_mb
        if reserve is None:
            return
        if reserve < 0:
            raise ConfigError("SKRYNKA_TEXT_RESERVE_MB must not be negative")
        if reserve >= self.storage_budget_mb:
            raise ConfigError(
                f"SKRYNKA_TEXT_RESERVE_MB ({reserve}) is not smaller than "
                f"SKRYNKA_STORAGE_BUDGET_MB ({self.storage_budget_mb})",
                hint="the reserve is the part of the budget that only reports without "
                     "attachments may use; attachments need the rest",
            )

    @property
    def max_file_bytes(self) -> int:
        return mib(self.max_file_mb)

    @property
    def max_report_bytes(self) -> int:
        return mib(self.max_report_mb)

    @property
    def budget_bytes(self) -> int:
        return mib(self.storage_budget_mb)

    @property
    def text_reserve_bytes(self) -> int:
        """The part of the budget only reports without attachments may use."""
        if self.text_reserve_mb is None:
            return self.budget_bytes // DEFAULT_RESERVE_SHARE
        return mib(self.text_reserve_mb)

    @property
    def paths(self) -> DataDir:
        return DataDir(self.data)

    def data_problem(self) -> str | None:
        """Why :attr:`data` is not a data directory made by init (contract.DataDir.problem)."""
        return self.paths.problem(self.database_url)

    def check_data(self) -> None:
        """StorageError unless :attr:`data` is a data directory made by init (and, with
        SQLite, its database exists); looks only, creates nothing."""
        problem = self.data_problem()
        if problem is not None:
            raise StorageError(problem, hint=DATA_HINT)

    @property
    def hostnames_path(self) -> Path:
        return self.hostnames_file or self.paths.hostnames

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, data: str | None = None) -> Config:
        """Read ``SKRYNKA_*`` variables (``os.environ`` by default); ``data`` is a --data
        option, which comes before $SKRYNKA_DATA (contract.DataDir.from_env)."""
        env = os.environ if env is None else env
        paths = DataDir.from_env(env, given=data)
        url = env.get(ENV_DATABASE_URL) or f"sqlite:///{paths.database}"
        keys = analyst_keys_path(paths.root, env)
        hostnames = env.get(ENV_HOSTNAMES_FILE)
        return cls(
            data=paths.root,
            database_url=url,
            analyst_keys=keys,
            max_file_mb=_int(env, "SKRYNKA_MAX_FILE_MB", 25, 1),
            max_report_mb=_int(env, "SKRYNKA_MAX_REPORT_MB", 100, 1),
            storage_budget_mb=_int(env, "SKRYNKA_STORAGE_BUDGET_MB", 2048, 1),
            max_files=_int(env, "SKRYNKA_MAX_FILES", 10, 1),
            text_reserve_mb=_optional_int(env, "SKRYNKA_TEXT_RESERVE_MB", 0),
            retention_days=_int(env, "SKRYNKA_RETENTION_DAYS", 7, 0),
            purge_min_days=_int(env, "SKRYNKA_PURGE_MIN_DAYS", 2, 0),
            hostnames_file=Path(hostnames) if hostnames else None,
            allow_local_host=_flag(env, ENV_ALLOW_LOCAL_HOST),
            bind=env.get(ENV_BIND, "").strip(),
            form_path=Path(env.get("SKRYNKA_FORM") or DEFAULT_FORM),
        )
