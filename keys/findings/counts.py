"""Counting reports: by category, region, town, station, stage and day.

Each count keeps the reports behind it (in the order of :func:`ordered`: by
incident date, then id), so every number of the summary can link to its list.
A report counts once in every category it ticks; answers not given are counted
under the empty key ("not given"). Keys are the answers' ids, never labels.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from keys.findings.form import Form
from keys.findings.records import Record, normal_text

Key = tuple[str, ...]
_SAFE = re.compile(r"[a-z0-9_]{1,40}")
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
BY_REGION_PAGE = ("station", "town")


@dataclass
class Counts:
    """Reports per key, for one way of counting (``kind``: its list pages' prefix)."""

    kind: str
    groups: dict[Key, list[Record]] = field(default_factory=dict)

    def add(self, key: Key, record: Record) -> None:
        self.groups.setdefault(key, []).append(record)

    def count(self, key: Key) -> int:
        return len(self.groups.get(key, ()))

    def slug(self, key: Key) -> str:
        """The list's name: ``kind-part-part``, hostile parts hashed."""
        return "-".join([self.kind] + [_part(p) for p in key])

    def page(self, key: Key) -> str:
        """The list page's file name stem: the slug, or for stations and towns the
        region's page (one per region, a section per key: thousands of stations
        would otherwise be thousands of files)."""
        return f"{self.kind}-{_part(key[0])}" if self.kind in BY_REGION_PAGE else self.slug(key)

    def url(self, key: Key) -> str:
        """The list's URL from the summary folder."""
        if self.kind in BY_REGION_PAGE:
            return f"lists/{self.page(key)}.html#{self.slug(key)}"
        return f"lists/{self.slug(key)}.html"


def _part(text: str) -> str:
    if _SAFE.fullmatch(text):
        return text
    if _DAY.fullmatch(text):
        return text.replace("-", "")
    if not text:
        return "none"
    return "h" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class Tally:
    records: list[Record]
    everything: Counts
    attached: Counts
    category: Counts
    region: Counts
    town: Counts
    station: Counts
    stage: Counts
    day: Counts
    category_region: Counts
    category_day: Counts

    def first_day(self) -> str:
        days = [k[0] for k in self.day.groups if k[0]]
        return min(days) if days else ""

    def last_day(self) -> str:
        days = [k[0] for k in self.day.groups if k[0]]
        return max(days) if days else ""

    def all_counts(self) -> list[Counts]:
        return [self.everything, self.attached, self.category, self.region, self.town,
                self.station, self.stage, self.day, self.category_region, self.category_day]


def ordered(records: Iterable[Record]) -> list[Record]:
    """Reports by incident date (undated last), then report id."""
    return sorted(records, key=lambda r: (r.day() or "9999", r.id))


def tally(records: Iterable[Record]) -> Tally:
    t = Tally([], Counts("all"), Counts("attachments"), Counts("category"), Counts("region"),
              Counts("town"), Counts("station"), Counts("stage"), Counts("day"),
              Counts("category-region"), Counts("category-day"))
    t.records = ordered(records)
    for r in t.records:
        region = r.text("region").strip()
        day = r.day()
        t.everything.add((), r)
        if r.attachments:
            t.attached.add((), r)
        for cat in dict.fromkeys(r.values("what")) or [""]:
            t.category.add((cat,), r)
            t.category_region.add((cat, region), r)
            t.category_day.add((cat, day), r)
        t.region.add((region,), r)
        town = normal_text(r.text("town"))
        if town:
            t.town.add((region, town), r)
        station = r.text("station").strip()
        if station:
            t.station.add((region, station), r)
        t.stage.add((r.text("stage").strip(),), r)
        t.day.add((day,), r)
    return t


def choice_order(form: Form, name: str, seen: Iterable[str]) -> list[str]:
    """The form's choice ids of ``name`` in its order, then any other id seen (sorted),
    then "" (not given) if seen."""
    known = form.choice_ids(name)
    seen = set(seen)
    extra = sorted(s for s in seen if s and s not in known)
    return known + extra + ([""] if "" in seen else [])


def station_order(form: Form, keys: Iterable[Key]) -> list[Key]:
    """(region, station) keys: by region in the form's order, then by number."""
    keys = list(keys)
    regions = choice_order(form, "region", (k[0] for k in keys))
    rank = {r: i for i, r in enumerate(regions)}

    def sort_key(k: Key) -> tuple[int, int, str]:
        number = int(k[1]) if k[1].isascii() and k[1].isdigit() and len(k[1]) < 10 else 10**9
        return rank[k[0]], number, k[1]
    return sorted(keys, key=sort_key)
