"""Read the app's report form from its HTML and make a complete, valid submission.

The e2e tests do not hard-code the form: they read every field the server renders
(checkbox groups, radios, selects, date/time/text inputs, textareas, the receipt-code
textarea, file inputs, hidden inputs) and fill each one, so they follow the form
definition as it changes.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from keys.receipt import new_code


@dataclass
class Field:
    name: str
    # checkbox radio select date-day date-month date-year time text textarea codes file
    # hidden (a date question is three selects, <name>-day/-month/-year, data-part)
    kind: str
    choices: list[str] = field(default_factory=list)
    value: str = ""
    required: bool = False
    max_length: int = 0
    numeric: bool = False  # inputmode="numeric": a polling station number


@dataclass
class Form:
    action: str
    method: str
    enctype: str
    fields: dict[str, Field] = field(default_factory=dict)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.select: Field | None = None

    def _add(self, name: str, kind: str, attrs: dict[str, str | None]) -> Field:
        form = self.forms[-1]
        f = form.fields.setdefault(name, Field(name, kind))
        f.required = f.required or "required" in attrs
        f.max_length = int(attrs.get("maxlength") or 0)
        f.numeric = f.numeric or attrs.get("inputmode") == "numeric"
        return f

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if tag == "form":
            self.forms.append(Form(attrs.get("action") or "", (attrs.get("method") or "get")
                                   .lower(), attrs.get("enctype") or ""))
            return
        if not self.forms or not attrs.get("name"):
            if tag == "option" and self.select is not None and attrs.get("value"):
                self.select.choices.append(attrs["value"] or "")
            return
        name = attrs["name"] or ""
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "reset"):
                return
            f = self._add(name, kind, attrs)
            if kind in ("checkbox", "radio"):
                value = attrs.get("value")
                if value is None or value:  # value="": an optional group's "No answer"
                    f.choices.append(value or "on")
            else:
                f.value = attrs.get("value") or ""
        elif tag == "textarea":  # class "codes": the receipt codes of earlier reports
            codes = "codes" in (attrs.get("class") or "").split()
            self._add(name, "codes" if codes else "textarea", attrs)
        elif tag == "select":
            part = attrs.get("data-part")
            self.select = self._add(name, f"date-{part}" if part else "select", attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None


def parse_form(html: str) -> Form:
    """The page's report form (the one that posts multipart)."""
    p = _Parser()
    p.feed(html)
    posting = [f for f in p.forms if f.method == "post"]
    assert posting, "no POST form on the page"
    return posting[0]


def tiny_jpeg(comment: bytes) -> bytes:
    """A valid 8x8 mid-grey baseline JPEG with ``comment`` in a COM segment."""
    def seg(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + b"\x01" * 64
    sof = struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"
    one_code = bytes([1] + [0] * 15)            # a single Huffman code of length 1: "0"
    dht = b"\x00" + one_code + b"\x00" + b"\x10" + one_code + b"\x00"
    sos = b"\x01\x01\x00\x00\x3f\x00"
    return (b"\xff\xd8" + seg(0xE0, jfif) + seg(0xFE, comment) + seg(0xDB, dqt)
            + seg(0xC0, sof) + seg(0xC4, dht) + seg(0xDA, sos) + b"\x3f" + b"\xff\xd9")


def answers(form: Form, text: str) -> dict[str, str | list[str]]:
    """A value for every non-file field: first choices (never "No answer"), yesterday,
    fixed text (17 for a numeric one), a well-formed receipt code for the follow-up
    field."""
    yesterday = dt.date.today() - dt.timedelta(days=1)
    out: dict[str, str | list[str]] = {}
    for f in form.fields.values():
        if f.kind == "checkbox":
            out[f.name] = f.choices[:2]
        elif f.kind in ("radio", "select"):
            out[f.name] = f.choices[0]
        elif f.kind == "date-day":
            out[f.name] = str(yesterday.day)
        elif f.kind == "date-month":
            out[f.name] = str(yesterday.month)
        elif f.kind == "date-year":
            out[f.name] = str(yesterday.year)
        elif f.kind == "time":
            out[f.name] = "14:30"
        elif f.kind == "hidden":
            out[f.name] = f.value
        elif f.kind == "textarea":
            out[f.name] = text
        elif f.kind == "codes":  # cites a code no report has: sealed, linked to nothing
            out[f.name] = new_code()
        elif f.kind == "text" and f.numeric:
            out[f.name] = "17"
        elif f.kind == "text":
            out[f.name] = text[: min(40, f.max_length or 40)].strip()
    return out


def sealed_fields(form: Form, values: dict[str, str | list[str]]) -> dict[str, object]:
    """What the report's "fields" should hold for ``values`` (the non-empty typed answers):
    a date's three selects become one YYYY-MM-DD under the question's name."""
    out: dict[str, object] = {}
    dates: dict[str, dict[str, int]] = {}
    for name, value in values.items():
        kind = form.fields[name].kind
        if kind.startswith("date-"):
            dates.setdefault(name.rsplit("-", 1)[0], {})[kind[5:]] = int(str(value))
        elif kind not in ("hidden", "codes") and value:
            out[name] = value
    for name, p in dates.items():
        out[name] = dt.date(p["year"], p["month"], p["day"]).isoformat()
    return out


def fill_page(page: Any, form: Form, values: dict[str, str | list[str]],
              photos: Sequence[tuple[str, bytes]] = ()) -> None:
    """Type ``values`` into a Playwright page's form, as a voter would, and attach
    ``photos`` (name, JPEG bytes) to its file input."""
    for name, value in values.items():
        f = form.fields[name]
        if f.kind in ("checkbox", "radio"):
            for v in [value] if isinstance(value, str) else value:
                page.check(f'input[name="{name}"][value="{v}"]')
        elif f.kind == "select" or f.kind.startswith("date-"):
            page.select_option(f'select[name="{name}"]', value)
        elif f.kind != "hidden":
            page.fill(f'[name="{name}"]', value)
    if photos:
        file_field = next(f.name for f in form.fields.values() if f.kind == "file")
        page.set_input_files(f'input[name="{file_field}"]', files=[
            {"name": n, "mimeType": "image/jpeg", "buffer": data} for n, data in photos])


def curl_form_args(values: dict[str, str | list[str]], files: dict[str, str]) -> list[str]:
    args: list[str] = []
    for name, value in values.items():
        for v in [value] if isinstance(value, str) else value:
            args += ["--form-string", f"{name}={v}"]
    for name, path in files.items():
        args += ["-F", f"{name}=@{path};type=image/jpeg"]
    return args
