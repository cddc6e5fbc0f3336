"""A small HTTP client for the live-server tests and the app bench.

Standard library only (``http.client``). Multipart bodies are generated part by
part, so a 512 MiB upload needs no memory: each file part is an iterable of
byte chunks (see :func:`pattern`, a fast seeded byte pattern whose SHA-256 is
known without keeping the bytes).

    page = get_form(port, "en")                   # the form's action + hidden inputs
    body = Multipart(page.hidden + fields, [FilePart("attachments", "a.jpg", size, chunks)])
    resp = post(port, page.action, body)          # streams, never raises on a reset
    resp.is_receipt

:func:`export_and_open` runs ``python -m app export`` on a live server and
decrypts the batch with the analyst key (:mod:`testkit.export_reader`, which checks
the manifest, sizes, hashes and the chain), so a test compares what it sent with
what the analysts get.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import re
import select
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from testkit.export_reader import MIB, OpenedReport, open_batch_file

BLOCK = MIB
CRLF = b"\r\n"
RECEIPT_RE = re.compile(rb'class="[^"]*receipt[^"]*"|data-receipt')  # the receipt page
_CODE = "[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}"
#: Where a stored report's POST sends the browser: 303 See Other to its receipt page.
RECEIPT_PATH_RE = re.compile(f"/(?:be|ru|en)/receipt/({_CODE})")
#: The same, in an answer's raw head (for testkit.keepalive's good_marker).
RECEIPT_LOCATION_RE = re.compile(
    f"(?im)^location:[ \t]*{RECEIPT_PATH_RE.pattern}[ \t]*\r?$".encode())


# -- deterministic payloads --------------------------------------------------------


def pattern(seed: int, size: int, block: int = BLOCK,
            edit: Callable[[int, bytearray], None] | None = None) -> Iterator[bytes]:
    """``size`` bytes from ``seed``: 1 MiB of seeded random bytes, each block stamped
    with its index (so blocks differ), optionally changed by ``edit(index, block)``."""
    base = random.Random(seed).randbytes(min(block, max(size, 1)))
    index = 0
    left = size
    while left > 0:
        chunk = bytearray(base[: min(len(base), left)])
        stamp = struct.pack(">QQ", seed, index)[: len(chunk)]
        chunk[: len(stamp)] = stamp
        if edit is not None:
            edit(index, chunk)
        left -= len(chunk)
        index += 1
        yield bytes(chunk)


def pattern_bytes(seed: int, size: int) -> bytes:
    return b"".join(pattern(seed, size))


def digest(chunks: Iterable[bytes]) -> tuple[int, str]:
    """(length, sha256 hex) of a stream of chunks."""
    h = hashlib.sha256()
    n = 0
    for c in chunks:
        h.update(c)
        n += len(c)
    return n, h.hexdigest()


# -- multipart bodies ------------------------------------------------------------------


@dataclass
class FilePart:
    name: str
    filename: str
    size: int
    chunks: Callable[[], Iterable[bytes]]  # called once per send; yields exactly size bytes
    content_type: str = "application/octet-stream"

    @classmethod
    def of(cls, name: str, filename: str, data: bytes,
           content_type: str = "application/octet-stream") -> FilePart:
        return cls(name, filename, len(data), lambda: [data], content_type)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace(
        "\n", "%0A")


class Multipart:
    """A multipart/form-data body: text fields first, then files, streamed."""

    def __init__(self, fields: Sequence[tuple[str, str]], files: Sequence[FilePart] = (),
                 boundary: str | None = None) -> None:
        self.boundary = boundary or "----skrynka" + uuid.uuid4().hex
        self.fields = list(fields)
        self.files = list(files)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _head(self, name: str, filename: str | None = None, ctype: str | None = None) -> bytes:
        disp = f'Content-Disposition: form-data; name="{_quote(name)}"'
        if filename is not None:
            disp += f'; filename="{_quote(filename)}"'
        lines = [b"--" + self.boundary.encode(), disp.encode("utf-8")]
        if ctype:
            lines.append(f"Content-Type: {ctype}".encode())
        return CRLF.join(lines) + CRLF + CRLF

    def _pieces(self) -> Iterator[bytes | FilePart]:
        for name, value in self.fields:
            yield self._head(name) + value.encode("utf-8") + CRLF
        for f in self.files:
            yield self._head(f.name, f.filename, f.content_type)
            yield f
            yield CRLF
        yield b"--" + self.boundary.encode() + b"--" + CRLF

    def __len__(self) -> int:
        return sum(p.size if isinstance(p, FilePart) else len(p) for p in self._pieces())

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces():
            if isinstance(piece, FilePart):
                sent = 0
                for chunk in piece.chunks():
                    sent += len(chunk)
                    yield chunk
                if sent != piece.size:
                    raise ValueError(f"file part {piece.filename!r}: {sent} != {piece.size}")
            else:
                yield piece


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The same bytes in pieces of at most ``size`` bytes."""
    for c in chunks:
        for i in range(0, len(c), size):
            yield c[i:i + size]


# -- requests ------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed: float
    sent: int = 0  # body bytes written before the response was read
    send_error: str | None = None  # an error while sending (EPIPE, ECONNRESET, …)
    early: bool = False  # the server answered before the whole body was sent

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def is_receipt(self) -> bool:
        """The report was stored: 303 See Other to its receipt page."""
        return self.receipt_code is not None

    @property
    def receipt_code(self) -> str | None:
        m = RECEIPT_PATH_RE.fullmatch(self.headers.get("location", ""))
        return m.group(1) if self.status == 303 and m else None


