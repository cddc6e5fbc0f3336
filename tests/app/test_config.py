"""Config.from_env: defaults, validation and the loopback-only bind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Config, check_bind
from app.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults(tmp_path: Path) -> None:
    c = Config.from_env({"SKRYNKA_DATA": str(tmp_path)})
    assert c.database_url == f"sqlite:///{tmp_path / 'skrynka.db'}"
    assert c.analyst_keys == tmp_path / "analysts.pub"
    assert (c.max_file_mb, c.max_report_mb, c.storage_budget_mb, c.retention_days) == (
        25, 100, 2048, 7)
    assert c.hostnames_path == tmp_path / "onion" / "hostnames"
    assert c.allow_local_host is False
    assert c.form_path.name == "election.toml" and c.form_path.exists()
    assert c.max_files == 10
    assert c.text_reserve_bytes == 64 << 20  # a 32nd of the default 2 GiB budget


def test_text_reserve(tmp_path: Path) -> None:
    def config(**env: str) -> Config:
        return Config.from_env({"SKRYNKA_DATA": str(tmp_path), **env})

    assert config(SKRYNKA_STORAGE_BUDGET_MB="64").text_reserve_bytes == 2 << 20
    assert config(SKRYNKA_TEXT_RESERVE_MB="0").text_reserve_bytes == 0
    assert config(SKRYNKA_TEXT_RESERVE_MB="100").text_reserve_bytes == 100 << 20
    assert config(SKRYNKA_MAX_FILES="1").max_files == 1
    assert config(SKRYNKA_MAX_FILES="100").max_files == 100
    with pytest.raises(ConfigError, match="SKRYNKA_TEXT_RESERVE_MB") as err:
        config(SKRYNKA_STORAGE_BUDGET_MB="64", SKRYNKA_TEXT_RESERVE_MB="64")
    assert err.value.hint and "attachments" in err.value.hint


@pytest.mark.parametrize("env", [
    {"SKRYNKA_MAX_FILE_MB": "0"}, {"SKRYNKA_MAX_FILE_MB": "-3"},
    {"SKRYNKA_MAX_FILE_MB": "200"}, {"SKRYNKA_MAX_REPORT_MB": "ten"},
    {"SKRYNKA_STORAGE_BUDGET_MB": "0"}, {"SKRYNKA_RETENTION_DAYS": "-1"},
    {"SKRYNKA_ALLOW_LOCAL_HOST": "maybe"}, {"SKRYNKA_BIND": "0.0.0.0:8080"},
    {"SKRYNKA_MAX_FILES": "0"}, {"SKRYNKA_MAX_FILES": "101"}, {"SKRYNKA_MAX_FILES": "ten"},
    {"SKRYNKA_TEXT_RESERVE_MB": "-1"}, {"SKRYNKA_TEXT_RESERVE_MB": "2048"},
    {"SKRYNKA_TEXT_RESERVE_MB": "lots"},
])
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Config.from_env(env)


@pytest.mark.parametrize(("bind", "gunicorn"), [
    ("unix:/run/x.sock", "unix:/run/x.sock"), ("127.0.0.1:8080", "127.0.0.1:8080"),
    ("[::1]:80", "[::1]:80"), ("localhost:5000", "127.0.0.1:5000"), ("127.0.0.2:9", "127.0.0.2:9"),
])
def test_loopback_binds_are_accepted(bind: str, gunicorn: str) -> None:
    assert check_bind(bind) == gunicorn


@pytest.mark.parametrize("bind", ["0.0.0.0:80", "[::]:80", "192.168.1.5:80", "example.com:80",
                                  "127.0.0.1", "unix:", "127.0.0.1:99999", ":80"])
def test_other_binds_are_refused(bind: str) -> None:
    with pytest.raises(ConfigError):
        check_bind(bind)


def test_gunicorn_refuses_a_public_bind(tmp_path: Path) -> None:
    env = {"SKRYNKA_DATA": str(tmp_path), "SKRYNKA_BIND": "0.0.0.0:8080", "PATH": "/usr/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
         "--check-config", "app.wsgi:app"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == ConfigError.exit_code
    assert "skrynka: error: SKRYNKA_BIND: '0.0.0.0:8080' is not a loopback address" in proc.stderr
    assert "hint: the web server listens only on loopback" in proc.stderr


def test_gunicorn_settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import migrate

    migrate.upgrade(f"sqlite:///{data_dir / 'skrynka.db'}")  # a data directory init made
    monkeypatch.setenv("SKRYNKA_DATA", str(data_dir))
    monkeypatch.delenv("SKRYNKA_BIND", raising=False)
    ns: dict[str, object] = {}
    code = (ROOT / "gunicorn.conf.py").read_text()
    exec(compile(code, "gunicorn.conf.py", "exec"), ns)  # noqa: S102
    assert ns["accesslog"] is None and ns["errorlog"] == "-"
    # gthread, with deadlines for slow clients (app/worker.py)
    from gunicorn.workers.gthread import ThreadWorker

    from app.worker import SkrynkaWorker

    assert ns["worker_class"] == "app.worker.SkrynkaWorker"
    assert issubclass(SkrynkaWorker, ThreadWorker)
    assert int(ns["workers"]) * int(ns["threads"]) >= 48  # 32 slow uploads + small reports
    assert ns["bind"] == [f"unix:{data_dir / 'run' / 'gunicorn.sock'}"]
    assert ns["forwarded_allow_ips"] == ""
