"""The report form: its TOML definition and localized labels.

A form definition (``app/forms/*.toml``) is checked completely when loaded, so a
typo in it stops the app at start-up with :class:`FormDefError`, never a voter.
Validating a voter's answers against it is app/intake's job (validate.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from app.errors import ConfigError
from app.i18n import LANGS

FIELD_TYPES = ("multi", "choice", "text", "textarea", "date", "time", "file", "receipts")
#: Default and greatest allowed max_length per type (characters, after normalising).
DEFAULT_MAX_LENGTH = {"text": 200, "textarea": 10_000, "receipts": 1_000}
HARD_MAX_LENGTH = {"text": 1_000, "textarea": 50_000, "receipts": 2_000}
#: Named formats a text field can require (checked and normalised by app/intake).
TEXT_FORMATS = ("station_number",)

_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_CHOICE_RE = re.compile(r"[a-z0-9_]{1,40}")
_FORM_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FIELD_KEYS = frozenset(
    {"name", "type", "required", "max_length", "label", "help", "warning", "choices",
     "widget", "multiple", "format"}
)
_FORM_KEYS = frozenset({"id", "version", "fields"})

Texts = Mapping[str, str]  # language -> text


class FormDefError(ConfigError):
    """The form definition file is missing or wrong."""


@dataclass(frozen=True)
class FieldDef:
    """One question of the form."""

    name: str
    type: str
    labels: Texts
    required: bool = False
    max_length: int | None = None
    choices: tuple[tuple[str, Texts], ...] = ()
    help: Texts = field(default_factory=dict)
    warning: Texts = field(default_factory=dict)
    widget: str = ""  # "choice": "radio" (default) or "select"
    multiple: bool = False  # "file": several files in one input
    format: str = ""  # "text": one of TEXT_FORMATS, or "" for any text

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]

    def help_text(self, lang: str) -> str:
        return self.help.get(lang) or self.help.get("en", "")

    def warning_text(self, lang: str) -> str:
        return self.warning.get(lang) or self.warning.get("en", "")

    def choice_ids(self) -> tuple[str, ...]:
        return tuple(cid for cid, _ in self.choices)

    def choice_label(self, choice_id: str, lang: str) -> str:
        for cid, labels in self.choices:
            if cid == choice_id:
                return labels.get(lang) or labels["en"]
        raise KeyError(choice_id)


@dataclass(frozen=True)
class FormDef:
    """A whole form: id, version and its fields in display order."""

    id: str
    version: int
    fields: tuple[FieldDef, ...]

    def field(self, name: str) -> FieldDef:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def labels_en(self) -> dict[str, str]:
        """Field name -> English label (the report's "labels" object)."""
        return {f.name: f.labels["en"] for f in self.fields}

    def file_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.type == "file")

    def receipts_field(self) -> str | None:
        """The field (at most one) whose codes the report cites at its top level."""
        return next((f.name for f in self.fields if f.type == "receipts"), None)


# --- loading and checking a definition -------------------------------------------------


def _texts(raw: Any, where: str, what: str, required: bool) -> dict[str, str]:
    if raw is None and not required:
        return {}
    if not isinstance(raw, dict):
        raise FormDefError(
            f"{where}: {what} must be a table of languages",
            f'write {what}.be = "…", {what}.ru = "…", {what}.en = "…"',
        )
    unknown = sorted(set(raw) - set(LANGS))
    if unknown:
        raise FormDefError(f"{where}: {what} has unknown language(s) {unknown}")
    for lang in LANGS:
        text = raw.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise FormDefError(
                f"{where}: {what} is missing in language {lang!r}",
                f"every {what} needs a non-empty text in each of {', '.join(LANGS)}",
            )
    return {lang: raw[lang].strip() for lang in LANGS}


def _choices(raw: Any, where: str) -> tuple[tuple[str, Texts], ...]:
    if not isinstance(raw, list) or not raw:
        raise FormDefError(f"{where}: needs a non-empty list of [[fields.choices]]")
    out: list[tuple[str, Texts]] = []
    seen: set[str] = set()
    for i, ch in enumerate(raw):
        cwhere = f"{where}: choice {i + 1}"
        if not isinstance(ch, dict) or set(ch) - {"id", "label"}:
            raise FormDefError(f"{cwhere}: must have only id and label")
        cid = ch.get("id")
        if not isinstance(cid, str) or not _CHOICE_RE.fullmatch(cid):
            raise FormDefError(
                f"{cwhere}: choice id {cid!r} is not valid",
                "choice ids are 1-40 characters of a-z, 0-9 and _",
            )
        if cid in seen:
            raise FormDefError(f"{cwhere}: duplicate choice id {cid!r}")
        seen.add(cid)
        out.append((cid, _texts(ch.get("label"), f"{cwhere} ({cid})", "label", True)))
    return tuple(out)


