"""The page templates, rendered with a bare Jinja environment (no Flask app).

Checks what the CSP and the no-JavaScript promise need (no scripts, no inline
styles, nothing from another origin), accessibility basics (labels, legends,
described-by targets, error summary anchors) and escaping of the voter's input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import pytest
from werkzeug.datastructures import MultiDict

from app.formdef import FormDef, load_form
from app.i18n import LANG_NAMES, LANGS, Catalogs, load_catalogs
from app.intake.validate import HTML_PATTERNS, validate

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("index.html", "form.html", "receipt.html", "safety.html", "error.html")
ERRORS = [
    (400, "error.title.400", "error.400", {}),
    (404, "error.title.404", "error.404", {}),
    (405, "error.title.405", "error.405", {}),
    (413, "error.title.413", "error.413", {"limit_mb": 50}),
    (421, "error.title.host", "error.host", {}),
    (500, "error.title.500", "error.500", {}),
    (503, "error.title.503", "error.503_nokey", {}),
    (503, "error.title.503", "error.503_full", {}),
]
TODAY = dt.date(2025, 1, 26)


class Page(HTMLParser):
    """Collects the tags and attributes of a rendered page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if "id" in a]


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return load_catalogs(ROOT / "app" / "translations")


@pytest.fixture(scope="module")
def form_def() -> FormDef:
    return load_form(ROOT / "app" / "forms" / "election.toml")


@pytest.fixture(scope="module")
def env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "app" / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )

    def url_for(endpoint: str, **values: Any) -> str:
        assert endpoint == "static"
        return "/static/" + values["filename"]

    env.globals["url_for"] = url_for
    return env


@pytest.fixture()
def render(
    env: jinja2.Environment, catalogs: Catalogs, form_def: FormDef
) -> Callable[..., str]:
    def render(name: str, lang: str, **ctx: Any) -> str:
        base: dict[str, Any] = {
            "lang": lang,
            "t": catalogs.translator(lang),
            "lang_urls": {code: f"/{code}/page" for code in LANGS},
            "page_title": "",
            "form_def": form_def,
            "values": {},
            "errors": {},
            "action": f"/{lang}/submit",
            "max_file_mb": 20,
            "max_report_mb": 60,
            "max_files": 10,
            "date_years": list(range(2026, 1999, -1)),
            "receipt": "K7QF2-9ZT2M-4XDPA",
            "nonce_field": "_nonce",
            "nonce": "0123456789abcdef0123456789abcdef",
            "html_patterns": HTML_PATTERNS,
            "status": 404,
            "title_key": "error.title.404",
            "message_key": "error.404",
            "message_params": {},
        }
        base.update(ctx)
        return str(env.get_template(name).render(**base))

    return render


