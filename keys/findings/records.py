"""The reports of a decrypt output directory, read once and cached.

A :class:`Record` is what the summary needs of one report folder, its answers
as ids (labels are applied when the pages are written, so one cache serves
every language). ``OUTDIR/.cache.json`` keeps the records keyed by report id
with their report.json's size and modification time: a later run parses only
new or changed report.json files, then renders everything from the records, so
its output is the same as a fresh run's.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys import output
from keys.findings import cachefile
from keys.plaintext import BadReport, check_report
from keys.tables import MAX_READ

CACHE_FILE = ".cache.json"
_CACHE_FORMAT = "skrynka-summary-cache"
_CACHE_VERSION = 1
_ID_DIR = re.compile(r"[0-9a-f]{32}")
_STATION = re.compile(r"[№#]?\s*0*([0-9]{1,4})")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass
class Attachment:
    file: str  # its file name in the report folder (keys.output.attachment_names)
    media_type: str
    size: int


@dataclass
class Record:
    id: str
    received_day: str
    form_id: str
    form_version: int
    lang: str
    receipt: str
    cites: list[str]
    form_nonce: str
    fields: dict[str, str | list[str]]
    attachments: list[Attachment] = field(default_factory=list)

    def text(self, name: str) -> str:
        value = self.fields.get(name, "")
        return "; ".join(value) if isinstance(value, list) else value

    def values(self, name: str) -> list[str]:
        """A field's answers as a list (a multi field sealed as one string: one item)."""
        value = self.fields.get(name, "")
        if isinstance(value, list):
            return [v for v in value if v]
        return [value] if value else []

    def to_json(self) -> dict[str, Any]:
        """The record as the cache keeps it (dataclasses.asdict, without its deep copies)."""
        return {"id": self.id, "received_day": self.received_day, "form_id": self.form_id,
                "form_version": self.form_version, "lang": self.lang, "receipt": self.receipt,
                "cites": self.cites, "form_nonce": self.form_nonce, "fields": self.fields,
                "attachments": [{"file": a.file, "media_type": a.media_type, "size": a.size}
                                for a in self.attachments]}

    def day(self) -> str:
        """The incident date if it is a YYYY-MM-DD date, else ""."""
        value = self.text("incident_date").strip()
        if not _DAY.fullmatch(value):
            return ""
        try:
            dt.date.fromisoformat(value)
        except ValueError:  # "2025-02-30"
            return ""
        return value


def normal_station(value: str) -> str:
    """A station number as app/intake/validate.py stores it: digits, no "№", no leading
    zeros ("№ 0017" is "17"); anything else as typed, without outer spaces."""
    value = value.strip()
    m = _STATION.fullmatch(value)
    if m and m.group(1) != "0" * len(m.group(1)):
        return m.group(1)
    return value


def normal_text(value: str) -> str:
    """A free-text key (a town): NFC, whitespace runs as one space, no outer spaces."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def to_record(rid: str, report: dict[str, Any]) -> Record:
    """The Record of a checked report (keys.plaintext.check_report)."""
    fields: dict[str, str | list[str]] = dict(report["fields"])
    if isinstance(fields.get("station"), str):
        fields["station"] = normal_station(str(fields["station"]))
    names = output.attachment_names(report)
    atts = [Attachment(name, str(a.get("media_type", "")), int(a["size"]))
            for name, a in zip(names, report["attachments"])]
    form = report["form"]
    return Record(rid, str(report["received_day"]), str(form["id"]), int(form["version"]),
                  str(report["lang"]), str(report.get("receipt", "")),
                  list(report.get("cites", [])), str(report.get("form_nonce", "")),
                  fields, atts)


def _from_json(data: dict[str, Any]) -> Record:
    data = dict(data)
    data["attachments"] = [Attachment(**a) for a in data["attachments"]]
    record = Record(**data)
    if not isinstance(record.fields, dict) or not isinstance(record.cites, list):
        raise TypeError("record")
    return record


@dataclass
class Scan:
    records: list[Record]  # ordered by report id
    left_out: list[str]  # report folders that are not reports, and why
    parsed: int  # report.json files read this time (not from the cache)
    stamps: dict[str, list[int]]  # report id -> its report.json's [mtime_ns, size]


def scan(in_dir: Path, cache_path: Path) -> Scan:
    """Every report folder of ``in_dir`` as a Record; rewrites the cache."""
    cache = cachefile.load(cache_path, _CACHE_FORMAT, _CACHE_VERSION)
    kept: dict[str, Any] = {}
    records: list[Record] = []
    left_out: list[str] = []
    stamps: dict[str, list[int]] = {}
    parsed = 0
    for rid, path in _folders(in_dir):
        try:
            st = os.lstat(path)
        except OSError:
            left_out.append(f"report {rid}: no report.json")
            continue
        key = [st.st_mtime_ns, st.st_size]
        hit = cache.get(rid)
        record = _cached(hit, key)
        if record is None:
            parsed += 1
            record = _read(rid, path, st, left_out)
            if record is None:
                continue
        kept[rid] = hit if hit is not None and hit.get("key") == key else {
            "key": key, "record": record.to_json()}
        records.append(record)
        stamps[rid] = key
    if parsed or kept.keys() != cache.keys():  # else it would be written as it is
        cachefile.save(cache_path, _CACHE_FORMAT, _CACHE_VERSION, kept)
    return Scan(records, left_out, parsed, stamps)


def _folders(in_dir: Path) -> Iterable[tuple[str, Path]]:
    names = sorted(e.name for e in os.scandir(in_dir)
                   if _ID_DIR.fullmatch(e.name) and e.is_dir(follow_symlinks=False))
    return [(name, in_dir / name / output.REPORT_FILE) for name in names]


def _cached(hit: Any, key: list[int]) -> Record | None:
    if not isinstance(hit, dict) or hit.get("key") != key:
        return None
    try:
        return _from_json(hit["record"])
    except (KeyError, TypeError, ValueError):
        return None


def _read(rid: str, path: Path, st: os.stat_result, left_out: list[str]) -> Record | None:
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_READ:
        left_out.append(f"report {rid}: its report.json is not a file or is too large")
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(min(st.st_size, MAX_READ) + 1)  # not a 64 MiB buffer per file
        return to_record(rid, check_report(raw))
    except (OSError, BadReport, KeyError, TypeError, ValueError):
        left_out.append(f"report {rid}: its report.json cannot be read or is not a "
                        "Skrynka report (edited?)")
        return None
