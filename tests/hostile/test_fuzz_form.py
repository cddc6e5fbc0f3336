"""Property-based fuzzing of the form endpoint through the Flask test client.

Random field names and values (NUL, RTL, combining marks, surrogates as bytes,
invalid UTF-8), random multipart framing (boundaries, truncation, garbage, bare
LF, missing final boundary), Content-Type variations and sizes. Never a 5xx;
every rejection a 4xx HTML page; every 303 to a receipt page; and afterwards every
stored report decrypts and each acknowledged one is there exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from testkit.hostile.batch_reader import decrypt_batch
from testkit.hostile.client import LANGS, Part, Response, is_receipt, multipart
from testkit.hostile.scenarios import orphans
from testkit.liveserver import ROOT
from tests.hostile.corpus import valid_fields

SEED = int(os.environ.get("HOSTILE_SEED", "20261124"))
EXAMPLES = int(os.environ.get("HOSTILE_FUZZ_EXAMPLES", "1500"))
NAMES = ["what", "stage", "early_voting_day", "region", "town", "station", "incident_date",
         "incident_time", "description", "attachments", "role", "contact"]
BOUNDARY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=? "
CONTENT_TYPES = [
    "multipart/form-data; boundary={b}", "multipart/form-data; boundary={b}",
    'multipart/form-data; boundary="{b}"', "MULTIPART/FORM-DATA; BOUNDARY={b}",
    "multipart/form-data; charset=latin-1; boundary={b}", "multipart/form-data",
    "multipart/form-data; boundary=", "multipart/mixed; boundary={b}",
    "application/x-www-form-urlencoded", "text/plain", "application/octet-stream", None,
]

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
nasty = st.sampled_from(["\0", "\u202e", "\u2066", "\u0301" * 50, "\ufeff", "\r", "\n",
                         "\u200d", "\ufdfd", "%00", "../", "\x1b[31m", "{{", "<script>"])
values = st.one_of(
    texts.map(str.encode),
    st.lists(st.one_of(texts, nasty), max_size=6).map(lambda xs: "".join(xs).encode()),
    st.characters(categories=["Cs"]).map(lambda c: ("a" + c).encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
    st.sampled_from(["other", "brest", "2026-11-01", "12:30", "ok", "early_voting", "observer",
                     "№ 017", "0", "12345"]).map(str.encode),
    st.integers(0, 1_300_000).map(lambda n: b"x" * n),
    st.sampled_from([65535, 65536, 65537, 262145, 1 << 20, (1 << 20) + 1, 3 << 20])
    .map(lambda n: (bytes(range(256)) * (n // 256 + 1))[:n]),
)
names = st.one_of(st.sampled_from(NAMES), texts, st.sampled_from(["", "a\0b", "x" * 300]))
filenames = st.one_of(st.none(), texts, st.sampled_from(["", "../../etc/passwd", "a\0.jpg"]))
parts = st.lists(
    st.tuples(names, values, filenames,
              st.one_of(st.none(), st.sampled_from(["image/jpeg", "text/plain; charset=latin1",
                                                    "x/\0", "text/plain; charset=utf-8"]))),
    max_size=6,
)

uploads = st.lists(
    st.tuples(st.just("attachments"), values, filenames.filter(lambda f: f is not None),
              st.just("image/jpeg")),
    min_size=1, max_size=3,
)


@dataclass(frozen=True)
class Framing:
    kind: str  # ok | no_final | truncate | garbage | bare_lf | double_dash | empty
    at: float  # where (fraction of the body)
    garbage: bytes


framings = st.builds(
    Framing,
    st.sampled_from(["ok", "ok", "ok", "no_final", "truncate", "garbage", "bare_lf",
                     "double_dash", "empty"]),
    st.floats(0, 1),
    st.binary(min_size=1, max_size=100),
)


def frame(body: bytes, boundary: str, f: Framing) -> bytes:
    at = int(len(body) * f.at)
    if f.kind == "no_final":
        return body[: body.rfind(b"--" + boundary.encode("latin-1") + b"--")]
    if f.kind == "truncate":
        return body[:at]
    if f.kind == "garbage":
        return body[:at] + f.garbage + body[at:]
    if f.kind == "bare_lf":
        return body.replace(b"\r\n", b"\n")
    if f.kind == "double_dash":
        return body.replace(b"--" + boundary.encode("latin-1"), b"----" + boundary.encode(), 1)
    if f.kind == "empty":
        return b""
    return body


def _export(data: Path, out: Path, key: PrivateKey) -> list[str | None]:
    env = dict(os.environ, SKRYNKA_DATA=str(data), PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "app", "export", "--out", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    if res.returncode != 0 and "nothing" in (res.stdout + res.stderr).lower():
        return []
    assert res.returncode == 0, res.stderr
    return [o.token for o in decrypt_batch(out, key)]


@pytest.mark.slow
def test_form_endpoint_fuzz(make_app: Callable[..., Flask], data_dir: Path,
                            analyst_key: PrivateKey, tmp_path: Path) -> None:
    app = make_app(max_file_mb=1, max_report_mb=2)
    client = app.test_client()
    acked: list[str | None] = []
    seen: dict[str, int] = {}
    serial = count()

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(lang=st.sampled_from([*LANGS, *LANGS, "xx"]),
           base=st.sampled_from([True, True, True, False]),
           extra=st.one_of(st.just([]), parts, uploads),
           boundary=st.text(alphabet=BOUNDARY_CHARS, min_size=1, max_size=70).map(str.strip)
           .filter(bool), ctype=st.sampled_from([CONTENT_TYPES[0]] * 6 + CONTENT_TYPES),
           framing=framings,
           shuffle=st.randoms(use_true_random=False))
    def one(lang: str, base: bool, extra: list[tuple[str, bytes, str | None, str | None]],
            boundary: str, ctype: str | None, framing: Framing, shuffle: object) -> None:
        token = f"hx-{next(serial):020x}"
        plist = [Part(n, v.encode()) for n, v in valid_fields(token)] if base else []
        plist += [Part(n, v, fn, ct) for n, v, fn, ct in extra]
        shuffle.shuffle(plist)  # type: ignore[attr-defined]
        body, _ = multipart(plist, boundary)
        body = frame(body, boundary, framing)
        headers = {} if ctype is None else {"Content-Type": ctype.format(b=boundary)}
        resp = client.post(f"/{lang}/", data=body, headers=headers)
        got = Response(resp.status_code, {k.lower(): v for k, v in resp.headers.items()},
                       resp.get_data(), 0.0)
        key = f"{got.status}{'R' if got.status == 303 else ''}"
        seen[key] = seen.get(key, 0) + 1
        assert got.status < 500, f"{got.status} for {lang} {ctype} {framing.kind}"
        if got.status == 303:
            assert is_receipt(got, lang), "a 303 that is not to the receipt page"
            acked.append(token if base else None)
        else:
            assert 400 <= got.status < 500
            assert got.is_html and got.body.strip(), f"{got.status} is not an HTML page"

    one()
    print(f"\nform fuzz: {EXAMPLES} examples, statuses {dict(sorted(seen.items()))}")
    stored = _export(data_dir, tmp_path / "batch.skb", analyst_key)  # every one decrypts
    # each acknowledged report stored exactly once (None: accepted without the base fields)
    assert Counter(stored) == Counter(acked)
    assert orphans(data_dir) == [], "a refused upload left sealed pieces"
    assert seen.get("303R", 0) > 0 and any(k.startswith("4") for k in seen)
