"""Who else can read (issue 14, part 2): a change of analysts.pub is logged once, with
fingerprints, and ``python -m app stats`` lists the key set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from nacl.public import PrivateKey

from keys.pubkey import encode_public, fingerprint


def _lines(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "skrynka" and r.getMessage().startswith(start)]


def test_an_appended_key_is_logged_once_with_fingerprints(
    make_app, data_dir: Path, analyst_key: PrivateKey, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="skrynka")
    app: Flask = make_app()
    runtime = app.extensions["skrynka"]
    mine = bytes(analyst_key.public_key)
    assert _lines(caplog, "analyst keys: ") == [f"analyst keys: sealing to 1 key(s): "
                                               f"{fingerprint(mine)}"]
    rogue = bytes(PrivateKey.generate().public_key)
    path = data_dir / "analysts.pub"
    with path.open("a") as f:  # what a coerced operator does
        f.write(encode_public(rogue) + "\n")
    for _ in range(3):
        assert runtime.recipients() == (mine, rogue)
    changed = _lines(caplog, "analyst keys changed")
    assert changed == [
        f"analyst keys changed: now sealing to 2 key(s): {fingerprint(mine)}, "
        f"{fingerprint(rogue)} (added: {fingerprint(rogue)}; removed: none)"
    ]
    path.write_text(path.read_text() + "# a comment changes the text, not the keys\n")
    assert runtime.recipients() == (mine, rogue)
    path.write_text(encode_public(mine) + "\n")
    assert runtime.recipients() == (mine,)
    changed = _lines(caplog, "analyst keys changed")
    assert len(changed) == 2 and changed[1].endswith(f"(added: none; removed: "
                                                     f"{fingerprint(rogue)})")


def test_stats_lists_the_key_set(runner, data_dir: Path, analyst_key: PrivateKey) -> None:
    mine = bytes(analyst_key.public_key)
    init = runner("init")
    assert init.exit_code == 0 and "1 analyst key(s) in " in init.stdout
    assert init.stdout.rstrip().endswith(f"analysts.pub: {fingerprint(mine)}")
    rogue = bytes(PrivateKey.generate().public_key)
    with (data_dir / "analysts.pub").open("a") as f:
        f.write(encode_public(rogue) + "\n")
    res = runner("stats")
    assert res.exit_code == 0, res.stderr
    assert "analyst_keys: 2\n" in res.stdout
    assert f"analyst_key: {fingerprint(mine)} {encode_public(mine)}\n" in res.stdout
    assert f"analyst_key: {fingerprint(rogue)} {encode_public(rogue)}\n" in res.stdout
    (data_dir / "analysts.pub").write_text("not a key\n")
    res = runner("stats")
    assert res.exit_code == 0 and "analyst_keys: unusable (" in res.stdout


def test_one_line_per_change_across_workers_and_restarts(
    make_app, data_dir: Path, analyst_key: PrivateKey, caplog: pytest.LogCaptureFixture,
) -> None:
    """Two apps stand for two gunicorn workers, a third for a restart: a worker's start
    logs nothing when the set is the one logged before; a change is logged once, by
    whichever worker sees it first; a key appended while the server was stopped is
    logged as a change at the next start."""
    caplog.set_level(logging.WARNING, logger="skrynka")
    mine = bytes(analyst_key.public_key)
    first, second = make_app(), make_app()
    assert len(_lines(caplog, "analyst keys: ")) == 1
    path = data_dir / "analysts.pub"
    rogue = bytes(PrivateKey.generate().public_key)
    with path.open("a") as f:
        f.write(encode_public(rogue) + "\n")
    for app in (first, second, first, second):
        assert app.extensions["skrynka"].recipients() == (mine, rogue)
    assert len(_lines(caplog, "analyst keys changed")) == 1
    assert (data_dir / "analysts.logged").read_text() == (
        encode_public(mine) + "\n" + encode_public(rogue) + "\n")
    restarted = make_app()
    assert restarted.extensions["skrynka"].recipients() == (mine, rogue)
    assert len(_lines(caplog, "analyst keys")) == 2  # nothing new at this start
    other = bytes(PrivateKey.generate().public_key)
    path.write_text(encode_public(mine) + "\n" + encode_public(other) + "\n")  # while stopped
    make_app()
    changed = _lines(caplog, "analyst keys changed")
    assert len(changed) == 2 and changed[1].endswith(
        f"(added: {fingerprint(other)}; removed: {fingerprint(rogue)})")
