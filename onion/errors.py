"""Errors of the onion package.

Every failure an operator can meet is a subclass of :class:`OnionError` with a one-line
message, an optional hint and a CLI exit code. Library code raises; ``onion.cli`` is the
one place that prints ``onion: error: …`` / ``hint: …``.
"""

from __future__ import annotations


class OnionError(Exception):
    """Base class: something the operator can understand and act on."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(OnionError):
    """The command line or an argument is wrong."""

    exit_code = 2


class TorMissing(OnionError):
    """No tor binary on PATH."""

    exit_code = 3
    hint = "install it: `apt-get install tor` (or `make setup`), then try again"


class TorTooOld(OnionError):
    """tor lacks onion-service proof-of-work (needs 0.4.9.2 or later)."""

    exit_code = 3
    hint = "install tor 0.4.9.2 or newer (Debian trixie/backports or deb.torproject.org)"


class TorFailed(OnionError):
    """tor could not be started or died at once."""

    exit_code = 4


class ControlRefused(OnionError):
    """tor's control port or socket refused the connection or our authentication."""

    exit_code = 5
    hint = ("check the path/port and that tor has `CookieAuthentication 1` and that this user "
            "can read the cookie file (see torrc.example)")


class KeyError_(OnionError):
    """An onion or signing key file is missing, damaged or unsafe."""

    exit_code = 6


class AnnouncementError(OnionError):
    """An address announcement is malformed or its signature does not verify."""

    exit_code = 8


class StateError(OnionError):
    """The onion state in the data directory is inconsistent."""

    exit_code = 9
