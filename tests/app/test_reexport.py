"""Nothing lost between server and analyst (issue 14, part 6): ``export --again A-B``
writes already exported reports to a new batch of the same chain."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from nacl.public import PrivateKey

from contract import today
from keys.batch import GENESIS
from tests.app.test_cli import parse_batch, submit
from tests.keys.helpers import decrypt_batches


def _snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in out.rglob("*") if p.is_file() and p.parent != out}


def test_a_lost_batch_exported_again_decrypts(app: Flask, runner, tmp_path: Path,
                                              analyst_key: PrivateKey) -> None:
    sent = submit(app, 3)
    b1, b2 = tmp_path / "b1.skb", tmp_path / "b2.skb"
    assert runner("export", "--out", str(b1)).exit_code == 0
    submit(app, 2)
    assert runner("export", "--out", str(b2)).exit_code == 0
    stats = runner("stats").stdout
    again = tmp_path / "again.skb"
    res = runner("export", "--again", "2-4", "--out", str(again))
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"exported again 3 report(s), seq 2-4, to {again}, signed by "
                                 "skrynka-export1")
    assert res.stdout.endswith(" (already exported before: nothing marked)\n")
    assert runner("stats").stdout == stats  # what counts as exported is unchanged
    m1, _ = parse_batch(b1, analyst_key)
    m2, _ = parse_batch(b2, analyst_key)
    manifest, items = parse_batch(again, analyst_key)
    assert manifest["chain_id"] == m1["chain_id"] and manifest["batch_id"] != m1["batch_id"]
    assert manifest["prev"] == {"seq": 1, "chain": m1["reports"][0]["chain"]}
    assert manifest["reports"] == m1["reports"][1:] + m2["reports"][:1]
    assert [files for _, files in items[:2]] == [[b] for b in sent[1:]]

    out = tmp_path / "analyst"
    assert decrypt_batches(analyst_key, [b1, b2], out).decrypted == 5
    before = _snapshot(out)
    same = decrypt_batches(analyst_key, [again], out)  # recognised as repeats, not altered
    assert (same.decrypted, same.skipped, same.problems, same.fatal) == (0, 3, [], [])
    assert _snapshot(out) == before
    fresh = decrypt_batches(analyst_key, [again], tmp_path / "fresh")
    assert (fresh.decrypted, fresh.problems, fresh.fatal) == (3, [], [])
    assert fresh.notes[0].endswith("this folder starts at seq 2; seq 1 not seen here")

    whole = tmp_path / "whole.skb"
    assert runner("export", "--again", "1-5", "--out", str(whole)).exit_code == 0
    assert parse_batch(whole, analyst_key)[0]["prev"] == {"seq": 0, "chain": GENESIS.hex()}


def test_export_again_refuses_what_it_cannot_write(app: Flask, runner, tmp_path: Path) -> None:
    submit(app, 3, files=False)
    assert runner("export", "--out", str(tmp_path / "b1.skb")).exit_code == 0
    submit(app, 1, files=False)  # seq 4: not exported yet
    res = runner("export", "--again", "3-4", "--out", str(tmp_path / "x.skb"))
    assert res.exit_code == 14 and "past the last exported report (seq 3)" in res.stderr
    assert "hint: reports never exported go in a plain" in res.stderr
    for bad in ("x", "0-2", "3-2", "1-"):
        res = runner("export", "--again", bad, "--out", str(tmp_path / "x.skb"))
        assert res.exit_code == 2 and res.stderr.startswith("skrynka: error: --again"), bad
    taken = tmp_path / "taken.skb"
    taken.write_bytes(b"keep me")
    res = runner("export", "--again", "1-3", "--out", str(taken))
    assert res.exit_code == 14 and taken.read_bytes() == b"keep me"
    assert not (tmp_path / "x.skb").exists()

    app.extensions["skrynka"].store.purge(today())  # seq 1-3 purged
    res = runner("export", "--again", "1-3", "--out", str(tmp_path / "x.skb"))
    assert res.exit_code == 14 and "no longer in the database (purged)" in res.stderr
    assert "hint: purged reports are gone from the server" in res.stderr
    assert not (tmp_path / "x.skb").exists()


def test_export_again_needs_the_link_before_the_range(app: Flask, runner,
                                                      tmp_path: Path) -> None:
    submit(app, 2, files=False)
    assert runner("export", "--out", str(tmp_path / "b1.skb")).exit_code == 0
    app.extensions["skrynka"].store.purge(today())  # seq 1-2 purged
    submit(app, 3, files=False)
    assert runner("export", "--out", str(tmp_path / "b2.skb")).exit_code == 0
    res = runner("export", "--again", "3-5", "--out", str(tmp_path / "x.skb"))
    assert res.exit_code == 14 and "report 2, whose chain link" in res.stderr
    assert "hint: report 2 was purged" in res.stderr and "--again 4-5 --out FILE" in res.stderr
    assert runner("export", "--again", "4-5", "--out", str(tmp_path / "x.skb")).exit_code == 0
    res = runner("export", "--again", "3", "--out", str(tmp_path / "y.skb"))
    assert res.exit_code == 14 and "seq 3 cannot travel in a batch again" in res.stderr


def test_after_a_purge_the_oldest_stored_report_can_travel_again(
    app: Flask, runner, tmp_path: Path, analyst_key: PrivateKey,
) -> None:
    """purge keeps the link of the last report it deleted (purged.link), so a re-export
    can start right after it; the batch continues the analysts' chain."""
    submit(app, 2, files=False)
    b1 = tmp_path / "b1.skb"
    assert runner("export", "--out", str(b1)).exit_code == 0
    assert runner("purge", "--days", "0", "--yes").exit_code == 0  # seq 1-2 gone
    submit(app, 2, files=False)
    b2 = tmp_path / "b2.skb"
    assert runner("export", "--out", str(b2)).exit_code == 0
    again = tmp_path / "again.skb"
    res = runner("export", "--again", "3-4", "--out", str(again))
    assert res.exit_code == 0, res.stderr
    assert parse_batch(again, analyst_key)[0]["prev"] == parse_batch(b2, analyst_key)[0]["prev"]
    out = tmp_path / "analyst"
    assert decrypt_batches(analyst_key, [b1], out).decrypted == 2
    s = decrypt_batches(analyst_key, [again], out)  # the lost b2, from the copy
    assert (s.decrypted, s.problems, s.fatal) == (2, [], [])
    res = runner("export", "--again", "2-4", "--out", str(tmp_path / "x.skb"))
    assert res.exit_code == 14 and "(the oldest still stored is seq 3)" in res.stderr
