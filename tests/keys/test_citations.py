"""keys decrypt links reports that cite each other's receipt codes (keys.citations)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys.citations import CITATION_COLUMNS
from keys.receipt import new_code
from keys.tables import BadReport, check_report
from tests.keys.helpers import Drop, assert_report_dir, decrypt_batches


def _csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _by_id(out: Path) -> dict[str, dict[str, str]]:
    return {row["report_id"]: row for row in _csv(out / "reports.csv")}


def test_citations_link_both_ways_across_batches(
    tmp_path: Path, drop: Drop, analyst: PrivateKey
) -> None:
    codes = [new_code() for _ in range(3)]
    old = drop.submit({"what": "before receipts existed"})  # no code at all: still decrypts
    first = drop.submit({"what": "first"}, extra={"receipt": codes[0]})
    drop.export(tmp_path / "b1.skb")
    missing = new_code()  # a code no report has (a report not decrypted, or made up)
    later = drop.submit({"what": "follow-up"},
                        extra={"receipt": codes[1], "cites": [codes[0], missing, codes[2]]})
    drop.export(tmp_path / "b2.skb", [later])
    out = tmp_path / "out"

    s1 = decrypt_batches(analyst, [tmp_path / "b1.skb"], out)
    assert s1.unresolved == 0 and s1.line().endswith("; 0 problems; 0 unresolved citations")
    assert _csv(out / "citations.csv") == []
    assert (out / "citations.csv").read_bytes().decode("utf-8-sig").startswith(
        ",".join(CITATION_COLUMNS) + "\r\n")

    s2 = decrypt_batches(analyst, [tmp_path / "b2.skb"], out)
    assert s2.decrypted == 1 and s2.unresolved == 2
    assert s2.line().endswith("; 0 problems; 2 unresolved citations")
    for sealed in (old, first, later):
        assert_report_dir(out, sealed)  # report.json is the sealed plaintext, nothing added
    rows = _by_id(out)
    assert rows[first.id.hex()]["receipt"] == codes[0]
    assert rows[first.id.hex()]["cited_by"] == later.id.hex()
    assert rows[later.id.hex()]["cites"] == "; ".join([codes[0], missing, codes[2]])
    assert rows[later.id.hex()]["cites_reports"] == first.id.hex()
    assert rows[old.id.hex()]["receipt"] == "" and rows[old.id.hex()]["cites"] == ""
    assert _csv(out / "citations.csv") == [
        {"citing_report_id": later.id.hex(), "cited_code": codes[0],
         "cited_report_id": first.id.hex()},
        {"citing_report_id": later.id.hex(), "cited_code": missing, "cited_report_id": ""},
        {"citing_report_id": later.id.hex(), "cited_code": codes[2], "cited_report_id": ""},
    ]

    # the report with codes[2] arrives in a third batch: the earlier citation now resolves
    cited = drop.submit({"what": "sent earlier, exported late"}, extra={"receipt": codes[2]})
    drop.export(tmp_path / "b3.skb", [cited])
    s3 = decrypt_batches(analyst, [tmp_path / "b3.skb"], out)
    assert s3.unresolved == 1
    rows = _by_id(out)
    assert rows[cited.id.hex()]["cited_by"] == later.id.hex()
    assert rows[later.id.hex()]["cites_reports"] == f"{first.id.hex()}; {cited.id.hex()}"
    assert [r["cited_report_id"] for r in _csv(out / "citations.csv")] == [
        first.id.hex(), "", cited.id.hex()]
    jsonl = [json.loads(line) for line in (out / "reports.jsonl").read_text("utf-8").splitlines()]
    assert {o["report_id"]: o["cited_by"] for o in jsonl}[first.id.hex()] == [later.id.hex()]


def test_the_same_form_page_sent_twice_is_marked(
    tmp_path: Path, drop: Drop, analyst: PrivateKey
) -> None:
    nonce = "ab" * 16
    a = drop.submit({"what": "double"}, extra={"receipt": new_code(), "form_nonce": nonce})
    b = drop.submit({"what": "double"}, extra={"receipt": new_code(), "form_nonce": nonce})
    c = drop.submit({"what": "other"}, extra={"receipt": new_code(), "form_nonce": "cd" * 16})
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 3 and s.problems == []  # both kept: analysts decide
    rows = _by_id(tmp_path / "out")
    assert rows[a.id.hex()]["same_form"] == b.id.hex()
    assert rows[b.id.hex()]["same_form"] == a.id.hex()
    assert rows[c.id.hex()]["same_form"] == ""


GOOD = {"format": "skrynka-report", "version": 1, "form": {"id": "f", "version": 1},
        "lang": "be", "received_day": "2026-11-20", "fields": {}, "attachments": []}


@pytest.mark.parametrize("extra", [
    {"receipt": "not a code"},
    {"receipt": new_code().lower()},  # codes are sealed in their written form
    {"receipt": 12},
    {"cites": new_code()},
    {"cites": ["x"]},
    {"cites": [new_code() for _ in range(21)]},
    {"form_nonce": "xyz"},
])
def test_malformed_codes_make_a_report_damaged(extra: dict) -> None:
    with pytest.raises(BadReport):
        check_report(json.dumps(GOOD | extra).encode())


def test_codes_are_optional() -> None:
    code = new_code()
    assert check_report(json.dumps(GOOD).encode()) == GOOD
    full = GOOD | {"receipt": code, "cites": [new_code()], "form_nonce": "0f" * 16}
    assert check_report(json.dumps(full).encode()) == full
