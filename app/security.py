"""Response headers, the Host check, no sessions, and draining refused bodies."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException

from app.bodyio import direct
from app.errors import BadForm

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "X-Frame-Options": "DENY",
}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
DRAIN_CHUNK = 16 * 1024


class NoSessions(SessionInterface):
    """Flask's session machinery, switched off: no session, never a cookie."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None  # Flask then uses a null session that refuses writes

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def set_headers(response: Response, *, cacheable: bool) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Last-Modified", None)
        response.headers.pop("ETag", None)
    response.headers.pop("Set-Cookie", None)
    return response


class WatchedFile:
    """A small text file re-read only when its mtime or size changes (one stat)."""

    def __init__(self, path: Path, parse: Callable[[str], Any]) -> None:
        self.path = path
        self.parse = parse
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._value: Any = None
        self._error: Exception | None = None

    def get(self) -> Any:
        """The parsed content; re-raises the parse error if the file is bad."""
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp or (self._value is None and self._error is None):
                self._stamp = stamp
                try:
                    self._value, self._error = self.parse(self._read(stamp)), None
                except Exception as exc:  # the caller decides; it is reported once
                    self._value, self._error = None, exc
            if self._error is not None:
                raise self._error
            return self._value

    def _read(self, stamp: tuple[int, int] | None) -> str:
        if stamp is None:
            return ""
        return self.path.read_text(encoding="utf-8")


def parse_hostnames(text: str) -> frozenset[str]:
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line.endswith(".onion"):
            names.add(line)
    return frozenset(names)


def split_host(host: str) -> tuple[str, str]:
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1], host[end + 2 :] if end >= 0 else ""
    name, _, port = host.partition(":")
    return name, port


def host_allowed(host: str, onions: Iterable[str], allow_local: bool) -> bool:
    """Host is one of our onion names (port 80), or loopback when allowed."""
    name, port = split_host(host)
    if name.endswith(".onion"):
        return port in ("", "80") and name in onions
    return allow_local and name in LOCAL_HOSTS and (port == "" or port.isdigit())


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
    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "wsgi.input" in environ:
            environ["wsgi.input"] = CountingInput(direct(environ["wsgi.input"]))
        return self.wsgi_app(environ, start_response)


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
