"""Every page a voter can meet, as the requests a browser makes to get it from a real server.

``visits()`` lists them: each page of the site and each error page, in every language,
with the method, body and address that produce it. tests/e2e/test_pages.py opens each one
in headless Chromium against a real gunicorn (``PagesServer``) and checks accessibility,
layout at 360 px and screenshots; ``uncovered()`` names any route or error the list misses,
so a new page cannot skip those checks.

The server is set up so that every state is reachable with real requests: one worker of
9 threads (an upload cap of 1, so a held upload makes the next one "busy"), reports of at
most 1 MiB in a 1 MiB storage budget (a body may be 1 MiB more, for framing and text: so
3 MiB is "too large" and 1.5 MiB is "full"), a
rotated onion address in its grace period, a signed announcement, and analysts.pub
emptied for the "no key" visits. Chromium maps every ``.onion`` name to it
(``--host-resolver-rules``), so the Host header is what Tor Browser would send.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from app.i18n import LANGS
from contract import DataDir
from keys.receipt import new_code
from onion import announce, state
from onion.onionkey import OnionKey
from testkit.formfill import tiny_jpeg
from testkit.live_client import FilePart, Multipart
from testkit.liveserver import LiveServer

MIB = 1024 * 1024
NONCE = ("_nonce", "0" * 32)


@dataclass(frozen=True)
class Visit:
    """One page: ``name`` is file-name safe; ``host`` is "new" (the current address),
    "old" (the one in its grace period) or "wrong" (a look-alike)."""

    name: str
    lang: str
    path: str
    status: int
    method: str = "GET"
    body: bytes = b""
    content_type: str = ""
    host: str = "new"
    no_keys: bool = False  # analysts.pub is emptied while this page is fetched
    busy: bool = False  # another upload holds the worker's only upload slot

    @property
    def slug(self) -> str:
        return f"{self.lang}-{self.name}"


def _post(fields: list[tuple[str, str]], files: Sequence[FilePart] = ()) -> tuple[bytes, str]:
    body = Multipart(fields, files)
    return b"".join(body), body.content_type


def _photos(count: int, size: int = 0) -> list[FilePart]:
    photo = tiny_jpeg(b"x" * size) if size else tiny_jpeg(b"page check")
    return [FilePart.of("attachments", f"{i}.jpg", photo, "image/jpeg") for i in range(count)]


def visits_in(lang: str) -> list[Visit]:
    """Every page of one language (the start page ``/`` is in :func:`visits`)."""
    invalid, ctype = _post([NONCE])
    dropped, dctype = _post([NONCE], _photos(1))
    broken = b"--x\r\nContent-Disposition: form-data; name=\"what\"\r\n\r\nno end"
    many, mctype = _post([NONCE], _photos(11))
    huge, hctype = _post([NONCE], [FilePart.of("attachments", "big.jpg", b"\xff" * (3 * MIB))])
    full, fctype = _post([NONCE], [FilePart.of("attachments", "f.jpg", b"\xff" * (MIB * 3 // 2))])
    return [
        Visit("form", lang, f"/{lang}/", 200),
        Visit("safety", lang, f"/{lang}/safety", 200),
        Visit("connect", lang, f"/{lang}/connect", 200),
        Visit("address", lang, f"/{lang}/address", 200),
        Visit("receipt", lang, f"/{lang}/receipt/{new_code()}", 200),
        Visit("form-on-old-address", lang, f"/{lang}/", 200, host="old"),
        Visit("form-missing-answers", lang, f"/{lang}/", 400, "POST", invalid, ctype),
        Visit("form-files-dropped", lang, f"/{lang}/", 400, "POST", dropped, dctype),
        Visit("error-400", lang, f"/{lang}/", 400, "POST", broken,
              "multipart/form-data; boundary=x"),
        Visit("error-404", lang, f"/{lang}/no-such-page", 404),
        Visit("error-405", lang, f"/{lang}/safety", 405, "POST", b"a=1",
              "application/x-www-form-urlencoded"),
        Visit("error-413", lang, f"/{lang}/", 413, "POST", huge, hctype),
        Visit("error-413-files", lang, f"/{lang}/", 413, "POST", many, mctype),
        Visit("error-421", lang, f"/{lang}/", 421, host="wrong"),
        Visit("error-503-no-key", lang, f"/{lang}/", 503, no_keys=True),
        Visit("error-503-full", lang, f"/{lang}/", 503, "POST", full, fctype),
        Visit("error-503-busy", lang, f"/{lang}/", 503, "POST", full, fctype, busy=True),
    ]


def visits() -> list[Visit]:
    out = [Visit("start", "be", "/", 200)]
    for lang in LANGS:
        out += visits_in(lang)
    return out


def uncovered(found: list[Visit]) -> list[str]:
    """Routes of the app and error statuses that no visit opens (downloads aside)."""
    from flask import Flask  # noqa: PLC0415 (only for listing the routes)

    from app.views import bp  # noqa: PLC0415

    app = Flask(__name__)
    app.register_blueprint(bp)
    downloads = {"/address/announcement.txt", "/address/announcement.txt.sig"}
    views: dict[str, list[str]] = {}  # a view may answer at more than one address
    for r in app.url_map.iter_rules():
        if r.endpoint != "static" and r.rule not in downloads:
            views.setdefault(r.endpoint, []).append(r.rule)
    missing = [" or ".join(rules) for rules in views.values()
               if not any(_matches(r, v.path) for r in rules for v in found)]
    statuses = {v.status for v in found}
    return missing + [f"status {s}" for s in ERROR_STATUSES if s not in statuses]


# Every status app/views.py renders an error page for, but 408: a browser cannot stall
# its own request (the 408 page is the 400 message under another title).
ERROR_STATUSES = (400, 404, 405, 413, 421, 503)


def _matches(rule: str, path: str) -> bool:
    parts, got = rule.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(got) and all(
        p.startswith("<") or p == g for p, g in zip(parts, got))


@dataclass
class Addresses:
    new: str
    old: str
    wrong: str

    def host(self, which: str) -> str:
        return str(getattr(self, which))


class PagesServer:
    """A real gunicorn in the states :func:`visits` needs (see the module's docstring)."""

    ENV = {
        "GUNICORN_CMD_ARGS": "--workers 1 --threads 9",
        "SKRYNKA_MAX_FILE_MB": "1",
        "SKRYNKA_MAX_REPORT_MB": "1",
        "SKRYNKA_STORAGE_BUDGET_MB": "1",
    }

    def __init__(self, tmp: Path) -> None:
        keys = [OnionKey.generate().address for _ in range(3)]
        self.addresses = Addresses(*keys)
        data = tmp / "data"
        hostnames = DataDir(data).hostnames
        self.live = LiveServer.start(tmp, extra_env={
            **self.ENV, "SKRYNKA_HOSTNAMES_FILE": str(hostnames)})
        now = time.time()
        services = [
            state.Service(self.addresses.old, "keys/old.key", now - 99, superseded_at=now,
                          grace_seconds=None),
            state.Service(self.addresses.new, "keys/new.key", now),
        ]
        hostnames.parent.mkdir(parents=True, exist_ok=True)
        hostnames.write_text(state.hostnames_text(services, 3 * state.DAY))
        self._publish(data)

    def _publish(self, data: Path) -> None:
        a = self.addresses
        def day_in(days: int) -> str:
            return time.strftime("%Y-%m-%d", time.gmtime(time.time() + days * state.DAY))

        day = day_in(0)
        body = announce.Announcement(a.old, a.new, day, day_in(14)).body()
        text, sig = announce.sign(body, nacl.signing.SigningKey.generate(), 1, day_in(90))
        folder = state.onion_dir(data) / "announcements"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{day}-{a.new[:16]}.txt").write_text(text)
        (folder / f"{day}-{a.new[:16]}.txt.sig").write_text(sig)

    @property
    def port(self) -> int:
        return self.live.port

    def url(self, visit: Visit) -> str:
        return f"http://{self.addresses.host(visit.host)}{visit.path}"

    @contextlib.contextmanager
    def state_for(self, visit: Visit) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            if visit.no_keys:
                stack.enter_context(self._no_keys())
            if visit.busy:
                stack.enter_context(self._held_upload())
            yield

    @contextlib.contextmanager
    def _no_keys(self) -> Iterator[None]:
        path = self.live.data / "analysts.pub"
        saved = path.read_text()
        path.write_text("# no key here\n")
        try:
            yield
        finally:
            path.write_text(saved)

    @contextlib.contextmanager
    def _held_upload(self) -> Iterator[None]:
        """An upload that has sent its head and is still sending: it holds the slot."""
        head = (f"POST /en/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {MIB // 2}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(head + b"--x\r\n" + b"." * 1024)
            time.sleep(0.5)  # the worker hands it to a thread
            yield

    def stop(self) -> None:
        self.live.stop()
