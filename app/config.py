"""The app's configuration: one frozen dataclass, read from ``SKRYNKA_*`` variables.

Every value is checked when it is read, so a mistyped variable stops the
server at start-up with a clear message instead of misbehaving later.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.errors import ConfigError

MIB = 1 << 20
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_FORM = PACKAGE_DIR / "forms" / "election.toml"
LOCAL_NAMES = ("localhost",)


def parse_bind(value: str) -> str:
    """Check a gunicorn bind address: a unix socket or a loopback ``host:port``.

    Returns the address unchanged; ConfigError for anything that could listen
    beyond this machine (invariant 4).
    """
    value = value.strip()
    if value.startswith("unix:"):
        if len(value) <= len("unix:"):
            raise ConfigError("SKRYNKA_BIND names an empty unix socket path")
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"SKRYNKA_BIND={value!r} is not unix:/path or host:port",
            hint="use unix:/path/to.sock, 127.0.0.1:PORT, [::1]:PORT or localhost:PORT",
        )
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare in LOCAL_NAMES:
        return value
    try:
        loopback = ipaddress.ip_address(bare).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"SKRYNKA_BIND={value!r} is not a loopback address; refusing to listen on it",
            hint="the web server listens only on loopback or a unix socket; "
            "tor reaches it there",
        )
    return value


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
    retention_days: int = 7
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
        if self.retention_days < 0:
            raise ConfigError("SKRYNKA_RETENTION_DAYS must not be negative")
        if self.bind:
            parse_bind(self.bind)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * MIB

    @property
    def max_report_bytes(self) -> int:
        return self.max_report_mb * MIB

    @property
    def budget_bytes(self) -> int:
        return self.storage_budget_mb * MIB

    @property
    def incoming_dir(self) -> Path:
        return self.data / "incoming"

    @property
    def blobs_dir(self) -> Path:
        return self.data / "blobs"

    @property
    def hostnames_path(self) -> Path:
        return self.hostnames_file or self.data / "onion" / "hostnames"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read ``SKRYNKA_*`` variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        data = Path(env.get("SKRYNKA_DATA") or "./data").expanduser().absolute()
        url = env.get("SKRYNKA_DATABASE_URL") or f"sqlite:///{data / 'skrynka.db'}"
        keys = Path(env.get("SKRYNKA_ANALYST_KEYS") or data / "analysts.pub")
        hostnames = env.get("SKRYNKA_HOSTNAMES_FILE")
        return cls(
            data=data,
            database_url=url,
            analyst_keys=keys,
            max_file_mb=_int(env, "SKRYNKA_MAX_FILE_MB", 25, 1),
            max_report_mb=_int(env, "SKRYNKA_MAX_REPORT_MB", 100, 1),
            storage_budget_mb=_int(env, "SKRYNKA_STORAGE_BUDGET_MB", 2048, 1),
            retention_days=_int(env, "SKRYNKA_RETENTION_DAYS", 7, 0),
            hostnames_file=Path(hostnames) if hostnames else None,
            allow_local_host=_flag(env, "SKRYNKA_ALLOW_LOCAL_HOST"),
            bind=env.get("SKRYNKA_BIND", "").strip(),
            form_path=Path(env.get("SKRYNKA_FORM") or DEFAULT_FORM),
        )
