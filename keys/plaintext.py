"""The report plaintext (SPEC 3.4): what a decryptor accepts as a report.

Strict JSON (no duplicate keys, no NaN or Infinity, no lone surrogate, nested at
most MAX_DEPTH deep) with the keys and types the server writes. Everything else
is a :class:`BadReport`, so every plaintext has a defined outcome.
"""

from __future__ import annotations

import json
import re
from typing import Any

from keys.receipt import MAX_CITES, is_code

MAX_REPORT_JSON = 16 << 20
MAX_DEPTH = 16  # the top-level object is depth 1; the server's reports nest 3 deep


class BadReport(ValueError):
    """The plaintext is not a Skrynka report."""


_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")  # two parsers could read two different reports
    return obj


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_report(raw: bytes | bytearray) -> dict[str, Any]:
    """The report plaintext as a dict, if it has the shape the server writes (SPEC 3.4):
    strict JSON (no duplicate keys, no NaN or Infinity, no lone surrogate) with the
    required keys."""
    try:
        text = raw.decode("utf-8")
        escapes = may_escape_surrogates(text)
        report = json.loads(text, object_pairs_hook=_unique, parse_constant=_not_json)
        del text
        ok = _shape_ok(report)
    except (UnicodeDecodeError, ValueError, RecursionError, TypeError, AttributeError,
            KeyError):  # KeyError: "form", "fields" or "attachments" missing
        ok = False
    if not ok:
        raise BadReport("its plaintext is not a Skrynka report")
    problem = not_writable(report, strings=escapes)
    if problem:
        raise BadReport(f"report plaintext not valid: {problem}")
    result: dict[str, Any] = report
    return result


def may_escape_surrogates(text: str) -> bool:
    """Whether JSON text holds an escape of a surrogate (``\\ud800``..``\\udfff``): the
    only way a parsed string can hold one (raw surrogates are not UTF-8)."""
    return _SURROGATE_ESCAPE.search(text) is not None


def not_writable(value: Any, *, strings: bool = True) -> str | None:
    """Why a parsed JSON value cannot be kept as it is, or None (``strings``: whether to
    look at strings at all; not needed when ``may_escape_surrogates`` is false):

    * a lone surrogate in a string (key or value): JSON may escape one
      (``"\\ud800"``), but it is no character and cannot be written as UTF-8 (a pair
      of escapes becomes one character when parsed, so any surrogate left is alone);
    * arrays and objects nested more than MAX_DEPTH deep: indented in report.json,
      each level costs two spaces a line, so deep nesting would multiply the file.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is str:
            if not item.isascii() and _SURROGATE.search(item):
                return "lone surrogate (a \\ud800-\\udfff escape that is not half of a pair)"
            continue
        if depth > MAX_DEPTH:
            return f"arrays or objects nested more than {MAX_DEPTH} deep"
        children = list(item.values()) + (list(item) if strings else []) if type(
            item) is dict else item
        stack.extend((c, depth + 1) for c in children
                     if type(c) in _CONTAINERS or (strings and type(c) is str))
    return None


_CONTAINERS = (dict, list)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def shape_ok(report: Any) -> bool:
    """Whether a parsed report has SPEC 3.4's keys and types (KeyError if one is missing)."""
    return _shape_ok(report)


def _shape_ok(report: Any) -> bool:
    form, fields, atts = report["form"], report["fields"], report["attachments"]
    fields_ok = isinstance(fields, dict) and all(
        isinstance(v, str) or (isinstance(v, list) and set(map(type, v)) <= {str})
        for v in fields.values()
    )
    atts_ok = isinstance(atts, list) and all(
        isinstance(a, dict) and isinstance(a.get("id"), str) and bool(_HEX32.fullmatch(a["id"]))
        and isinstance(a.get("name"), str) and type(a.get("size")) is int
        and isinstance(a.get("envelope_sha256"), str)
        and bool(_HEX64.fullmatch(a["envelope_sha256"]))
        for a in atts
    )
    return bool(
        report.get("format") == "skrynka-report" and type(report.get("version")) is int
        and report["version"] == 1
        and isinstance(form, dict) and isinstance(form.get("id"), str)
        and type(form.get("version")) is int and isinstance(report.get("lang"), str)
        and isinstance(report.get("received_day"), str) and fields_ok and atts_ok
        and _receipts_ok(report)
    )


def _receipts_ok(report: dict[str, Any]) -> bool:
    """``receipt``, ``cites`` and ``form_nonce`` are optional (reports sealed before them
    have none), but well-formed when present: a code in its written form, a list of
    at most MAX_CITES such codes, 32 hex digits."""
    cites = report.get("cites", [])
    nonce = report.get("form_nonce", "0" * 32)
    return (
        ("receipt" not in report or is_code(report["receipt"]))
        and isinstance(cites, list) and len(cites) <= MAX_CITES and all(map(is_code, cites))
        and isinstance(nonce, str) and bool(_HEX32.fullmatch(nonce))
    )
