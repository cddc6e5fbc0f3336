"""The voter's errors: werkzeug HTTP exceptions naming the catalog key of their page.

app/views.py renders each as a localized error page with its status code.
"""

from __future__ import annotations

from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    RequestTimeout,
    ServiceUnavailable,
)

from contract import in_mib

# Set in the WSGI environ by the worker (app/gate.py) for an upload over its cap.
BUSY_ENVIRON = "skrynka.busy"


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
    """An attachment or the whole report is over its limit (shown in MiB)."""

    code = 413
    message_key = "error.413"

    def __init__(self, limit_bytes: int | None = None) -> None:
        params: dict[str, object] = {} if limit_bytes is None else {"limit_mb": in_mib(limit_bytes)}
        super().__init__(None, **params)


class TooManyFiles(PageError, RequestEntityTooLarge):
    """More attachments than a report may have (SKRYNKA_MAX_FILES).

    413, not 400: nothing in the request is malformed; like the size limits, it
    asks for more than the server takes per report (each attachment costs at
    least a file-system block of the storage budget), and the page says how to
    send it: fewer files."""

    code = 413
    message_key = "error.413_files"

    def __init__(self, max_files: int) -> None:
        super().__init__(None, max_files=max_files)


class NoKeys(PageError, ServiceUnavailable):
    """No valid analyst key is configured: reports cannot be sealed."""

    code = 503
    message_key = "error.503_nokey"


class Full(PageError, ServiceUnavailable):
    """The storage budget or the disk is full."""

    code = 503
    message_key = "error.503_full"


class Busy(PageError, ServiceUnavailable):
    """An upload over the worker's cap of concurrent uploads (app/gate.py marks it in the
    environ). Answered at once, without reading the body, and the connection closed:
    the voter is told to try again in a minute (``Retry-After``)."""

    code = 503
    message_key = "error.503_busy"
    retry_after_s = 60


class WrongHost(PageError):
    """The Host header names none of this server's addresses."""

    code = 421
    message_key = "error.host"


class ClientStalled(PageError, RequestTimeout):
    """The client stalled or went away mid-request (cut off by app/worker.py)."""

    code = 408
    message_key = "error.400"
