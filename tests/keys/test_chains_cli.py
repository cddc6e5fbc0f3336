"""Issue 18, analyst side, as the analyst runs it: `python -m keys decrypt` with one
--signer per backend, --add-signer for a new backend, and the summary that counts every
backend's reports together and lists where they came from."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import keyfile
from keys.errors import OutputError
from keys.findings.build import summarize
from keys.origin import Trust
from keys.signature import describe, encode_signer, fingerprint
from keys.state import STATE_FILE, load_state
from tests.keys.helpers import Drop, decrypt_batches, folders
from tests.keys.test_cli import run

FAST = keyfile.KdfParams(65536, 1, 1)


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("key")
    (d / "pw").write_bytes(b"correct horse battery staple\n")
    keyfile.generate(d / "analyst.key", b"correct horse battery staple", params=FAST)
    return d


def _key(drop: Drop) -> bytes:
    assert drop.signer is not None
    return bytes(drop.signer.verify_key)


def _decrypt(keydir: Path, out: Path, *args: str | Path) -> tuple[int, str, str]:
    r = run("decrypt", "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--out", out, *args)
    return r.returncode, r.stdout, r.stderr


def test_decrypt_with_one_signer_per_backend(tmp_path: Path, keydir: Path) -> None:
    pub = [keyfile.public_from_file(keydir / "analyst.key")]
    a, b, c = Drop(pub), Drop(pub), Drop(pub)
    a1 = a.export(tmp_path / "a1.skb", [a.submit(), a.submit()])
    a.export(tmp_path / "a-lost.skb", [a.submit()])
    a3 = a.export(tmp_path / "a3.skb", [a.submit()])
    b1 = b.export(tmp_path / "b1.skb", [b.submit()])
    c1 = c.export(tmp_path / "c1.skb", [c.submit()])
    (tmp_path / "b.txt").write_text(f"# backend 2, from the operator\n{encode_signer(_key(b))}\n")
    out = tmp_path / "out"
    code, stdout, err = _decrypt(keydir, out, "--signer", encode_signer(_key(a)),
                                 "--signer", tmp_path / "b.txt", a1, b1)
    assert code == 0, err
    assert f"now trusts the export key {describe(_key(a))}" in err
    assert f"now trusts the export key {describe(_key(b))}" in err
    assert "compare these 2 keys with the ones the operator gave you" in err
    assert stdout.splitlines()[-1].startswith(f"decrypted 3 reports (0 attachments) to {out}")
    code, _, err = _decrypt(keydir, out, a3, c1)  # a gap in a's chain; c not trusted
    assert code == 30, err
    assert f"c1.skb: signed by {describe(_key(c))}, not by any of its 2 export keys" in err
    assert (f"gap: export key {describe(_key(a))}: server {a.chain_id.hex()}: reports seq 3 "
            "are in none of the batches seen") in err
    assert len(folders(out)) == 4
    code, _, err = _decrypt(keydir, out, "--signer", encode_signer(_key(c)), c1)
    assert code == 30 and "--signer names" in err and "hint:" in err and "--add-signer" in err
    code, stdout, err = _decrypt(keydir, out, "--add-signer", encode_signer(_key(c)), c1)
    assert code == 0, err
    assert f"now also trusts the export key {describe(_key(c))} (--add-signer)" in err
    assert len(folders(out)) == 5
    code, _, err = _decrypt(keydir, out, "--add-signer", encode_signer(_key(c)),
                            "--trust-first-signer", c1)
    assert code == 2 and "not both" in err


def test_help_names_add_signer() -> None:
    text = run("decrypt", "--help").stdout
    assert "--add-signer" in text and "repeat it for several backends" in text


def test_summary_counts_every_backend_and_lists_the_sources(tmp_path: Path,
                                                            analyst: PrivateKey) -> None:
    pub = [bytes(analyst.public_key)]
    a, b = Drop(pub), Drop(pub)
    for i in range(5):
        a.submit({"what": "ballot_stuffing" if i % 2 else "pressure"})
    for _ in range(3):
        b.submit({"what": "pressure"})
    batches = [a.export(tmp_path / "a1.skb", a.reports[:2]),
               a.export(tmp_path / "a3.skb", a.reports[4:]),  # 3-4 never arrive
               b.export(tmp_path / "b.skb")]
    out = tmp_path / "out"
    s = decrypt_batches(analyst, batches, out, trust=Trust(signer=_key(a), signers=(_key(b),)))
    assert s.decrypted == 6 and s.gaps == [(3, 4)]
    result = summarize(out, tmp_path / "summary")
    assert result.reports == 6
    with open(tmp_path / "summary" / "tables" / "reports.csv", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    with open(tmp_path / "summary" / "tables" / "by_category.csv", encoding="utf-8") as fh:
        counts = {row[0]: row[-1] for row in csv.reader(fh)}
    assert counts.get("pressure") == "5" and counts.get("ballot_stuffing") == "1", counts
    index = (tmp_path / "summary" / "index.html").read_text("utf-8")
    table = index[index.index('<h2 id="sources">'):index.index('<h2 id="map">')]
    rows = table.split("<tr>")[2:]
    assert len(rows) == 2
    row_a = next(r for r in rows if a.chain_id.hex() in r)
    row_b = next(r for r in rows if b.chain_id.hex() in r)
    assert encode_signer(_key(a)) in row_a and fingerprint(_key(a)) in row_a
    assert encode_signer(_key(b)) in row_b and encode_signer(_key(a)) not in row_b
    cells = [c.split("</td>")[0] for c in row_a.split(">", 1)[1].split("<td")[1:]]
    assert cells[-3:] == [' class="n">3', ' class="n">1–5', ' class="n">3–4'], cells
    cells = [c.split("</td>")[0] for c in row_b.split(">", 1)[1].split("<td")[1:]]
    assert cells[-3:] == [' class="n">3', ' class="n">1–3', ' class="n">none'], cells
    (out / STATE_FILE).write_text("{damaged")  # the counts do not depend on the state
    assert summarize(out, tmp_path / "summary").reports == 6
    index = (tmp_path / "summary" / "index.html").read_text("utf-8")
    assert f"{STATE_FILE} is damaged: the sources are unknown" in index
    assert a.chain_id.hex() not in index


def test_backend_names(tmp_path: Path, keydir: Path) -> None:
    """--signer NAME=KEY|FILE: the analyst's name for a backend, in messages and the
    summary; a file whose name has "=" in it is still a file."""
    pub = [keyfile.public_from_file(keydir / "analyst.key")]
    a, b = Drop(pub), Drop(pub)
    a1 = a.export(tmp_path / "a1.skb", [a.submit()])
    a.export(tmp_path / "lost.skb", [a.submit()])
    a3 = a.export(tmp_path / "a3.skb", [a.submit()])
    b1 = b.export(tmp_path / "b1.skb", [b.submit()])
    (tmp_path / "x=y").write_text(encode_signer(_key(b)) + "\n")
    out = tmp_path / "out"
    code, _, err = _decrypt(keydir, out, "--signer", f"minsk-1={encode_signer(_key(a))}",
                            "--signer", tmp_path / "x=y", a1, b1)
    assert code == 0, err
    assert f"now trusts the export key {describe(_key(a))} as minsk-1\n" in err
    assert f"now trusts the export key {describe(_key(b))}\n" in err  # a file, no name
    code, _, err = _decrypt(keydir, out, "--signer", f"b2={tmp_path / 'x=y'}", a3)
    assert code == 8, err
    assert f"now calls the export key {describe(_key(b))} as b2" in err
    assert (f"gap: backend minsk-1, export key {describe(_key(a))}: server {a.chain_id.hex()}: "
            "reports seq 2 are in none") in err
    state = load_state(out)
    assert state.names == {_key(a): "minsk-1", _key(b): "b2"}
    summarize(out, tmp_path / "summary")
    index = (tmp_path / "summary" / "index.html").read_text("utf-8")
    assert "<strong>minsk-1</strong>" in index and "<strong>b2</strong>" in index
    code, _, err = _decrypt(keydir, out, "--signer", f"no name={encode_signer(_key(a))}", a3)
    assert code == 6 and "export key" in err  # not a name: read as a key, which it is not
    data = json.loads((out / STATE_FILE).read_text())
    data["names"][bytes(32).hex()] = "stranger"  # a name for a key not pinned
    (out / STATE_FILE).write_text(json.dumps(data))
    with pytest.raises(OutputError, match="damaged"):
        load_state(out)
