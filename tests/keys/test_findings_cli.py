"""``python -m keys summary``: the command line, and a later run after more batches
giving the same files as a fresh run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys.findings.build import summarize
from tests.keys.findings_check import check_folder
from tests.keys.findings_fixture import Fixture, build

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory, analyst: PrivateKey) -> Fixture:
    return build(tmp_path_factory.mktemp("batches"), analyst)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keys", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def files(folder: Path) -> dict[str, bytes]:
    """Every file of a summary folder but the page cache, which holds the pages' own
    modification times (keys.findings.pagecache)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".pages.json"}


def test_incremental_equals_fresh(fixture: Fixture, tmp_path: Path) -> None:
    out = fixture.decrypt(tmp_path / "reports", batches=1)
    first = summarize(out)
    assert (first.reports, first.parsed) == (20, 20)
    before = files(out / "summary")
    fixture.decrypt(out, batches=2)  # batch one again is skipped; batch two is new
    again = summarize(out)
    assert (again.reports, again.parsed) == (30, 10)  # only the new report.json files read
    assert 10 <= again.rendered < 30  # the new pages and those the new reports touch
    fresh = summarize(out, out / "fresh")  # beside it: the same way to the attachments
    assert fresh.parsed == 30
    assert files(out / "summary") == files(out / "fresh")
    assert files(out / "summary") != before
    third = summarize(out)
    assert (third.parsed, third.written, third.rendered) == (0, 0, 0)  # nothing new
    check_folder(out / "summary", out)


def test_changed_or_removed_report(fixture: Fixture, tmp_path: Path) -> None:
    out = fixture.decrypt(tmp_path / "reports", batches=1)
    summarize(out)
    path = out / fixture.rid(2) / "report.json"
    path.write_text(path.read_text("utf-8").replace("Пінск", "Кобрын"), encoding="utf-8")
    changed = summarize(out)
    assert changed.parsed == 1
    assert "Кобрын" in (out / "summary" / "tables" / "by_town.csv").read_text("utf-8")
    victim = out / fixture.rid(3)
    (victim / "report.json").unlink()  # an analyst removed a folder's report: left out
    result = summarize(out)
    assert result.reports == 19 and len(result.left_out) == 1
    assert not (out / "summary" / "reports" / f"{fixture.rid(3)}.html").exists()
    assert result.removed >= 1


