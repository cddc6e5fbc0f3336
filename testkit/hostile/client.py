"""A small HTTP/1.1 client over raw sockets, for load and abuse tests.

No dependency beyond the standard library: every request is built byte by byte,
so a test can send exactly what a hostile or broken client would (lying
lengths, trickled headers, half a body) and read whatever comes back.

    form = get_form(port, "en")                  # the form's action + hidden inputs
    report = make_report(rng, "en", attachment_bytes=3 << 20)
    outcome = submit(port, report, form=form)    # never raises on network errors
    outcome.acknowledged                         # the receipt page was delivered

Each report carries a unique token in its description, so a decrypted export can
be matched against exactly what was sent (see :class:`testkit.hostile.ledger.Ledger`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import os
import random
import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

CRLF = b"\r\n"
LANGS = ("be", "ru", "en")
WHAT = ("forced_early_voting", "employer_pressure", "ballot_photo_ban", "police_intimidation",
        "closed_commission", "opaque_counting", "observers_barred", "multiple_voting",
        "candidate_obstruction", "other")
REGIONS = ("minsk_city", "brest", "vitebsk", "gomel", "grodno", "minsk_oblast", "mogilev")
TOKEN_RE = re.compile(r"hx-[0-9a-f]{20}")
ROOT = Path(__file__).resolve().parents[2]


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 we can read."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; the last of repeated headers
    body: bytes
    elapsed: float  # seconds from connect to the last byte

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def is_html(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/html")


# --- the wire ---------------------------------------------------------------------


def connect(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_until(sock: socket.socket, buf: bytearray, marker: bytes, deadline: float) -> int:
    while (pos := buf.find(marker)) < 0:
        _recv_more(sock, buf, deadline)
    return pos


def _recv_more(sock: socket.socket, buf: bytearray, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no complete answer before the deadline")
    sock.settimeout(left)
    chunk = sock.recv(65536)
    if not chunk:
        raise ProtocolError("connection closed before the answer was complete")
    buf += chunk


def read_response(sock: socket.socket, deadline: float, started: float | None = None) -> Response:
    """Read one response (Content-Length, chunked or until close)."""
    started = time.monotonic() if started is None else started
    buf = bytearray()
    end = _recv_until(sock, buf, b"\r\n\r\n", deadline)
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[: end + 4]
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {head[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _read_chunked(sock, buf, deadline)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        while len(buf) < length:
            _recv_more(sock, buf, deadline)
        body = bytes(buf[:length])
    else:
        try:
            while True:
                _recv_more(sock, buf, deadline)
        except ProtocolError:
            pass
        body = bytes(buf)
    return Response(int(parts[1]), headers, body, time.monotonic() - started)


def _read_chunked(sock: socket.socket, buf: bytearray, deadline: float) -> bytes:
    body = bytearray()
    while True:
        end = _recv_until(sock, buf, CRLF, deadline)
        size = int(bytes(buf[:end]).split(b";")[0], 16)
        del buf[: end + 2]
        while len(buf) < size + 2:
            _recv_more(sock, buf, deadline)
        body += buf[:size]
        del buf[: size + 2]
        if size == 0:
            return bytes(body)


def send_raw(port: int, data: bytes, *, timeout: float = 30.0) -> Response:
    """Send ``data`` as is on a fresh connection and read one response."""
    started = time.monotonic()
    with connect(port, timeout) as sock:
        sock.sendall(data)
        return read_response(sock, started + timeout, started)


def build_request(
    port: int, method: str, path: str, *, headers: Mapping[str, str] | None = None,
    body: bytes = b"", content_length: int | None = None,
) -> bytes:
    """Request bytes with Host, Content-Length (which may lie) and Connection: close."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    extra = dict(headers or {})
    if body or content_length is not None or method == "POST":
        extra.setdefault("Content-Length", str(len(body) if content_length is None
                                               else content_length))
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def request(
    port: int, method: str, path: str, *, headers: Mapping[str, str] | None = None,
    body: bytes = b"", timeout: float = 30.0,
) -> Response:
    return send_raw(port, build_request(port, method, path, headers=headers, body=body),
                    timeout=timeout)