def assert_safe_page(html: str, lang: str) -> Page:
    page = Page(html)
    low = html.lower()
    assert "<script" not in low
    assert " style=" not in low and "<style" not in low
    assert page.all("html")[0]["lang"] == lang
    assert page.all("meta")[0].get("charset") == "utf-8"
    assert any(m.get("name") == "viewport" for m in page.all("meta"))
    sheets = [a for a in page.all("link") if a.get("rel") == "stylesheet"]
    assert [a["href"] for a in sheets] == ["/static/style.css"]
    # The icon is same-origin, so the strict img-src 'self' allows it and no
    # browser falls back to fetching /favicon.ico.
    icons = [a for a in page.all("link") if a.get("rel") == "icon"]
    assert [a["href"] for a in icons] == ["/static/icon.svg"]
    for _tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data", "formaction"):
            value = attrs.get(name, "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "javascript:")), attrs
        assert not any(k.startswith("on") for k in attrs), attrs  # no event handlers
    assert len(page.ids()) == len(set(page.ids())), "duplicate ids"
    assert page.all("title") and page.all("h1")
    return page


def assert_lang_switch(page: Page, lang: str) -> None:
    links = [a for a in page.all("a") if "hreflang" in a]
    assert {a["hreflang"] for a in links} >= set(LANGS)
    current = [a for a in links if a.get("aria-current")]
    assert [a["hreflang"] for a in current] == [lang]
    for a in links:
        assert a["href"] == f"/{a['hreflang']}/page"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_safely_in_every_language(
    render: Callable[..., str], name: str, lang: str
) -> None:
    html = render(name, lang)
    page = assert_safe_page(html, lang)
    assert_lang_switch(page, lang)


def test_language_names_are_in_their_own_language(render: Callable[..., str]) -> None:
    page = Page(render("index.html", "be"))
    names = {a["hreflang"]: a for a in page.all("a") if "hreflang" in a and "lang" in a}
    assert set(names) == set(LANGS)
    text = "".join(page.text)
    for code in LANGS:
        assert LANG_NAMES[code] in text
        assert names[code]["lang"] == code


def test_index_with_per_language_intro(render: Callable[..., str], catalogs: Catalogs) -> None:
    html = render("index.html", "be", tr=catalogs.gettext)
    for lang in LANGS:
        assert catalogs.gettext(lang, "site.tagline") in html


@pytest.mark.parametrize("lang", LANGS)
def test_form_structure(
    render: Callable[..., str], form_def: FormDef, catalogs: Catalogs, lang: str
) -> None:
    html = render("form.html", lang)
    page = Page(html)
    form = page.all("form")[0]
    assert form["method"] == "post"
    assert form["action"] == f"/{lang}/submit"
    assert form["enctype"] == "multipart/form-data"
    assert form["accept-charset"].upper() == "UTF-8"

    labels = {a["for"] for a in page.all("label")}
    ids = set(page.ids())
    controls = page.all("input") + page.all("select") + page.all("textarea")
    assert len(controls) > 20
    hidden = [c for c in controls if c.get("type") == "hidden"]
    assert [(c["name"], len(c["value"])) for c in hidden] == [("_nonce", 32)]
    for c in (c for c in controls if c.get("type") != "hidden"):
        assert c["id"] in labels, f"no label for {c}"
        for ref in c.get("aria-describedby", "").split():
            assert ref in ids, ref
    for fs in page.all("fieldset"):
        for ref in fs.get("aria-describedby", "").split():
            assert ref in ids, ref
    # what, stage, region, role, and each date (day, month, year)
    assert len(page.all("legend")) == len(page.all("fieldset")) == 6

    files = [c for c in page.all("input") if c.get("type") == "file"]
    assert len(files) == 1 and files[0]["name"] == "attachments" and "multiple" in files[0]
    assert len([c for c in page.all("input") if c.get("type") == "checkbox"]) == 10
    # region 7; stage 4 and role 5, each + "No answer" (optional groups)
    assert len([c for c in page.all("input") if c.get("type") == "radio"]) == 7 + 5 + 6
    names = {c["name"] for c in controls}
    dates = {f.name for f in form_def.fields if f.type == "date"}
    parts = {f"{d}-{p}" for d in dates for p in ("day", "month", "year")}
    assert names == {f.name for f in form_def.fields} - dates | parts | {"_nonce"}
    assert [b for b in page.all("button") if b.get("type") == "submit"]

    t = catalogs.translator(lang)
    text = " ".join(" ".join(page.text).split())
    for key in ("form.no_js", "form.safety_link", "form.required_note", "form.submit"):
        assert t(key) in text
    assert t("form.file_limits", max_file_mb=20, max_report_mb=60) in text
    warning = [p for p in page.all("p") if p.get("class") == "warning"]
    assert [w["id"] for w in warning] == ["w-role", "w-contact"]
    assert form_def.field("contact").warning_text(lang) in text
    assert any(a.get("href", "").endswith("/safety") for a in page.all("a"))
    assert "error-summary" not in html
    for f in form_def.fields:
        assert f.label(lang) in text, f.name
        for cid, _labels in f.choices:
            assert f.choice_label(cid, lang) in text, (f.name, cid)


@pytest.mark.parametrize("lang", LANGS)
def test_form_errors_and_refill(
    render: Callable[..., str], form_def: FormDef, catalogs: Catalogs, lang: str
) -> None:
    posted = MultiDict([
        ("what", "other"), ("what", "employer_pressure"), ("region", "atlantis"),
        ("incident_date-year", "2026"), ("incident_date-month", "1"),
        ("incident_date-day", "1"), ("station", "9" * 30),
        ("town", 'Пінск" autofocus onfocus="x'),
        ("description", "<script>alert('x')</script> & </textarea><b>"),
    ])
    v = validate(form_def, posted, today=TODAY)
    assert set(v.errors) == {"region", "incident_date", "station"}
    html = render("form.html", lang, values=v.values, errors=v.errors, files_dropped=2)
    page = assert_safe_page(html, lang)
    ids = set(page.ids())
    t = catalogs.translator(lang)
    no_files = render("form.html", lang, values=v.values, errors=v.errors, files_dropped=0)
    assert t("form.reselect_files") not in no_files

    summary = html.split('class="error-summary"')[1].split("</div>")[0]
    anchors = [a["href"] for a in Page(summary).all("a")]
    assert len(anchors) == 3
    for href in anchors:
        assert href.startswith("#") and href[1:] in ids
    text = " ".join(" ".join(page.text).split())
    assert t("error.too_long", max=20) in text
    assert t("error.future_date") in text
    assert t("error.unknown_choice") in text
    assert t("form.reselect_files") in text
    for name in ("region", "incident_date", "station"):
        assert f"e-{name}" in ids
    station = next(c for c in page.all("input") if c.get("name") == "station")
    assert station["aria-invalid"] == "true"
    assert "e-station" in station["aria-describedby"].split()

    # typed values come back, escaped
    checked = {c["value"] for c in page.all("input") if "checked" in c}
    assert checked == {"other", "employer_pressure", ""}  # "": unanswered optional groups
    no_answer = {c["id"] for c in page.all("input") if "checked" in c and not c["value"]}
    assert no_answer == {"f-stage--none", "f-role--none"}
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;/textarea&gt;&lt;b&gt;"
    assert escaped in html
    assert "<script>" not in html and "</textarea><b>" not in html
    town = next(c for c in page.all("input") if c.get("name") == "town")
    assert town["value"] == 'Пінск" autofocus onfocus="x'
    assert "autofocus" not in town and "onfocus" not in town
    assert not [c for c in page.all("input") if c.get("type") == "date"]
    for part, value in (("year", "2026"), ("month", "1"), ("day", "1")):
        select = html.split(f'name="incident_date-{part}"')[1].split("</select>")[0]
        assert [o["value"] for o in Page(select).all("option") if "selected" in o] == [value]


def test_select_widget(env: jinja2.Environment, catalogs: Catalogs, form_def: FormDef,
                       render: Callable[..., str]) -> None:
    import dataclasses

    region = dataclasses.replace(form_def.field("region"), widget="select")
    fields = tuple(region if f.name == "region" else f for f in form_def.fields)
    fd = dataclasses.replace(form_def, fields=fields)
    html = render("form.html", "ru", form_def=fd, values={"region": "grodno"},
                  errors={"region": "error.unknown_choice"})
    page = assert_safe_page(html, "ru")
    [select] = [s for s in page.all("select") if s.get("name") == "region"]
    assert select["id"] == "f-region" and select["name"] == "region"
    options = Page(html.split('name="region"')[1].split("</select>")[0]).all("option")
    assert [o["value"] for o in options] == ["", *region.choice_ids()]
    assert [o["value"] for o in options if "selected" in o] == ["grodno"]
    assert 'href="#f-region"' in html


@pytest.mark.parametrize("lang", LANGS)
def test_receipt(render: Callable[..., str], catalogs: Catalogs, lang: str) -> None:
    html = render("receipt.html", lang, receipt="<b>K7QF</b>")
    page = assert_safe_page(html, lang)
    assert "&lt;b&gt;K7QF&lt;/b&gt;" in html
    assert "<form" not in html
    assert [a for _t, a in page.tags if a.get("class") == "code"]
    t = catalogs.translator(lang)
    text = " ".join(" ".join(page.text).split())
    for key in ("receipt.keep", "receipt.no_screenshot", "receipt.close"):
        assert t(key) in text


@pytest.mark.parametrize("lang", LANGS)
def test_safety_page_covers_the_advice(
    render: Callable[..., str], catalogs: Catalogs, lang: str
) -> None:
    text = " ".join(" ".join(Page(render("safety.html", lang)).text).split())
    for key in ("tor_heading", "tor_text", "meta_text", "meta_screenshot", "ident_text",
                "after_text", "device_text"):
        assert catalogs.gettext(lang, f"safety.{key}") in text
    en = catalogs.messages["en"]
    assert "Safest" in en["safety.tor_text"] and "New Identity" in en["safety.after_text"]
    assert "EXIF" in en["safety.meta_text"] and "GPS" in en["safety.meta_text"]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("status", "title_key", "message_key", "params"), ERRORS)
