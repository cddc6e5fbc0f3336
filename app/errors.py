"""Errors of the app package.

:class:`AppError` is the base of every error an operator can meet: a one-line
message and an optional hint. Library code raises them; ``python -m app`` is the
one place that prints ``skrynka: error: …`` / ``hint: …``. Web errors are
werkzeug HTTP exceptions carrying the catalog key of their localized page.
"""

from __future__ import annotations

from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    RequestTimeout,
    ServiceUnavailable,
)


class AppError(Exception):
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


class ConfigError(AppError):
    """An environment variable or a configured file is wrong."""

    exit_code = 2


class StorageError(AppError):
    """The database or the blob directory cannot be used."""

    exit_code = 3


class StorageFull(StorageError):
    """The ciphertext budget or the disk is full; nothing was stored."""


class ExportError(AppError):
    """A batch could not be written or marked as exported."""

    exit_code = 4


# --- web errors: each names the catalog key of its localized message -------------


class PageError(HTTPException):
    """An HTTP error with a localized message (``error.<key>`` in the catalogs)."""

    message_key = "error.500"
    params: dict[str, object]

    def __init__(self, description: str | None = None, **params: object) -> None:
        super().__init__(description)
        self.params = dict(params)


class BadForm(PageError, BadRequest):
    """Malformed multipart, invalid UTF-8, too many or too large fields."""

    code = 400
    message_key = "error.400"


class TooLarge(PageError, RequestEntityTooLarge):
    """An attachment or the whole report is over its limit (``limit_mb``)."""

    code = 413
    message_key = "error.413"


class NoKeys(PageError, ServiceUnavailable):
    """No valid analyst key is configured: reports cannot be sealed."""

    code = 503
    message_key = "error.503_nokey"


class Full(PageError, ServiceUnavailable):
    """The storage budget or the disk is full."""

    code = 503
    message_key = "error.503_full"


class WrongHost(PageError):
    """The Host header names none of this server's addresses."""

    code = 421
    message_key = "error.host"


class ClientStalled(PageError, RequestTimeout):
    """The client stalled or went away mid-request (cut off by app/worker.py)."""

    code = 408
    message_key = "error.400"
