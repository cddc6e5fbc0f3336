"""Errors of the app package.

:class:`AppError` (a :class:`keys.errors.SkrynkaError`) is the base of every
error an operator can meet: a one-line message, an optional hint, an exit code
(12-19; each class's docstring is its line in ``python -m app --help``).
Library code raises them; keys.dispatch.run_cli prints them. The web's errors
(the voter's error pages) are in app/httperrors.py. Standard library only, so
that a missing package is reported as such by the CLI.
"""

from __future__ import annotations

from keys.errors import SkrynkaError, UsageError

__all__ = ["AppError", "ConfigError", "ExportError", "StorageError", "StorageFull", "UsageError"]


class AppError(SkrynkaError):
    """Base class of the server's errors: something the operator can act on."""


class ConfigError(AppError):
    """configuration: an environment variable, the form definition, the
    translations or a configured file is wrong"""

    exit_code = 12


class StorageError(AppError):
    """storage: the database or the data directory cannot be used"""

    exit_code = 13


class StorageFull(StorageError):
    """The ciphertext budget or the disk is full; nothing was stored."""


class ExportError(AppError):
    """export: a batch could not be written or marked as exported"""

    exit_code = 14
