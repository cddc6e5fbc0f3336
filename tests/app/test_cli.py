"""``python -m app init | export | purge | stats`` against real submissions."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from app.models import blob_chunks, reports
from keys.batch import GENESIS
from keys.envelope import open_bytes
from tests.app.helpers import FilePart, piece_ids, post, stored_reports, valid_fields

ROOT = Path(__file__).resolve().parents[2]


def parse_batch(path: Path, key: PrivateKey) -> tuple[dict, list[tuple[dict, list[bytes]]]]:
    """Our own reading of the batch layout: prefix, manifest, hash, envelopes."""
    data = path.read_bytes()
    magic, version, length = struct.unpack(">8sBI", data[:13])
    assert (magic, version) == (b"SKRYNKAB", 2)
    raw = data[13 : 13 + length]
    digest = data[13 + length : 45 + length]
    assert hashlib.sha256(raw).digest() == digest
    signer, sig = data[45 + length : 77 + length], data[77 + length : 141 + length]
    VerifyKey(signer).verify(b"skrynka-batch-v2" + data[:13] + digest, sig)  # SPEC 6.1
    manifest = json.loads(raw)
    assert manifest["version"] == 2
    pos = 141 + length
    out = []
    for r in manifest["reports"]:
        env = data[pos : pos + r["size"]]
        pos += r["size"]
        assert hashlib.sha256(env).hexdigest() == r["sha256"]
        report = json.loads(open_bytes(env, key)[1])
        files = []
        for a in r["attachments"]:
            env = data[pos : pos + a["size"]]
            pos += a["size"]
            assert hashlib.sha256(env).hexdigest() == a["sha256"]
            files.append(open_bytes(env, key)[1])
        out.append((report, files))
    assert pos == len(data)
    return manifest, out


def submit(app: Flask, n: int, files: bool = True) -> list[bytes]:
    sent = []
    for i in range(n):
        blob = os.urandom(1000 + i * 70_000)
        sent.append(blob)
        resp = post(app.test_client(), "/en/", valid_fields(description=f"report {i}"),
                    [FilePart("attachments", f"{i}.bin", blob)] if files else [])
        assert resp.status_code == 303
    return sent


def test_init_creates_private_data_dir(tmp_path: Path, runner) -> None:
    data = tmp_path / "fresh"
    res = runner("init", SKRYNKA_DATA=str(data))
    assert res.exit_code == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert (data / "skrynka.db").exists()
    assert not (data / "blobs").exists() and not (data / "incoming").exists()
    assert "no usable analyst key" in res.stderr
    assert "python -m keys keygen" in res.stderr and str(data / "analysts.pub") in res.stderr
    again = runner("init", SKRYNKA_DATA=str(data))
    assert again.exit_code == 0 and "new chain" not in again.stdout


def test_init_makes_the_export_key_once_and_stats_prints_it(tmp_path: Path, runner) -> None:
    """Issue 14: the drop's export key is made by init (O_EXCL, 0600, `# public key:`
    comment), its public text printed by init and stats, and never replaced."""
    from app import exportkey
    from keys.signature import describe

    data = tmp_path / "fresh"
    res = runner("init", SKRYNKA_DATA=str(data))
    path = data / "export.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = exportkey.load(path)
    text = describe(bytes(key.verify_key))
    assert f"export key made: {text}" in res.stdout and "--signer" in res.stderr
    lines = path.read_text().splitlines()
    assert lines[2] == "# public key: " + text.split(" ")[0]
    assert lines[3].startswith("SKRYNKA-EXPORT-KEY-1 ") and len(lines) == 4
    again = runner("init", SKRYNKA_DATA=str(data))
    assert f"export key: {text}" in again.stdout and path.read_text().splitlines() == lines
    assert f"export_key: {text}" in runner("stats", SKRYNKA_DATA=str(data)).stdout


def test_export_needs_the_export_key(app: Flask, runner, tmp_path: Path,
                                     data_dir: Path) -> None:
    submit(app, 1, files=False)
    (data_dir / "export.key").unlink()
    res = runner("export", "--out", str(tmp_path / "b.skb"))
    assert res.exit_code == 12 and "no export key" in res.stderr and "app init" in res.stderr
    assert not (tmp_path / "b.skb").exists()
    assert "export_key: none" in runner("stats").stdout
    (data_dir / "export.key").write_text("# public key: skrynka-export1q\nSKRYNKA-EXPORT-KEY-1 x\n")
    assert runner("export", "--out", str(tmp_path / "b.skb")).exit_code == 12


def test_init_reports_keys_and_sweeps(runner, app: Flask, data_dir: Path) -> None:
    """init removes the old layout's files (overwritten first) and the pieces of
    uploads whose worker is gone, and keeps those of a running one."""
    for sub, name in (("incoming", "dead.part"), ("blobs", "ab" * 16)):
        (data_dir / sub).mkdir(exist_ok=True)
        (data_dir / sub / name).write_bytes(b"ciphertext leftovers")
    store = app.extensions["skrynka"].store
    dead = _dead_pid()
    store.blobs.append(b"d" * 16, 0, dead, b"piece of a dead worker")
    store.blobs.append(b"l" * 16, 0, os.getpid(), b"piece of a running upload")
    res = runner("init")
    assert res.exit_code == 0, res.stderr
    assert "1 analyst key(s)" in res.stdout
    assert not (data_dir / "incoming").exists() and not (data_dir / "blobs").exists()
    assert "removed 3 leftover" in res.stdout
    assert piece_ids(app) == {b"l" * 16}


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_export_round_trip_and_chain(app: Flask, runner, tmp_path: Path,
                                     analyst_key: PrivateKey, data_dir: Path) -> None:
    empty = runner("export", "--out", str(tmp_path / "none.skb"))
    assert empty.exit_code == 0 and "nothing to export" in empty.stdout
    assert not (tmp_path / "none.skb").exists()
    sent = submit(app, 3)
    first = tmp_path / "b1.skb"
    res = runner("export", "--out", str(first))
    assert res.exit_code == 0, res.stderr
    assert not Path(str(first) + ".tmp").exists()
    manifest, items = parse_batch(first, analyst_key)
    assert manifest["prev"] == {"seq": 0, "chain": GENESIS.hex()}
    assert [r["seq"] for r in manifest["reports"]] == [1, 2, 3]
    assert [files for _, files in items] == [[b] for b in sent]
    assert [rep["fields"]["description"] for rep, _ in items] == [f"report {i}" for i in range(3)]
    sent2 = submit(app, 2)
    second = tmp_path / "b2.skb"
    assert runner("export", "--out", str(second)).exit_code == 0
    m2, items2 = parse_batch(second, analyst_key)
    assert m2["prev"] == {"seq": 3, "chain": manifest["reports"][-1]["chain"]}
    assert [r["seq"] for r in m2["reports"]] == [4, 5]
    assert [files for _, files in items2] == [[b] for b in sent2]
    assert runner("export", "--out", str(tmp_path / "b3.skb")).stdout.startswith("nothing")
    # The analyst's own tool accepts both batches and finds no gap.
    from app import exportkey
    from keys.decrypt import decrypt_batches
    from keys.origin import Trust
    from keys.signature import encode_signer

    signer = bytes(exportkey.load(data_dir / "export.key").verify_key)
    assert f"signed by {encode_signer(signer)}" in res.stdout
    out = tmp_path / "analyst"
    summary = decrypt_batches(analyst_key, [first, second], out, trust=Trust(signer=signer))
    assert summary.decrypted == 5 and not summary.problems and not summary.fatal


def test_export_refuses_existing_file(app: Flask, runner, tmp_path: Path) -> None:
    submit(app, 1, files=False)
    target = tmp_path / "exists.skb"
    target.write_bytes(b"keep me")
    res = runner("export", "--out", str(target))
    assert res.exit_code != 0
    assert res.stderr.startswith("skrynka: error:") and "hint:" in res.stderr
    assert target.read_bytes() == b"keep me"
    assert runner("stats").stdout.count("unexported: 1") == 1


def test_purge_only_exported_and_vacuums(app: Flask, runner, tmp_path: Path,
                                         analyst_key: PrivateKey, data_dir: Path) -> None:
    submit(app, 2)
    store = app.extensions["skrynka"].store
    with store.engine.connect() as conn:
        envelopes = [bytes(r.envelope) for r in conn.execute(sa.select(reports.c.envelope))]
    with store.engine.connect() as conn:
        pieces = [bytes(r[0]) for r in conn.execute(sa.select(blob_chunks.c.data))]
    assert len(pieces) == 2
    assert runner("export", "--out", str(tmp_path / "b.skb")).exit_code == 0
    kept = submit(app, 1)  # unexported: must survive any purge

    def db_bytes() -> bytes:
        return b"".join(p.read_bytes() for p in data_dir.glob("skrynka.db*"))

    before = db_bytes()
    assert all(env[200:264] in before for env in envelopes + pieces), "test sees the bytes"
    res = runner("purge")  # default retention 7 days: exported today, so nothing yet
    assert res.exit_code == 0 and "purged 0" in res.stdout
    res = runner("purge", "--days", "0")  # exported today: the guard asks for --yes
    assert res.exit_code == 2 and "nothing purged" in res.stderr, res
    assert [s.seq for s in stored_reports(app, analyst_key)] == [1, 2, 3]
    res = runner("purge", "--days", "0", "--yes")
    assert res.exit_code == 0 and "purged 2" in res.stdout, res
    left = stored_reports(app, analyst_key)
    assert [s.seq for s in left] == [3] and left[0].files == kept
    after = db_bytes()
    for env in envelopes + pieces:
        for at in range(0, len(env) - 64, 4096):  # every page of every envelope
            assert env[at:at + 64] not in after, "purged ciphertext still in the database files"
    assert runner("purge", "--days", "-1").exit_code != 0


def test_stats_prints_counts_not_contents(app: Flask, runner, tmp_path: Path) -> None:
    secret = "stats-must-not-print-this"
    assert post(app.test_client(), "/en/", valid_fields(description=secret),
                [FilePart("attachments", "secret-name.jpg", b"x" * 5000)]).status_code == 303
    res = runner("stats")
    assert res.exit_code == 0
    assert "reports: 1" in res.stdout and "unexported: 1" in res.stdout
    assert "attachments: 1" in res.stdout and "budget_bytes:" in res.stdout
    assert secret not in res.stdout + res.stderr
    assert "secret-name" not in res.stdout + res.stderr


def test_bad_env_is_a_clear_error(runner) -> None:
    from app.errors import ConfigError

    res = runner("stats", SKRYNKA_MAX_FILE_MB="lots")
    assert res.exit_code == ConfigError.exit_code == 12
    assert res.stderr.startswith("skrynka: error: SKRYNKA_MAX_FILE_MB")


def test_negative_days_is_a_usage_error(runner) -> None:
    res = runner("purge", "--days", "-1")
    assert res.exit_code == 2 and res.stderr == "skrynka: error: --days must not be negative\n"


def test_help_lists_every_exit_code_once(capsys: pytest.CaptureFixture[str]) -> None:
    from app.__main__ import ERRORS, main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    table = text[text.index("exit codes:"):]
    codes = [int(line.split()[0]) for line in table.splitlines()[1:]
             if line[:5].strip().isdigit()]
    assert len(codes) == len(set(codes))
    assert {0, 1, 10, 11, 130} | {cls.exit_code for cls in ERRORS} == set(codes)


def test_a_bug_is_one_line_and_exit_1(app: Flask, runner,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from app import cli

    def broken(*_args: object) -> None:
        raise ZeroDivisionError("secret detail")

    monkeypatch.setattr(cli, "stats", broken)
    res = runner("stats")
    assert res.exit_code == 1
    assert res.stderr.startswith(
        "skrynka: error: internal error (ZeroDivisionError); this is a bug")
    assert "secret detail" not in res.stderr and "Traceback" not in res.stderr


def test_a_missing_package_is_named(data_dir: Path) -> None:
    """Run where SQLAlchemy cannot be imported: the package is named, not called a bug."""
    code = ("import sys; sys.modules['sqlalchemy'] = None\n"
            "from app.__main__ import main; sys.exit(main(['stats']))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"SKRYNKA_DATA": str(data_dir), "PATH": "/usr/bin:/bin"},
                         timeout=60)
    assert res.returncode == 10, res.stderr
    assert res.stderr.startswith("skrynka: error: a required package is missing: sqlalchemy\n")
    assert "hint: run `make setup`" in res.stderr and "Traceback" not in res.stderr
