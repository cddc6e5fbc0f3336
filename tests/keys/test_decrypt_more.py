"""keys.decrypt and keys.cli: holes, durability fallbacks, state, one derivation, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import cli, keyfile
from keys.decrypt import decrypt_batches
from keys.errors import OutputError
from keys.state import LOCK_FILE, STATE_FILE, DirLock
from tests.keys.helpers import Drop, assert_report_dir, folders


def test_hole_inside_one_batch(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(5):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b.skb", [drop.reports[0], drop.reports[1], drop.reports[4]])
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 3
    assert s.problems == [f"gap: server {drop.chain_id.hex()}: reports seq 3-4 are in none of "
                          "the batches seen"]


def test_gap_before_batch_prev(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(4):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b1.skb", drop.reports[:1])
    drop.export(tmp_path / "b2.skb", drop.reports[2:])
    s = decrypt_batches(analyst, [tmp_path / "b2.skb", tmp_path / "b1.skb"], tmp_path / "out")
    assert s.decrypted == 3 and len(s.problems) == 1 and "seq 2 are" in s.problems[0]


def test_rewritten_chain_link_flagged(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for i in range(3):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b1.skb", drop.reports[:2])
    decrypt_batches(analyst, [tmp_path / "b1.skb"], tmp_path / "out")
    drop.links[2] = bytes(32)  # the next batch claims another link for seq 2
    drop.export(tmp_path / "b2.skb", drop.reports[2:])
    s = decrypt_batches(analyst, [tmp_path / "b2.skb"], tmp_path / "out")
    assert any(p.startswith("altered:") and "seq 2" in p for p in s.problems)


def test_damaged_state_file(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    drop.submit()
    drop.export(tmp_path / "b.skb")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STATE_FILE).write_text("{not json")
    with pytest.raises(OutputError, match="damaged"):
        decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert folders(tmp_path / "out") == {}


def test_state_records_seq_id_hash_and_last_link(tmp_path: Path, drop: Drop,
                                                 analyst: PrivateKey) -> None:
    for _ in range(2):
        drop.submit()
    drop.export(tmp_path / "b.skb")
    decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    state = json.loads((tmp_path / "out" / STATE_FILE).read_text())
    chain = state["chains"][drop.chain_id.hex()]
    assert chain["last"] == {"seq": 2, "chain": drop.links[2].hex()}
    assert [r[:2] for r in chain["reports"]] == [[1, drop.reports[0].id.hex()],
                                                 [2, drop.reports[1].id.hex()]]


def test_cli_derives_once_for_many_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    keyfile.generate(tmp_path / "k.key", b"pw", params=keyfile.KdfParams(65536, 1, 1))
    (tmp_path / "pw").write_bytes(b"pw")
    d = Drop([keyfile.public_from_file(tmp_path / "k.key")])
    for i in range(3):
        d.submit({"what": str(i)})
        d.export(tmp_path / f"b{i}.skb", d.reports[i:])
    calls: list[object] = []
    real = keyfile.load_private
    monkeypatch.setattr(keyfile, "load_private", lambda *a: (calls.append(a), real(*a))[1])
    code = cli.main(["decrypt", "--key", str(tmp_path / "k.key"), "--passphrase-file",
                     str(tmp_path / "pw"), "--out", str(tmp_path / "out"),
                     *(str(tmp_path / f"b{i}.skb") for i in range(3))])
    assert code == 0 and len(calls) == 1
    assert "decrypted 3 reports" in capsys.readouterr().out


def test_progress_bar_output() -> None:
    stream = io.StringIO()
    bar = cli._Bar(stream)  # type: ignore[arg-type]
    bar(1, 4, 1048576, 4 * 1048576)
    bar.end()
    assert stream.getvalue() == "\r[#######.......................] 1/4 reports, 1.0/4.0 MiB\n"


def test_progress_callback(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for _ in range(3):
        drop.submit()
    drop.export(tmp_path / "b.skb")
    seen: list[tuple[int, int, int, int]] = []
    decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out",
                    progress=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == [1, 2, 3] and all(s[1] == 3 for s in seen)
    assert seen[-1][2] == seen[-1][3] == sum(len(r.envelope) for r in drop.reports)


def test_interrupt_exit_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    def stop(args: object, out: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_pubkey", stop)
    assert cli.main(["pubkey", str(tmp_path)]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_interrupted_run_leaves_no_temp(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    for _ in range(4):
        drop.submit(attachments=[("a", b"x" * 1000)])
    drop.export(tmp_path / "b.skb")

    def progress(done: int, *rest: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out", progress=progress)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")
                and p.name not in (STATE_FILE, LOCK_FILE)]
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted + s.skipped == 4 and s.problems == []
    for sealed in drop.reports:
        assert_report_dir(tmp_path / "out", sealed)


def test_leading_gap_after_prev(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    from keys import batch

    for i in range(4):
        drop.submit({"what": str(i)})
    # a batch that says it follows seq 1 but starts at seq 3: seq 2 is missing
    with open(tmp_path / "lead.skb", "wb") as out:
        batch.write_batch(out, batch_id=bytes(16), chain_id=drop.chain_id,
                          created_day="2026-11-21", prev_seq=1, prev_chain=drop.links[1],
                          reports=drop.entries(drop.reports[2:]))
    s = decrypt_batches(analyst, [tmp_path / "lead.skb"], tmp_path / "out")
    assert s.decrypted == 2
    assert s.problems == [f"gap: server {drop.chain_id.hex()}: reports seq 2 are in none of "
                          "the batches seen"]
    drop.export(tmp_path / "b.skb", drop.reports[2:])  # prev.seq 2: an analyst's first batch
    assert decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out2").problems == []


def test_a_second_decrypt_into_the_same_dir_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keyfile.generate(tmp_path / "k.key", b"pw", params=keyfile.KdfParams(65536, 1, 1))
    (tmp_path / "pw").write_bytes(b"pw")
    d = Drop([keyfile.public_from_file(tmp_path / "k.key")])
    for i in range(3):
        d.submit({"what": str(i)})
    d.export(tmp_path / "b.skb")
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / (".tmp-" + "ab" * 16)  # the running decrypt's staging folder
    theirs.mkdir()
    args = ["decrypt", "--key", str(tmp_path / "k.key"), "--passphrase-file",
            str(tmp_path / "pw"), "--out", str(out), str(tmp_path / "b.skb")]
    running = DirLock(out)
    running.acquire()
    try:
        assert cli.main(args) == OutputError.exit_code
        err = capsys.readouterr().err
        assert f"error: another decrypt is writing to {out}" in err and "hint: wait" in err
        assert theirs.is_dir() and folders(out) == {}  # nothing of the other run touched
    finally:
        running.release()
    assert cli.main(args) == 0
    assert len(folders(out)) == 3 and not theirs.exists()