# --- multipart ----------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None


def new_boundary() -> str:
    return "----skrynka" + os.urandom(12).hex()


def multipart(parts: Iterable[Part], boundary: str | None = None) -> tuple[bytes, str]:
    """(body, Content-Type) for ``parts``, as a browser sends them."""
    boundary = boundary or new_boundary()
    out = bytearray()
    for p in parts:
        out += b"--" + boundary.encode("latin-1") + CRLF
        disp = f'form-data; name="{p.name}"'
        if p.filename is not None:
            disp += f'; filename="{p.filename}"'
        out += b"Content-Disposition: " + disp.encode("utf-8") + CRLF
        if p.content_type:
            out += b"Content-Type: " + p.content_type.encode("latin-1") + CRLF
        out += CRLF + p.value + CRLF
    out += b"--" + boundary.encode("latin-1") + b"--" + CRLF
    return bytes(out), f"multipart/form-data; boundary={boundary}"


# --- the form page --------------------------------------------------------------------


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: list[tuple[str, str]] = []
        self._in_post = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post" and self.action is None:
            self.action = a.get("action", "")
            self._in_post = True
        elif tag == "input" and self._in_post and a.get("type") == "hidden" and a.get("name"):
            self.hidden.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_post = False


@dataclass(frozen=True)
class FormPage:
    lang: str
    action: str  # path the form posts to
    hidden: tuple[tuple[str, str], ...] = ()
    cookie: str | None = None


def parse_form(html: str, lang: str, page_path: str, cookie: str | None = None) -> FormPage:
    parser = _FormParser()
    parser.feed(html)
    if parser.action is None:
        raise ProtocolError("the form page has no POST form")
    action = parser.action or page_path
    if not action.startswith("/"):
        action = page_path.rsplit("/", 1)[0] + "/" + action
    return FormPage(lang, action, tuple(parser.hidden), cookie)


def get_form(port: int, lang: str = "en", timeout: float = 30.0) -> FormPage:
    path = f"/{lang}/"
    resp = request(port, "GET", path, timeout=timeout)
    if resp.status != 200:
        raise ProtocolError(f"GET {path} answered {resp.status}")
    cookie = resp.headers.get("set-cookie", "").split(";")[0] or None
    return parse_form(resp.text, lang, path, cookie)


# --- reports --------------------------------------------------------------------------


@dataclass
class Attachment:
    name: str
    media_type: str
    data: bytes


@dataclass
class Report:
    token: str
    lang: str
    fields: dict[str, str | list[str]]
    files: list[Attachment] = field(default_factory=list)

    def parts(self, form: FormPage | None = None) -> list[Part]:
        out = [Part(k, v.encode()) for k, v in (form.hidden if form else ())]
        for name, value in self.fields.items():
            for v in value if isinstance(value, list) else [value]:
                out.append(Part(name, v.encode("utf-8")))
        for a in self.files:
            out.append(Part("attachments", a.data, a.name, a.media_type))
        return out

    def body(self, form: FormPage | None = None) -> tuple[bytes, str]:
        return multipart(self.parts(form))


def new_token(rng: random.Random) -> str:
    return "hx-" + "".join(rng.choice("0123456789abcdef") for _ in range(20))


