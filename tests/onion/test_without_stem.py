"""The organisation's offline machine: signing-keygen, sign and verify with PyNaCl and
argon2-cffi alone (the signing key is sealed under a passphrase, like analyst keys).

A fresh virtualenv (on the oldest supported Python when available) gets only PyNaCl and
what it needs, at the versions pinned in requirements-analyst.txt, installed from wheels
with ``--no-index`` as tests/keys/test_airgap_install.py installs the analyst kit. The
repository's onion/ runs there from PYTHONPATH: no stem, Flask, SQLAlchemy or gunicorn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onion import rotation, state

ROOT = Path(__file__).resolve().parents[2]
PY39 = Path("/root/.pyenv/versions/3.9.18/bin/python3.9")
BASE_PYTHON = str(PY39) if PY39.exists() else sys.executable
PACKAGES = {"pynacl", "argon2-cffi", "argon2-cffi-bindings", "cffi", "pycparser"}

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return dict(env, **extra)


def _run(args: list[str], cwd: Path, code: int = 0,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=_env() if env is None else env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


def _pins(target: Path) -> Path:
    """requirements-analyst.txt's entries for PyNaCl, argon2-cffi and their dependencies only
    (markers and hashes kept: pip checks every wheel)."""
    text = (ROOT / "requirements-analyst.txt").read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines()
             if line.split("==", 1)[0].strip().lower() in PACKAGES]
    assert {line.split("==", 1)[0].lower() for line in lines} == PACKAGES
    assert all(" --hash=sha256:" in line for line in lines)
    target.write_text("\n".join(lines) + "\n")
    return target


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(working directory, the venv's python); PyNaCl is installed later by the test."""
    base = tmp_path_factory.mktemp("offline-signing")
    _run([BASE_PYTHON, "-m", "venv", "venv"], base)
    return base, base / "venv" / "bin" / "python"


def onion(python: Path, cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """``python -m onion`` from the repository (PYTHONPATH), nothing else of it installed."""
    env = _env(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    return _run([str(python), "-m", "onion", *args], cwd, code=code, env=env)


def test_keygen_sign_and_verify_need_only_pynacl_and_argon2(offline: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    work, python = offline
    # nothing installed yet: help works, and a command says which package is missing
    assert "exit codes:" in onion(python, work, "--help").stdout
    missing = onion(python, work, "signing-keygen", "--out", "early.key", code=10)
    assert missing.stderr.startswith("onion: error: a required package is missing: nacl\n")

    pins = _pins(work / "pins.txt")
    # fetched with the project's ordinary pip settings, installed offline like the kit
    _run([str(python), "-m", "pip", "download", "--quiet", "--only-binary=:all:", "-r",
          str(pins), "--dest", "wheels"], work, env=dict(os.environ))
    _run([str(python), "-m", "pip", "install", "--no-index", "--find-links", "wheels", "-r",
          str(pins)], work)
    listed = _run([str(python), "-m", "pip", "list", "--format=json"], work).stdout
    assert {p["name"].lower() for p in json.loads(listed)} - {"pip", "setuptools"} == PACKAGES
    for module in ("stem", "flask", "sqlalchemy", "gunicorn"):
        failed = _run([str(python), "-c", f"import {module}"], work, code=1)
        assert "ModuleNotFoundError" in failed.stderr

    (work / "pw").write_text("ember quarry lantern velvet oboe\n")
    pw = ("--passphrase-file", "pw")
    keygen = onion(python, work, "signing-keygen", "--out", "org.key", *pw, "--kdf-memory-mib",
                   "64", "--kdf-passes", "1")
    assert keygen.stdout.splitlines()[-1].startswith("skrynka-verify-key-v1 ")
    state.ensure_services(tmp_path)               # the server's side, here with everything
    announcement, new = rotation.rotate(tmp_path, 86400.0)
    assert onion(python, work, "sign", "--key", "org.key", *pw,
                 str(announcement)).returncode == 0
    seen = ("--state", "seen.json")
    good = onion(python, work, "verify", "--verify-key", "org.key.pub", *seen, str(announcement))
    assert good.stdout.startswith("GOOD SIGNATURE: ") and f"-> {new}," in good.stdout

    tampered = work / "tampered.txt"
    text = announcement.read_text()
    old_until = next(line for line in text.splitlines() if line.startswith("old-until: "))
    tampered.write_text(text.replace(old_until, "old-until: 2999-01-01"))
    (work / "tampered.txt.sig").write_text(Path(f"{announcement}.sig").read_text())
    bad = onion(python, work, "verify", "--verify-key", "org.key.pub", *seen, str(tampered),
                code=24)
    assert bad.stderr.startswith("onion: error: BAD SIGNATURE")
    # the one command that needs stem says so, not a traceback
    serve = onion(python, work, "--data", str(work / "data"), "serve", code=10)
    assert serve.stderr.startswith("onion: error: a required package is missing: stem\n")
