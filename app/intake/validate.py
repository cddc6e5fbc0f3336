"""Validating a report's answers against the form definition.

:func:`validate` turns the posted fields into normalised values (NFC, stripped,
LF line ends, choice ids) plus per-field errors given as catalog keys. It never
logs or keeps anything: the values go to sealing, or back into the form page
when something must be corrected (the one exit of plaintext: see app/intake).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.formdef import FieldDef, FormDef
from contract import today_date
from keys.receipt import MAX_CITES, parse_many

#: A date this many days after today (UTC) is still accepted (time zones).
FUTURE_SLACK_DAYS = 1
EARLIEST_DATE = dt.date(2000, 1, 1)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: A date field is posted as three selects, ``<name>-year``, ``<name>-month``, ``<name>-day``
#: (app/templates/_fields.html); a single ``<name>`` of ``YYYY-MM-DD`` (a page from before,
#: other clients) is still read when none of the three is posted.
DATE_PARTS = ("year", "month", "day")
_PART_RE = re.compile(r"[0-9]{1,4}")
_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,3})?)?")
_STATION_RE = re.compile(r"[№#]?\s*0*([0-9]{1,4})")
#: The same rule as an HTML ``pattern``, so the browser (JavaScript off) refuses a bad
#: station number before the upload starts. Leading/trailing spaces: the server strips
#: them. tests/app/test_monitors_form.py checks that both rules agree.
HTML_PATTERNS = {"station_number": r"\s*[№#]?\s*0*[1-9][0-9]{0,3}\s*"}
_ECHO_MAX = 40  # a bad date/time is echoed back to the form at most this long


@dataclass(frozen=True)
class Validated:
    """The outcome of :func:`validate`."""

    values: dict[str, str | list[str]]
    errors: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(
    form_def: FormDef, posted: Mapping[str, Any], today: dt.date | None = None
) -> Validated:
    """Check posted fields; ``posted`` is a MultiDict (or a dict of lists).

    File fields and names the form does not define are ignored. Error values are
    catalog keys (``error.*``): the page renders them per language.
    """
    day = today or today_date()
    values: dict[str, str | list[str]] = {}
    errors: dict[str, str] = {}
    for f in form_def.fields:
        if f.type == "file":
            continue
        value: str | list[str] | None
        parts = [_getlist(posted, f"{f.name}-{p}") for p in DATE_PARTS] if f.type == "date" else []
        if any(parts):
            value, error = _check_date_parts(f, parts, day)
        else:
            value, error = _check_field(f, _getlist(posted, f.name), day)
        if value:
            values[f.name] = value
        if error:
            errors[f.name] = error
    return Validated(values, errors)


def _getlist(form: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(form, "getlist", None)
    raw = getlist(name) if callable(getlist) else form.get(name, [])
    if isinstance(raw, str):
        raw = [raw]
    return [v if isinstance(v, str) else str(v) for v in raw]


def normalise(text: str, multiline: bool) -> str:
    """NFC, LF line ends, no surrounding white space; one line unless multiline."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if multiline:
        return text.strip()
    return text.replace("\n", " ").replace("\t", " ").strip()


# Unicode categories Cc (controls) and Cs (lone surrogates), as character classes.
_BAD_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _bad_pattern(multiline: bool) -> re.Pattern[str]:
    return _BAD_MULTILINE if multiline else _BAD_ONE_LINE


def _bad_chars(text: str, multiline: bool) -> bool:
    return _bad_pattern(multiline).search(text) is not None


def _strip_bad(text: str, multiline: bool) -> str:
    return _bad_pattern(multiline).sub("", text)


def _check_field(
    f: FieldDef, raw: list[str], today: dt.date
) -> tuple[str | list[str] | None, str | None]:
    """(normalised value or None, error key or None) for one field."""
    if f.type == "multi":
        return _check_multi(f, raw)
    multiline = f.type in ("textarea", "receipts")
    texts = [normalise(v, multiline) for v in raw]
    texts = [v for v in texts if v]
    if not texts:
        return None, "error.required" if f.required else None
    value = texts[0]
    if _bad_chars(value, multiline):
        return _strip_bad(value, multiline).strip() or None, "error.bad_chars"
    if len(texts) > 1:
        return value, "error.duplicate"
    if f.type == "choice":
        if value not in f.choice_ids():
            return None, "error.unknown_choice"
        return value, None
    if f.max_length is not None and len(value) > f.max_length:
        return value, "error.too_long"
    if f.type == "date":
        return value[:_ECHO_MAX], _check_date(value, today)
    if f.type == "time":
        return _check_time(value[:_ECHO_MAX])
    if f.type == "receipts":
        return _check_receipts(value)
    if f.format == "station_number":
        return _check_station(value)
    return value, None


def _check_receipts(value: str) -> tuple[str | list[str], str | None]:
    """The cited codes in their written form; what was typed, to correct, if one is
    not a code or there are too many."""
    codes = parse_many(value)
    if codes is None:
        return value, "error.bad_receipt"
    if len(codes) > MAX_CITES:
        return value, "error.too_many_receipts"
    return codes, None


def _check_station(value: str) -> tuple[str, str | None]:
    """A polling station number: 1-4 digits, stored without a "№" or leading zeros."""
    m = _STATION_RE.fullmatch(value)
    if not m or m.group(1) == "0" * len(m.group(1)):
        return value, "error.station.bad"
    return m.group(1), None


def _check_multi(f: FieldDef, raw: list[str]) -> tuple[list[str] | None, str | None]:
    given = {v.strip() for v in raw if v.strip()}
    ids = f.choice_ids()
    chosen = [cid for cid in ids if cid in given]
    if given - set(ids):
        return chosen or None, "error.unknown_choice"
    if not chosen:  # its own message: the browser cannot check a group before sending
        return None, "group.required" if f.required else None
    return chosen, None


def date_years(today: dt.date | None = None) -> list[int]:
    """The year select's choices, newest first: every year a date is accepted in."""
    last = (today or today_date()) + dt.timedelta(days=FUTURE_SLACK_DAYS)
    return list(range(last.year, EARLIEST_DATE.year - 1, -1))


def _check_date_parts(
    f: FieldDef, parts: list[list[str]], today: dt.date
) -> tuple[str | None, str | None]:
    """The ISO date of the year, month and day selects. Echoed back to correct:
    "Y-M-D" with any part that is not a number left empty."""
    if any(len(p) > 1 for p in parts):
        return None, "error.duplicate"
    y, m, d = (normalise(p[0], False) if p else "" for p in parts)
    if not (y or m or d):
        return None, "error.required" if f.required else None
    shown = "-".join(x if _PART_RE.fullmatch(x) else "" for x in (y, m, d))
    if not (y and m and d):
        return shown, "date.incomplete"
    if not all(_PART_RE.fullmatch(x) for x in (y, m, d)):
        return shown, "error.bad_date"
    try:
        value = dt.date(int(y), int(m), int(d)).isoformat()
    except ValueError:  # 31 April, 29 February of a common year, year 0
        return shown, "error.bad_date"
    return value, _check_date(value, today)


def _check_date(value: str, today: dt.date) -> str | None:
    if not _DATE_RE.fullmatch(value):
        return "error.bad_date"
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return "error.bad_date"
    if day < EARLIEST_DATE:
        return "error.bad_date"
    if day > today + dt.timedelta(days=FUTURE_SLACK_DAYS):
        return "error.future_date"
    return None


def _check_time(value: str) -> tuple[str, str | None]:
    m = _TIME_RE.fullmatch(value)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
        return value, "error.bad_time"
    return f"{int(m.group(1)):02d}:{m.group(2)}", None
