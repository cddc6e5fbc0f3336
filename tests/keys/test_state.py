"""keys.state: what an output directory remembers (.skrynka-state.json) and the lock
that lets one decrypt at a time write to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import cli, keyfile
from keys.errors import OutputError
from keys.state import STATE_FILE, DirLock
from tests.keys.helpers import Drop, decrypt_batches, folders


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


def test_damaged_state_file(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    drop.submit()
    drop.export(tmp_path / "b.skb")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STATE_FILE).write_text("{not json")
    with pytest.raises(OutputError, match="damaged"):
        decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert folders(tmp_path / "out") == {}


def test_a_second_decrypt_into_the_same_dir_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keyfile.generate(tmp_path / "k.key", b"a strong enough phrase",
                     params=keyfile.KdfParams(65536, 1, 1))
    (tmp_path / "pw").write_bytes(b"a strong enough phrase")
    d = Drop([keyfile.public_from_file(tmp_path / "k.key")])
    for i in range(3):
        d.submit({"what": str(i)})
    d.export(tmp_path / "b.skb")
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / (".tmp-" + "ab" * 16)  # the running decrypt's staging folder
    theirs.mkdir()
    args = ["decrypt", "--trust-first-signer",
            "--key", str(tmp_path / "k.key"), "--passphrase-file",
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
