"""SPEC 3.4: which report plaintexts the decryptor keeps, and which it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keys.tables import BadReport, check_report

GOOD: dict[str, Any] = {
    "format": "skrynka-report", "version": 1, "form": {"id": "violations", "version": 3},
    "lang": "ru", "received_day": "2026-11-20",
    "fields": {"what": ["observers_barred"], "description": "Наблюдателей не пустили"},
    "labels": {"what": "What happened"},
    "attachments": [{"id": "ab" * 16, "name": "фото.jpg", "media_type": "image/jpeg",
                     "size": 12, "envelope_sha256": "cd" * 32}],
}


def _raw(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def test_a_well_formed_report_is_kept_with_extra_keys_and_no_labels() -> None:
    assert check_report(_raw(GOOD)) == GOOD
    lean = {k: v for k, v in GOOD.items() if k != "labels"} | {"later": {"x": 1}}
    lean["attachments"] = [{k: v for k, v in GOOD["attachments"][0].items()
                            if k != "media_type"}]
    assert check_report(_raw(lean)) == lean


@pytest.mark.parametrize("raw", [
    # a duplicate key, at the top and inside an object: parsers disagree on which one counts
    _raw(GOOD)[:-1] + b', "lang": "en"}',
    _raw(GOOD).replace(b'"version": 3}', b'"version": 3, "id": "other"}'),
    # NaN and Infinity are not JSON
    _raw(GOOD).replace(b'"size": 12', b'"size": NaN'),
    _raw(GOOD).replace(b'"version": 3', b'"version": Infinity'),
    # true is not the integer 1, nor 1.0
    _raw(GOOD).replace(b'"version": 1,', b'"version": true,'),
    _raw(GOOD).replace(b'"version": 1,', b'"version": 1.0,'),
    _raw(GOOD).replace(b'"size": 12', b'"size": true'),
    # required keys and types
    _raw({k: v for k, v in GOOD.items() if k != "received_day"}),
    _raw(GOOD | {"fields": {"what": [1]}}),
    _raw(GOOD | {"attachments": [GOOD["attachments"][0] | {"id": "AB" * 16}]}),
    _raw(GOOD | {"format": "skrynka-batch"}),
    b"\xff" + _raw(GOOD),
    b"[]",
])
def test_a_report_breaking_a_rule_is_refused(raw: bytes) -> None:
    with pytest.raises(BadReport):
        check_report(raw)
