"""Shared fixtures (Flask tutorial style): ``app``, ``client``, ``runner``, analyst keys.

``make_app(**overrides)`` builds an app on a fresh data directory (migrated,
with the test analyst's public key) for tests that need other limits.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey

from keys.pubkey import encode_public
from testkit.pg import pg_database, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def analyst_key() -> PrivateKey:
    """The test analyst's private key; its public key is in every test data dir."""
    return PrivateKey.generate()


@pytest.fixture(scope="session")
def second_analyst_key() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture
def data_dir(tmp_path: Path, analyst_key: PrivateKey) -> Path:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "analysts.pub").write_text(
        "# test analyst\n" + encode_public(bytes(analyst_key.public_key)) + "\n"
    )
    from app import exportkey

    exportkey.create(data / "export.key")  # as `app init` makes it
    return data


@pytest.fixture
def make_config(data_dir: Path) -> Callable[..., Any]:
    from app.config import Config

    def build(**overrides: Any) -> Config:
        env = {"SKRYNKA_DATA": str(data_dir), "SKRYNKA_ALLOW_LOCAL_HOST": "1"}
        return replace(Config.from_env(env), **overrides)

    return build


@pytest.fixture
def make_app(make_config: Callable[..., Any]) -> Iterator[Callable[..., Flask]]:
    from app import create_app, migrate

    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        config = make_config(**overrides)
        migrate.upgrade(config.database_url)
        app = create_app(config, TESTING=True)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["skrynka"].store.close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(max_file_mb=4, max_report_mb=8)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def runner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``python -m app ARGS`` in-process against the test data directory."""
    from app.__main__ import main

    monkeypatch.setenv("SKRYNKA_DATA", str(data_dir))
    for name in list(os.environ):
        if name.startswith("SKRYNKA_") and name != "SKRYNKA_DATA":
            monkeypatch.delenv(name)
    umask = os.umask(0o022)
    os.umask(umask)

    def run(*args: str, **env: str) -> CliResult:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        os.umask(umask)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
