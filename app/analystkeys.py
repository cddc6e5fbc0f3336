"""The analysts' public keys the server seals to (``analysts.pub``), and who may read.

The server follows the file while it runs (app/watched.py). Every change of the
set of keys is logged, naming each key by its fingerprint (keys.pubkey.fingerprint,
the same the analyst's tool prints): a key appended by someone else receives every
later report, so the change must not go unseen (SECURITY.md, "Who else can read").
The set last logged is kept in ``$SKRYNKA_DATA/analysts.logged`` (the keys'
``skrynka1…`` lines), so the change is logged once by whichever worker sees it
first, also across a restart, and a worker's start logs nothing when the set is
the one logged before. The line names keys only; it is a fact about the
configuration, never about a report or a request.

A file that cannot be used (no key, a bad line, a private key pasted in) is logged
the same way, once per problem by the first worker that meets it, with what and
where (path and line) and the hint: ``not accepting reports: analyst keys unusable:
…``; the file keeps a digest of it (a ``# unusable:`` line, no text, no time), and
the fix is logged once too: ``analyst keys usable again: now sealing to …``. The
server's start (gunicorn's master, :func:`check_at_start`) logs a problem again, so
the log of every run says why the form answers 503. :func:`keys_problem` answers the
same question without logging, for ``onion serve``. No Flask here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.errors import ConfigError
from app.watched import WatchedFile
from contract import DataDir
from keys.envelope import MAX_RECIPIENTS
from keys.errors import KeyFileError, SkrynkaError
from keys.pubkey import encode_public, fingerprint, parse_recipients, recipients_text

log = logging.getLogger("skrynka")
LOGGED_FILE = "analysts.logged"
PROBLEM_MARK = "# unusable: "
KEYS_HINT = (
    "on the analyst's offline laptop run `python -m keys keygen`, then copy the "
    "skrynka1… line of its .pub file into {path} (one key per line)"
)


def describe(keys: Sequence[bytes]) -> str:
    """``N key(s): FP, FP`` in the file's order."""
    return f"{len(keys)} key(s): " + ", ".join(fingerprint(k) for k in keys)


def check_count(path: Path, keys: Sequence[bytes]) -> None:
    if len(keys) > MAX_RECIPIENTS:
        raise ConfigError(f"{path} lists {len(keys)} keys; at most {MAX_RECIPIENTS}",
                          hint="a report is sealed to every key listed; remove the keys "
                               "of analysts who no longer read reports")


def analyst_keys_path(data_root: Path, env: Mapping[str, str] | None = None) -> Path:
    """``$SKRYNKA_ANALYST_KEYS``, else ``analysts.pub`` in the data directory."""
    env = os.environ if env is None else env
    return Path(env.get("SKRYNKA_ANALYST_KEYS") or DataDir(data_root).analyst_keys)


def problem_parts(path: Path, exc: Exception) -> tuple[str, str]:
    """What is wrong with an unusable key file, and where; and what to do ("" if nothing
    better than to look). Never the file's text (an error's message names the line, not
    what is on it)."""
    if isinstance(exc, SkrynkaError):
        return exc.message, exc.hint or KEYS_HINT.format(path=path)
    if isinstance(exc, OSError):
        return f"cannot read {path} ({exc.strerror or type(exc).__name__})", ""
    return f"{path} cannot be used ({type(exc).__name__})", ""


def problem_text(path: Path, exc: Exception) -> str:
    """:func:`problem_parts` as one line: what and where, then ``hint: …``."""
    what, hint = problem_parts(path, exc)
    return f"{what}; hint: {hint}" if hint else what


