"""Writing decrypted reports safely: file names, atomic files, the CSV/JSONL tables.

Nothing here decrypts. Every file is created with ``O_EXCL | O_NOFOLLOW`` and
mode 0600, fsynced, and only then renamed into place, so a reader of the output
directory never sees a partial file and no symlink planted there is followed.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.utils import random

from keys.citations import Links
from keys.errors import OutputError

REPORT_FILE = "report.json"
MAX_NAME_BYTES = 180
_RESERVED = {REPORT_FILE, "reports.csv", "reports.jsonl", "citations.csv", ".skrynka-state.json"}
_WINDOWS = {"con", "prn", "aux", "nul"} | {f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)}
_BAD_CHARS = re.compile(r'[<>:"|?*\\/]')
_FORMULA = ("=", "+", "-", "@")
_FORMULA_START = ("\t", "\r")
_O_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(
    os, "O_CLOEXEC", 0
)


def safe_name(name: str, taken: set[str]) -> str:
    """A harmless file name for an attachment's original ``name``; adds it to ``taken``.

    Directories, ``..``, control and format characters (NUL, RTL overrides),
    leading dots, characters Windows forbids and reserved names are removed or
    replaced; the name is cut to a safe length; a clash (case-insensitive) gets
    `` (2)``, `` (3)``, … before the extension.
    """
    name = unicodedata.normalize("NFC", name.replace("\\", "/")).split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] not in ("C", "Z") or c == " ")
    name = _BAD_CHARS.sub("_", name).strip(" .")
    name = name.lstrip(". ")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if len(ext.encode("utf-8")) > 16 or not stem:
        stem, ext = name, ""
    if not stem or stem.lower() in _WINDOWS or name.lower() in _RESERVED:
        stem = "_" + stem if stem else "attachment"
    ext = "." + ext if ext else ""
    stem = _cut(stem, MAX_NAME_BYTES - len(ext.encode("utf-8")))
    candidate, number = stem + ext, 1
    while candidate.lower() in taken:
        number += 1
        suffix = f" ({number})"
        candidate = _cut(stem, MAX_NAME_BYTES - len((suffix + ext).encode("utf-8"))) + suffix + ext
    taken.add(candidate.lower())
    return candidate


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", "ignore").rstrip(" .") or "attachment"


def create_exclusive(path: Path) -> int:
    """Open a new file for writing (0600); fails if anything, even a symlink, is there."""
    try:
        return os.open(path, _O_FLAGS, 0o600)
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {exc.strerror}") from None


def write_new(path: Path, data: bytes | Iterable[bytes], *, sync: bool = True) -> None:
    """Write ``data`` (or its pieces, in order) into a new file (no temp file: callers
    stage whole folders)."""
    fd = create_exclusive(path)
    try:
        for piece in [data] if isinstance(data, bytes) else data:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (new files, renames) durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise OutputError(f"cannot open directory {path}: {exc.strerror}") from None
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; nothing more we can do
    finally:
        os.close(fd)


def read_json(path: Path, hint: str) -> Any:
    """The JSON value of one of the output directory's own files (ASCII JSON), or None
    if there is none; OutputError if it cannot be read or is not JSON. The caller's
    ``parse`` errors (ValueError, KeyError, TypeError, IndexError) are its own."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        value = json.loads(raw.decode("ascii"))
    except ValueError:
        value = None
    if value is None:  # not JSON, or a bare null: neither is a file of ours
        raise OutputError(f"{path} is damaged", hint=hint)
    return value


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically: temp file beside it, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp-{random(8).hex()}")
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
    fsync_dir(path.parent)


class AtomicFile:
    """A new file written in pieces, then put in place atomically (as write_atomic):
    a temp file beside it, fsynced, renamed over it, the folder fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{random(8).hex()}")
        self.fd = create_exclusive(self.tmp)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        try:
            if kind is None:
                os.fsync(self.fd)
                os.replace(self.tmp, self.path)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
        finally:
            os.close(self.fd)
            if self.tmp.exists() or self.tmp.is_symlink():
                self.tmp.unlink()
        fsync_dir(self.path.parent)


def report_json(report: Mapping[str, Any]) -> bytes:
    """The decrypted report as analysts read it: UTF-8 JSON, indented by two spaces,
    characters as they are (no ``\\u`` escapes), a newline at the end."""
    return b"".join(report_json_chunks(report))


def report_json_chunks(report: Mapping[str, Any]) -> Iterator[bytes]:
    """:func:`report_json` in pieces (of 65536 encoder tokens), never the whole text."""
    tokens = _REPORT_ENCODER.iterencode(report)
    while piece := list(itertools.islice(tokens, 65536)):
        yield "".join(piece).encode("utf-8")
    yield b"\n"


_REPORT_ENCODER = json.JSONEncoder(ensure_ascii=False, indent=2)


def attachment_names(report: Mapping[str, Any]) -> list[str]:
    """The file names a report's attachments get, in listed order (deterministic)."""
    taken: set[str] = set()
    return [safe_name(str(a.get("name", "")), taken) for a in report.get("attachments", [])]


# -- the tables --------------------------------------------------------------------------

BASE_COLUMNS = [
    "seq", "report_id", "chain_id", "received_day", "lang", "form_id", "form_version",
    "attachments", "receipt", "cites", "cites_reports", "cited_by", "same_form",
    "unexpected_recipients",
]


