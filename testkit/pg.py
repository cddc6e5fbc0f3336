"""A throwaway PostgreSQL cluster for the ``postgres`` tests.

``postgres_url`` (session scope) runs initdb and pg_ctl from
/usr/lib/postgresql/*/bin as the ``postgres`` system user (we are root), on
127.0.0.1 and a free port, in a temporary directory; it is stopped and deleted
after the session. ``pg_database`` gives each test its own fresh database.
Missing binaries are a failure with a clear message, never a silent skip:
``make test`` installs PostgreSQL (scripts/system-deps.sh).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; "
            "run `make setup-test` (scripts/system-deps.sh test) to install them",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    cmd = args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a superuser on a fresh cluster: postgresql+psycopg2://postgres@127.0.0.1:P/postgres."""
    bindir = _bindir()
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("no `postgres` system user; install PostgreSQL with make setup-test",
                    pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="skrynka-pg-"))
    os.chmod(base, 0o700)
    os.chown(base, pw.pw_uid, pw.pw_gid)
    data = base / "data"
    port = _free_port()
    init = _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                         "postgres", "-E", "UTF8", "--no-sync"], timeout=120)
    if init.returncode:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr[-2000:]}", pytrace=False)
    opts = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off")
    start = _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts,
                          "-l", str(base / "log"), "-w", "-t", "60", "start"], timeout=90)
    if start.returncode:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {start.stderr} {log[-2000:]}", pytrace=False)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                      "stop"], timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A new empty database on the session cluster; dropped after the test."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
