"""A throwaway PostgreSQL cluster for the ``postgres`` tests.

``postgres_url`` (session scope) runs initdb and pg_ctl from
/usr/lib/postgresql/*/bin as the ``postgres`` system user (we are root), on
127.0.0.1 and a free port, in a temporary directory; it is stopped and deleted
after the session. ``pg_database`` gives each test its own fresh database.
:class:`Cluster` is the same cluster for a test that must stop, restart or
examine its own (tests/hostile/test_seizure_pg.py).
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
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

#: The session cluster's settings: fast, and unchanged in what PostgreSQL writes.
FAST = ("fsync=off", "full_page_writes=off")


def bindir() -> Path:
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


def as_postgres(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    cmd = args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]


@dataclass
class Cluster:
    """One initdb'd cluster in a private temporary directory owned by ``postgres``."""

    base: Path
    port: int
    bin: Path

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def create(cls, prefix: str = "skrynka-pg-") -> Cluster:
        binaries = bindir()
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("no `postgres` system user; install PostgreSQL with make setup-test",
                        pytrace=False)
        base = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(base, 0o700)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        cluster = cls(base, _free_port(), binaries)
        init = as_postgres([str(binaries / "initdb"), "-D", str(cluster.data), "-A", "trust",
                            "-U", "postgres", "-E", "UTF8", "--no-sync"], timeout=120)
        if init.returncode:
            cluster.remove()
            pytest.fail(f"initdb failed: {init.stderr[-2000:]}", pytrace=False)
        return cluster

    def start(self, settings: tuple[str, ...] = FAST) -> None:
        """pg_ctl start on 127.0.0.1 with ``settings`` (``name=value``) on the command line."""
        opts = " ".join([f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1",
                         *(f"-c {s}" for s in settings)])
        start = as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts,
                             "-l", str(self.log), "-w", "-t", "60", "start"], timeout=90)
        if start.returncode:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            pytest.fail(f"pg_ctl start failed: {start.stderr} {log[-2000:]}", pytrace=False)

    def stop(self, mode: str = "fast") -> None:
        as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                     "stop"], timeout=60)

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a superuser on a fresh cluster: postgresql+psycopg2://postgres@127.0.0.1:P/postgres."""
    cluster = Cluster.create()
    try:
        cluster.start()
    except BaseException:
        cluster.remove()
        raise
    try:
        yield cluster.url()
    finally:
        cluster.stop("immediate")
        cluster.remove()


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