def table_rows(
    reports: Iterable[tuple[str, int | None, str, Mapping[str, Any]]],
    links: Links | None = None,
    unexpected: Mapping[str, str] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows from ``(chain_id, seq, report_id, report)``, in the order given;
    the receipt columns from ``links`` (keys.citations); ``unexpected``: per report id,
    the fingerprints of the keys outside the pinned recipients it is sealed to."""
    links = links or Links()
    fields: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for chain_id, seq, report_id, report in reports:
        rows.append(table_row(chain_id, seq, report_id, report, links,
                              (unexpected or {}).get(report_id, "")))
        fields.update(dict.fromkeys(report.get("fields", {})))
    columns = BASE_COLUMNS + ["field:" + name for name in fields]
    return columns, rows


def table_row(chain_id: str, seq: int | None, report_id: str, report: Mapping[str, Any],
              links: Links, unexpected: str = "") -> dict[str, Any]:
    """One report's row: the base columns, then ``field:<name>`` for each of its fields."""
    form = report.get("form", {})
    row: dict[str, Any] = {
        "seq": seq, "report_id": report_id, "chain_id": chain_id,
        "received_day": report.get("received_day"), "lang": report.get("lang"),
        "form_id": form.get("id"), "form_version": form.get("version"),
        "attachments": attachment_names(report),
        "receipt": links.receipt.get(report_id),
        "cites": [c for c in report.get("cites", []) if isinstance(c, str)],
        "cites_reports": links.cites.get(report_id, []),
        "cited_by": links.cited_by.get(report_id, []),
        "same_form": links.same_form.get(report_id, []),
        "unexpected_recipients": unexpected,
    }
    for name, value in report.get("fields", {}).items():
        row["field:" + name] = value
    return row


def column_title(column: str) -> str:
    """A field column is titled by the field's name unless that clashes with a base column."""
    name = column[len("field:") :] if column.startswith("field:") else column
    return column if column.startswith("field:") and name in BASE_COLUMNS else name


def cell_text(value: Any) -> str:
    """A value as the CSV shows it (lists joined with ``; ``), not yet defused."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _cell(value: Any) -> str:
    text = cell_text(value)
    if text.startswith(_FORMULA_START) or text.lstrip().startswith(_FORMULA):
        text = "'" + text  # OWASP: a spreadsheet skips leading whitespace before a formula
    return text


def render_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """UTF-8 with BOM, RFC 4180 quoting, formula-looking cells defused with an apostrophe:
    a cell starting with a tab or CR, or whose first non-whitespace character is one of
    ``= + - @``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([_cell(column_title(c)) for c in columns])
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    return buf.getvalue().encode("utf-8-sig")


def csv_row(values: Sequence[Any]) -> bytes:
    """One CSV line (as render_csv writes it, without the BOM)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerow(
        [_cell(v) for v in values])
    return buf.getvalue().encode("utf-8")


def jsonl_row(columns: Sequence[str], row: Mapping[str, Any]) -> bytes:
    """One line of reports.jsonl (as render_jsonl writes it)."""
    return (_JSONL({column_title(c): row.get(c) for c in columns}) + "\n").encode("utf-8")


_JSONL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def render_jsonl(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """One JSON object per report, keys as in the CSV, lists kept as lists."""
    titled = [(column_title(c), c) for c in columns]
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = [encode({title: row.get(c) for title, c in titled}) for row in rows]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


# -- durable groups of report folders ----------------------------------------------------


# Linux's sync(2) returns once everything is on disk, "as fsync on every file in the system"
# (its manual); elsewhere it may return before, so other systems fsync file by file.
_SYNC_WAITS = sys.platform.startswith("linux")


@dataclass
class Staged:
    staging: Path
    final: Path
    files: list[Path]  # report.json first
    attachments: int


class Publisher:
    """Makes verified report folders durable, then renames them into place, in groups.

    Every file and folder is flushed before any rename (one ``os.sync`` for the
    whole group on Linux, else an fsync per file and folder); the output directory
    is fsynced once after the renames. A folder is thus only ever visible complete,
    and 10,000 small reports do not cost 20,000 fsyncs.
    """

    MAX_ITEMS = 4096
    MAX_BYTES = 256 << 20

    def __init__(self, out_dir: Path) -> None:
        self.out = out_dir
        self.pending: list[Staged] = []
        self.size = 0

    def stage(self, item: Staged, report: bytes | Iterable[bytes], size: int, *,
              make_dir: bool) -> None:
        """Queue a verified report, writing its folder (if ``make_dir``) and report.json
        (unsynced: ``publish`` flushes the whole group at once)."""
        if make_dir:
            try:
                os.mkdir(item.staging, 0o700)
            except OSError as exc:
                raise OutputError(f"cannot create {item.staging}: {exc.strerror}") from None
        write_new(item.files[0], report, sync=False)
        self.pending.append(item)
        self.size += size

    def full(self) -> bool:
        return len(self.pending) >= self.MAX_ITEMS or self.size >= self.MAX_BYTES

    def _flush_data(self) -> None:
        if _SYNC_WAITS:
            os.sync()
            return
        for item in self.pending:
            for path in item.files:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            fsync_dir(item.staging)

    def publish(self) -> list[tuple[Staged, bool]]:
        """Flush and rename every pending folder; (item, False) if it was already there."""
        if not self.pending:
            return []
        done: list[tuple[Staged, bool]] = []
        try:
            self._flush_data()
            for item in self.pending:
                if _present(item.final):
                    shutil.rmtree(item.staging, ignore_errors=True)
                    done.append((item, False))
                else:
                    os.rename(item.staging, item.final)
                    done.append((item, True))
            fsync_dir(self.out)
        except OSError as exc:
            raise OutputError(f"cannot publish reports in {self.out}: {exc.strerror}") from None
        self.pending, self.size = [], 0
        return done

    def discard(self) -> None:
        """Remove every staging folder not yet published."""
        for item in self.pending:
            shutil.rmtree(item.staging, ignore_errors=True)
        self.pending, self.size = [], 0


def _present(path: Path) -> bool:
    """Whether anything (even a dangling symlink) is at ``path``: one lstat."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True