def load_keys(path: Path) -> tuple[bytes, ...]:
    """The keys in ``path``, checked as the server uses them (KeyFileError, ConfigError,
    OSError): a missing file, a private key, a bad line, too many keys."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no analyst keys file at {path}",
                           hint=KEYS_HINT.format(path=path)) from None
    return parse_keys(path, recipients_text(raw, str(path)))


def parse_keys(path: Path, text: str) -> tuple[bytes, ...]:
    keys = tuple(parse_recipients(text, str(path)))
    check_count(path, keys)
    return keys


def keys_problem(data_root: Path, env: Mapping[str, str] | None = None) -> str | None:
    """Why the server cannot seal now (the analyst key file's path, what, where and a
    hint, one line), or None when its keys are usable. Reads only; logs nothing."""
    path = analyst_keys_path(data_root, env)
    try:
        load_keys(path)
    except (SkrynkaError, OSError) as exc:
        return problem_text(path, exc)
    return None


def _digest(problem: str) -> str:
    return hashlib.sha256(problem.encode("utf-8")).hexdigest()[:32]


def _changes(before: tuple[bytes, ...] | None, keys: tuple[bytes, ...]) -> str:
    if before is None or set(before) == set(keys):
        return ""
    added = [fingerprint(k) for k in keys if k not in before]
    removed = [fingerprint(k) for k in before if k not in keys]
    return f" (added: {', '.join(added) or 'none'}; removed: {', '.join(removed) or 'none'})"


class KeySet:
    """Parses analysts.pub for a WatchedFile and logs each change of the key set, and
    each problem with it and its end."""

    def __init__(self, path: Path, logged: Path | None = None) -> None:
        self.path = path
        self.logged = logged  # where the set last logged is kept (None: in memory only)
        self.current: tuple[bytes, ...] | None = None
        self.problem: str | None = None  # the problem this process noted last
        self._lock = threading.Lock()

    def parse(self, text: str) -> tuple[bytes, ...]:
        if not text and not self.path.exists():
            raise KeyFileError(f"no analyst keys file at {self.path}",
                               hint=KEYS_HINT.format(path=self.path))
        keys = parse_keys(self.path, text)
        self.note(keys)
        return keys

    def note(self, keys: tuple[bytes, ...]) -> None:
        """Log ``keys`` if they are not the set logged last (the order does not count),
        or if the last thing logged was a problem."""
        with self._lock:
            if (self.problem is None and self.current is not None
                    and set(self.current) == set(keys)):
                return
            before, was_broken = self._swap(keys, None)
            self.current, self.problem = keys, None
        if was_broken:
            log.warning("analyst keys usable again: now sealing to %s%s",
                        describe(keys), _changes(before, keys))
        elif before is None:
            log.warning("analyst keys: sealing to %s", describe(keys))
        elif set(before) != set(keys):
            log.warning("analyst keys changed: now sealing to %s%s", describe(keys),
                        _changes(before, keys))

    def failed(self, exc: Exception, again: bool = False) -> None:
        """Log that no report is accepted, and why, unless this problem was logged last
        (``again``: log it anyway, at the server's start). Cheap when it was: this runs
        on every request while the file is unusable."""
        problem = problem_text(self.path, exc)
        if problem == self.problem and not again:
            return
        with self._lock:
            if problem == self.problem and not again:
                return
            _keys, logged = self._swap(None, _digest(problem))
            self.problem = problem
        if logged != _digest(problem) or again:
            log.warning("not accepting reports: analyst keys unusable: %s", problem)

    def _swap(self, keys: tuple[bytes, ...] | None,
              problem: str | None) -> tuple[tuple[bytes, ...] | None, str | None]:
        """The set logged before and the problem digest logged before (None: none),
        recording ``keys`` (None: the same keys) and ``problem`` in their place."""
        if self.logged is None:
            return self.current, None if self.problem is None else _digest(self.problem)
        try:
            return _swap_file(self.logged, keys, problem)
        except OSError as exc:
            log.warning("cannot keep the analyst key set in %s (%s)", self.logged,
                        type(exc).__name__)
            return self.current, None


def _swap_file(path: Path, keys: tuple[bytes, ...] | None,
               problem: str | None) -> tuple[tuple[bytes, ...] | None, str | None]:
    """Under an exclusive lock of ``path``: its keys (None if none or unreadable) and
    problem digest, then ``keys`` (None: keep them) and ``problem`` written in their
    place. One worker at a time, so one logs a change."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.pread(fd, os.fstat(fd).st_size, 0).decode("ascii", "replace")  # ours
        marks = [ln[len(PROBLEM_MARK):] for ln in text.splitlines()
                 if ln.startswith(PROBLEM_MARK)]
        before_problem = marks[0] if marks else None
        try:
            before: tuple[bytes, ...] | None = tuple(parse_recipients(text, str(path)))
        except (KeyFileError, ValueError):
            before = None
        kept = before if keys is None else keys
        if (kept is not None and (before is None or set(before) != set(kept))) or (
                before_problem != problem):
            body = "".join(encode_public(k) + "\n" for k in kept or ())
            body += f"{PROBLEM_MARK}{problem}\n" if problem else ""
            os.ftruncate(fd, 0)
            os.pwrite(fd, body.encode("ascii"), 0)
            os.fsync(fd)
        return before, before_problem
    finally:
        os.close(fd)  # releases the lock


class WatchedKeys(WatchedFile):
    """analysts.pub as the running server follows it: a tuple of keys, or the error,
    which is logged once (:meth:`KeySet.failed`) however often it is raised."""

    def __init__(self, path: Path, keyset: KeySet) -> None:
        super().__init__(path, keyset.parse)
        self.keyset = keyset

    def get(self) -> Any:
        try:
            return super().get()
        except Exception as exc:
            self.keyset.failed(exc)
            raise

    def _read(self, stamp: tuple[int, int, int] | None) -> str:
        if stamp is None:
            return ""
        return recipients_text(self.path.read_bytes(), str(self.path))


def watched_keys(path: Path, data: Path | None = None) -> WatchedKeys:
    """analysts.pub as the running server follows it: a tuple of keys, or the error.
    ``data``: the data directory, where the set last logged is kept."""
    logged = None if data is None else data / LOGGED_FILE
    return WatchedKeys(path, KeySet(path, logged))


def check_at_start(path: Path, data: Path) -> None:
    """At the server's start (gunicorn's master): log a problem with the keys even if it
    was logged before, so that each run's log says why the form answers 503; a usable
    set is logged as the workers would (a change made while stopped, a fix)."""
    keyset = KeySet(path, data / LOGGED_FILE)
    try:
        keyset.note(load_keys(path))
    except (SkrynkaError, OSError) as exc:
        keyset.failed(exc, again=True)