def connection(port: int, timeout: float = 60.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def _read(conn: http.client.HTTPConnection, started: float) -> Response:
    resp = conn.getresponse()
    body = resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    return Response(resp.status, headers, body, time.monotonic() - started)


def get(port: int, path: str, *, conn: http.client.HTTPConnection | None = None,
        headers: dict[str, str] | None = None, timeout: float = 60.0) -> Response:
    own = conn is None
    c = conn or connection(port, timeout)
    try:
        started = time.monotonic()
        c.request("GET", path, headers=headers or {})
        return _read(c, started)
    finally:
        if own:
            c.close()


def _answered(sock: socket.socket | None) -> bool:
    if sock is None:
        return False
    poll = select.poll()  # not select(): a client beside many sockets has fds past 1024
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


def post(port: int, path: str, body: Multipart, *,
         conn: http.client.HTTPConnection | None = None, rate: float | None = None,
         piece: int = 256 << 10, on_sent: Callable[[int], None] | None = None,
         timeout: float = 120.0) -> Response:
    """POST ``body`` streamed in pieces; ``rate`` (bytes/s) paces it like a slow voter.

    Like a browser, it stops sending when the server answers early, and it keeps
    what it can read after a send error so the test can assert on both.
    ``on_sent(n)`` is called after each piece with the body bytes sent so far.
    """
    own = conn is None
    c = conn or connection(port, timeout)
    length = len(body)
    started = time.monotonic()
    sent = 0
    error: str | None = None
    early = False
    try:
        c.putrequest("POST", path)
        c.putheader("Content-Type", body.content_type)
        c.putheader("Content-Length", str(length))
        c.endheaders()
        step = piece if rate is None else max(1, int(rate / 20))
        for chunk in rechunk(body, step):
            if _answered(c.sock):
                early = True
                break
            try:
                c.send(chunk)
            except OSError as exc:
                error = f"{type(exc).__name__}: {exc}"
                break
            sent += len(chunk)
            if on_sent is not None:
                on_sent(sent)
            if rate is not None:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        resp = _read(c, started)
        resp.sent, resp.send_error, resp.early = sent, error, early
        if resp.headers.get("connection", "").lower() == "close":
            c.close()
        return resp
    except BaseException:
        c.close()
        raise
    finally:
        if own:
            c.close()


# -- the form page -------------------------------------------------------------------------


class FormParser(HTMLParser):
    """The report form of a page: its POST action, enctype and hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.enctype = ""
        self.hidden: list[tuple[str, str]] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post" and self.action is None:
            self.action = a.get("action", "")
            self.enctype = a.get("enctype", "")
            self._in_form = True
        elif tag == "input" and self._in_form and a.get("type", "").lower() == "hidden":
            self.hidden.append((a.get("name", ""), a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


@dataclass
class FormPage:
    lang: str
    action: str
    hidden: list[tuple[str, str]] = field(default_factory=list)


def get_form(port: int, lang: str, timeout: float = 60.0) -> FormPage:
    """Fetch ``/<lang>/`` and find the report form's POST action and hidden inputs."""
    page_path = f"/{lang}/"
    resp = get(port, page_path, timeout=timeout)
    if resp.status != 200:
        raise AssertionError(f"GET {page_path} -> {resp.status}")
    parser = FormParser()
    parser.feed(resp.text)
    if parser.action is None:
        raise AssertionError(f"no POST form on {page_path}")
    action = parser.action or page_path
    if not action.startswith("/"):
        action = page_path + action
    assert "multipart/form-data" in parser.enctype.lower(), parser.enctype
    return FormPage(lang, action, parser.hidden)


def report_fields(description: str, *, what: Sequence[str] = ("police_intimidation",),
                  region: str = "minsk_city", town: str = "", station: str = "",
                  day: str = "2026-11-20", at: str = "", follows_up: str = "",
                  contact: str = "") -> list[tuple[str, str]]:
    """Form fields in the order a browser sends them (empty optional fields included)."""
    fields = [("what", w) for w in what]
    fields += [("region", region), ("town", town), ("station", station),
               ("incident_date", day), ("incident_time", at), ("description", description),
               ("follows_up", follows_up), ("contact", contact)]
    return fields


# -- export, then decrypt ------------------------------------------------------------------


def export_and_open(server: Any, out: Path, keep: int = 4 * MIB) -> list[OpenedReport]:
    """``python -m app export --out OUT`` on a LiveServer, then decrypt the batch."""
    done = server.run_app("export", "--out", str(out))
    assert done.returncode == 0, f"export failed: {done.stdout}\n{done.stderr}"
    if not out.exists():  # nothing to export
        return []
    return open_batch_file(out, server.analyst_key, keep)[1]


def find_report(reports: Sequence[OpenedReport], token: str) -> OpenedReport:
    hits = [r for r in reports if token in str(r.report["fields"].get("description", ""))]
    assert len(hits) == 1, f"{len(hits)} reports carry {token!r} (of {len(reports)})"
    return hits[0]


def token(prefix: str = "tok") -> str:
    return f"{prefix}-{os.urandom(10).hex()}"
