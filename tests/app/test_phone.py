"""Issue 15, part 4: fewer ways to fail on a phone (Tor Browser, often "Safest", no
JavaScript, locale spoofed to en-US). Each test names the point it shows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from nacl.public import PrivateKey

from app.i18n import LANGS
from tests.app.helpers import FilePart, orphan_pieces, post, stored_reports, valid_fields

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
    html = resp.get_data(as_text=True)
    assert t(app, lang, "form.reselect_files") in html.split('class="error-summary"')[1]
    # ... and again at the file input, which names it among its descriptions
    assert f'<p class="error" id="r-attachments">{t(app, lang, "form.reselect_files")}</p>' in html
    file_input = re.search(r'<input type="file" [^>]*>', html)
    assert file_input and re.search(r'aria-describedby="[^"]*\br-attachments\b', file_input[0])
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


# --- the date: day, month (named) and year selects, sealed as YYYY-MM-DD ---------------


@pytest.mark.parametrize("lang", LANGS)
def test_date_is_three_selects_with_month_names(app: Flask, client: FlaskClient,
                                                lang: str) -> None:
    html = client.get(f"/{lang}/").get_data(as_text=True)
    assert 'type="date"' not in html  # would show mm/dd/yyyy under en-US spoofing
    assert "2025-01-26" not in html and "year-month-day" not in html
    for part in ("day", "month", "year"):
        assert re.search(rf'<label for="f-incident_date-{part}">{t(app, lang, "date." + part)}'
                         rf'</label>\s*<select id="f-incident_date-{part}" '
                         rf'name="incident_date-{part}" data-part="{part}" required>', html)
    month = html.split('name="incident_date-month"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\d+)">([^<]+)</option>', month) == [
        (str(n), t(app, lang, f"date.month_{n}")) for n in range(1, 13)]
    year = html.split('name="incident_date-year"')[1].split("</select>")[0]
    years = [int(y) for y in re.findall(r'<option value="(\d+)">', year)]
    assert years[-1] == 2000 and years == sorted(years, reverse=True)
    assert years[0] >= dt.datetime.now(dt.timezone.utc).year


@pytest.mark.parametrize("lang", LANGS)
def test_day_month_year_are_sealed_as_an_iso_date(
    app: Flask, client: FlaskClient, analyst_key: PrivateKey, lang: str
) -> None:
    fields = valid_fields(lang, incident_date=None) + [
        ("incident_date-year", "2024"), ("incident_date-month", "2"), ("incident_date-day", "9")]
    assert post(client, f"/{lang}/", fields).status_code == 303
    [stored] = stored_reports(app, analyst_key)
    assert stored.report["fields"]["incident_date"] == "2024-02-09"


def test_a_single_iso_date_is_still_read(app: Flask, client: FlaskClient,
                                         analyst_key: PrivateKey) -> None:
    """A form page opened before the change posts one YYYY-MM-DD field."""
    assert post(client, "/en/", valid_fields(incident_date="2024-02-25")).status_code == 303
    [stored] = stored_reports(app, analyst_key)
    assert stored.report["fields"]["incident_date"] == "2024-02-25"


@pytest.mark.parametrize(("parts", "key", "selected"), [
    ({"year": "2024", "month": "4", "day": "31"}, "error.bad_date", ("31", "4", "2024")),
    ({"year": "2023", "month": "2", "day": "29"}, "error.bad_date", ("29", "2", "2023")),
    ({"year": "2024", "day": "3"}, "date.incomplete", ("3", "", "2024")),
    ({"month": "x", "day": "3", "year": "2024"}, "error.bad_date", ("3", "", "2024")),
    ({"year": "1999", "month": "12", "day": "31"}, "error.bad_date", ("31", "12", "")),
])
def test_impossible_or_partial_dates_come_back_to_correct(
    app: Flask, client: FlaskClient, analyst_key: PrivateKey,
    parts: dict[str, str], key: str, selected: tuple[str, str, str],
) -> None:
    fields = valid_fields("ru", incident_date=None) + [
        (f"incident_date-{p}", v) for p, v in parts.items()]
    resp = post(client, "/ru/", fields)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert summary_items(html) == ["incident_date"]
    assert 'href="#f-incident_date-day"' in html
    assert t(app, "ru", key) in html
    for part, value in zip(("day", "month", "year"), selected, strict=True):
        select = html.split(f'name="incident_date-{part}"')[1].split("</select>")[0]
        assert re.findall(r'<option value="(\d*)" selected>', select) == ([value] if value else [])
    assert stored_reports(app, analyst_key) == []


def test_date_parts_posted_twice_are_a_duplicate(app: Flask, client: FlaskClient) -> None:
    resp = post(client, "/en/", valid_fields() + [("incident_date-day", "3")])
    assert resp.status_code == 400
    assert t(app, "en", "error.duplicate") in resp.get_data(as_text=True)


def test_the_e2e_form_filler_fills_the_date_selects(
    app: Flask, client: FlaskClient, analyst_key: PrivateKey
) -> None:
    """testkit.formfill (the browser and Tor tests' filler) picks yesterday in the three
    selects, and sealed_fields predicts the report's fields."""
    from testkit.formfill import answers, parse_form, sealed_fields

    form = parse_form(client.get("/be/").get_data(as_text=True))
    assert form.fields["incident_date-month"].kind == "date-month"
    values = answers(form, "праверка")
    fields = [(k, v) for k, vs in values.items() for v in ([vs] if isinstance(vs, str) else vs)]
    assert post(client, "/be/", fields).status_code == 303
    [stored] = stored_reports(app, analyst_key)
    yesterday = dt.date.today() - dt.timedelta(days=1)
    assert stored.report["fields"]["incident_date"] == yesterday.isoformat()
    assert {k: v for k, v in stored.report["fields"].items() if v} == sealed_fields(form, values)


# --- Russian and Belarusian wording --------------------------------------------------


def test_reviewed_russian_and_belarusian_wording(app: Flask) -> None:
    cat = app.extensions["skrynka"].catalogs
    assert cat.gettext("ru", "form.safety_link") == "как обезопасить себя"
    assert "правильную дату" in cat.gettext("ru", "error.bad_date")
    assert "правільную дату" in cat.gettext("be", "error.bad_date")
    assert cat.gettext("be", "form.safety_link") == "як засцерагчыся"
    ru = " ".join(cat.messages["ru"].values())
    be = " ".join(cat.messages["be"].values())
    for calque in ("соблюдать безопасность", "Слишком длинно:", "таким образом",
                   "затрудняют связь", "год-месяц-день"):
        assert calque not in ru, calque
    for calque in ("захаваць бяспеку", "Занадта доўга:", "такім чынам",
                   "ўскладняюць сувязь", "год-месяц-дзень"):
        assert calque not in be, calque
