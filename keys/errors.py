"""The project's one error vocabulary, and the errors of the keys package.

:class:`SkrynkaError` is the base of every error a user of any Skrynka command
can meet (analyst, operator, the server at start-up): a one-line message, an
optional hint and the exit code of the command that meets it. app/ and onion/
subclass it; library code raises and never prints or exits.
``keys.dispatch.run_cli`` is the one place that turns errors into
``prog: error: …`` / ``hint: …`` lines and exit codes.

Exit codes are unique across the project, so a code means the same thing in
every command: 2-9 here (the analyst's tool), 10 a missing package, 11 a file
the system refused, 12-19 the server (app/errors.py), 20-29 the onion service
(onion/errors.py), 30-39 the analyst's tool again (a batch's origin, the summary). Each class's
docstring is the line ``--help`` prints for its code.
"""

from __future__ import annotations

#: Not an error class of its own: a package the command needs is not installed.
MISSING_DEPENDENCY = 10
#: An OSError no command turned into an error of its own (permissions, a full disk).
SYSTEM_ERROR = 11
#: A bug (or an environment nobody planned for); never a user's mistake.
INTERNAL_ERROR = 1
INTERRUPTED = 130


class SkrynkaError(Exception):
    """Something the user can understand and act on."""

    exit_code = INTERNAL_ERROR
    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(SkrynkaError):
    """usage error: the command line, an argument or a passphrase input is wrong"""

    exit_code = 2


class WeakPassphrase(UsageError):
    """A new passphrase below the strength rule of keys/passphrase.py (exit 2, usage)."""


class KeysError(SkrynkaError):
    """Base class of the analyst tool's errors."""


class FormatError(KeysError):
    """not a Skrynka file, or an unsupported format version"""

    exit_code = 3


class UnsupportedVersion(FormatError):
    """A format version this tool does not know."""


class DamagedError(KeysError):
    """damaged: a truncated or altered batch, envelope or manifest"""

    exit_code = 4


class NotRecipient(KeysError):
    """this key is not a recipient of the reports"""

    exit_code = 5


class KeyFileError(KeysError):
    """key file is malformed, or a public key is mistyped"""

    exit_code = 6


class WrongPassphrase(KeysError):
    """wrong passphrase"""

    exit_code = 7


class VerificationError(KeysError):
    """verification: gaps, duplicates, altered or damaged reports, or reports sealed
    to keys outside the pinned recipients (named above; everything else was decrypted)"""

    exit_code = 8


class UnexpectedRecipients(VerificationError):
    """Reports are sealed to a key outside the directory's pinned recipients."""


class OutputError(KeysError):
    """the output directory or a file in it cannot be written, or another decrypt
    is using that directory"""

    exit_code = 9


class OriginError(KeysError):
    """origin: a batch is unsigned, signed by a key this output directory does not
    trust, or starts a new server chain; it was not decrypted (see --signer,
    --trust-first-signer, --allow-unsigned, --new-chain)"""

    exit_code = 30


class SummaryError(KeysError):
    """summary: DIR is not a decrypt output directory, or the form file or the
    summary folder cannot be used"""

    exit_code = 31
