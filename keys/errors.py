"""Errors of the keys package.

Every error an analyst or operator can meet is a subclass of :class:`KeysError`.
Each carries a one-line message, an optional hint and the CLI exit code; library
code raises them and never prints or exits. ``keys.cli`` is the one place that
turns them into ``skrynka-keys: error: …`` / ``hint: …`` lines.
"""

from __future__ import annotations


class KeysError(Exception):
    """Base class: something the user can understand and act on."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(KeysError):
    """The command line or an argument is wrong."""

    exit_code = 2


class FormatError(KeysError):
    """Input is not in the expected format (not an envelope, batch or key)."""

    exit_code = 3


class UnsupportedVersion(FormatError):
    """A format version this tool does not know."""


class DamagedError(KeysError):
    """Authentication failed, or the data is truncated or altered."""

    exit_code = 4


class NotRecipient(KeysError):
    """The key is not one of the envelope's recipients."""

    exit_code = 5


class KeyFileError(KeysError):
    """A key file is malformed, or its public key text is mistyped."""

    exit_code = 6


class WrongPassphrase(KeysError):
    """The passphrase does not open the key file."""

    exit_code = 7


class VerificationError(KeysError):
    """Batches decrypted, but gaps, duplicates or altered reports were found."""

    exit_code = 8


class OutputError(KeysError):
    """The output directory or a file in it cannot be written."""

    exit_code = 9