def _max_length(raw: Any, ftype: str, where: str) -> int | None:
    if ftype not in DEFAULT_MAX_LENGTH:
        if raw is not None:
            raise FormDefError(f"{where}: max_length does not apply to type {ftype!r}")
        return None
    if raw is None:
        return DEFAULT_MAX_LENGTH[ftype]
    if type(raw) is not int or not 1 <= raw <= HARD_MAX_LENGTH[ftype]:
        raise FormDefError(
            f"{where}: max_length must be an integer from 1 to {HARD_MAX_LENGTH[ftype]}"
        )
    return raw


def _format(raw: Any, ftype: str, where: str) -> str:
    if raw is None:
        return ""
    if ftype != "text" or raw not in TEXT_FORMATS:
        raise FormDefError(
            f"{where}: format {raw!r} is not valid",
            f"format applies only to text fields: one of {', '.join(TEXT_FORMATS)}",
        )
    return str(raw)


def _field(raw: Any, index: int) -> FieldDef:
    where = f"field {index + 1}"
    if not isinstance(raw, dict):
        raise FormDefError(f"{where}: must be a [[fields]] table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise FormDefError(
            f"{where}: name {name!r} is not valid",
            "field names start with a-z and use only a-z, 0-9 and _ (at most 40)",
        )
    where = f"field {name!r}"
    unknown = sorted(set(raw) - _FIELD_KEYS)
    if unknown:
        raise FormDefError(f"{where}: unknown key(s) {unknown}")
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise FormDefError(
            f"{where}: unknown field type {ftype!r}", f"use one of {', '.join(FIELD_TYPES)}"
        )
    for flag in ("required", "multiple"):
        if not isinstance(raw.get(flag, False), bool):
            raise FormDefError(f"{where}: {flag} must be true or false")
    if ftype in ("file", "receipts") and raw.get("required", False):
        raise FormDefError(f"{where}: {ftype} fields cannot be required")
    if raw.get("multiple") is not None and ftype != "file":
        raise FormDefError(f"{where}: multiple applies only to file fields")
    widget = raw.get("widget", "radio" if ftype == "choice" else "")
    if (ftype == "choice" and widget not in ("radio", "select")) or (
        ftype != "choice" and widget
    ):
        raise FormDefError(f"{where}: widget must be 'radio' or 'select' (choice fields only)")
    has_choices = ftype in ("multi", "choice")
    if not has_choices and "choices" in raw:
        raise FormDefError(f"{where}: choices apply only to multi and choice fields")
    return FieldDef(
        name=name,
        type=ftype,
        labels=_texts(raw.get("label"), where, "label", True),
        required=raw.get("required", False),
        max_length=_max_length(raw.get("max_length"), ftype, where),
        choices=_choices(raw.get("choices"), where) if has_choices else (),
        help=_texts(raw.get("help"), where, "help", False),
        warning=_texts(raw.get("warning"), where, "warning", False),
        widget=widget,
        multiple=raw.get("multiple", False),
        format=_format(raw.get("format"), ftype, where),
    )


def parse_form(doc: Mapping[str, Any], where: str = "form") -> FormDef:
    """Build and check a :class:`FormDef` from an already parsed TOML document."""
    unknown = sorted(set(doc) - _FORM_KEYS)
    if unknown:
        raise FormDefError(f"{where}: unknown top-level key(s) {unknown}")
    form_id = doc.get("id")
    if not isinstance(form_id, str) or not _FORM_ID_RE.fullmatch(form_id):
        raise FormDefError(f"{where}: id {form_id!r} is not valid", 'e.g. id = "my-form"')
    version = doc.get("version")
    if type(version) is not int or version < 1:
        raise FormDefError(f"{where}: version must be a positive integer")
    raw_fields = doc.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise FormDefError(f"{where}: needs at least one [[fields]] table")
    fields = tuple(_field(raw, i) for i, raw in enumerate(raw_fields))
    names = [f.name for f in fields]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise FormDefError(f"{where}: duplicate field name(s) {dups}")
    if sum(1 for f in fields if f.type == "receipts") > 1:
        raise FormDefError(f"{where}: at most one field can be of type 'receipts'")
    return FormDef(id=form_id, version=version, fields=fields)


def load_form(path: str | Path) -> FormDef:
    """Read and check a form definition file."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise FormDefError(f"form definition {p} is missing") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FormDefError(f"cannot read form definition {p}: {e}") from None
    return parse_form(doc, str(p))
