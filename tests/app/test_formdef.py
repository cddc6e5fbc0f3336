"""The form definition: the shipped app/forms/election.toml and the rules of loading one."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import tomllib

from app.formdef import FormDef, FormDefError, load_form, parse_form
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


# --- the shipped definition ----------------------------------------------------------


def test_election_form_loads(form: FormDef) -> None:
    assert (form.id, form.version) == ("election-violation", 3)
    assert [f.name for f in form.fields] == [
        "what", "stage", "early_voting_day", "region", "town", "station", "incident_date",
        "incident_time", "description", "attachments", "follows_up", "role", "contact",
    ]
    types = {f.name: f.type for f in form.fields}
    assert types == {
        "what": "multi", "stage": "choice", "early_voting_day": "date", "region": "choice",
        "town": "text", "station": "text", "incident_date": "date", "incident_time": "time",
        "description": "textarea", "attachments": "file", "follows_up": "receipts",
        "role": "choice", "contact": "text",
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
    assert form.receipts_field() == "follows_up"
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
    # the metadata advice is the catalog's form.photo.* block next to the file input
    # (tests/app/test_monitors_form.py); the field's help points to it
    for lang, word in (("be", "фота"), ("ru", "фото"), ("en", "photo")):
        assert word in form.field("attachments").help_text(lang)


def test_labels_en(form: FormDef) -> None:
    labels = form.labels_en()
    assert set(labels) == {f.name for f in form.fields}
    assert labels["description"] == "Describe what happened"
    assert labels["region"] == "Region"


# --- bad definitions -----------------------------------------------------------------


def test_shipped_raw_definition_parses(raw: dict[str, Any]) -> None:
    assert parse_form(raw).id == "election-violation"


def _f(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The [[fields]] table named ``name`` (not its position: questions get added)."""
    return next(f for f in doc["fields"] if f["name"] == name)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _f(d, "town").update(type="slider"), "unknown field type 'slider'"),
        (lambda d: _f(d, "station").update(name="town"), "duplicate field name"),
        (lambda d: _f(d, "town")["label"].pop("be"), "label is missing in language 'be'"),
        (lambda d: _f(d, "what")["choices"][1]["label"].update(ru=" "),
         "missing in language 'ru'"),
        (lambda d: _f(d, "region")["choices"][0].update(id="Minsk City"), "choice id"),
        (lambda d: _f(d, "region")["choices"][2].update(id="brest"), "duplicate choice id"),
        (lambda d: _f(d, "what").update(choices=[]), "non-empty list"),
        (lambda d: _f(d, "town").update(choices=_f(d, "region")["choices"]),
         "choices apply only"),
        (lambda d: _f(d, "town").update(lable={"en": "x"}), "unknown key"),
        (lambda d: _f(d, "town").update(max_length=0), "max_length"),
        (lambda d: _f(d, "incident_date").update(max_length=10), "does not apply"),
        (lambda d: _f(d, "town").update(required="yes"), "required must be true or false"),
        (lambda d: _f(d, "attachments").update(required=True), "cannot be required"),
        (lambda d: _f(d, "town").update(name="Town"), "name 'Town' is not valid"),
        (lambda d: _f(d, "region").update(widget="slider"), "widget"),
        (lambda d: _f(d, "town")["help"].update({"de": "Hilfe"}) if "help" in _f(d, "town")
         else _f(d, "town").update(help={"de": "Hilfe"}), "unknown language"),
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
