"""Nothing lost between server and analyst (issue 14, part 6): purge says what it will
delete first, and deletes nothing exported less than SKRYNKA_PURGE_MIN_DAYS ago
without --yes."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask import Flask

from app.models import reports
from app.purge import seq_ranges
from contract import today_date
from tests.app.test_cli import submit


def _exported_on(app: Flask, days_ago: dict[int, int]) -> dict[int, str]:
    """Pretend report seq was exported ``days_ago`` days ago."""
    engine = app.extensions["skrynka"].store.engine
    out = {}
    with engine.begin() as conn:
        for seq, ago in days_ago.items():
            day = (today_date() - dt.timedelta(days=ago)).isoformat()
            conn.execute(sa.update(reports).where(reports.c.seq == seq)
                         .values(exported_day=day))
            out[seq] = day
    return out


def _seqs(app: Flask) -> list[int]:
    with app.extensions["skrynka"].store.engine.connect() as conn:
        return [r.seq for r in conn.execute(sa.select(reports.c.seq).order_by(reports.c.seq))]


def test_purge_days_0_refuses_recent_exports_without_yes(app: Flask, runner, tmp_path) -> None:
    submit(app, 5, files=False)
    assert runner("export", "--out", str(tmp_path / "b.skb")).exit_code == 0
    days = _exported_on(app, {1: 10, 2: 10, 3: 3, 4: 1, 5: 0})
    res = runner("purge", "--days", "0")
    assert res.exit_code == 2
    assert res.stdout == (f"to purge: 5 exported report(s), seq 1-5; exported on "
                          f"{days[1]} (2), {days[3]} (1), {days[4]} (1), {days[5]} (1)\n")
    assert res.stderr.startswith("skrynka: error: nothing purged: 2 of these report(s) "
                                 "(seq 4-5) were exported less than 2 day(s) ago")
    assert "\nhint: " in res.stderr and "--yes" in res.stderr
    assert _seqs(app) == [1, 2, 3, 4, 5]
    res = runner("purge", "--days", "2")  # the minimum: nothing recent is touched
    assert res.exit_code == 0 and "seq 1-3" in res.stdout and "purged 3" in res.stdout
    assert _seqs(app) == [4, 5]
    res = runner("purge", "--days", "0", "--yes")
    assert res.exit_code == 0 and res.stdout.startswith("to purge: 2 exported report(s), seq 4-5")
    assert _seqs(app) == []


def test_the_minimum_is_configurable(app: Flask, runner, tmp_path) -> None:
    submit(app, 2, files=False)
    assert runner("export", "--out", str(tmp_path / "b.skb")).exit_code == 0
    _exported_on(app, {1: 3, 2: 3})
    res = runner("purge", "--days", "1", SKRYNKA_PURGE_MIN_DAYS="5")
    assert res.exit_code == 2 and "less than 5 day(s) ago" in res.stderr
    res = runner("purge", "--days", "1", SKRYNKA_PURGE_MIN_DAYS="0")
    assert res.exit_code == 0 and "purged 2" in res.stdout
    res = runner("purge", SKRYNKA_PURGE_MIN_DAYS="-1")
    assert res.exit_code == 12 and "SKRYNKA_PURGE_MIN_DAYS" in res.stderr


def test_default_retention_is_unchanged(app: Flask, runner, tmp_path) -> None:
    submit(app, 2, files=False)
    assert runner("export", "--out", str(tmp_path / "b.skb")).exit_code == 0
    _exported_on(app, {1: 7, 2: 6})
    res = runner("purge")  # SKRYNKA_RETENTION_DAYS, default 7
    assert res.exit_code == 0 and "seq 1;" in res.stdout and "purged 1" in res.stdout
    assert _seqs(app) == [2]


@pytest.mark.parametrize(("seqs", "text"), [
    ([1, 2, 3, 7, 9, 10], "1-3, 7, 9-10"),
    (list(range(1, 40, 2)), "1, 3, 5, 7, 9, 11, 13, 15 and 12 more range(s)"),
])
def test_seq_ranges(seqs: list[int], text: str) -> None:
    assert seq_ranges(seqs) == text


def test_a_link_that_cannot_be_kept_does_not_stop_the_purge(app: Flask, runner, tmp_path,
                                                            data_dir) -> None:
    """On a full disk the purge must still free space; it says what is lost."""
    submit(app, 2, files=False)
    assert runner("export", "--out", str(tmp_path / "b.skb")).exit_code == 0
    (data_dir / "purged.link").mkdir()  # cannot be replaced by a file
    res = runner("purge", "--days", "0", "--yes")
    assert res.exit_code == 0 and "purged 2" in res.stdout
    assert "warning: the chain link of report 2 was not kept" in res.stdout
    assert not (data_dir / "purged.link.tmp").exists()
    assert _seqs(app) == []
