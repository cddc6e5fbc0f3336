"""Submitting reports through the Flask test client and reading back the ciphertext."""

from __future__ import annotations

import os
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey

from app.i18n import LANGS
from app.models import reports
from keys.batch import GENESIS, chain_next
from tests.app.helpers import (
    TEXTS,
    FilePart,
    has_message,
    orphan_pieces,
    piece_ids,
    post,
    stored_reports,
    valid_fields,
)

SIZES = [0, 1, 65535, 65536, 65537, 3 * 1024 * 1024 + 17]
RECEIPT = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}\b")


@pytest.mark.parametrize("lang", LANGS)
def test_pages_in_every_language(client: FlaskClient, lang: str) -> None:
    form = client.get(f"/{lang}/")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert f'lang="{lang}"' in html
    assert 'enctype="multipart/form-data"' in html
    assert client.get(f"/{lang}/safety").status_code == 200
    assert client.get("/").status_code == 200


def test_unknown_language_is_404(app: Flask, client: FlaskClient) -> None:
    resp = client.get("/de/")
    assert resp.status_code == 404
    assert has_message(resp, app, "be", "error.404")
    resp = client.get("/ru/nothing-here")
    assert resp.status_code == 404 and has_message(resp, app, "ru", "error.404")
    assert "Ошибка 404" in resp.get_data(as_text=True)  # the page names its status
    assert client.post("/xx/", data=b"", content_type="text/plain").status_code == 404


@pytest.mark.parametrize("lang", LANGS)
def test_report_round_trip(app: Flask, client: FlaskClient, analyst_key: PrivateKey,
                           lang: str) -> None:
    blobs = [os.urandom(n) for n in SIZES]
    files = [FilePart("attachments", f"файл-{i}.jpg", b, "image/JPEG") for i, b in
             enumerate(blobs)]
    resp = post(client, f"/{lang}/", valid_fields(lang), files)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    code = re.fullmatch(f"/{lang}/receipt/({RECEIPT.pattern})", resp.headers["Location"])
    assert code, resp.headers["Location"]
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert set(RECEIPT.findall(html)) == {code.group(1)}, "receipt code shown"
    [stored] = stored_reports(app, analyst_key)
    report = stored.report
    assert report["format"] == "skrynka-report" and report["version"] == 1
    assert report["lang"] == lang
    assert report["receipt"] == code.group(1) and report["cites"] == []
    assert report["form"] == {"id": "election-violation", "version": 3}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", report["received_day"])
    assert stored.day == report["received_day"]
    assert report["fields"]["description"] == TEXTS[lang]
    assert sorted(report["fields"]["what"]) == ["observers_barred", "opaque_counting"]
    assert report["fields"]["region"] == "minsk_city"
    assert report["labels"]["description"]
    assert stored.files == blobs
    for i, (meta, data) in enumerate(zip(report["attachments"], blobs)):
        assert meta["name"] == f"файл-{i}.jpg"
        assert meta["media_type"] == "image/jpeg"
        assert meta["size"] == len(data)
        assert meta["envelope_sha256"] == stored.attachment_sha256[i]
        assert set(meta) == {"id", "name", "media_type", "size", "envelope_sha256"}
    assert orphan_pieces(app) == 0 and len(piece_ids(app)) == len(blobs)


def test_empty_file_input_is_not_an_attachment(app: Flask, client: FlaskClient,
                                               analyst_key: PrivateKey) -> None:
    resp = post(client, "/en/submit", valid_fields(), [FilePart("attachments", "", b"")])
    assert resp.status_code == 303
    [stored] = stored_reports(app, analyst_key)
    assert stored.report["attachments"] == [] and stored.files == []


def test_validation_error_keeps_values_and_stores_nothing(
        app: Flask, client: FlaskClient, analyst_key: PrivateKey) -> None:
    fields = valid_fields("ru", description=None, town="Гродна-unique-town")
    resp = post(client, "/ru/", fields, [FilePart("attachments", "a.png", b"x" * 70000)])
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Гродна-unique-town" in html
    assert stored_reports(app, analyst_key) == []
    assert piece_ids(app) == set()


def test_unknown_choice_is_400(app: Flask, client: FlaskClient,
                               analyst_key: PrivateKey) -> None:
    resp = post(client, "/en/", valid_fields(region="atlantis"))
    assert resp.status_code == 400
    assert stored_reports(app, analyst_key) == []


def test_seq_and_chain_are_consecutive(app: Flask, client: FlaskClient,
                                       analyst_key: PrivateKey) -> None:
    for lang in ("be", "ru", "en", "be"):
        assert post(client, f"/{lang}/", valid_fields(lang)).status_code == 303
    stored = stored_reports(app, analyst_key)
    assert [s.seq for s in stored] == [1, 2, 3, 4]
    prev = GENESIS
    for s in stored:
        with app.extensions["skrynka"].store.engine.connect() as conn:
            report_id = conn.execute(
                sa.select(reports.c.report_id).where(reports.c.seq == s.seq)).scalar_one()
        prev = chain_next(prev, s.seq, bytes(report_id), s.envelope_sha256)
        assert s.chain == prev
    assert len({post(client, "/en/", valid_fields()).headers["Location"] for _ in range(3)}) == 3


def test_two_analysts_both_can_open(make_app, data_dir, analyst_key: PrivateKey,
                                    second_analyst_key: PrivateKey) -> None:
    from keys.pubkey import encode_public

    with (data_dir / "analysts.pub").open("a") as f:
        f.write(encode_public(bytes(second_analyst_key.public_key)) + "  # second\n")
    app = make_app()
    resp = post(app.test_client(), "/en/", valid_fields(),
                [FilePart("attachments", "a.bin", b"abc")])
    assert resp.status_code == 303
    for key in (analyst_key, second_analyst_key):
        [stored] = stored_reports(app, key)
        assert stored.files == [b"abc"]


def test_cached_receipt_pages_differ_only_in_the_code(client: FlaskClient) -> None:
    """The receipt page is rendered once per language (app.views.receipt_page): each
    code still gets its page, and the language links keep the code."""
    from app.views import RECEIPT_MARK

    locations = [post(client, "/be/", valid_fields("be")).headers["Location"]
                 for _ in range(2)]
    pages = [client.get(url).get_data(as_text=True) for url in locations]
    codes = [RECEIPT.findall(html) for html in pages]
    assert all(len(set(c)) == 1 for c in codes) and len({c[0] for c in codes}) == 2
    first, second = (RECEIPT.sub("CODE", html) for html in pages)
    assert first == second and RECEIPT_MARK not in first
    assert 'href="/ru/receipt/CODE"' in first and 'href="/en/receipt/CODE"' in first
