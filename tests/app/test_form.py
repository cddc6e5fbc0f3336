"""The form definition (app/forms/election.toml) and FormDef.validate()."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app.form import FormDef, FormDefError, load_form, parse_form
from app.i18n import LANGS

ROOT = Path(__file__).resolve().parents[2]
ELECTION = ROOT / "app" / "forms" / "election.toml"
TODAY = dt.date(2025, 1, 26)

WHAT = (
    "forced_early_voting", "employer_pressure", "ballot_photo_ban", "police_intimidation",
    "closed_commission", "opaque_counting", "observers_barred", "multiple_voting",
    "candidate_obstruction", "other",
)
REGIONS = ("minsk_city", "brest", "vitebsk", "gomel", "grodno", "minsk_oblast", "mogilev")


@pytest.fixture(scope="module")
def form() -> FormDef:
    return load_form(ELECTION)


@pytest.fixture()
def raw() -> dict[str, Any]:
    with ELECTION.open("rb") as f:
        return tomllib.load(f)


def good(**changes: list[str]) -> MultiDict[str, str]:
    data: dict[str, list[str]] = {
        "what": ["employer_pressure", "other"],
        "region": ["gomel"],
        "incident_date": ["2025-01-25"],
        "description": ["They took our passports."],
    }
    data.update(changes)
    return MultiDict([(k, v) for k, vs in data.items() for v in vs])


# --- the shipped definition ----------------------------------------------------------


def test_election_form_loads(form: FormDef) -> None:
    assert (form.id, form.version) == ("election-violation", 1)
    assert [f.name for f in form.fields] == [
        "what", "region", "town", "station", "incident_date", "incident_time",
        "description", "attachments", "contact",
    ]
    types = {f.name: f.type for f in form.fields}
    assert types == {
        "what": "multi", "region": "choice", "town": "text", "station": "text",
        "incident_date": "date", "incident_time": "time", "description": "textarea",
        "attachments": "file", "contact": "text",
    }
    required = {f.name for f in form.fields if f.required}
    assert required == {"what", "region", "incident_date", "description"}
    assert form.field("what").choice_ids() == WHAT
    assert form.field("region").choice_ids() == REGIONS
    assert form.field("town").max_length == 200
    assert form.field("station").max_length == 20
    assert form.field("contact").max_length == 200
    assert form.field("description").max_length == 10_000
    assert form.file_fields() == ("attachments",)
    assert form.field("attachments").multiple


def test_every_text_in_every_language(form: FormDef) -> None:
    for f in form.fields:
        for lang in LANGS:
            assert f.labels[lang].strip(), (f.name, lang)
            if f.help:
                assert f.help[lang].strip(), (f.name, lang)
            for cid, labels in f.choices:
                assert labels[lang].strip(), (f.name, cid, lang)
        # translations differ from English (nothing left untranslated)
        assert f.labels["be"] != f.labels["en"] and f.labels["ru"] != f.labels["en"]
    region = form.field("region")
    assert region.choice_label("brest", "be") == "Брэсцкая вобласць"
    assert region.choice_label("mogilev", "ru") == "Могилёвская область"
    assert region.choice_label("minsk_city", "en").startswith("Minsk")


def test_contact_warning_and_metadata_hint(form: FormDef) -> None:
    contact = form.field("contact")
    for lang in LANGS:
        assert len(contact.warning_text(lang)) > 80
    assert "identify" in contact.warning_text("en")
    for lang, word in (("be", "метаданыя"), ("ru", "метаданные"), ("en", "metadata")):
        assert word in form.field("attachments").help_text(lang)


def test_labels_en(form: FormDef) -> None:
    labels = form.labels_en()
    assert set(labels) == {f.name for f in form.fields}
    assert labels["description"] == "Describe what happened"
    assert labels["region"] == "Region"


# --- validate ------------------------------------------------------------------------


def test_valid_report(form: FormDef) -> None:
    v = form.validate(good(town=["  Гомель "], incident_time=["9:05"]), "be", today=TODAY)
    assert v.ok and v.errors == {}
    assert v.values == {
        "what": ["employer_pressure", "other"],
        "region": "gomel",
        "town": "Гомель",
        "incident_date": "2025-01-25",
        "incident_time": "09:05",
        "description": "They took our passports.",
    }


def test_plain_dict_of_lists_works_too(form: FormDef) -> None:
    data = {k: good().getlist(k) for k in good()}
    assert form.validate(data, "en", today=TODAY).ok


def test_required_fields(form: FormDef) -> None:
    v = form.validate(MultiDict(), "en", today=TODAY)
    assert not v.ok
    assert v.errors == {
        "what": "error.required", "region": "error.required",
        "incident_date": "error.required", "description": "error.required",
    }
    assert v.values == {}
    # white space only is empty
    v = form.validate(good(description=[" \r\n\t "]), "en", today=TODAY)
    assert v.errors == {"description": "error.required"}


def test_optional_empty_fields_are_omitted(form: FormDef) -> None:
    v = form.validate(good(town=[""], station=["  "], contact=[""], incident_time=[""]), "ru",
                      today=TODAY)
    assert v.ok
    assert not {"town", "station", "contact", "incident_time"} & set(v.values)


def test_unknown_choice(form: FormDef) -> None:
    v = form.validate(good(region=["atlantis"]), "en", today=TODAY)
    assert v.errors == {"region": "error.unknown_choice"}
    assert "region" not in v.values
    v = form.validate(good(what=["other", "hacking"]), "en", today=TODAY)
    assert v.errors == {"what": "error.unknown_choice"}
    assert v.values["what"] == ["other"]  # the known ticks are kept for the re-shown form


def test_multi_keeps_definition_order_and_drops_repeats(form: FormDef) -> None:
    v = form.validate(good(what=["other", "forced_early_voting", "other"]), "en", today=TODAY)
    assert v.ok
    assert v.values["what"] == ["forced_early_voting", "other"]


def test_single_valued_field_given_twice(form: FormDef) -> None:
    for name, vals in (("region", ["gomel", "brest"]), ("description", ["a", "b"]),
                       ("incident_date", ["2025-01-01", "2025-01-02"])):
        v = form.validate(good(**{name: vals}), "en", today=TODAY)
        assert v.errors == {name: "error.duplicate"}, name


def test_dates(form: FormDef) -> None:
    def err(value: str) -> str | None:
        return form.validate(good(incident_date=[value]), "en", today=TODAY).errors.get(
            "incident_date")

    assert err("2025-01-26") is None
    assert err("2025-01-27") is None  # one day of slack for time zones
    assert err("2025-01-28") == "error.future_date"
    assert err("2099-12-31") == "error.future_date"
    for bad in ("2025-02-30", "26.01.2025", "2025-1-5", "yesterday", "1999-12-31", "٢٠٢٥-٠١-٢٦"):
        assert err(bad) == "error.bad_date", bad


def test_times(form: FormDef) -> None:
    def check(value: str) -> tuple[object, str | None]:
        v = form.validate(good(incident_time=[value]), "en", today=TODAY)
        return v.values.get("incident_time"), v.errors.get("incident_time")

    assert check("14:30") == ("14:30", None)
    assert check("07:05:09") == ("07:05", None)
    for bad in ("24:00", "12:60", "noon", "12", "1230", "١٤:٣٠"):
        assert check(bad)[1] == "error.bad_time", bad


def test_too_long(form: FormDef) -> None:
    v = form.validate(good(station=["1" * 21], town=["т" * 200]), "en", today=TODAY)
    assert v.errors == {"station": "error.too_long"}
    assert v.values["station"] == "1" * 21  # kept, so the voter can shorten it
    v = form.validate(good(description=["x" * 10_001]), "en", today=TODAY)
    assert v.errors == {"description": "error.too_long"}
    assert form.validate(good(description=["x" * 10_000]), "en", today=TODAY).ok


def test_length_counts_characters_after_normalising(form: FormDef) -> None:
    # 200 decomposed "й" (2 code points each) are 200 characters after NFC
    v = form.validate(good(town=["и\u0306" * 200]), "be", today=TODAY)
    assert v.ok
    assert v.values["town"] == "й" * 200


def test_normalisation(form: FormDef) -> None:
    v = form.validate(good(description=["  line 1\r\nline 2\rline 3\n\tindented \n"],
                           contact=["a\tb"]), "en", today=TODAY)
    assert v.ok
    assert v.values["description"] == "line 1\nline 2\nline 3\n\tindented"
    assert v.values["contact"] == "a b"


def test_control_characters_are_rejected(form: FormDef) -> None:
    for name, value in (("description", "before\x00after"), ("town", "a\x1bb"),
                        ("description", "bell\x07"), ("contact", "x\x7f")):
        v = form.validate(good(**{name: [value]}), "en", today=TODAY)
        assert v.errors == {name: "error.bad_chars"}, (name, value)
        assert "\x00" not in str(v.values.get(name, ""))


def test_unknown_fields_and_files_are_ignored(form: FormDef) -> None:
    data = good()
    data.add("attachments", "photo.jpg")
    data.add("evil", "x" * 100)
    v = form.validate(data, "en", today=TODAY)
    assert v.ok
    assert "attachments" not in v.values and "evil" not in v.values


def test_typed_values_are_kept_when_there_are_errors(form: FormDef) -> None:
    v = form.validate(good(region=[], description=["<b>Моё</b> описание"], town=["Пинск"]),
                      "ru", today=TODAY)
    assert v.errors == {"region": "error.required"}
    assert v.values["description"] == "<b>Моё</b> описание"
    assert v.values["town"] == "Пинск"
    assert v.values["what"] == ["employer_pressure", "other"]


# --- bad definitions -----------------------------------------------------------------


def test_shipped_raw_definition_parses(raw: dict[str, Any]) -> None:
    assert parse_form(raw).id == "election-violation"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["fields"][2].update(type="slider"), "unknown field type 'slider'"),
        (lambda d: d["fields"][3].update(name="town"), "duplicate field name"),
        (lambda d: d["fields"][2]["label"].pop("be"), "label is missing in language 'be'"),
        (lambda d: d["fields"][0]["choices"][1]["label"].update(ru=" "),
         "missing in language 'ru'"),
        (lambda d: d["fields"][1]["choices"][0].update(id="Minsk City"), "choice id"),
        (lambda d: d["fields"][1]["choices"][2].update(id="brest"), "duplicate choice id"),
        (lambda d: d["fields"][0].update(choices=[]), "non-empty list"),
        (lambda d: d["fields"][2].update(choices=d["fields"][1]["choices"]),
         "choices apply only"),
        (lambda d: d["fields"][2].update(lable={"en": "x"}), "unknown key"),
        (lambda d: d["fields"][2].update(max_length=0), "max_length"),
        (lambda d: d["fields"][4].update(max_length=10), "does not apply"),
        (lambda d: d["fields"][2].update(required="yes"), "required must be true or false"),
        (lambda d: d["fields"][7].update(required=True), "cannot be required"),
        (lambda d: d["fields"][2].update(name="Town"), "name 'Town' is not valid"),
        (lambda d: d["fields"][1].update(widget="slider"), "widget"),
        (lambda d: d["fields"][2]["help"].update({"de": "Hilfe"}) if "help" in d["fields"][2]
         else d["fields"][2].update(help={"de": "Hilfe"}), "unknown language"),
        (lambda d: d.update(version=0), "version"),
        (lambda d: d.update(id="Bad Id"), "id 'Bad Id'"),
        (lambda d: d.update(fields=[]), "at least one"),
        (lambda d: d.update(extra=1), "unknown top-level"),
    ],
)
def test_bad_definitions_are_rejected(raw: dict[str, Any], mutate: Any, message: str) -> None:
    doc = copy.deepcopy(raw)
    mutate(doc)
    with pytest.raises(FormDefError, match=message):
        parse_form(doc)


def test_load_form_errors(tmp_path: Path) -> None:
    with pytest.raises(FormDefError, match="missing"):
        load_form(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("id = \n", "utf-8")
    with pytest.raises(FormDefError, match="cannot read"):
        load_form(bad)
    err = FormDefError("x", "do y")
    assert (str(err), err.hint) == ("x", "do y")


@settings(max_examples=150, deadline=None)
@given(
    town=st.text(max_size=300),
    description=st.text(max_size=400),
    what=st.lists(st.sampled_from([*WHAT, "x", "", "OTHER"]), max_size=12),
    time=st.text(max_size=10),
)
def test_validate_never_passes_bad_values(
    town: str, description: str, what: list[str], time: str
) -> None:
    form = load_form(ELECTION)
    data = good(town=[town], description=[description], what=what, incident_time=[time])
    v = form.validate(data, "en", today=TODAY)
    for name, value in v.values.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            assert item == item.strip() and item
            if name == "town" and v.ok:
                assert len(item) <= 200 and "\n" not in item
            if v.ok:
                assert not any(ord(c) < 32 and c not in "\n\t" for c in item)
                assert "\r" not in item
    if v.ok:
        assert set(v.values["what"]) <= set(WHAT)
        assert v.values["what"] == sorted(v.values["what"], key=WHAT.index)
        assert v.values["description"]