def test_cli_writes_the_folder(fixture: Fixture, tmp_path: Path) -> None:
    out = fixture.decrypt(tmp_path / "reports")
    proc = run("summary", out, "--lang", "be", "--out", tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    assert "summary of 30 reports" in proc.stdout
    assert (tmp_path / "site" / "index.html").read_text("utf-8").startswith(
        '<!DOCTYPE html>\n<html lang="be">')
    assert (tmp_path / "site" / "tables" / "reports.csv").stat().st_mode & 0o077 == 0
    proc = run("summary", out)  # default: DIR/summary
    assert proc.returncode == 0 and (out / "summary" / "index.html").is_file()


def test_cli_refuses_a_folder_that_is_not_a_decrypt_output(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    proc = run("summary", tmp_path / "x")
    assert proc.returncode == 31
    assert proc.stderr.startswith("skrynka-keys: error: ")
    assert "is not a decrypt output directory" in proc.stderr
    assert "\nhint: " in proc.stderr
    proc = run("summary", tmp_path / "missing")
    assert proc.returncode == 31 and "is not a directory" in proc.stderr


def test_cli_bad_form_file(fixture: Fixture, tmp_path: Path) -> None:
    out = fixture.decrypt(tmp_path / "reports", batches=1)
    (tmp_path / "bad.toml").write_text("id = [", encoding="utf-8")
    proc = run("summary", out, "--form", tmp_path / "bad.toml")
    assert proc.returncode == 31 and "is not a form definition" in proc.stderr
    proc = run("summary", out, "--lang", "de")
    assert proc.returncode == 2


def test_help_lists_the_summary_exit_code() -> None:
    proc = run("summary", "--help")
    assert proc.returncode == 0 and "   31  summary:" in proc.stdout


def test_symlinked_subfolder_is_refused(fixture: Fixture, tmp_path: Path) -> None:
    out = fixture.decrypt(tmp_path / "reports", batches=1)
    (tmp_path / "elsewhere").mkdir()
    (out / "summary").mkdir()
    (out / "summary" / "lists").symlink_to(tmp_path / "elsewhere")
    proc = run("summary", out)
    assert proc.returncode == 31 and "is not a folder (a file or a symlink)" in proc.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_photos_examined_by_a_pool_of_processes_give_the_same_folder(
        fixture: Fixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keys.findings import evidence

    out = fixture.decrypt(tmp_path / "reports")
    alone = summarize(out, out / "alone")
    monkeypatch.setattr(evidence, "POOL_FROM", 1)
    monkeypatch.setattr(evidence, "MAX_WORKERS", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    pooled = summarize(out, out / "pooled")
    assert alone.examined == pooled.examined == 2
    assert files(out / "alone") == files(out / "pooled")
    assert (out / "pooled" / "shared" / fixture.rid(4) / "photo.png").is_file()


OFFICIAL = """region,station,registered,voted,Candidate A,Candidate B,spoiled
Мінск (горад),№ 101,2000,1800,1500,250,50
minsk_city,102,1500,900,600,280,20
Grodno Region,011,1200,1190,1100,80,10
vitebsk,17,1000,650,400,230,20
minsk_city,7,900,500,300,190,10
"""


def test_official_figures_beside_the_counting_reports(fixture: Fixture, tmp_path: Path) -> None:
    import csv
    import io

    out = fixture.decrypt(tmp_path / "reports")
    table = tmp_path / "official.csv"
    table.write_bytes(b"\xef\xbb\xbf" + OFFICIAL.encode("utf-8"))
    proc = run("summary", out, "--official", table)
    assert proc.returncode == 0, proc.stderr
    raw = (out / "summary" / "tables" / "official_vs_reports.csv").read_bytes()
    rows = [(r["region"], r["station"], r["reports"], r["turnout"], r["Candidate A"])
            for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))]
    # By hand from the fixture: counting stage or non-transparent counting at 101 (report
    # 5), 102 (6), Vitebsk 17 (30), Gomel 3 (8, not in the table), Grodno 11 (18, 27).
    assert rows == [("Minsk (city)", "101", "1", "90.0", "1500"),
                    ("Minsk (city)", "102", "1", "60.0", "600"),
                    ("Vitebsk Region", "17", "1", "65.0", "400"),
                    ("Gomel Region", "3", "1", "", ""),
                    ("Grodno Region", "11", "2", "99.2", "1100")]
    page = (out / "summary" / "lists" / "official.html").read_text("utf-8")
    assert "Such stations missing from the official table: 1." in page
    assert 'href="lists/official.html"' in (out / "summary" / "index.html").read_text("utf-8")
    check_folder(out / "summary", out)
    summarize(out)  # run without the table: its page and CSV go
    assert not (out / "summary" / "lists" / "official.html").exists()


@pytest.mark.parametrize("text, message", [
    ("station,region,registered,voted\n", "the first columns must be"),
    ("region,station,registered,voted\nbrest,17,1000,many\n", "line 2: voted is 'many'"),
    ("region,station,registered,voted\natlantis,17,1,1\n", "line 2: no such region"),
    ("region,station,registered,voted\nbrest,17,1,1\nbrest,017,1,1\n", "is given twice"),
    ("region,station,registered,voted\nbrest,17,1\n", "line 2: 3 cells"),
])
def test_a_bad_official_table_is_refused(fixture: Fixture, tmp_path: Path, text: str,
                                         message: str) -> None:
    out = fixture.decrypt(tmp_path / "reports", batches=1)
    (tmp_path / "t.csv").write_text(text, encoding="utf-8")
    proc = run("summary", out, "--official", tmp_path / "t.csv")
    assert proc.returncode == 31 and message in proc.stderr and "\nhint: " in proc.stderr
    assert not (out / "summary").exists()  # refused before anything is written


def test_a_page_changed_by_hand_is_written_again(fixture: Fixture, tmp_path: Path) -> None:
    """The page cache skips a page only while the file is the one the summary wrote."""
    out = fixture.decrypt(tmp_path / "reports", batches=1)
    summarize(out)
    pages = out / "summary" / "reports"
    edited, deleted = pages / f"{fixture.rid(1)}.html", pages / f"{fixture.rid(2)}.html"
    original = edited.read_bytes()
    edited.write_bytes(original.replace(b"</h1>", b" (edited)</h1>", 1))
    deleted.unlink()
    again = summarize(out)
    assert (again.rendered, again.written) == (2, 2)
    assert edited.read_bytes() == original and deleted.is_file()
    other = summarize(out, lang="ru")  # another language: every page again
    assert other.rendered == other.reports == 20
    assert '<html lang="ru">' in edited.read_text("utf-8")
    (out / "summary" / ".pages.json").write_text("{damaged", encoding="utf-8")
    rebuilt = summarize(out, lang="ru")
    assert (rebuilt.rendered, rebuilt.written) == (20, 0)  # rendered, found the same
    assert summarize(out, lang="ru").rendered == 0