def test_error_pages(
    render: Callable[..., str], catalogs: Catalogs, lang: str, status: int,
    title_key: str, message_key: str, params: dict[str, Any],
) -> None:
    html = render("error.html", lang, status=status, title_key=title_key,
                  message_key=message_key, message_params=params)
    page = assert_safe_page(html, lang)
    text = " ".join(" ".join(page.text).split())
    assert catalogs.gettext(lang, message_key, **params) in text
    assert catalogs.gettext(lang, title_key) in text
    assert str(status) in text
    if params:
        assert "50" in catalogs.gettext(lang, message_key, **params)


def test_error_page_without_params_and_with_optional_urls(render: Callable[..., str]) -> None:
    html = render("error.html", "en", message_params=None, home_url="/h", form_url="/f",
                  safety_url="/s", page_title="Custom")
    page = assert_safe_page(html, "en")
    hrefs = {a["href"] for a in page.all("a")}
    assert {"/h", "/f", "/s"} <= hrefs
    assert "<title>Custom · Skrynka</title>" in html


def test_stylesheet_is_small_and_self_contained() -> None:
    css = (ROOT / "app" / "static" / "style.css").read_text("utf-8")
    assert len(css.encode()) < 8 * 1024
    low = css.lower()
    assert "@import" not in low and "url(" not in low and "@font-face" not in low
    assert "http" not in low
    assert ":focus" in css and "outline" in css
