"""Fixtures of the onion tests: the organisation's signing key (cheap Argon2id), a data
directory made by ``python -m app init``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest

from keys import keyfile
from onion import announce, signkey

ROOT = Path(__file__).resolve().parents[2]
CHEAP = keyfile.KdfParams(memory_kib=65536, time_cost=1, parallelism=1)
STRONG = b"ember quarry lantern velvet oboe"


@dataclass(frozen=True)
class Signing:
    key: Path
    pub: Path
    sk: nacl.signing.SigningKey

    @property
    def vk(self) -> nacl.signing.VerifyKey:
        return announce.load_verify_key(str(self.pub))


@pytest.fixture
def signing(tmp_path: Path) -> Signing:
    key = tmp_path / "signing.key"
    signkey.signing_keygen(key, STRONG, CHEAP)
    return Signing(key, Path(f"{key}.pub"), signkey.load_signing_key(key, STRONG))


@pytest.fixture(scope="session")
def _data_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory made as an operator makes it (``python -m app init``; no analyst
    key in it), copied for each test that needs one."""
    data = tmp_path_factory.mktemp("template") / "data"
    env = dict(os.environ, SKRYNKA_DATA=str(data))
    res = subprocess.run([sys.executable, "-m", "app", "init"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return data


@pytest.fixture
def skrynka_data(tmp_path: Path, _data_template: Path) -> Path:
    """A fresh copy of an initialised data directory (``tmp_path / "data"``)."""
    return Path(shutil.copytree(_data_template, tmp_path / "data"))
