"""A decrypt output directory of 30 reports for the summary's tests (test_findings*.py).

Reports 21-29 use the election form's version 2 (no stage, role or early voting
day; station numbers as typed, "0017"), the others version 3. Batch one holds
reports 1-20, batch two 21-30. Report 4 has a photo carrying GPS, report 6 a PDF; report 14
cites report 4's receipt code and a code no report has; report 30's description
looks like a spreadsheet formula. The expected counts in the tests are written
by hand from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey

from keys.receipt import new_code
from tests.keys.evidence_images import dirty_png
from tests.keys.helpers import Drop, Sealed, decrypt_batches

FORMULA = "=HYPERLINK(\"x\",\"y\")"

# n: (form version, lang, what, stage, region, town, station, incident date)
REPORTS: dict[int, tuple[int, str, list[str], str, str, str, str, str]] = {
    1: (3, "ru", ["forced_early_voting", "observers_barred"], "early_voting", "brest", "Пінск",
        "17", "2025-01-21"),
    2: (3, "be", ["forced_early_voting"], "early_voting", "brest", "Пінск", "17", "2025-01-21"),
    3: (3, "en", ["employer_pressure"], "early_voting", "brest", "Брэст", "5", "2025-01-22"),
    4: (3, "en", ["police_intimidation"], "election_day", "minsk_city", "Мінск", "101",
        "2025-01-26"),
    5: (3, "ru", ["police_intimidation", "opaque_counting"], "counting", "minsk_city", "Мінск",
        "101", "2025-01-26"),
    6: (3, "ru", ["opaque_counting"], "counting", "minsk_city", "Мінск", "102", "2025-01-26"),
    7: (3, "be", ["observers_barred"], "election_day", "gomel", "Гомель", "3", "2025-01-26"),
    8: (3, "be", ["observers_barred"], "counting", "gomel", "Гомель", "3", "2025-01-26"),
    9: (3, "en", ["multiple_voting"], "election_day", "vitebsk", "Полацк", "17", "2025-01-26"),
    10: (3, "en", ["candidate_obstruction"], "campaign", "grodno", "Ліда", "", "2024-12-10"),
    11: (3, "en", ["candidate_obstruction"], "campaign", "mogilev", "Бабруйск", "",
         "2024-12-15"),
    12: (3, "ru", ["closed_commission"], "campaign", "minsk_oblast", "Барысаў", "4",
         "2024-11-30"),
    13: (3, "ru", ["other"], "election_day", "minsk_oblast", "Барысаў", "4", "2025-01-26"),
    14: (3, "en", ["ballot_photo_ban"], "election_day", "minsk_city", "Мінск", "7",
         "2025-01-26"),
    15: (3, "en", ["ballot_photo_ban", "police_intimidation"], "election_day", "minsk_city",
         "Мінск", "7", "2025-01-26"),
    16: (3, "be", ["forced_early_voting"], "early_voting", "vitebsk", "Віцебск", "20",
         "2025-01-23"),
    17: (3, "be", ["employer_pressure", "forced_early_voting"], "early_voting", "mogilev",
         "Магілёў", "8", "2025-01-24"),
    18: (3, "ru", ["opaque_counting"], "counting", "grodno", "Гродна", "11", "2025-01-27"),
    19: (3, "ru", ["observers_barred"], "", "gomel", "Мазыр", "9", "2025-01-26"),
    20: (3, "en", ["forced_early_voting"], "early_voting", "brest", "Брэст", "5", "2025-01-22"),
    21: (2, "be", ["observers_barred"], "", "vitebsk", "Полацк", "0017", "2024-02-25"),
    22: (2, "ru", ["observers_barred"], "", "vitebsk", "Полацк", "017", "2024-02-25"),
    23: (2, "ru", ["multiple_voting"], "", "minsk_city", "Мінск", "0101", "2024-02-25"),
    24: (2, "en", ["ballot_photo_ban"], "", "gomel", "Гомель", "3", "2024-02-25"),
    25: (2, "en", ["police_intimidation"], "", "brest", "Пінск", "17", "2024-02-24"),
    26: (2, "be", ["other"], "", "mogilev", "Магілёў", "", "2024-02-20"),
    27: (2, "be", ["opaque_counting"], "", "grodno", "Гродна", "011", "2024-02-25"),
    28: (2, "ru", ["employer_pressure"], "", "minsk_oblast", "Барысаў", "4", "2024-02-21"),
    29: (2, "ru", ["closed_commission"], "", "minsk_city", "Мінск", "", "2024-01-10"),
    30: (3, "en", ["observers_barred"], "counting", "vitebsk", "Полацк", "17", "2025-01-26"),
}
PNG = dirty_png()  # a real picture whose metadata names a camera, its owner and GPS
UNKNOWN_CODE = "7KQ2M-X9RTB-4HC0J"


@dataclass
class Fixture:
    drop: Drop
    sealed: dict[int, Sealed]
    batches: list[Path]
    analyst: PrivateKey

    def rid(self, n: int) -> str:
        return self.sealed[n].id.hex()

    def decrypt(self, out: Path, batches: int = 2) -> Path:
        for path in self.batches[:batches]:
            summary = decrypt_batches(self.analyst, [path], out)
            assert summary.problems == [] and summary.fatal == []
        return out


def fields(n: int) -> dict[str, object]:
    version, _lang, what, stage, region, town, station, day = REPORTS[n]
    answer: dict[str, object] = {"what": what, "region": region, "town": town,
                                 "incident_date": day, "description": f"Report {n}."}
    if station:
        answer["station"] = station
    if version >= 3:
        answer.update({"early_voting_day": "2025-01-22"} if stage == "early_voting" else {})
        answer.update({"stage": stage} if stage else {})
        answer["role"] = "voter"
        answer["incident_time"] = "14:30"
        answer["contact"] = ""
    if n == 30:
        answer["description"] = FORMULA
    return answer


def build(tmp: Path, analyst: PrivateKey) -> Fixture:
    drop = Drop([bytes(analyst.public_key)])
    sealed: dict[int, Sealed] = {}
    codes = {n: new_code() for n in REPORTS}
    for n, row in REPORTS.items():
        extra: dict[str, object] = {"form": {"id": "election-violation", "version": row[0]},
                                    "receipt": codes[n]}
        if n == 14:
            extra["cites"] = [codes[4], UNKNOWN_CODE]
        files = {4: [("photo.png", PNG)], 6: [("notes.pdf", b"%PDF-1.4 test")]}.get(n, [])
        sealed[n] = drop.submit(fields(n), lang=row[1], attachments=files, extra=extra)
    first = drop.export(tmp / "b1.skb", [sealed[n] for n in range(1, 21)])
    second = drop.export(tmp / "b2.skb", [sealed[n] for n in range(21, 31)])
    return Fixture(drop, sealed, [first, second], analyst)
