"""The contract between app/ (the web app) and onion/ (tor and the supervisor).

Both import this module and nothing of each other: the environment variables
that ``onion serve`` sets for the app, the data directory's layout, the rule
that the web server listens only on loopback (invariant 4), size units and
"today". Standard library only, so the lightest command can import it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# --- environment variables ``onion serve`` hands to the app ------------------------
ENV_DATA = "SKRYNKA_DATA"
ENV_BIND = "SKRYNKA_BIND"
ENV_HOSTNAMES_FILE = "SKRYNKA_HOSTNAMES_FILE"
ENV_ALLOW_LOCAL_HOST = "SKRYNKA_ALLOW_LOCAL_HOST"
ENV_DATABASE_URL = "SKRYNKA_DATABASE_URL"
#: The checkout this file is in: ``make run`` keeps the data directory in it, so a command
#: run from any working directory finds the same one.
CHECKOUT = Path(__file__).resolve().parent
DEFAULT_DATA = CHECKOUT / "data"  # without --data or $SKRYNKA_DATA: the checkout's data/

# --- tor's share of the web workers' threads -----------------------------------------
# Concurrent streams per rendezvous circuit (ADD_ONION MaxStreams; more close the
# circuit). Tor Browser opens at most 6 connections to one site; 8 leaves it room.
# A circuit then holds at most 8 of the web workers' 64 upload slots (app/gate.py),
# so filling them takes 8 circuits instead of 4 at the old 20. ADD_ONION cannot export
# circuit ids (HiddenServiceExportCircuitID is torrc-only), so this is the per-circuit lever.
DEFAULT_MAX_STREAMS = 8

# --- size units ----------------------------------------------------------------------
MIB = 1 << 20


def mib(count: int) -> int:
    """``count`` MiB in bytes (what operators write, e.g. SKRYNKA_MAX_FILE_MB)."""
    return count * MIB


def in_mib(size: int) -> int:
    """A byte size as whole MiB, for messages (rounded up: a limit is never understated)."""
    return -(-size // MIB)


# --- time ----------------------------------------------------------------------------


def today_date() -> dt.date:
    """Today's date in UTC: the only time the server keeps (invariant 6)."""
    return dt.datetime.now(dt.timezone.utc).date()


def today() -> str:
    """Today in UTC as ``YYYY-MM-DD``."""
    return today_date().isoformat()


# --- the data directory ----------------------------------------------------------------

#: Where a command looks for the data directory, in order (its --help says it too).
DATA_ORDER = "--data DIR, else $SKRYNKA_DATA, else the checkout's data/"
#: What to do about a :meth:`DataDir.problem`.
DATA_HINT = ("make it with `python -m app init`, or name the right one with --data DIR or "
             "SKRYNKA_DATA (without either: the checkout's data/)")


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///…`` URL (None: another database, or in memory)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("sqlite") or not rest.startswith("/"):
        return None
    path = rest[1:].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@dataclass(frozen=True)
class DataDir:
    """Where everything of one server lives (outside git; see README)."""

    root: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, given: str | None = None) -> DataDir:
        """``given`` (a --data option), else $SKRYNKA_DATA, else :data:`DEFAULT_DATA` (the
        checkout's ``data/``, whatever the working directory); made absolute."""
        env = os.environ if env is None else env
        raw = given or env.get(ENV_DATA) or DEFAULT_DATA
        return cls(Path(raw).expanduser().absolute())

    def problem(self, database_url: str = "") -> str | None:
        """Why this is not a data directory ``init`` made, or None; creates nothing.

        ``init`` makes the folder with the export key (``export.key``) in it and, with
        SQLite, the database (``skrynka.db`` unless ``database_url`` names another
        ``sqlite:///`` file; with PostgreSQL the database is elsewhere). A folder with
        neither file is not one (a wrong --data or $SKRYNKA_DATA, or init never ran), and a
        missing SQLite file must not be opened: SQLite would create it. The problem is
        one line for an error message; :data:`DATA_HINT` says what to do. Standard
        library only, so that every command (app's and onion's) can ask before it
        touches the directory."""
        root = self.root
        try:
            mode = os.stat(root).st_mode
        except FileNotFoundError:
            return f"no Skrynka data directory at {root} (no such directory)"
        except OSError as exc:
            return f"no Skrynka data directory at {root} ({exc.strerror})"
        if not stat.S_ISDIR(mode):
            return f"no Skrynka data directory at {root} (not a directory)"
        try:
            names = set(os.listdir(root))
        except OSError as exc:
            return (f"cannot read the Skrynka data directory {root} ({exc.strerror}); run "
                    "this as the user that owns it")
        if not {self.export_key.name, self.database.name} & names:
            found = f"no {self.export_key.name} in it" if names else "it is empty"
            return f"no Skrynka data directory at {root} ({found})"
        database = sqlite_file(database_url) if database_url else self.database
        if database is not None and not os.path.isfile(database):
            return f"no Skrynka database at {database} (SQLite)"
        return None

    @property
    def database(self) -> Path:
        """The default SQLite database."""
        return self.root / "skrynka.db"

    @property
    def analyst_keys(self) -> Path:
        return self.root / "analysts.pub"

    @property
    def export_key(self) -> Path:
        """The server's Ed25519 export signing key (app/exportkey.py), made by ``app init``."""
        return self.root / "export.key"

    @property
    def write_lock(self) -> Path:
        return self.root / "write.lock"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def onion(self) -> Path:
        """onion/'s state: services.json, onion keys, status.json."""
        return self.root / "onion"

    @property
    def hostnames(self) -> Path:
        """The onion names the app answers to, one per line (written by onion serve)."""
        return self.onion / "hostnames"

    @property
    def tor(self) -> Path:
        """The DataDirectory of the tor that serve launches."""
        return self.root / "tor"


# --- the loopback rule (invariant 4) ----------------------------------------------------

LOOPBACK_NAMES = ("localhost",)


class BindRefused(ValueError):
    """A bind address that is malformed or could listen beyond this machine."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Bind:
    """A checked listening address: a unix socket, or a loopback host and port."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    def __str__(self) -> str:
        if self.unix_path:
            return f"unix:{self.unix_path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_bind(value: str) -> Bind:
    """``unix:/path`` or ``HOST:PORT`` with HOST a loopback address or ``localhost``.

    Raises :class:`BindRefused` for anything that could listen beyond this machine.
    """
    value = value.strip()
    if value.startswith("unix:"):
        if len(value) <= len("unix:"):
            raise BindRefused(f"{value!r} names an empty unix socket path",
                              "use unix:/path/to.sock")
        return Bind(unix_path=value[len("unix:"):])
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise BindRefused(f"{value!r} is not unix:/path or HOST:PORT",
                          "use unix:/path/to.sock, 127.0.0.1:PORT, [::1]:PORT or localhost:PORT")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare in LOOPBACK_NAMES:
        return Bind(host="127.0.0.1", port=int(port))
    try:
        loopback = ipaddress.ip_address(bare).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BindRefused(
            f"{value!r} is not a loopback address; refusing to listen on it",
            "the web server listens only on loopback or a unix socket; tor reaches it there",
        )
    return Bind(host=bare, port=int(port))
