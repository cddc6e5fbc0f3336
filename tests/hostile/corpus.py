"""The nasty-request corpus (``tests/hostile/corpus/*.http``) and its runner.

Each file is one hand-written HTTP request, preceded by ``#`` lines:

    # what: one line saying what is nasty about it
    # expect: 200 | 4xx | 413 | 200|4xx   (200 = stored: the 303 to the receipt page came)
    # via: raw client                     (raw = real gunicorn socket, client = Flask
    #                                      test client; default both)
    # bug: raw 500 why   (a known app bug: today this path answers 500; the run
    #                     reports it, and fails once the answer is right, so the
    #                     line gets removed with the fix)
    # lang: en   # boundary: XYZ   # omit: description,region
    # then: eof   (raw only: the client half-closes once the request is sent, so the
    #              server reads end of stream where it may wait for more)

Line ends are written as LF and sent as CRLF. Macros (all bytes-exact):
``{{HOST}}`` ``{{FORM}}`` (the form's action) ``{{B}}`` (the boundary)
``{{VALID}}`` (every part of a valid report but the omitted fields, carrying
``{{TOKEN}}``) ``{{TOKEN}}`` ``{{LENGTH}}`` (of the rendered body) ``{{TODAY}}``
``{{NUL}}`` ``{{CR}}`` ``{{LF}}`` ``{{HEX:ff fe}}`` ``{{X:n}}`` (n × "x")
``{{RANDOM:n}}`` (n random bytes), ``{{REPEAT:n}}…{{/REPEAT}}`` (``{{I}}`` is
the index inside) and ``{{CHUNK}}…{{/CHUNK}}`` (one chunk of a chunked body).

Whatever the case, the server must never answer 5xx, every 4xx must be an HTML
page, and every acknowledged report must be exported and decrypt.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from testkit.hostile.client import (
    CRLF,
    LANGS,
    Response,
    connect,
    is_receipt,
    new_token,
    read_response,
    send_raw,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
DEFAULT_BOUNDARY = "SkrynkaCorpusBoundary7MA4YWxk"
_MACRO = re.compile(rb"\{\{([A-Z]+)(?::([^}]*))?\}\}")
_CHUNK = re.compile(rb"\{\{CHUNK\}\}(.*?)\{\{/CHUNK\}\}", re.S)
_REPEAT = re.compile(rb"\{\{REPEAT:(\d+)\}\}(.*?)\{\{/REPEAT\}\}", re.S)


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    expect: tuple[str, ...]
    via: frozenset[str]
    lang: str
    boundary: str
    omit: frozenset[str]
    template: bytes
    bugs: tuple[tuple[str, int, str], ...] = ()  # (via, status it gives today, why)
    eof: bool = False  # '# then: eof': half-close after sending (raw)


def load_case(path: Path) -> Case:
    meta: dict[str, str] = {}
    lines = path.read_bytes().split(b"\n")
    while lines and lines[0].startswith(b"#"):
        key, _, value = lines.pop(0)[1:].decode("utf-8").partition(":")
        meta[key.strip()] = value.strip()
    for required in ("what", "expect"):
        if required not in meta:
            raise ValueError(f"{path.name}: no '# {required}:' line")
    return Case(
        name=path.stem, what=meta["what"],
        expect=tuple(meta["expect"].split("|")),
        via=frozenset((meta.get("via") or "raw client").split()),
        lang=meta.get("lang", "en"), boundary=_boundary(meta.get("boundary", DEFAULT_BOUNDARY)),
        omit=frozenset(x.strip() for x in meta.get("omit", "").split(",") if x.strip()),
        template=b"\n".join(lines).replace(b"\n", CRLF),
        bugs=tuple(_bug(v) for k, v in meta.items() if k == "bug" or k.startswith("bug-")),
        eof=_then(path, meta.get("then", "")),
    )


def _then(path: Path, text: str) -> bool:
    if text not in ("", "eof"):
        raise ValueError(f"{path.name}: '# then: {text}' (only 'eof' is known)")
    return text == "eof"


def _bug(text: str) -> tuple[str, int, str]:
    via, status, why = text.split(" ", 2)
    return via, int(status), why


def _boundary(text: str) -> str:
    m = re.fullmatch(r"\{\{X:(\d+)\}\}", text)
    return "x" * int(m.group(1)) if m else text


def load_cases() -> list[Case]:
    return [load_case(p) for p in sorted(CORPUS.glob("*.http"))]


def valid_fields(token: str) -> list[tuple[str, str]]:
    today = dt.datetime.now(dt.timezone.utc).date()
    return [
        ("what", "observers_barred"), ("what", "opaque_counting"), ("region", "vitebsk"),
        ("stage", "counting"), ("town", "Полацк"), ("station", "17"), ("role", "voter"),
        ("incident_date", (today - dt.timedelta(days=3)).isoformat()),
        ("incident_time", "20:15"),
        ("description", f"{token} Назіральнікаў выгналі перад падлікам."),
    ]


def valid_parts(boundary: str, token: str, omit: frozenset[str],
                hidden: tuple[tuple[str, str], ...]) -> bytes:
    out = bytearray()
    for name, value in list(hidden) + valid_fields(token):
        if name in omit:
            continue
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    return bytes(out)


@dataclass(frozen=True)
class Rendered:
    case: Case
    token: str
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes  # exactly what goes on the wire

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def render(case: Case, *, host: str, action: str = "",
           hidden: tuple[tuple[str, str], ...] = (), seed: int = 0) -> Rendered:
    rng = random.Random(f"{seed}:{case.name}")
    token = new_token(rng)
    action = action or f"/{case.lang}/"

    def repeat(m: re.Match[bytes]) -> bytes:
        return b"".join(m.group(2).replace(b"{{I}}", str(i).encode())
                        for i in range(int(m.group(1))))

    def macro(m: re.Match[bytes]) -> bytes:
        name, arg = m.group(1).decode(), (m.group(2) or b"").decode()
        simple = {
            "HOST": host.encode(), "FORM": action.encode(), "B": case.boundary.encode(),
            "TOKEN": token.encode(), "NUL": b"\0", "CR": b"\r", "LF": b"\n",
            "TODAY": dt.datetime.now(dt.timezone.utc).date().isoformat().encode(),
        }
        if name in simple:
            return simple[name]
        if name == "VALID":
            return valid_parts(case.boundary, token, case.omit, hidden)
        if name == "HEX":
            return bytes.fromhex(arg)
        if name == "X":
            return b"x" * int(arg)
        if name == "RANDOM":
            return rng.randbytes(int(arg))
        if name in ("LENGTH", "CHUNK"):
            return m.group(0)  # filled in once the text around it is known
        raise ValueError(f"{case.name}: unknown macro {name}")

    text = _MACRO.sub(macro, _REPEAT.sub(repeat, case.template))
    text = _CHUNK.sub(lambda m: b"%x\r\n%s\r\n" % (len(m.group(1)), m.group(1)), text)
    head, sep, body = text.partition(CRLF + CRLF)
    if not sep:
        head, body = text.rstrip(b"\r\n"), b""
    head = head.replace(b"{{LENGTH}}", str(len(body)).encode())
    lines = head.split(CRLF)
    method, path, *_ = lines[0].decode("latin-1").split(" ") + ["", ""]
    headers = []
    for line in lines[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    return Rendered(case, token, method, path, headers, body, head + CRLF + CRLF + body)


def send_case(port: int, r: Rendered, timeout: float) -> Response:
    """Send one rendered case on a fresh connection to the real server, read the answer."""
    if not r.case.eof:
        return send_raw(port, r.raw, timeout=timeout)
    started = time.monotonic()
    with connect(port, timeout) as sock:
        sock.sendall(r.raw)
        sock.shutdown(socket.SHUT_WR)  # end of stream: nothing more will come
        return read_response(sock, started + timeout, started)


def page_lang(path: str) -> str:
    first = path.split("/")[1] if path.count("/") >= 1 else ""
    return first if first in LANGS else "be"


def judge_known(r: Rendered, resp: Response, via: str) -> tuple[str | None, str | None]:
    """(problem, known bug seen) for one answer, minding the case's ``# bug:`` line."""
    why = judge(r, resp)
    for bug_via, status, text in r.case.bugs:
        if bug_via != via:
            continue
        if why is None:
            return f"{r.case.name}: known bug fixed ({text}): remove its '# bug:' line", None
        if resp.status == status:
            return None, f"{r.case.name} ({via}): {status}: {text}"
    return why, None


def judge(r: Rendered, resp: Response) -> str | None:
    """None if the answer is one the case allows; else what is wrong."""
    status = resp.status
    lang = r.case.lang if r.case.lang in LANGS else "en"
    got = "200" if is_receipt(resp, lang) else f"{status // 100}xx"
    if status >= 500:
        return f"{r.case.name}: server error {status}"
    if not any(e in (got, str(status)) for e in r.case.expect):
        return f"{r.case.name}: expected {'|'.join(r.case.expect)}, got {status} ({got})"
    if 400 <= status < 500:
        if not resp.is_html or not resp.body.strip():
            return f"{r.case.name}: {status} is not an HTML page"
        m = re.search(rb'<html lang="([a-z]+)"', resp.body)
        if m and m.group(1).decode() != page_lang(r.path):
            return f"{r.case.name}: error page in {m.group(1).decode()}, not {page_lang(r.path)}"
    return None


def seed_from_env() -> int:
    return int(os.environ.get("HOSTILE_SEED", "20261124"))
