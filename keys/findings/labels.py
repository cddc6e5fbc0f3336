"""Answers as people read them: choice ids as the form's labels in one language."""

from __future__ import annotations

from dataclasses import dataclass

from keys.findings.form import Form
from keys.findings.records import Record
from keys.findings.words import word


@dataclass(frozen=True)
class Labels:
    form: Form
    lang: str

    def field(self, name: str) -> str:
        return self.form.label(name, self.lang)

    def choice(self, name: str, choice_id: str) -> str:
        """A choice's label; "" (not answered) as "(not given)"."""
        if not choice_id:
            return word("not_given", self.lang)
        return self.form.choice(name, choice_id, self.lang)

    def answer(self, record: Record, name: str) -> str:
        """A report's answer as text: choices as labels, several joined with "; "."""
        f = self.form.get(name)
        values = record.values(name)
        if f is not None and f.choices:
            return "; ".join(self.form.choice(name, v, self.lang) for v in values)
        return record.text(name)

    def station(self, region: str, station: str) -> str:
        return f"{self.choice('region', region)}, № {station}"

    def word(self, key: str) -> str:
        return word(key, self.lang)
