"""Reports sealed with the election form's version 2 (before issue 15's monitors'
questions) and version 3 (stage, early voting day, role; a normalised station number)
decrypt into one folder and share one reports.csv / reports.jsonl."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from nacl.public import PrivateKey

from tests.keys.helpers import Drop, decrypt_batches, folders

V2_FIELDS = {
    "what": ["observers_barred"], "region": "vitebsk", "town": "Полацк", "station": "0017",
    "incident_date": "2024-02-25", "description": "Назіральнікаў выгналі.",
}
V3_FIELDS = {
    "what": ["forced_early_voting"], "stage": "early_voting",
    "early_voting_day": "2025-01-22", "region": "brest", "station": "17",
    "incident_date": "2025-01-21", "description": "Студэнтаў вывезлі галасаваць.",
    "role": "pressured",
}
NEW = ("stage", "early_voting_day", "role")


def _form(version: int) -> dict[str, object]:
    return {"form": {"id": "election-violation", "version": version}}


def test_old_and_new_form_versions_tabulate_together(
        tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    old = drop.submit(dict(V2_FIELDS), lang="be", extra=_form(2))
    drop.export(tmp_path / "b1.skb", [old])
    new = drop.submit(dict(V3_FIELDS), lang="ru", extra=_form(3))
    drop.export(tmp_path / "b2.skb", [new])
    out = tmp_path / "out"
    first = decrypt_batches(analyst, [tmp_path / "b1.skb"], out)
    assert first.decrypted == 1 and first.problems == []
    second = decrypt_batches(analyst, [tmp_path / "b2.skb"], out)  # the same folder, later
    assert second.decrypted == 1 and second.problems == [] and second.fatal == []
    assert set(folders(out)) >= {old.id.hex(), new.id.hex()}

    raw = (out / "reports.csv").read_bytes().decode("utf-8-sig")
    rows = {r["report_id"]: r for r in csv.DictReader(io.StringIO(raw, newline=""))}
    assert set(rows) == {old.id.hex(), new.id.hex()}
    r2, r3 = rows[old.id.hex()], rows[new.id.hex()]
    assert (r2["form_id"], r2["form_version"]) == ("election-violation", "2")
    assert (r3["form_id"], r3["form_version"]) == ("election-violation", "3")
    for name in NEW:
        assert r2[name] == "", name  # the old form did not ask
    assert (r3["stage"], r3["early_voting_day"], r3["role"]) == (
        "early_voting", "2025-01-22", "pressured")
    assert r2["station"] == "0017" and r3["station"] == "17"  # as sealed, never rewritten
    assert r2["region"] == "vitebsk" and r3["region"] == "brest"
    assert r2["what"] == "observers_barred" and r3["what"] == "forced_early_voting"

    lines = (out / "reports.jsonl").read_text("utf-8").splitlines()
    by_id = {row["report_id"]: row for row in map(json.loads, lines)}
    assert set(by_id) == {old.id.hex(), new.id.hex()}
    assert by_id[old.id.hex()]["form_version"] == 2
    assert by_id[new.id.hex()]["form_version"] == 3
    assert all(by_id[old.id.hex()][name] is None for name in NEW)
    assert by_id[new.id.hex()]["role"] == "pressured"
