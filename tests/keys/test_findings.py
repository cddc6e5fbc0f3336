"""``python -m keys summary``: every number checked against counts written by hand
from the fixture's table (tests/keys/findings_fixture.py)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys.findings.build import summarize
from keys.findings.form import NO_FORM, default_form_path, load_form
from keys.findings.records import normal_station
from tests.keys.findings_check import Checker, check_folder, check_page
from tests.keys.findings_fixture import FORMULA, UNKNOWN_CODE, Fixture, build

HEADER = ["report_id", "received_day", "form_version", "lang", "receipt", "attachments",
          "what", "stage", "early_voting_day", "region", "town", "station", "incident_date",
          "incident_time", "description", "role", "contact"]
BY_REGION = {"minsk_city": 7, "brest": 5, "vitebsk": 5, "gomel": 4, "grodno": 3,
             "minsk_oblast": 3, "mogilev": 3}
BY_CATEGORY = {"forced_early_voting": 5, "employer_pressure": 3, "ballot_photo_ban": 3,
               "police_intimidation": 4, "closed_commission": 2, "opaque_counting": 4,
               "observers_barred": 7, "multiple_voting": 2, "candidate_obstruction": 2,
               "other": 2}
BY_STAGE = {"campaign": 3, "early_voting": 6, "election_day": 6, "counting": 5, "": 10}
BY_STATION = {("brest", "17"): 3, ("brest", "5"): 2, ("minsk_city", "101"): 3,
              ("minsk_city", "102"): 1, ("minsk_city", "7"): 2, ("gomel", "3"): 3,
              ("gomel", "9"): 1, ("vitebsk", "17"): 4, ("vitebsk", "20"): 1,
              ("minsk_oblast", "4"): 3, ("mogilev", "8"): 1, ("grodno", "11"): 2}
BY_TOWN = {("brest", "Пінск"): 3, ("brest", "Брэст"): 2, ("minsk_city", "Мінск"): 7,
           ("gomel", "Гомель"): 3, ("gomel", "Мазыр"): 1, ("vitebsk", "Полацк"): 4,
           ("vitebsk", "Віцебск"): 1, ("grodno", "Ліда"): 1, ("grodno", "Гродна"): 2,
           ("mogilev", "Бабруйск"): 1, ("mogilev", "Магілёў"): 2,
           ("minsk_oblast", "Барысаў"): 3}
BY_DAY = {"2024-01-10": 1, "2024-02-20": 1, "2024-02-21": 1, "2024-02-24": 1,
          "2024-02-25": 5, "2024-11-30": 1, "2024-12-10": 1, "2024-12-15": 1,
          "2025-01-21": 2, "2025-01-22": 2, "2025-01-23": 1, "2025-01-24": 1,
          "2025-01-26": 11, "2025-01-27": 1}
MATRIX = {  # category -> region -> reports (cells not listed are 0)
    "forced_early_voting": {"brest": 3, "vitebsk": 1, "mogilev": 1},
    "employer_pressure": {"brest": 1, "mogilev": 1, "minsk_oblast": 1},
    "ballot_photo_ban": {"minsk_city": 2, "gomel": 1},
    "police_intimidation": {"minsk_city": 3, "brest": 1},
    "closed_commission": {"minsk_oblast": 1, "minsk_city": 1},
    "opaque_counting": {"minsk_city": 2, "grodno": 2},
    "observers_barred": {"brest": 1, "gomel": 3, "vitebsk": 3},
    "multiple_voting": {"vitebsk": 1, "minsk_city": 1},
    "candidate_obstruction": {"grodno": 1, "mogilev": 1},
    "other": {"minsk_oblast": 1, "mogilev": 1},
}
REGION_ORDER = ["minsk_city", "brest", "vitebsk", "gomel", "grodno", "minsk_oblast", "mogilev"]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory, analyst: PrivateKey) -> Fixture:
    return build(tmp_path_factory.mktemp("batches"), analyst)


@pytest.fixture(scope="module")
def decrypted(fixture: Fixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture.decrypt(tmp_path_factory.mktemp("dir") / "reports")


@pytest.fixture(scope="module")
def summary(decrypted: Path) -> Path:
    result = summarize(decrypted)
    assert result.reports == 30 and result.left_out == []
    return decrypted / "summary"


def table(summary: Path, name: str) -> list[dict[str, str]]:
    raw = (summary / "tables" / name).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_counts_by_category_region_stage(summary: Path) -> None:
    rows = table(summary, "by_category.csv")
    assert {r["category_id"]: int(r["reports"]) for r in rows} == BY_CATEGORY
    assert rows[0]["category"] == "Forced or pressured early voting"  # a label, in form order
    rows = table(summary, "by_region.csv")
    assert [r["region_id"] for r in rows] == REGION_ORDER
    assert {r["region_id"]: int(r["reports"]) for r in rows} == BY_REGION
    assert rows[1]["region"] == "Brest Region"
    rows = table(summary, "by_stage.csv")
    assert {r["stage_id"]: int(r["reports"]) for r in rows} == BY_STAGE
    assert rows[-1]["stage"] == "(not given)"


def test_counts_by_station_town_day(summary: Path) -> None:
    rows = table(summary, "by_station.csv")
    assert {(r["region_id"], r["station"]): int(r["reports"]) for r in rows} == BY_STATION
    assert [(r["region_id"], r["station"]) for r in rows][:3] == [
        ("minsk_city", "7"), ("minsk_city", "101"), ("minsk_city", "102")]  # by number
    rows = table(summary, "by_town.csv")
    assert {(r["region_id"], r["town"]): int(r["reports"]) for r in rows} == BY_TOWN
    rows = table(summary, "by_day.csv")
    assert {r["day"]: int(r["reports"]) for r in rows} == BY_DAY
    assert [r["day"] for r in rows] == sorted(BY_DAY)


def test_category_by_region(summary: Path) -> None:
    rows = table(summary, "category_by_region.csv")
    assert list(rows[0]) == ["category_id", "category"] + REGION_ORDER + ["total"]
    for row in rows:
        cells = MATRIX[row["category_id"]]
        assert {r: int(row[r]) for r in REGION_ORDER} == {r: cells.get(r, 0)
                                                          for r in REGION_ORDER}
        assert int(row["total"]) == BY_CATEGORY[row["category_id"]]


def test_reports_csv(summary: Path, fixture: Fixture) -> None:
    raw = (summary / "tables" / "reports.csv").read_bytes().decode("utf-8-sig")
    assert raw.splitlines()[0].split(",") == HEADER
    rows = {r["report_id"]: r for r in table(summary, "reports.csv")}
    assert len(rows) == 30
    old, new = rows[fixture.rid(21)], rows[fixture.rid(1)]
    assert old["station"] == "17" and rows[fixture.rid(22)]["station"] == "17"
    assert rows[fixture.rid(23)]["station"] == "101" and rows[fixture.rid(3)]["station"] == "5"
    assert rows[fixture.rid(10)]["station"] == ""
    assert (old["form_version"], old["stage"], old["role"]) == ("2", "", "")
    assert new["what"] == "Forced or pressured early voting; Observers not admitted or removed"
    assert new["stage"] == "Early voting" and new["region"] == "Brest Region"
    assert new["role"] == "Voter" and new["early_voting_day"] == "2025-01-22"
    assert new["incident_date"] == "2025-01-21" and new["receipt"]
    assert rows[fixture.rid(4)]["attachments"] == "1"
    assert rows[fixture.rid(30)]["description"] == "'" + FORMULA  # defused


def test_header_is_the_same_without_a_form_file() -> None:
    form = load_form(default_form_path())
    assert form.names() == NO_FORM.names() == HEADER[6:]


def test_labels_in_russian(decrypted: Path, tmp_path: Path) -> None:
    summarize(decrypted, tmp_path / "ru", lang="ru")
    rows = table(tmp_path / "ru", "by_region.csv")
    assert rows[1]["region"] == "Брестская область"
    checker = check_page(tmp_path / "ru" / "index.html")
    assert checker.lang == "ru"
    assert "Брестская область" in (tmp_path / "ru" / "index.html").read_text("utf-8")


def test_station_normalised() -> None:
    assert [normal_station(s) for s in ("0017", "№ 017", "17", " 5 ", "abc", "000")] == [
        "17", "17", "17", "5", "abc", "000"]


def test_html_is_closed_local_and_linked(summary: Path, decrypted: Path) -> None:
    followed = check_folder(summary, decrypted)
    assert not list((summary / "lists").glob("category-day-*"))  # charted by month: unlinked
    assert followed > 500
    assert len(list((summary / "reports").glob("*.html"))) == 30


def test_index_numbers_link_to_their_reports(summary: Path, fixture: Fixture) -> None:
    index = (summary / "index.html").read_text("utf-8")
    assert '<a href="lists/all.html">30</a>' in index
    assert '<a href="lists/attachments.html">2</a>' in index
    assert '<a href="lists/region-brest.html">5</a>' in index
    brest = check_page(summary / "lists" / "region-brest.html")
    linked = {u.split("/")[-1][:-5] for u in brest.urls if "/reports/" in u}
    assert linked == {fixture.rid(n) for n in (1, 2, 3, 20, 25)}
    assert '<a href="lists/station-vitebsk.html#station-vitebsk-17">4</a>' in index
    page = (summary / "lists" / "station-vitebsk.html").read_text("utf-8")  # one per region
    section = page.split('<h1 id="station-vitebsk-17">')[1].split("<h1")[0]
    assert set(re.findall(r"reports/([0-9a-f]{32})\.html", section)) == {
        fixture.rid(n) for n in (9, 21, 22, 30)}
    assert "<svg" in index and "<title>Brest Region: 5</title>" in index
    assert index.count("<figure><svg") == 1 + len(BY_CATEGORY)  # the map, one per category


def test_report_page(summary: Path, fixture: Fixture) -> None:
    page = (summary / "reports" / f"{fixture.rid(4)}.html").read_text("utf-8")
    original = f'<a href="../../{fixture.rid(4)}/photo.png">photo.png</a>'  # linked in DIR
    assert original in page and "(image)" in page
    # the thumbnail is the copy without metadata, never the original
    assert f'<img src="../shared/{fixture.rid(4)}/photo.png" width="240"' in page
    assert "Police or intimidation at the polling station" in page
    citing = check_page(summary / "reports" / f"{fixture.rid(14)}.html")
    assert f"{fixture.rid(4)}.html" in citing.urls
    text = (summary / "reports" / f"{fixture.rid(14)}.html").read_text("utf-8")
    assert UNKNOWN_CODE in text and "not in this folder" in text
    cited = check_page(summary / "reports" / f"{fixture.rid(4)}.html")
    assert f"{fixture.rid(14)}.html" in cited.urls


def test_hostile_text_is_escaped(tmp_path: Path, analyst: PrivateKey) -> None:
    from tests.keys.helpers import Drop, decrypt_batches

    drop = Drop([bytes(analyst.public_key)])
    evil = '<script>alert(1)</script><a href="https://x">'
    drop.submit({"what": ["<b>x</b>"], "region": evil, "town": evil, "station": evil,
                 "incident_date": "2025-01-01", "description": evil, evil: evil},
                extra={"form": {"id": "election-violation", "version": 3}})
    drop.submit({"what": "observers_barred", "incident_date": "2025-02-30", "stage": evil},
                attachments=[(evil + ".png", b"x")],
                extra={"form": {"id": "election-violation", "version": 3}})
    drop.export(tmp_path / "b.skb")
    decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    result = summarize(tmp_path / "out")
    assert result.reports == 2
    days = (tmp_path / "out" / "summary" / "tables" / "by_day.csv").read_text("utf-8-sig")
    assert days.splitlines() == ["day,reports", "2025-01-01,1", ",1"]  # 30 February: no day
    index = (tmp_path / "out" / "summary" / "index.html").read_text("utf-8")
    assert 'href="lists/category-day-observers_barred-none.html"' not in index  # no bar
    # "<b>x</b>" (an id no form has: its name hashed) on 2025-01-01: one bar, linked
    assert re.search(r'href="lists/category-day-h[0-9a-f]{16}-20250101\.html"', index)
    check_folder(tmp_path / "out" / "summary", tmp_path / "out")
    for page in (tmp_path / "out" / "summary").rglob("*.html"):
        assert "<script" not in page.read_text("utf-8")


def test_checker_finds_problems() -> None:
    checker = Checker()
    checker.feed("<div><span></div>")
    assert checker.problems and checker.stack


def test_without_a_form_file_ids_are_labels(decrypted: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import keys.findings.build as build_module

    monkeypatch.setattr(build_module, "default_form_path", lambda: None)
    result = summarize(decrypted, tmp_path / "bare")
    assert result.form is None
    index = (tmp_path / "bare" / "index.html").read_text("utf-8")
    assert "No form file was found: ids are shown instead of labels." in index
    rows = table(tmp_path / "bare", "by_region.csv")
    assert rows[0] == {"region_id": "brest", "region": "brest", "reports": "5"}  # ids, sorted
    raw = (tmp_path / "bare" / "tables" / "reports.csv").read_bytes().decode("utf-8-sig")
    assert raw.splitlines()[0].split(",") == HEADER  # the same header without a form


def test_index_shows_the_busiest_stations_and_towns() -> None:
    from keys.findings.counts import tally
    from keys.findings.index import INDEX_ROWS, index_page
    from keys.findings.labels import Labels
    from keys.findings.records import to_record

    def report(n: int) -> dict[str, object]:
        return {"form": {"id": "election-violation", "version": 3}, "lang": "en",
                "received_day": "2026-12-01", "attachments": [],
                "fields": {"what": ["other"], "region": "gomel", "station": str(n % 150 + 1),
                           "town": f"T{n % 150 + 1}", "incident_date": "2025-01-26"}}
    records = [to_record(f"{n:032x}", report(n)) for n in range(300 + 50)]  # 1-50: 3 each
    page = index_page(tally(records), Labels(load_form(default_form_path()), "en"), [])
    stations = page.split('id="by_station"')[1].split("<h2")[0]
    assert stations.count("<tr>") == INDEX_ROWS + 1  # the header row
    assert ">Gomel Region</td><td>50</td>" in stations  # 3 reports: shown
    assert ">Gomel Region</td><td>150</td>" not in stations  # 2 reports, beyond the first 100
    assert "The 100 of 150 with the most reports" in stations and "by_station.csv" in stations
    towns = page.split('id="by_town"')[1].split("<h2")[0]
    assert towns.count("<tr>") == INDEX_ROWS + 1 and ">T1</td>" in towns


# --- evidence (keys.findings.evidence): metadata, shareable copies, incident groups ------


def test_photo_metadata_gps_flag_and_the_copy_to_share(summary: Path, fixture: Fixture,
                                                        decrypted: Path) -> None:
    from PIL import Image

    from keys.evidence.scrub import verify_clean
    from tests.keys.findings_fixture import PNG

    rid = fixture.rid(4)
    original = decrypted / rid / "photo.png"
    assert original.read_bytes() == PNG  # the evidentiary copy is never modified
    page = (summary / "reports" / f"{rid}.html").read_text("utf-8")
    assert hashlib.sha256(PNG).hexdigest() in page
    assert "carries where it was taken (GPS)" in page and "Canon EOS 5D Mark IV" in page
    shared = (summary / "shared" / rid / "photo.png").read_bytes()
    assert verify_clean(shared) == []
    assert b"Canon" not in shared and b"Ivan" not in shared and b"tIME" not in shared
    with Image.open(io.BytesIO(shared)) as clean, Image.open(io.BytesIO(PNG)) as dirty:
        assert not clean.getexif() and clean.tobytes() == dirty.tobytes()
    gps = check_page(summary / "lists" / "gps.html")
    assert {u.split("/")[-1][:-5] for u in gps.urls if "/reports/" in u} == {rid}
    rows = list(csv.DictReader(io.StringIO(
        (summary / "tables" / "evidence.csv").read_bytes().decode("utf-8-sig"))))
    assert [(r["report_id"], r["file"], r["kind"], r["gps"], r["make"]) for r in rows] == sorted(
        [(rid, "photo.png", "image", "yes", "Canon"),
         (fixture.rid(6), "notes.pdf", "other", "", "")])
    assert (summary / "tables" / "evidence.csv").stat().st_mode & 0o077 == 0


def test_incident_groups_are_the_hand_counted_ones(summary: Path, fixture: Fixture) -> None:
    rows = list(csv.DictReader(io.StringIO(
        (summary / "tables" / "groups.csv").read_bytes().decode("utf-8-sig"))))
    number = {fixture.rid(n): n for n in range(1, 31)}
    assert sorted(number[r["report_id"]] for r in rows) == list(range(1, 31))  # each once
    groups: dict[str, set[int]] = {}
    for r in rows:
        groups.setdefault(r["group_id"], set()).add(number[r["report_id"]])
    # Same region, station (0017 = 017 = 17), day and a shared category; 3 and 20 share
    # station and day but no category; 14 cites 4, but their stations differ.
    assert sorted(sorted(g) for g in groups.values() if len(g) > 1) == [
        [1, 2], [4, 5], [7, 8], [14, 15], [21, 22]]
    index = (summary / "index.html").read_text("utf-8")
    assert "Incidents with more than one report: 5." in index
    listing = (summary / "lists" / "groups.html").read_text("utf-8")
    assert "Possibly related" in listing  # 14's citation of 4, held back by the stations


def test_every_metadata_fact_has_a_label_in_each_language() -> None:
    from keys.findings.evidence import FACTS
    from keys.findings.words import word

    for lang in ("be", "ru", "en"):
        labels = [word(f"fact_{k}", lang) for k in FACTS]
        assert len(set(labels)) == len(FACTS), lang


def test_every_page_is_valid_html5(summary: Path) -> None:
    """The W3C Nu Html Checker finds no error on any page of the summary."""
    from testkit.htmlcheck import html_errors

    assert len(list(summary.rglob("*.html"))) > 30
    assert html_errors(summary) == []


def test_the_html_checker_finds_errors(tmp_path: Path) -> None:
    from testkit.htmlcheck import html_errors

    (tmp_path / "bad.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body>'
        '<p><div>x</div></p><a href="a b">x</a></body></html>', encoding="utf-8")
    errors = html_errors(tmp_path)
    assert len(errors) == 2 and all(e.startswith("bad.html:1: ") for e in errors), errors
