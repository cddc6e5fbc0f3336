"""keys.output.report_json: the bytes of each report folder's report.json."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keys.output import report_json

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | st.sampled_from(
    ["", '"', "\\", "\n\t\r\x00\x1f\x7f", "\u2028\u2029", "ў😀", "</script>"])
_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_JSON = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=30)


def test_report_json_layout() -> None:
    report = {"format": "skrynka-report", "version": 1, "lang": "be",
              "fields": {"what": "Ўсё \"добра\"\nці не?", "kind": ["a", "b"], "none": []},
              "labels": {}, "attachments": [{"size": 0, "ok": True, "x": None}]}
    assert report_json(report) == (
        '{\n'
        '  "format": "skrynka-report",\n'
        '  "version": 1,\n'
        '  "lang": "be",\n'
        '  "fields": {\n'
        '    "what": "Ўсё \\"добра\\"\\nці не?",\n'
        '    "kind": [\n'
        '      "a",\n'
        '      "b"\n'
        '    ],\n'
        '    "none": []\n'
        '  },\n'
        '  "labels": {},\n'
        '  "attachments": [\n'
        '    {\n'
        '      "size": 0,\n'
        '      "ok": true,\n'
        '      "x": null\n'
        '    }\n'
        '  ]\n'
        '}\n'
    ).encode()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_TEXT, _JSON, max_size=6))
def test_report_json_reads_back_as_the_report(report: dict[str, Any]) -> None:
    data = report_json(report)
    assert data.endswith(b"}\n")
    assert json.loads(data.decode("utf-8")) == report
    assert list(json.loads(data)) == list(report)  # the order the server wrote


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(whitelist_categories=("L", "N", "P", "S")), min_size=1))
def test_report_json_keeps_characters_as_they_are(text: str) -> None:
    data = report_json({"what": text})
    assert text.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8") in data
