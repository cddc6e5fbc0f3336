"""The decryptor's hand-written fast paths give exactly what the stdlib would."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keys.output import report_json

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | st.sampled_from(
    ["", '"', "\\", "\n\t\r\x00\x1f\x7f", "\u2028\u2029", "ў😀", "</script>"])
_LEAF = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _TEXT)
_JSON = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_TEXT, _JSON, max_size=6))
def test_report_json_is_stdlib_pretty_json(report: dict[str, Any]) -> None:
    want = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    assert report_json(report) == want


def test_report_json_of_a_report_and_non_string_keys() -> None:
    report = {"format": "skrynka-report", "version": 1, "fields": {"what": ["a", "b"], "x": ""},
              "attachments": [], "labels": {}, "odd": {1: [{2.5: None, True: False}]},
              "late": {"a": "b", "c": [1], 7: "seven"}}
    want = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    assert report_json(report) == want
    assert json.loads(report_json(report)) == json.loads(json.dumps(report))


def test_report_json_of_other_mapping_types() -> None:
    from collections import OrderedDict

    report = OrderedDict(a=OrderedDict(b=[1, OrderedDict(c="d")]), e=(1, 2))
    want = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    assert report_json(report) == want
