"""Reading request bodies: counted, bounded, across short reads, never spooled.

:class:`CountingMiddleware` wraps every request's ``wsgi.input`` so that
:func:`drain` knows how much of a refused body is left to read.
:class:`GuardedRequest` is the app's request class: the app never parses a body
through ``request.form``/``request.files`` (werkzeug would spool file parts over
500 KiB to a temporary file), so if anything tries, it gets a 400 instead.
"""

from __future__ import annotations

import contextlib
import time
import typing as t
from collections.abc import Callable, Iterator
from typing import Any

from flask import Request
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import FormDataParser

from app.httperrors import BadForm

DRAIN_CHUNK = 16 * 1024


@contextlib.contextmanager
def _framing_is_bad_form() -> Iterator[None]:
    """A body the server cannot de-frame (e.g. gunicorn's bad chunk sizes) is a 400.

    I/O errors (a stalled or vanished client) pass through unchanged."""
    try:
        yield
    except (OSError, ValueError, HTTPException):
        raise
    except Exception:
        raise BadForm() from None


class CountingInput:
    """Wraps ``wsgi.input`` to know how much of the body has been read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        with _framing_is_bad_form():
            data: bytes = self.inner.read(size)
        self.count += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        with _framing_is_bad_form():
            data: bytes = self.inner.readline(size)
        self.count += len(data)
        return data

    def readinto(self, buf: Any) -> int | None:
        """werkzeug's LimitedStream reads through this when the server's stream has it."""
        if not hasattr(self.inner, "readinto"):
            data = self.read(len(buf))
            buf[: len(data)] = data
            return len(data)
        with _framing_is_bad_form():
            n: int | None = self.inner.readinto(buf)
        self.count += n or 0
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingMiddleware:
    """WSGI middleware: every request's ``wsgi.input`` becomes a :class:`CountingInput`."""

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "wsgi.input" in environ:
            environ["wsgi.input"] = CountingInput(environ["wsgi.input"])
        return self.wsgi_app(environ, start_response)


class _NoParsing(FormDataParser):
    def parse(self, *_args: Any, **_kwargs: Any) -> t.NoReturn:
        raise BadForm()


class GuardedRequest(Request):
    """The app's request class: ``request.form``/``files`` refuse to parse (400).

    Report bodies are read only by :func:`app.intake.receive`."""

    form_data_parser_class = _NoParsing

    def _get_file_stream(
        self, total_content_length: int | None, content_type: str | None,
        filename: str | None = None, content_length: int | None = None,
    ) -> t.IO[bytes]:
        raise BadForm()  # never spool an upload to disk


def read_upto(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``, however short its single reads are
    (a raw stream's ``read`` may return less than asked before the end)."""
    parts, got = [], 0
    while got < size:
        data = stream.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def drain(environ: dict[str, Any], max_bytes: int, seconds: float) -> bool:
    """Read and discard the rest of a refused body so the client sees our answer.

    Bounded: nothing if the declared length is over ``max_bytes``, and at most
    ``seconds`` of reading. True if the whole body was consumed.
    """
    inp = environ.get("wsgi.input")
    if inp is None:
        return True
    try:
        declared: int | None = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        declared = None
    consumed = inp.count if isinstance(inp, CountingInput) else 0
    if declared is None:
        if not environ.get("wsgi.input_terminated"):
            return True  # no length, not terminated: nothing can be read safely
        remaining = max_bytes
    elif declared > max_bytes:
        return False
    else:
        remaining = declared - consumed
    deadline = time.monotonic() + seconds
    try:
        while remaining > 0 and time.monotonic() < deadline:
            chunk = inp.read(min(DRAIN_CHUNK, remaining))
            if not chunk:
                return True
            remaining -= len(chunk)
    except (OSError, ValueError):
        return False
    return remaining <= 0 or declared is None
