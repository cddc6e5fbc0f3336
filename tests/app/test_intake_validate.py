"""Validating a voter's answers (app/intake/validate.py) against the shipped election form."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app.formdef import FormDef, load_form
from app.intake.validate import validate

ROOT = Path(__file__).resolve().parents[2]
ELECTION = ROOT / "app" / "forms" / "election.toml"
TODAY = dt.date(2025, 1, 26)

WHAT = load_form(ELECTION).field("what").choice_ids()  # tests/app/test_form.py checks them


@pytest.fixture(scope="module")
def form() -> FormDef:
    return load_form(ELECTION)


def good(**changes: list[str]) -> MultiDict[str, str]:
    data: dict[str, list[str]] = {
        "what": ["employer_pressure", "other"],
        "region": ["gomel"],
        "incident_date": ["2025-01-25"],
        "description": ["They took our passports."],
    }
    data.update(changes)
    return MultiDict([(k, v) for k, vs in data.items() for v in vs])


def test_valid_report(form: FormDef) -> None:
    v = validate(form, good(town=["  Гомель "], incident_time=["9:05"]), today=TODAY)
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
    assert validate(form, data, today=TODAY).ok


def test_required_fields(form: FormDef) -> None:
    v = validate(form, MultiDict(), today=TODAY)
    assert not v.ok
    assert v.errors == {
        "what": "group.required", "region": "error.required",
        "incident_date": "error.required", "description": "error.required",
    }
    assert v.values == {}
    # white space only is empty
    v = validate(form, good(description=[" \r\n\t "]), today=TODAY)
    assert v.errors == {"description": "error.required"}


def test_optional_empty_fields_are_omitted(form: FormDef) -> None:
    v = validate(form, good(town=[""], station=["  "], contact=[""], incident_time=[""]),
                 today=TODAY)
    assert v.ok
    assert not {"town", "station", "contact", "incident_time"} & set(v.values)


def test_unknown_choice(form: FormDef) -> None:
    v = validate(form, good(region=["atlantis"]), today=TODAY)
    assert v.errors == {"region": "error.unknown_choice"}
    assert "region" not in v.values
    v = validate(form, good(what=["other", "hacking"]), today=TODAY)
    assert v.errors == {"what": "error.unknown_choice"}
    assert v.values["what"] == ["other"]  # the known ticks are kept for the re-shown form


def test_multi_keeps_definition_order_and_drops_repeats(form: FormDef) -> None:
    v = validate(form, good(what=["other", "forced_early_voting", "other"]), today=TODAY)
    assert v.ok
    assert v.values["what"] == ["forced_early_voting", "other"]


def test_single_valued_field_given_twice(form: FormDef) -> None:
    for name, vals in (("region", ["gomel", "brest"]), ("description", ["a", "b"]),
                       ("incident_date", ["2025-01-01", "2025-01-02"])):
        v = validate(form, good(**{name: vals}), today=TODAY)
        assert v.errors == {name: "error.duplicate"}, name


def test_dates(form: FormDef) -> None:
    def err(value: str) -> str | None:
        return validate(form, good(incident_date=[value]), today=TODAY).errors.get(
            "incident_date")

    assert err("2025-01-26") is None
    assert err("2025-01-27") is None  # one day of slack for time zones
    assert err("2025-01-28") == "error.future_date"
    assert err("2099-12-31") == "error.future_date"
    for bad in ("2025-02-30", "26.01.2025", "2025-1-5", "yesterday", "1999-12-31", "٢٠٢٥-٠١-٢٦"):
        assert err(bad) == "error.bad_date", bad


def test_times(form: FormDef) -> None:
    def check(value: str) -> tuple[object, str | None]:
        v = validate(form, good(incident_time=[value]), today=TODAY)
        return v.values.get("incident_time"), v.errors.get("incident_time")

    assert check("14:30") == ("14:30", None)
    assert check("07:05:09") == ("07:05", None)
    for bad in ("24:00", "12:60", "noon", "12", "1230", "١٤:٣٠"):
        assert check(bad)[1] == "error.bad_time", bad


def test_too_long(form: FormDef) -> None:
    v = validate(form, good(station=["1" * 21], town=["т" * 200]), today=TODAY)
    assert v.errors == {"station": "error.too_long"}
    assert v.values["station"] == "1" * 21  # kept, so the voter can shorten it
    v = validate(form, good(description=["x" * 10_001]), today=TODAY)
    assert v.errors == {"description": "error.too_long"}
    assert validate(form, good(description=["x" * 10_000]), today=TODAY).ok


def test_length_counts_characters_after_normalising(form: FormDef) -> None:
    # 200 decomposed "й" (2 code points each) are 200 characters after NFC
    v = validate(form, good(town=["и\u0306" * 200]), today=TODAY)
    assert v.ok
    assert v.values["town"] == "й" * 200


def test_normalisation(form: FormDef) -> None:
    v = validate(form, good(description=["  line 1\r\nline 2\rline 3\n\tindented \n"],
                            contact=["a\tb"]), today=TODAY)
    assert v.ok
    assert v.values["description"] == "line 1\nline 2\nline 3\n\tindented"
    assert v.values["contact"] == "a b"


def test_control_characters_are_rejected(form: FormDef) -> None:
    for name, value in (("description", "before\x00after"), ("town", "a\x1bb"),
                        ("description", "bell\x07"), ("contact", "x\x7f")):
        v = validate(form, good(**{name: [value]}), today=TODAY)
        assert v.errors == {name: "error.bad_chars"}, (name, value)
        assert "\x00" not in str(v.values.get(name, ""))


def test_unknown_fields_and_files_are_ignored(form: FormDef) -> None:
    data = good()
    data.add("attachments", "photo.jpg")
    data.add("evil", "x" * 100)
    v = validate(form, data, today=TODAY)
    assert v.ok
    assert "attachments" not in v.values and "evil" not in v.values


def test_typed_values_are_kept_when_there_are_errors(form: FormDef) -> None:
    v = validate(form, good(region=[], description=["<b>Моё</b> описание"], town=["Пинск"]),
                 today=TODAY)
    assert v.errors == {"region": "error.required"}
    assert v.values["description"] == "<b>Моё</b> описание"
    assert v.values["town"] == "Пинск"
    assert v.values["what"] == ["employer_pressure", "other"]


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
    v = validate(form, data, today=TODAY)
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
