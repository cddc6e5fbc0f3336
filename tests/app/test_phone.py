"""Issue 15, part 4: fewer ways to fail on a phone (Tor Browser, often "Safest", no
JavaScript, locale spoofed to en-US). Each test names the point it shows."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from app.i18n import LANGS
from tests.app.helpers import FilePart, orphan_pieces, post, valid_fields

ROOT = Path(__file__).resolve().parents[2]
CSS = re.sub(r"/\*.*?\*/", "", (ROOT / "app" / "static" / "style.css").read_text("utf-8"),
             flags=re.S)


def t(app: Flask, lang: str, key: str, **params: object) -> str:
    return str(escape(app.extensions["skrynka"].catalogs.gettext(lang, key, **params)))


def title(html: str) -> str:
    m = re.search(r"<title>(.*?)</title>", html, re.S)
    assert m
    return m.group(1)


# --- error pages: the title says "Error" ------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_form_shown_again_with_errors_has_an_error_title(
    app: Flask, client: FlaskClient, lang: str
) -> None:
    resp = post(client, f"/{lang}/", valid_fields(lang, description=None))
    assert resp.status_code == 400
    prefix = t(app, lang, "page.error_prefix")
    assert title(resp.get_data(as_text=True)).startswith(f"{prefix} {t(app, lang, 'title.form')}")
    ok = client.get(f"/{lang}/").get_data(as_text=True)
    assert not title(ok).startswith(prefix)


@pytest.mark.parametrize("lang", LANGS)
def test_error_pages_have_an_error_title(app: Flask, client: FlaskClient, lang: str) -> None:
    resp = client.get(f"/{lang}/no-such-page")
    assert resp.status_code == 404
    assert title(resp.get_data(as_text=True)).startswith(
        f"{t(app, lang, 'page.error_prefix')} {t(app, lang, 'error.title.404')}")


# --- the no-key 503 does not link to itself ---------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_no_key_page_does_not_link_back_to_the_503(
    make_app, data_dir: Path, lang: str
) -> None:
    (data_dir / "analysts.pub").unlink()
    client = make_app().test_client()
    resp = client.get(f"/{lang}/")
    assert resp.status_code == 503
    # Every link but the language switch (this same page in each language) answers.
    hrefs = re.findall(r'<a href="([^"]*)"(?! hreflang)', resp.get_data(as_text=True))
    assert f"/{lang}/" not in hrefs and f"/{lang}/submit" not in hrefs
    assert f"/{lang}/safety" in hrefs
    for href in hrefs:
        if href.startswith("/"):
            assert client.get(href).status_code == 200, href


def test_other_errors_still_link_back_to_the_form(client: FlaskClient) -> None:
    html = client.get("/ru/no-such-page").get_data(as_text=True)
    assert 'href="/ru/"' in html


# --- the start page: each language's tagline in that language ----------------------


def test_start_page_taglines_each_in_its_own_language(app: Flask, client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    for lang in LANGS:
        m = re.search(rf'<li lang="{lang}">(.*?)</li>', html, re.S)
        assert m, lang
        assert t(app, lang, "site.tagline") in m.group(1), lang
    # not only the Belarusian one (the page's own language)
    assert t(app, "ru", "site.tagline") in html and t(app, "en", "site.tagline") in html


# --- target sizes -------------------------------------------------------------------


def rule(selector: str) -> str:
    """The declarations of the CSS rule whose selector list names ``selector``."""
    for m in re.finditer(r"([^{}]+)\{([^}]*)\}", CSS):
        selectors = [s.strip() for s in m.group(1).split(",")]
        if selector in selectors and "@media" not in m.group(1):
            return m.group(2)
    raise AssertionError(f"no rule for {selector}")


def rem(decls: str, prop: str) -> float:
    m = re.search(rf"(?:^|[;\s]){prop}:\s*([0-9.]+)rem", decls)
    assert m, prop
    return float(m.group(1))


@pytest.mark.parametrize("selector", ["footer.site a", ".links a", ".langs a"])
def test_standalone_links_are_at_least_24_css_px(selector: str) -> None:
    decls = rule(selector)
    assert "display: inline-block" in decls
    assert rem(decls, "min-height") * 16 >= 24 and rem(decls, "min-width") * 16 >= 24


def test_language_links_do_not_wrap() -> None:
    assert "white-space: nowrap" in rule(".langs a")
    assert "flex: none" in rule(".langs li")


def test_error_page_links_use_the_sized_class(client: FlaskClient) -> None:
    html = client.get("/en/no-such-page").get_data(as_text=True)
    assert '<p class="links"><a href="/en/">' in html


# --- "choose them again" only when files were dropped --------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_reselect_files_only_when_files_were_chosen(
    app: Flask, client: FlaskClient, lang: str
) -> None:
    fields = valid_fields(lang, description=None)
    empty_input = [FilePart("attachments", "", b"")]  # a file input left empty
    for files in ([], empty_input):
        resp = post(client, f"/{lang}/", fields, files)
        assert resp.status_code == 400
        assert t(app, lang, "form.reselect_files") not in resp.get_data(as_text=True)
    resp = post(client, f"/{lang}/", fields, [FilePart("attachments", "a.jpg", b"x" * 1000)])
    assert resp.status_code == 400
    assert t(app, lang, "form.reselect_files") in resp.get_data(as_text=True)
    assert orphan_pieces(app) == 0


# --- the checkbox group's missing answer comes first ----------------------------------


def summary_items(html: str) -> list[str]:
    summary = html.split('class="error-summary"')[1].split("</ul>")[0]
    return re.findall(r'<li><a href="#f-([a-z_]+?)(?:-[a-z0-9_]+)?">', summary)


@pytest.mark.parametrize("lang", LANGS)
def test_missing_what_happened_is_first_with_its_own_message(
    app: Flask, client: FlaskClient, lang: str
) -> None:
    # Another form where the group comes after required fields: still listed first.
    runtime = app.extensions["skrynka"]
    fields = runtime.form_def.fields
    runtime.form_def = dataclasses.replace(
        runtime.form_def, fields=tuple(f for f in fields if f.name != "what")
        + tuple(f for f in fields if f.name == "what"))
    resp = post(client, f"/{lang}/", valid_fields(lang, what=None, description=None))
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert summary_items(html) == ["what", "description"]
    assert t(app, lang, "group.required") in html.split('class="error-summary"')[1]
