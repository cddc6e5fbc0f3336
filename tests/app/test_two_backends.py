"""Issue 18, analyst side, end to end without tor: two backends (each its own data
directory, database, export key and chain, as under Onionbalance) take reports; their
operators export; the analyst decrypts every batch into one directory with one --signer
per backend and summarises them together."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from nacl.public import PrivateKey

from app import exportkey
from keys.findings.build import summarize
from keys.origin import Trust
from keys.signature import read_signer
from keys.state import load_state
from tests.app.test_cli import submit
from tests.keys.helpers import decrypt_batches, folders


def _second_backend(data_dir: Path, make_app: Callable[..., Flask]) -> tuple[Path, Flask]:
    """Another data directory with the same analysts.pub and its own export key."""
    other = data_dir.parent / "data-2"
    other.mkdir(mode=0o700)
    shutil.copy(data_dir / "analysts.pub", other / "analysts.pub")
    exportkey.create(other / "export.key")
    return other, make_app(data=other, database_url=f"sqlite:///{other / 'skrynka.db'}",
                           analyst_keys=other / "analysts.pub")


def _signer(data: Path) -> bytes:
    """As `--signer DATA/export.key` reads it (its public line), checked against the key."""
    raw = read_signer(str(data / "export.key"))
    assert raw == bytes(exportkey.load(data / "export.key").verify_key)
    return raw


def test_two_backends_decrypt_into_one_directory(
        app: Flask, make_app: Callable[..., Flask], runner: Any, data_dir: Path,
        tmp_path: Path, analyst_key: PrivateKey) -> None:
    other_dir, other = _second_backend(data_dir, make_app)
    submit(app, 2, files=False)
    submit(other, 3, files=False)
    batches = {}
    for name, data in (("one", data_dir), ("two", other_dir)):
        batches[name] = tmp_path / f"{name}.skb"
        res = runner("export", "--out", str(batches[name]), SKRYNKA_DATA=str(data))
        assert res.exit_code == 0, res.stderr
    out = tmp_path / "analyst"
    keys = (_signer(data_dir), _signer(other_dir))
    assert keys[0] != keys[1]
    s = decrypt_batches(analyst_key, list(batches.values()), out,
                        trust=Trust(signer=keys[0], signers=keys[1:]))
    assert (s.decrypted, s.problems, s.fatal) == (5, [], []), (s.problems, s.fatal)
    state = load_state(out)
    assert sorted(state.owners.values()) == sorted(keys) and len(state.chains) == 2
    assert len(folders(out)) == 5
    result = summarize(out)
    assert result.reports == 5
