"""Packaging: the console commands, and the hashed requirement files.

``make setup`` installs this checkout into the virtualenv (editable), so ``skrynka``,
``skrynka-onion`` and ``skrynka-keys`` sit beside its python and run from any directory.
Every requirements*.txt pins every package with sha256 hashes (``make lock`` writes them
from the .in files); pip then installs them with ``--require-hashes``.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMMANDS = {"skrynka": "app.__main__:main", "skrynka-onion": "onion.cli:main",
            "skrynka-keys": "keys.cli:main"}
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;]+)(?: ; ([^-]+?))?((?: --hash=sha256:[0-9a-f]{64})+)$")
LOCKS = ("requirements.txt", "requirements-build.txt", "requirements-dev.txt",
         "requirements-analyst.txt")


def entries(path: Path) -> dict[tuple[str, str | None], tuple[str, frozenset[str]]]:
    """{(name, marker): (version, hashes)} of a hashed requirement file; anything but
    pins, comments and ``-r requirements.txt`` fails."""
    found: dict[tuple[str, str | None], tuple[str, frozenset[str]]] = {}
    for line in path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+", " ", line.split("#", 1)[0]).strip()
        if not line or line == "-r requirements.txt" and path.name == "requirements-dev.txt":
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: not an exact pin with sha256 hashes: {line[:80]}"
        name, version, marker, hashes = match.groups()
        key = (name.lower().replace("_", "-"), marker)
        assert key not in found, f"{path.name}: {name} twice"
        found[key] = (version, frozenset(hashes.split()))
    return found


def names(path: Path) -> set[str]:
    return {name for name, _ in entries(path)}


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("PYTHON", "VIRTUAL", "SKRYNKA", "MAKE", "MFLAGS"))}
    done = subprocess.run(args, cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


@pytest.mark.parametrize("path", LOCKS)
def test_every_package_is_pinned_with_hashes(path: str) -> None:
    found = entries(ROOT / path)
    assert found
    for (name, _), (_, hashes) in found.items():
        assert hashes, f"{path}: {name} has no hash"
    if path == "requirements.txt":  # every file of a version: a wheel per platform, the sdist
        assert len(found["cffi", None][1]) > 20 and len(found["stem", None][1]) == 1


def test_dev_requirements_add_to_the_runtime_without_repinning_it() -> None:
    """pip refuses one package given twice with different hashes: requirements-dev.txt
    includes requirements.txt and pins none of its packages again."""
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert "\n-r requirements.txt\n" in dev
    runtime = names(ROOT / "requirements.txt")
    assert {"flask", "stem", "pynacl", "sqlalchemy", "alembic", "gunicorn", "argon2-cffi",
            "psycopg2-binary", "setuptools"} <= runtime
    assert not runtime & names(ROOT / "requirements-dev.txt")
    for tool in ("pytest", "mypy", "playwright", "ruff", "hypothesis", "pillow"):
        assert tool in names(ROOT / "requirements-dev.txt")
        assert tool not in runtime, f"{tool} would be installed on the server"
    # the build backend is requirements.txt's own entry, installed first
    assert entries(ROOT / "requirements-build.txt") == {
        key: value for key, value in entries(ROOT / "requirements.txt").items()
        if key[0] == "setuptools"}


@pytest.mark.parametrize("name", ["requirements", "requirements-dev", "requirements-analyst"])
def test_the_lock_files_follow_their_in_files(name: str) -> None:
    """Each exact pin of a .in file is in its .txt at that version (`make lock` was run)."""
    locked = {(pkg, version) for (pkg, _), (version, _) in entries(ROOT / f"{name}.txt").items()}
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s;#]+)", (ROOT / f"{name}.in").read_text(),
                      re.MULTILINE)
    assert pins
    for pkg, version in pins:
        pkg = pkg.lower().replace("_", "-")
        assert (pkg, version) in locked, f"{name}.in pins {pkg}=={version}: run `make lock`"


def test_pyproject_declares_the_commands_and_only_the_runtime_packages() -> None:
    import tomllib
    from setuptools import find_packages

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"] == COMMANDS
    setup = project["tool"]["setuptools"]
    assert setup["py-modules"] == ["contract"]
    found = find_packages(str(ROOT), **setup["packages"]["find"])
    assert {p.split(".")[0] for p in found} == {"app", "onion", "keys"}
    assert {"app.intake", "keys.evidence", "keys.findings"} <= set(found)


def test_the_commands_are_installed_from_this_checkout() -> None:
    try:
        dist = importlib.metadata.distribution("skrynka")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"skrynka is not installed in {sys.prefix}: run `make setup`")
    assert {ep.name: ep.value for ep in dist.entry_points
            if ep.group == "console_scripts"} == COMMANDS
    for command in COMMANDS:
        assert (BIN / command).is_file(), f"no {BIN / command}: run `make setup`"


def test_the_commands_run_from_another_directory(tmp_path: Path) -> None:
    """As README prints them, from a directory that is not the checkout."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in COMMANDS:
        assert (BIN / command).is_file(), f"no {BIN / command}: run `make setup`"
    for command, words in (("skrynka", ("init", "export", "purge", "stats")),
                           ("skrynka-onion", ("serve", "status", "rotate")),
                           ("skrynka-keys", ("keygen", "pubkey", "decrypt", "summary"))):
        out = run([str(BIN / command), "--help"], elsewhere).stdout
        assert "usage:" in out and all(word in out for word in words), (command, out)
    where = run([str(BIN / "python"), "-c", "import contract; print(contract.__file__)"],
                elsewhere).stdout.strip()
    assert Path(where) == ROOT / "contract.py"  # the checkout's, not a copy

    data = tmp_path / "data"
    run([str(BIN / "skrynka"), "init"], elsewhere, SKRYNKA_DATA=str(data))
    stats = run([str(BIN / "skrynka"), "stats"], elsewhere, SKRYNKA_DATA=str(data)).stdout
    assert re.search(r"^reports: 0$", stats, re.MULTILINE), stats
    assert (data / "skrynka.db").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing written where the command ran


def test_install_commands_links_them_onto_path(tmp_path: Path) -> None:
    """`make install-commands BINDIR=…`: links that run from any directory by name."""
    bindir, elsewhere = tmp_path / "bin", tmp_path / "elsewhere"
    elsewhere.mkdir()
    prefix = Path(sys.prefix)
    # -o: this venv is set up already (make test ran setup-test); never reinstall it here
    run(["make", "--no-print-directory", "-C", str(ROOT), "-o", f"{prefix}/.deps-run",
         f"VENV={prefix}", f"BINDIR={bindir}", "install-commands"], elsewhere)
    assert sorted(p.name for p in bindir.iterdir()) == sorted(COMMANDS)
    path = f"{bindir}:/usr/bin:/bin"
    for command in COMMANDS:
        assert (bindir / command).resolve() == (BIN / command).resolve()
        assert "usage:" in run([command, "--help"], elsewhere, PATH=path).stdout
