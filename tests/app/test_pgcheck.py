"""The start-up check of PostgreSQL's settings (app/pgcheck.py, issue 13)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.pgcheck import GUIDE, RULES, judge, startup_warning, warning

#: Values that keep nothing longer than the WAL segment being written.
QUIET = {
    "archive_mode": "off", "wal_keep_size": "0", "wal_recycle": "off", "summarize_wal": "off",
    "track_commit_timestamp": "off", "log_statement": "none", "log_connections": "off",
    "log_disconnections": "off", "log_min_duration_statement": "-1",
    "log_min_duration_sample": "-1", "log_transaction_sample_rate": "0", "log_duration": "off",
    "log_checkpoints": "off",
}
#: One value per setting that keeps report times longer.
NOISY = {
    "archive_mode": "on", "wal_keep_size": "1024", "wal_recycle": "on", "summarize_wal": "on",
    "track_commit_timestamp": "on", "log_statement": "mod", "log_connections": "on",
    "log_disconnections": "on", "log_min_duration_statement": "0",
    "log_min_duration_sample": "250", "log_transaction_sample_rate": "0.01",
    "log_duration": "on", "log_checkpoints": "on",
}


def test_quiet_settings_give_no_warning() -> None:
    assert set(QUIET) == {r.name for r in RULES} == set(NOISY)
    assert judge(QUIET) == []
    assert warning(judge(QUIET)) is None
    assert judge({}) == []  # settings an older PostgreSQL lacks are not judged
    assert judge({**QUIET, "log_statement": "ddl", "archive_mode": "off"}) == []


@pytest.mark.parametrize("name", sorted(NOISY))
def test_each_setting_that_keeps_times_is_named(name: str) -> None:
    found = judge({**QUIET, name: NOISY[name]})
    assert len(found) == 1 and found[0].startswith(f"{name}={NOISY[name]} (")


def test_one_line_names_every_problem_and_the_guide() -> None:
    line = warning(judge(NOISY, slots=2))
    assert line is not None and "\n" not in line
    assert all(f"{name}={value}" in line for name, value in NOISY.items())
    assert "replication slots=2" in line and line.endswith(f"see {GUIDE}")
    assert judge({**QUIET, "archive_mode": "always"}) and judge({**QUIET, "wal_keep_size": "?"})


@pytest.mark.postgres
def test_real_server_settings(pg_database: str) -> None:
    """The test cluster runs PostgreSQL's defaults: recycling and checkpoint logging on."""
    engine = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        line = startup_warning(engine)
        assert line is not None and "wal_recycle=on" in line
        assert "log_statement" not in line and "archive_mode" not in line
        name = engine.url.database
        with engine.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET log_statement = \'all\'')
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET log_min_duration_statement = 0')
        engine.dispose()  # the database's settings apply to new connections
        line = startup_warning(engine)
        assert line is not None
        assert "log_statement=all" in line and "log_min_duration_statement=0" in line
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_init_warns_once_on_postgresql(runner, pg_database: str) -> None:
    res = runner("init", SKRYNKA_DATABASE_URL=pg_database)
    assert res.exit_code == 0, res.stderr
    lines = [x for x in res.stderr.splitlines() if "PostgreSQL keeps report" in x]
    assert len(lines) == 1 and lines[0].startswith("skrynka: warning: ")
    assert "wal_recycle=on" in lines[0] and GUIDE in lines[0]


def test_init_on_sqlite_does_not_check(runner) -> None:
    res = runner("init")
    assert res.exit_code == 0 and "PostgreSQL" not in res.stderr
