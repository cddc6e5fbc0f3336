"""Issue 17, part 1 (app side): ``--data`` on every ``python -m app`` command, from any
working directory; a wrong or empty data directory refused with one clear error and
nothing created (the commands, the app factory, gunicorn)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from nacl.public import PrivateKey

from app.errors import StorageError
from contract import DEFAULT_DATA, DataDir
from tests.app.test_cli import submit

ROOT = Path(__file__).resolve().parents[2]


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.exit_code, self.stdout, self.stderr = code, out, err


Run = Callable[..., Result]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``python -m app ARGS`` in-process, from a working directory that is neither the
    checkout nor the data directory's parent, with no SKRYNKA_* variable set."""
    from app.__main__ import main

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for name in list(os.environ):
        if name.startswith("SKRYNKA_"):
            monkeypatch.delenv(name)
    umask = os.umask(0o022)
    os.umask(umask)

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        os.umask(umask)
        return Result(code, out.getvalue(), err.getvalue())

    return run


def listing(root: Path) -> list[str]:
    """Every path under ``root`` (``root`` itself included if it exists)."""
    if not root.exists():
        return []
    return sorted([str(root)] + [str(p) for p in root.rglob("*")])


def test_default_data_directory_is_the_checkouts(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_DATA == ROOT / "data"
    assert DataDir.from_env({}).root == ROOT / "data"
    assert DataDir.from_env({"SKRYNKA_DATA": "x"}).root == tmp_path / "x"
    assert DataDir.from_env({"SKRYNKA_DATA": "x"}, given="y").root == tmp_path / "y"


def test_data_option_before_or_after_every_command(
    elsewhere: Run, tmp_path: Path, data_dir: Path, app: Flask,
) -> None:
    fresh = tmp_path / "fresh"
    res = elsewhere("init", "--data", str(fresh))
    assert res.exit_code == 0, res.stderr
    assert f"data directory: {fresh}" in res.stdout and (fresh / "skrynka.db").exists()
    for args in (["--data", str(fresh), "stats"], ["stats", "--data", str(fresh)]):
        res = elsewhere(*args)
        assert res.exit_code == 0 and f"data_dir: {fresh}\n" in res.stdout, res.stderr
    assert "reports: 0" in res.stdout
    submit(app, 2, files=False)  # into data_dir, which no variable names here
    res = elsewhere("--data", str(data_dir), "stats")
    assert "reports: 2" in res.stdout and "unexported: 2" in res.stdout
    res = elsewhere("export", "--data", str(data_dir), "--out", str(tmp_path / "b.skb"))
    assert res.exit_code == 0 and "exported 2 report(s)" in res.stdout, res.stderr
    res = elsewhere("purge", "--days", "0", "--yes", "--data", str(data_dir))
    assert res.exit_code == 0 and "purged 2" in res.stdout, res.stderr
    res = elsewhere("--data", str(fresh), "stats", "--data", str(data_dir))  # the last wins
    assert f"data_dir: {data_dir}\n" in res.stdout and "exported_seq: 2\n" in res.stdout
    assert listing(Path.cwd()) == [str(Path.cwd())]  # nothing landed in the working dir


def test_help_says_the_resolution_order(capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import main

    for args in (["--help"], ["stats", "--help"], ["export", "--help"]):
        with pytest.raises(SystemExit):
            main(args)
        text = " ".join(capsys.readouterr().out.split())
        assert "without it $SKRYNKA_DATA, else the checkout's data/ (" in text, args
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "The data directory: --data DIR, else $SKRYNKA_DATA, else the checkout's data/" in text


def test_from_any_directory_in_a_new_process(data_dir: Path, app: Flask,
                                             tmp_path: Path) -> None:
    """A real process started elsewhere: --data, else SKRYNKA_DATA, names the directory."""
    submit(app, 1, files=False)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "app", "stats", "--data", str(data_dir)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"data_dir: {data_dir}\n" in res.stdout and "reports: 1\n" in res.stdout


BAD = {
    "missing": lambda root: None,
    "empty": lambda root: root.mkdir(),
    "keys only": lambda root: (root.mkdir(), (root / "analysts.pub").write_text("x\n")),
    "a file": lambda root: root.write_text("not a folder\n"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("command", [["stats"], ["export"], ["export", "--again", "1-2"],
                                     ["purge"], ["purge", "--days", "0", "--yes"]])
def test_a_wrong_data_directory_is_refused_and_left_alone(
    elsewhere: Run, tmp_path: Path, kind: str, command: list[str],
) -> None:
    root = tmp_path / "wrong"
    BAD[kind](root)
    before = listing(tmp_path)
    res = elsewhere(*command, "--data", str(root))
    assert res.exit_code == StorageError.exit_code == 13, res.stderr
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"skrynka: error: no Skrynka data directory at {root} (")
    assert lines[1].startswith("hint: make it with `python -m app init`, or name the right "
                               "one with --data DIR or SKRYNKA_DATA")
    assert len(lines) == 2 and res.stdout == ""
    assert listing(tmp_path) == before, "a refused command created something"


def test_a_missing_sqlite_database_is_refused(elsewhere: Run, data_dir: Path) -> None:
    """export.key is there (init ran once), the database is not: never a new empty one."""
    before = listing(data_dir)
    res = elsewhere("stats", "--data", str(data_dir))
    assert res.exit_code == 13
    assert res.stderr.startswith(
        f"skrynka: error: no Skrynka database at {data_dir / 'skrynka.db'} (SQLite)\n")
    assert listing(data_dir) == before


def test_an_unmigrated_database_is_a_clear_error(elsewhere: Run, data_dir: Path) -> None:
    (data_dir / "skrynka.db").touch()
    res = elsewhere("export", "--data", str(data_dir))
    assert res.exit_code == 13 and "Traceback" not in res.stderr
    assert res.stderr.startswith("skrynka: error: the database schema is at nothing")
    assert "hint: run `python -m app init`" in res.stderr


def test_init_makes_a_missing_data_directory(elsewhere: Run, tmp_path: Path) -> None:
    root = tmp_path / "a" / "new"
    res = elsewhere("--data", str(root), "init")
    assert res.exit_code == 0, res.stderr
    assert (root / "export.key").exists() and DataDir(root).problem() is None


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_the_app_factory_creates_nothing_in_a_wrong_directory(
    tmp_path: Path, kind: str,
) -> None:
    from app import create_app
    from app.config import Config

    root = tmp_path / "wrong"
    BAD[kind](root)
    before = listing(tmp_path)
    with pytest.raises(StorageError) as err:
        create_app(Config.from_env({"SKRYNKA_DATA": str(root)}))
    assert err.value.message.startswith(f"no Skrynka data directory at {root}")
    assert listing(tmp_path) == before


@pytest.mark.parametrize(("kind", "bind", "why"), [
    ("empty", "127.0.0.1:9", "it is empty"),
    ("missing", "", "no such directory"),  # the default bind: a socket in <data>/run/
])
def test_gunicorn_refuses_a_wrong_directory_once_and_creates_nothing(
    tmp_path: Path, kind: str, bind: str, why: str,
) -> None:
    root = tmp_path / "wrong"
    BAD[kind](root)
    before = listing(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SKRYNKA_DATA": str(root),
           "SKRYNKA_BIND": bind}
    res = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "app.wsgi:app"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == StorageError.exit_code, res.stderr
    assert res.stderr == (
        f"skrynka: error: no Skrynka data directory at {root} ({why})\n"
        "hint: make it with `python -m app init`, or name the right one with --data DIR or "
        "SKRYNKA_DATA (without either: the checkout's data/)\n")
    assert listing(tmp_path) == before


def test_export_without_out_never_collides(
    app: Flask, runner: Callable[..., Any], data_dir: Path, tmp_path: Path,
    analyst_key: PrivateKey, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two exports the same day (and two --again of one range) write distinct files in
    the working directory, named by chain and seqs; both batches decrypt."""
    from app import exportkey
    from keys.decrypt import decrypt_batches
    from keys.origin import Trust

    here = tmp_path / "batches"
    here.mkdir()
    monkeypatch.chdir(here)
    chain = app.extensions["skrynka"].store.state().chain_id.hex()[:8]
    submit(app, 2, files=False)
    first = runner("export")
    submit(app, 1)
    second = runner("export")
    names = [here / f"batch-{chain}-1-2.skb", here / f"batch-{chain}-3-3.skb"]
    assert f"seq 1-2, to {names[0]}, signed by" in first.stdout, first.stderr
    assert f"seq 3-3, to {names[1]}, signed by" in second.stdout, second.stderr
    again = [runner("export", "--again", "1-3") for _ in range(2)]
    names += [here / f"again-{chain}-1-3.skb", here / f"again-{chain}-1-3-2.skb"]
    assert all(r.exit_code == 0 for r in again) and f"to {names[3]}," in again[1].stdout
    assert sorted(here.iterdir()) == sorted(names)
    signer = bytes(exportkey.load(data_dir / "export.key").verify_key)
    summary = decrypt_batches(analyst_key, names[:2], tmp_path / "analyst",
                              trust=Trust(signer=signer))
    assert summary.decrypted == 3 and not summary.problems and not summary.fatal
    assert runner("export").stdout.startswith("nothing to export")
    assert sorted(here.iterdir()) == sorted(names)


def test_stats_prints_sizes_for_people_and_bytes_for_scripts(
    app: Flask, runner: Callable[..., Any],
) -> None:
    from app.cli import human_size

    assert [human_size(n) for n in (0, 1023, 1024, 1536, 1234567, 2 << 30)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "1.2 MiB", "2.0 GiB"]
    submit(app, 2)
    res = runner("stats")
    assert res.exit_code == 0, res.stderr
    assert "budget_bytes: 2.0 GiB (2147483648 bytes)\n" in res.stdout
    values = dict(line.split(": ", 1) for line in res.stdout.splitlines())
    for name in ("stored_bytes", "unexported_bytes"):
        human, exact = re.fullmatch(r"(.+) \(([0-9]+) bytes\)", values[name]).groups()
        assert int(exact) > 70_000 and human == human_size(int(exact)), values[name]
    assert values["reports"] == "2" and values["unexported"] == "2"


def test_app_wsgi_fails_to_boot_in_one_clean_error(tmp_path: Path) -> None:
    """What a gunicorn worker (or an app that imports app.wsgi) meets: the error and
    hint, then gunicorn's "worker failed to boot" code (3), so the master stops."""
    root = tmp_path / "empty"
    root.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SKRYNKA_DATA": str(root)}
    res = subprocess.run([sys.executable, "-c", "import app.wsgi"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 3
    assert res.stderr.startswith(f"skrynka: error: no Skrynka data directory at {root} (")
    assert "Traceback" not in res.stderr and listing(root) == [str(root)]
