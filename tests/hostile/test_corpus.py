"""The hand-written nasty-request corpus, run every time: Flask test client and real gunicorn.

Never a 5xx; every rejection an HTML page (in the page's language); every
acknowledged report exported and decrypted, carrying its case's token.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from nacl.public import PrivateKey

from testkit.hostile.batch_reader import decrypt_batch
from testkit.hostile.client import Response, get_form
from testkit.hostile.scenarios import orphans, wait_workers
from testkit.liveserver import ROOT, LiveServer
from tests.hostile.corpus import Rendered, judge_known, load_cases, render, seed_from_env, send_case

CASES = load_cases()
LIMITS = {"max_file_mb": 2, "max_report_mb": 4}


def test_corpus_is_complete() -> None:
    names = {c.name for c in CASES}
    assert len(CASES) >= 40
    for needed in ("bad_ten_thousand_fields", "bad_nul_in_description", "bad_overlong_description",
                   "bad_missing_final_boundary", "bad_duplicate_description",
                   "ok_rtl_and_combining", "ok_attachment_traversal_name",
                   "bad_chunked_bad_size_then_eof"):
        assert needed in names
    for case in CASES:
        r = render(case, host="127.0.0.1:1")
        assert r.method and r.path.startswith("/"), case.name
        assert r.raw.count(b"\r\n\r\n") >= 1, case.name


def test_then_eof_half_closes_after_the_request() -> None:
    """'# then: eof' cases reach the server as end of stream, not as a connection that
    merely stops sending (a server reading to the end would wait for more)."""
    case = next(c for c in CASES if c.name == "bad_chunked_bad_size_then_eof")
    assert case.eof and case.via == frozenset({"raw"})
    r = render(case, host="127.0.0.1:1")
    assert r.body == b"ZZ\r\n"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        got = bytearray()

        def serve_one() -> None:
            conn, _ = listener.accept()
            with conn:
                while chunk := conn.recv(4096):  # to end of stream
                    got.extend(chunk)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                             b"Content-Length: 3\r\nConnection: close\r\n\r\nbad")

        thread = threading.Thread(target=serve_one, daemon=True)
        thread.start()
        resp = send_case(listener.getsockname()[1], r, timeout=10)
        thread.join(10)
    assert resp.status == 400 and bytes(got) == r.raw


def _check_stored(opened_tokens: list[str | None], acked: dict[str, str]) -> None:
    for token, name in acked.items():
        assert opened_tokens.count(token) == 1, f"{name}: acknowledged but not exported once"


def _export(data: Path, out: Path, key: PrivateKey) -> list[str | None]:
    env = dict(os.environ, SKRYNKA_DATA=str(data), PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "app", "export", "--out", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [o.token for o in decrypt_batch(out, key)]


def _client_send(client: object, r: Rendered) -> Response:
    headers = [(k, v) for k, v in r.headers if k.lower() != "content-length"]
    resp = client.open(r.path, method=r.method, headers=headers, data=r.body)  # type: ignore[attr-defined]
    return Response(resp.status_code, {k.lower(): v for k, v in resp.headers.items()},
                    resp.get_data(), 0.0)


def test_corpus_through_the_app(make_app: Callable[..., Flask], data_dir: Path,
                                analyst_key: PrivateKey, tmp_path: Path) -> None:
    app = make_app(**LIMITS)
    client = app.test_client()
    problems, acked, bugs = [], {}, []
    for case in CASES:
        if "client" not in case.via:
            continue
        r = render(case, host="localhost", seed=seed_from_env())
        resp = _client_send(client, r)
        why, known = judge_known(r, resp, "client")
        if why is not None:
            problems.append(why)
        elif known is not None:
            bugs.append(known)
        elif resp.status == 303:  # stored: See Other to its receipt page
            acked[r.token] = case.name
    if bugs:
        print("\nknown app bugs (test client):\n  " + "\n  ".join(bugs))
    assert problems == []
    assert "ok_baseline" in acked.values()
    _check_stored(_export(data_dir, tmp_path / "batch.skb", analyst_key), acked)
    assert orphans(data_dir) == [], "a refused upload left sealed pieces"


@pytest.mark.slow
def test_corpus_against_real_gunicorn(tmp_path: Path) -> None:
    env = {"SKRYNKA_MAX_FILE_MB": "2", "SKRYNKA_MAX_REPORT_MB": "4"}
    with LiveServer.start(tmp_path, extra_env=env) as srv:
        master = wait_workers(srv)[0]
        form = get_form(srv.port, "en")
        problems, acked, bugs = [], {}, []
        for case in CASES:
            if "raw" not in case.via:
                continue
            r = render(case, host=f"127.0.0.1:{srv.port}", action="", hidden=form.hidden,
                       seed=seed_from_env())
            try:
                resp = send_case(srv.port, r, timeout=60)
            except Exception as exc:
                problems.append(f"{case.name}: no answer ({type(exc).__name__}: {exc})")
                continue
            why, known = judge_known(r, resp, "raw")
            if why is not None:
                problems.append(why)
            elif known is not None:
                bugs.append(known)
            elif resp.status == 303:  # stored: See Other to its receipt page
                acked[r.token] = case.name
        if bugs:
            print("\nknown app bugs (gunicorn):\n  " + "\n  ".join(bugs))
        assert problems == []
        assert srv.pids()[0] == master and len(srv.pids()) == 3, "the server restarted"
        _check_stored(_export(srv.data, tmp_path / "batch.skb", srv.analyst_key), acked)
        assert orphans(srv.data) == []