def random_bytes(rng: random.Random, n: int) -> bytes:
    """``n`` pseudo-random bytes (fast: a seeded SHA-256 counter stream)."""
    seed = rng.getrandbits(64).to_bytes(8, "big")
    blocks = (hashlib.sha512(seed + i.to_bytes(8, "big")).digest() for i in range(n // 64 + 1))
    return b"".join(blocks)[:n]


def make_report(rng: random.Random, lang: str = "en", *, attachment_bytes: int = 0,
                files: int = 1, token: str | None = None) -> Report:
    """A valid report (already normalised, so what decrypts equals what was sent)."""
    token = token or new_token(rng)
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=rng.randint(0, 30))
    fields: dict[str, str | list[str]] = {
        "what": sorted(rng.sample(WHAT, rng.randint(1, 3))),
        "region": rng.choice(REGIONS),
        "town": rng.choice(["Мінск", "Брэст", "Гомель", "Pinsk", "Лида"]),
        "station": str(rng.randint(1, 700)),
        "incident_date": day.isoformat(),
        "description": f"{token} " + rng.choice([
            "Назіральнікаў не пусцілі на ўчастак.", "Нас заставили голосовать досрочно.",
            "The commission counted behind closed doors.",
        ]) + " " + "x" * rng.randint(1, 300),
    }
    if rng.random() < 0.5:
        fields["incident_time"] = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if rng.random() < 0.3:
        fields["contact"] = "signal: +375 29 " + str(rng.randint(1000000, 9999999))
    atts = []
    if attachment_bytes:
        for i in range(files):
            atts.append(Attachment(f"photo-{token}-{i}.jpg", "image/jpeg",
                                   random_bytes(rng, attachment_bytes)))
    return Report(token, lang, fields, atts)


@dataclass
class Outcome:
    status: int  # 0 when no answer came
    acknowledged: bool
    elapsed: float
    error: str | None = None
    body: bytes = b""


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """The app's message catalog for ``lang``, flattened (``error.503_full`` …)."""
    import tomllib

    with open(ROOT / "app" / "translations" / f"{lang}.toml", "rb") as f:
        doc = tomllib.load(f)
    out: dict[str, str] = {}

    def walk(table: dict[str, Any], prefix: str) -> None:
        for k, v in table.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                out[prefix + k] = str(v)

    walk(doc, "")
    return out


def page_says(resp: Response, lang: str, key: str) -> bool:
    """Whether the page shows catalog text ``key`` in ``lang`` (placeholders aside)."""
    text = catalog(lang)[key]
    first = text.split("{", 1)[0].strip()
    return bool(first) and first in html.unescape(resp.text)


_SYMBOLS5 = "[0-9A-HJKMNP-TV-Z]{5}"
_RECEIPT_CODE = f"{_SYMBOLS5}-{_SYMBOLS5}-{_SYMBOLS5}"


def is_receipt(resp: Response, lang: str) -> bool:
    """The report was stored: 303 See Other to its receipt page in ``lang``."""
    location = resp.headers.get("location", "")
    path = f"/{re.escape(lang)}/receipt/{_RECEIPT_CODE}"
    return resp.status == 303 and re.fullmatch(path, location) is not None


def submit(port: int, report: Report, *, form: FormPage | None = None,
           timeout: float = 60.0) -> Outcome:
    """POST ``report``; never raises for network trouble (the Outcome says what happened)."""
    started = time.monotonic()
    try:
        form = form or get_form(port, report.lang, timeout)
        body, ctype = report.body(form)
        headers = {"Content-Type": ctype}
        if form.cookie:
            headers["Cookie"] = form.cookie
        resp = request(port, "POST", form.action, headers=headers, body=body, timeout=timeout)
    except (OSError, ProtocolError) as exc:
        return Outcome(0, False, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    return Outcome(resp.status, is_receipt(resp, report.lang), time.monotonic() - started, None,
                   resp.body)


def post_bytes(port: int, form: FormPage, report: Report) -> bytes:
    """The whole POST request for ``report`` as bytes (to send in pieces)."""
    body, ctype = report.body(form)
    headers = {"Content-Type": ctype}
    if form.cookie:
        headers["Cookie"] = form.cookie
    return build_request(port, "POST", form.action, headers=headers, body=body)


def start_upload(port: int, report: Report, sent: int, *, form: FormPage | None = None,
                 timeout: float = 30.0) -> tuple[socket.socket, bytes]:
    """Open a POST of ``report`` and send only its first ``sent`` bytes.

    Returns the socket and the bytes not sent yet; the caller stalls, trickles
    or closes it.
    """
    form = form or get_form(port, report.lang, timeout)
    data = post_bytes(port, form, report)
    sock = connect(port, timeout)
    sock.sendall(data[:sent])
    return sock, data[sent:]
