"""What every response carries: security headers, no cookies, no sessions; static files
whose validators come from their content, never from the install's file times."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.exceptions import NotFound

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


class NoSessions(SessionInterface):
    """Flask's session machinery, switched off: no session, never a cookie."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None  # Flask then uses a null session that refuses writes

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def set_headers(response: Response, *, cacheable: bool) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    response.headers.pop("Last-Modified", None)  # a file time would date the install
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("ETag", None)
    response.headers.pop("Set-Cookie", None)
    return response


class StaticFiles:
    """The view of ``/static/<name>``: the files of one folder, read once, from memory.

    Flask's own static view dates each file: ``Last-Modified`` and an ``ETag`` made of
    its mtime, which is when this checkout was installed, and answers
    ``If-Modified-Since`` by it. Both would tell a visitor which deployment this is.
    Here the only validator is a hash of the content (which every visitor gets anyway):
    ``If-None-Match`` gives 304, file times play no part. Files are revalidated on
    each use (``no-cache``), as before.
    """

    def __init__(self, folder: Path) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(folder.iterdir()):
            if path.is_file():
                data = path.read_bytes()
                mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.files[path.name] = (data, mimetype, hashlib.sha256(data).hexdigest()[:32])

    def __call__(self, filename: str) -> Response:
        try:
            data, mimetype, etag = self.files[filename]
        except KeyError:
            raise NotFound() from None
        response = Response(data, mimetype=mimetype)
        response.set_etag(etag)
        response.cache_control.no_cache = True
        response.make_conditional(request)  # in place: 304 on a matching If-None-Match
        return response
