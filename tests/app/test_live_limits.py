"""Over-limit uploads over a real socket: a localized 413 page, never a reset; nothing kept."""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from testkit.hostile.scenarios import ORPHAN_PIECES
from testkit.live_client import (
    MIB,
    FilePart,
    Multipart,
    export_and_open,
    find_report,
    get_form,
    pattern,
    post,
    report_fields,
    token,
)
from testkit.liveserver import ROOT, LiveServer


def catalog(lang: str) -> dict[str, object]:
    return tomllib.loads((ROOT / "app" / "translations" / f"{lang}.toml").read_text("utf-8"))


def message_413(lang: str, limit_mb: int) -> tuple[str, str]:
    errors = catalog(lang)["error"]
    assert isinstance(errors, dict)
    return str(errors["title"]["413"]), str(errors["413"]).format(limit_mb=limit_mb)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("limits")
    # the app drains a refused body up to 2 x the report limit + 1 MiB (then it must close)
    env = {"SKRYNKA_MAX_FILE_MB": "1", "SKRYNKA_MAX_REPORT_MB": "4"}
    with LiveServer.start(tmp, extra_env=env) as srv:
        yield srv


def _stored_pieces(server: LiveServer) -> tuple[int, int]:
    """(attachments that have pieces, pieces no attachment row owns); the old layout's
    folders must not exist at all."""
    assert not (server.data / "incoming").exists() and not (server.data / "blobs").exists()
    db = sqlite3.connect(f"file:{server.data / 'skrynka.db'}?mode=ro", uri=True, timeout=30)
    try:
        ids = int(db.execute("SELECT count(DISTINCT attachment_id) FROM blob_chunks")
                  .fetchone()[0])
        return ids, int(db.execute(ORPHAN_PIECES).fetchone()[0])
    finally:
        db.close()


def _file(name: str, size: int, seed: int) -> FilePart:
    return FilePart("attachments", name, size, lambda: pattern(seed, size), "image/jpeg")


CASES = {
    # lang, files, the limit the page names
    # over both limits: refused on its Content-Length, the page names the report limit
    "one file over both limits": ("ru", [("big.jpg", 8 * MIB)], 4),
    "file just over the per-file limit": ("en", [("edge.jpg", MIB + 1)], 1),
    "files under it, report over its limit": ("be", [(f"p{i}.jpg", 900_000) for i in range(5)], 4),
}


@pytest.mark.parametrize("case", list(CASES))
def test_over_limit_gets_localized_413_without_reset(server: LiveServer, case: str) -> None:
    lang, specs, limit_mb = CASES[case]
    page = get_form(server.port, lang)
    files = [_file(name, size, 50 + i) for i, (name, size) in enumerate(specs)]
    body = Multipart(page.hidden + report_fields("too big " + token("big")), files)
    resp = post(server.port, page.action, body, piece=64 << 10)

    assert resp.send_error is None, f"connection failed while sending: {resp.send_error}"
    assert resp.status == 413, (resp.status, resp.text[:300])
    assert resp.headers.get("content-type", "").startswith("text/html")
    assert int(resp.headers["content-length"]) == len(resp.body) > 0
    text = html.unescape(resp.text)
    title, message = message_413(lang, limit_mb)
    assert title in text and message in text, text[:1000]
    assert f'lang="{lang}"' in resp.text
    assert not resp.is_receipt
    assert _stored_pieces(server) == (0, 0)


def test_nothing_from_refused_reports_is_stored(server: LiveServer, tmp_path: Path) -> None:
    page = get_form(server.port, "en")
    refused = post(server.port, page.action, Multipart(
        page.hidden + report_fields("refused " + token("no")), [_file("x.jpg", 3 * MIB, 9)]))
    assert refused.status == 413
    tok = token("ok")
    good = post(server.port, page.action, Multipart(
        page.hidden + report_fields("accepted " + tok), [_file("ok.jpg", MIB, 10)]))
    assert good.is_receipt, (good.status, good.text[:300])

    reports = export_and_open(server, tmp_path / "batch.skb")
    assert len(reports) == 1, [r.fields.get("description") for r in reports]
    got = find_report(reports, tok)
    assert [a["size"] for a in got.report["attachments"]] == [MIB]
    assert _stored_pieces(server) == (1, 0)
