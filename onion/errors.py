"""Errors of the onion package (exit codes 20-29).

Every failure an operator can meet is an :class:`OnionError`, a
:class:`~keys.errors.SkrynkaError` with a one-line message, an optional hint and
an exit code that no other Skrynka command uses for anything else. Library code
raises; ``onion.cli`` hands them to ``keys.dispatch.run_cli``, which prints
``onion: error: …`` / ``hint: …``. Each class's docstring is the line
``python -m onion --help`` prints for its code. Usage errors are
:class:`~keys.errors.UsageError` (exit 2, a weak new passphrase too) and a wrong
passphrase for the signing key is :class:`~keys.errors.WrongPassphrase` (exit 7, as for
analyst keys), re-exported here.
"""

from __future__ import annotations

from keys.errors import SkrynkaError, UsageError, WeakPassphrase, WrongPassphrase

__all__ = [
    "ALL", "AlreadyRunning", "AnnouncementError", "AnnouncementRefused", "ControlLost",
    "ControlRefused", "NotRunning", "OnionError", "OnionKeyError", "StateError", "TorFailed",
    "TorMissing", "TorTooOld", "TorUnavailable", "UsageError", "WeakPassphrase", "WebFailed",
    "WrongPassphrase",
]


class OnionError(SkrynkaError):
    """Base class of the onion service's errors (never raised itself)."""


class TorUnavailable(OnionError):
    """tor is not installed, or too old for onion-service proof-of-work (needs 0.4.9.2+)"""

    exit_code = 20


class TorMissing(TorUnavailable):
    """No tor binary on PATH."""

    hint = "install it: `apt-get install tor` (or `make setup`), then try again"


class TorTooOld(TorUnavailable):
    """tor lacks onion-service proof-of-work (needs 0.4.9.2 or later)."""

    hint = "install tor 0.4.9.2 or newer (Debian trixie/backports or deb.torproject.org)"


class TorFailed(OnionError):
    """tor could not be started, died at once, or refused a command"""

    exit_code = 21


class InstanceMissing(TorFailed):
    """The tor serve attaches to has no Onionbalance instance service sending port 80 to
    serve's --bind (attached backend mode)."""


class ControlRefused(OnionError):
    """tor's control port or socket refused the connection or our authentication, or
    closed it"""

    exit_code = 22
    hint = ("check the path/port and that tor has `CookieAuthentication 1` and that this user "
            "can read the cookie file (see torrc.example)")


class ControlLost(ControlRefused):
    """The control connection broke while we talked to tor."""

    hint = "tor stopped or closed the connection; check that it is running (its log says why)"


class OnionKeyError(OnionError):
    """an onion or signing key file is missing, damaged or unsafe, or an onion address
    is mistyped"""

    exit_code = 23


class AnnouncementError(OnionError):
    """announcement: malformed, unsigned, or its signature does not verify"""

    exit_code = 24


class AnnouncementRefused(OnionError):
    """announcement: genuine but refused: expired, older than one already seen (replayed),
    or naming a revoked address"""

    exit_code = 28


class StateError(OnionError):
    """the onion state in the data directory is damaged or inconsistent"""

    exit_code = 25


class WebFailed(OnionError):
    """the web server (gunicorn) did not start or did not listen"""

    exit_code = 26


class NotRunning(OnionError):
    """serve is not running with this data directory (status), or has never run there"""

    exit_code = 27


class AlreadyRunning(OnionError):
    """serve is already running with this data directory (a second one refuses at once)"""

    exit_code = 29
    hint = ("stop it first (Ctrl-C in its terminal, `kill PID`, or stop its service); "
            "`python -m onion status` shows it")


#: Every error class ``python -m onion`` can end with, for its ``--help``.
ALL: tuple[type[SkrynkaError], ...] = (
    UsageError, TorUnavailable, TorMissing, TorTooOld, TorFailed, InstanceMissing,
    ControlRefused, ControlLost,
    OnionKeyError, AnnouncementError, AnnouncementRefused, StateError, WebFailed, NotRunning,
    AlreadyRunning, WeakPassphrase, WrongPassphrase,
)
