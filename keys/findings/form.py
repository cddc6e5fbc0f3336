"""The form definition the summary labels answers with (app/forms/election.toml).

Only what a summary needs is read: each field's name, type and labels, and each
choice's id and labels, in the TOML's order. The server's own loader
(app/formdef.py) checks far more; keys/ must not import it. Without a form file
every label is the id itself (:data:`NO_FORM`), and the summary says so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from keys.errors import SummaryError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the analyst kit pins tomli for Python < 3.11
    import tomli as tomllib

LANGS = ("be", "ru", "en")
FORM_FILE = "election.toml"
#: Fields whose answers are not in a report's "fields" (files; the cited codes).
NOT_ANSWERS = ("file", "receipts")
#: The election form's answer fields, for the CSV header when no form file is found.
ELECTION_FIELDS = ("what", "stage", "early_voting_day", "region", "town", "station",
                   "incident_date", "incident_time", "description", "role", "contact")
MULTI_FIELDS = ("what",)
CHOICE_FIELDS = ("stage", "region", "role")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    labels: dict[str, str] = field(default_factory=dict)
    choices: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> labels


@dataclass(frozen=True)
class Form:
    """The answer fields of a form, in order; ``path`` is None without a form file."""

    id: str
    version: int | None
    fields: tuple[Field, ...]
    path: Path | None = None

    @cached_property
    def _by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def get(self, name: str) -> Field | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def label(self, name: str, lang: str) -> str:
        f = self.get(name)
        return _pick(f.labels, lang) or name if f else name

    def choice(self, name: str, choice_id: str, lang: str) -> str:
        f = self.get(name)
        if f is None or choice_id not in f.choices:
            return choice_id
        return _pick(f.choices[choice_id], lang) or choice_id

    def choice_ids(self, name: str) -> list[str]:
        f = self.get(name)
        return list(f.choices) if f else []

    def is_multi(self, name: str) -> bool:
        f = self.get(name)
        return f.type == "multi" if f else name in MULTI_FIELDS


def _pick(labels: dict[str, str], lang: str) -> str:
    return labels.get(lang) or labels.get("en") or ""


NO_FORM = Form("election-violation", None, tuple(
    Field(n, "multi" if n in MULTI_FIELDS else "choice" if n in CHOICE_FIELDS else "text")
    for n in ELECTION_FIELDS))


def default_form_path() -> Path | None:
    """The first form file that exists beside the keys package (the repository's
    app/forms/, or the analyst kit's forms/), else None."""
    root = Path(__file__).resolve().parents[2]
    for candidate in (root / "app" / "forms" / FORM_FILE, root / "forms" / FORM_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_form(path: Path | None) -> Form:
    """The form of ``path`` (SummaryError if it is not a readable form definition);
    :data:`NO_FORM` if ``path`` is None."""
    if path is None:
        return NO_FORM
    hint = "give --form the form's TOML file (app/forms/election.toml), or leave it out"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return _parse(data, path)
    except OSError as exc:
        raise SummaryError(f"cannot read the form {path}: {exc.strerror}", hint=hint) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SummaryError(f"{path} is not a form definition", hint=hint) from None


def _texts(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise TypeError("labels")
    return {str(k): str(v) for k, v in value.items() if k in LANGS}


def _parse(data: dict[str, Any], path: Path) -> Form:
    fields = []
    for item in data["fields"]:
        kind = str(item["type"])
        if kind in NOT_ANSWERS:
            continue
        choices = {str(c["id"]): _texts(c.get("label", {})) for c in item.get("choices", [])}
        fields.append(Field(str(item["name"]), kind, _texts(item["label"]), choices))
    version = data.get("version")
    return Form(str(data["id"]), version if isinstance(version, int) else None,
                tuple(fields), path)
