"""Issue 15, part 3: the form election monitors need. Election stage (and which early
voting day), a validated polling station number, the reporter's role with its warning,
the photo advice next to the file input, and form version 3 sealed into each report."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import tomllib
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey
from werkzeug.datastructures import MultiDict

from app.formdef import FormDef, FormDefError, load_form, parse_form
from app.i18n import LANGS
from app.intake.validate import HTML_PATTERNS, validate
from tests.app.helpers import has_message, post, stored_reports, valid_fields
from tests.app.test_templates import Page

ROOT = Path(__file__).resolve().parents[2]
ELECTION = ROOT / "app" / "forms" / "election.toml"
TODAY = dt.date(2025, 1, 26)
STAGES = ("campaign", "early_voting", "election_day", "counting")
ROLES = ("voter", "commission_member", "observer", "pressured", "other")
NEW = ("stage", "early_voting_day", "role")
PHOTO_KEYS = ("heading", "evidence", "risk", "android", "screenshot", "scrambled_exif",
              "camera", "video", "after")


@pytest.fixture(scope="module")
def form() -> FormDef:
    return load_form(ELECTION)


FORM_DEF = load_form(ELECTION)


def _answers(**changes: list[str]) -> MultiDict[str, str]:
    data: dict[str, list[str]] = {
        "what": ["opaque_counting"], "region": ["grodno"], "incident_date": ["2025-01-25"],
        "description": ["Пратакол не вывесілі."],
    }
    data.update(changes)
    return MultiDict([(k, v) for k, vs in data.items() for v in vs])


# --- the definition ------------------------------------------------------------------


def test_new_questions_are_optional_and_the_version_is_raised(form: FormDef) -> None:
    assert form.version == 3
    assert form.field("stage").choice_ids() == STAGES
    assert form.field("role").choice_ids() == ROLES
    assert form.field("early_voting_day").type == "date"
    assert form.field("station").format == "station_number"
    for name in NEW:
        assert not form.field(name).required, name
    assert {f.name for f in form.fields if f.required} == {
        "what", "region", "incident_date", "description"}
    for lang in LANGS:
        assert len(form.field("role").warning_text(lang)) > 80
    assert "narrow" in form.field("role").warning_text("en")


def test_format_is_checked_when_loading() -> None:
    with ELECTION.open("rb") as f:
        raw: dict[str, Any] = tomllib.load(f)
    station = next(f for f in raw["fields"] if f["name"] == "station")
    assert parse_form(raw).field("station").format == "station_number"
    for bad_type, bad_format in (("text", "zip_code"), ("textarea", "station_number"),
                                 ("date", "station_number")):
        doc = copy.deepcopy(raw)
        field = next(f for f in doc["fields"] if f["name"] == "station")
        field.update(type=bad_type, format=bad_format)
        if bad_type == "date":
            del field["max_length"]
        with pytest.raises(FormDefError, match="format"):
            parse_form(doc)
    assert station["format"] == "station_number"


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize("typed, stored", [
    ("17", "17"), ("017", "17"), ("  1234 ", "1234"), ("0001", "1"), ("№ 5", "5"),
    ("№17", "17"), ("#12", "12"), ("\u00a0 9\u00a0", "9"), ("00000560", "560"),
])
def test_station_number_is_normalised(form: FormDef, typed: str, stored: str) -> None:
    v = validate(form, _answers(station=[typed]), today=TODAY)
    assert v.ok, v.errors
    assert v.values["station"] == stored


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789№# \u00a0a", max_size=9))
def test_the_browser_s_pattern_is_the_server_s_rule(typed: str) -> None:
    """The station input's HTML ``pattern`` (checked by the browser, JavaScript off, before
    the upload starts) accepts exactly what the server accepts."""
    if not typed.strip():
        return  # an empty optional field: the browser checks no pattern
    v = validate(FORM_DEF, _answers(station=[typed]), today=TODAY)
    assert bool(re.fullmatch(HTML_PATTERNS["station_number"], typed)) == v.ok, typed


def test_the_station_input_carries_the_pattern(client: FlaskClient) -> None:
    page = client.get("/en/").get_data(as_text=True)
    pattern = HTML_PATTERNS["station_number"]
    assert 'name="station"' in page and f'pattern="{pattern}"' in page


@pytest.mark.parametrize("typed", [
    "12345", "0", "000", "17а", "17a", "1 2", "1-2", "1.5", "-5", "abc", "№", "№ 0",
    "\u0661\u0667", "\uff11\uff17", "²", "17/2",
])
def test_bad_station_numbers_are_refused(form: FormDef, typed: str) -> None:
    v = validate(form, _answers(station=[typed]), today=TODAY)
    assert v.errors == {"station": "error.station.bad"}
    assert v.values["station"] == typed.strip()  # shown again to be corrected


def test_new_answers_validate(form: FormDef) -> None:
    v = validate(form, _answers(stage=["early_voting"], early_voting_day=["2025-01-21"],
                                role=["commission_member"]), today=TODAY)
    assert v.ok and v.values["stage"] == "early_voting" and v.values["role"] == (
        "commission_member") and v.values["early_voting_day"] == "2025-01-21"
    v = validate(form, _answers(stage=[""], role=[""]), today=TODAY)  # "No answer"
    assert v.ok and "stage" not in v.values and "role" not in v.values
    v = validate(form, _answers(stage=["recount"], role=["spy"], early_voting_day=["21.01"]),
                 today=TODAY)
    assert v.errors == {"stage": "error.unknown_choice", "role": "error.unknown_choice",
                        "early_voting_day": "error.bad_date"}


@pytest.mark.parametrize("lang", LANGS)
def test_bad_station_number_gets_a_localized_error(
        app: Flask, client: FlaskClient, analyst_key: PrivateKey, lang: str) -> None:
    resp = post(client, f"/{lang}/", valid_fields(lang, station="17а"))
    assert resp.status_code == 400
    assert has_message(resp, app, lang, "error.station.bad")
    assert 'value="17а"' in resp.get_data(as_text=True)
    assert stored_reports(app, analyst_key) == []


# --- the page ------------------------------------------------------------------------


def _radios(page: Page, name: str) -> list[dict[str, str]]:
    return [a for a in page.all("input") if a.get("type") == "radio" and a["name"] == name]


@pytest.mark.parametrize("lang", LANGS)
def test_new_fields_render(app: Flask, client: FlaskClient, form: FormDef, lang: str) -> None:
    html = client.get(f"/{lang}/").get_data(as_text=True)
    page = Page(html)
    text = " ".join(page.text)
    for name in NEW:
        assert form.field(name).label(lang) in text, name
    for name, ids in (("stage", STAGES), ("role", ROLES)):
        radios = _radios(page, name)
        assert [r["value"] for r in radios] == [*ids, ""]
        assert all("required" not in r for r in radios)
        assert [r for r in radios if "checked" in r] == [radios[-1]]  # "No answer"
        assert radios[-1]["id"] == f"f-{name}--none"
        for cid in ids:
            assert form.field(name).choice_label(cid, lang) in text
    assert app.extensions["skrynka"].catalogs.gettext(lang, "form.radio.no_answer") in text
    parts = [s for s in page.all("select") if s.get("name", "").startswith("early_voting_day-")]
    assert [s["name"] for s in parts] == [f"early_voting_day-{p}" for p in ("day", "month", "year")]
    assert all("required" not in s for s in parts)  # an optional date
    [station] = [a for a in page.all("input") if a.get("name") == "station"]
    assert station["inputmode"] == "numeric" and station["type"] == "text"
    assert html.index('id="field-stage"') < html.index('id="field-region"')


@pytest.mark.parametrize("lang", LANGS)
def test_role_warning_is_right_next_to_the_role(
        client: FlaskClient, form: FormDef, lang: str) -> None:
    html = client.get(f"/{lang}/").get_data(as_text=True)
    start = html.index('<fieldset class="field" id="field-role"')
    first = html.index('id="f-role-voter"')
    fieldset = html[start:html.index(">", start)]
    assert 'aria-describedby="w-role"' in fieldset
    between = html[start:first]
    assert 'id="w-role"' in between and 'class="warning"' in between
    warning = re.sub(r"\s+", " ", form.field("role").warning_text(lang))
    assert warning.replace('"', "&#34;") in html or warning in html


@pytest.mark.parametrize("lang", LANGS)
def test_photo_advice_is_next_to_the_file_input(app: Flask, client: FlaskClient,
                                                lang: str) -> None:
    resp = client.get(f"/{lang}/")
    html = resp.get_data(as_text=True)
    start = html.index('id="field-attachments"')
    advice = html.index('id="p-attachments"')
    file_input = html.index('type="file"')
    assert start < advice < file_input
    for key in PHOTO_KEYS:
        assert has_message(resp, app, lang, f"form.photo.{key}"), key
    t = app.extensions["skrynka"].catalogs.translator(lang)
    assert "Scrambled Exif" in t("form.photo.scrambled_exif")
    assert "F-Droid" in t("form.photo.scrambled_exif")
    assert "Android" in t("form.photo.android")
    metadata = {"be": "метаданыя", "ru": "метаданные", "en": "metadata"}[lang]
    assert metadata in t("form.photo.evidence") and metadata in t("form.photo.risk")
    gps = {"be": "геалакацыя", "ru": "геолокация", "en": "location"}[lang]
    assert gps in t("form.photo.risk")


def test_photo_advice_is_translated(app: Flask) -> None:
    cat = app.extensions["skrynka"].catalogs
    for key in [f"form.photo.{k}" for k in PHOTO_KEYS] + ["form.radio.no_answer",
                                                           "error.station.bad"]:
        be, ru, en = (cat.gettext(lang, key) for lang in ("be", "ru", "en"))
        assert len({be, ru, en}) == 3, key


# --- sealed reports ------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_report_carries_the_new_answers_and_version(
        app: Flask, client: FlaskClient, analyst_key: PrivateKey, lang: str) -> None:
    fields = valid_fields(lang, stage="early_voting", early_voting_day="2024-02-20",
                          station="№ 0172", role="observer")
    resp = post(client, f"/{lang}/", fields)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    [stored] = stored_reports(app, analyst_key)
    report = stored.report
    assert report["form"] == {"id": "election-violation", "version": 3}
    got = {k: report["fields"][k] for k in ("stage", "early_voting_day", "station", "role")}
    assert got == {"stage": "early_voting", "early_voting_day": "2024-02-20",
                   "station": "172", "role": "observer"}
    assert report["labels"]["role"] == "Your role in this"
    assert report["labels"]["stage"] == "Election stage"


def test_no_answer_leaves_the_question_out(
        app: Flask, client: FlaskClient, analyst_key: PrivateKey) -> None:
    resp = post(client, "/be/", valid_fields("be", stage="", role=""))
    assert resp.status_code == 303
    [stored] = stored_reports(app, analyst_key)
    assert not {"stage", "role", "early_voting_day", "station"} & set(stored.report["fields"])
    assert stored.report["form"]["version"] == 3


def test_the_e2e_form_filler_answers_the_new_questions_validly(
        app: Flask, client: FlaskClient, analyst_key: PrivateKey) -> None:
    """testkit.formfill (browser and Tor tests) never picks "No answer", and gives the
    numeric station field a number."""
    from testkit.formfill import answers, parse_form, sealed_fields

    form = parse_form(client.get("/be/").get_data(as_text=True))
    assert form.fields["station"].numeric and "" not in form.fields["role"].choices
    values = answers(form, "праверка")
    fields = [(k, v) for k, vs in values.items() for v in ([vs] if isinstance(vs, str) else vs)]
    assert post(client, "/be/", fields).status_code == 303
    [stored] = stored_reports(app, analyst_key)
    got = stored.report["fields"]
    assert (got["stage"], got["role"], got["station"]) == ("campaign", "voter", "17")
    assert got["early_voting_day"] == sealed_fields(form, values)["early_voting_day"]
