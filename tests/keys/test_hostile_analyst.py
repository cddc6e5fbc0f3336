"""Issue 14, part 4: hostile batches cannot hurt the analyst.

Each test reproduces one report of the issue and fails on the code before it:
a lone surrogate in a report, escape sequences reaching the terminal, CSV cells
that start with whitespace before a formula, very large reports in the tables.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import cli, keyfile, output
from keys.terminal import clean
from tests.keys.helpers import Drop

ROOT = Path(__file__).resolve().parents[2]
FAST = keyfile.KdfParams(65536, 1, 1)
ESC = "\x1b[2K\x1b[1A"  # erase the line, go up one: hides the line before it


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("key")
    keyfile.generate(d / "k.key", "пароль correct horse".encode(), params=FAST)
    (d / "pw").write_bytes("пароль correct horse".encode())
    return d


def _decrypt(key: Path, out: Path, *batches: Path) -> int:
    return cli.main(["decrypt", "--key", str(key / "k.key"), "--passphrase-file",
                     str(key / "pw"), "--trust-first-signer", "--allow-unsigned",
                     "--out", str(out), *map(str, batches)])


def test_clean_makes_controls_and_bidi_visible() -> None:
    assert clean("a\x1b[31mb\x07\x9b\x7f\u202e\u2066\ud800\t\n") == (
        "a\\x1b[31mb\\x07\\x9b\\x7f\\u202e\\u2066\\ud800\\x09\\x0a")
    assert clean("Ўсё добра, report 12 (seq 3)") == "Ўсё добра, report 12 (seq 3)"


def test_no_escape_sequence_reaches_the_terminal(
        tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = Drop([keyfile.public_from_file(key / "k.key")])
    d.submit({"what": "ok"})
    d.submit({"what": "altered"})
    path = tmp_path / f"batch{ESC}\u202e.skb"
    d.export(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 1  # the second report's envelope: named as a problem, with the file name
    path.write_bytes(bytes(data))
    code = _decrypt(key, tmp_path / f"out{ESC}", path)
    captured = capsys.readouterr()
    assert code == 8
    for stream in (captured.out, captured.err):
        assert "\x1b" not in stream and "\u202e" not in stream
    assert "batch\\x1b[2K\\x1b[1A\\u202e.skb" in captured.err
    assert "out\\x1b[2K\\x1b[1A" in captured.out
    # a batch-level error quotes the name too
    path.write_bytes(b"SKRYNKAB\x01" + bytes(4) + b"short")
    assert _decrypt(key, tmp_path / "out2", path) == 4
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[2K" in err


@pytest.mark.parametrize("cell", ["=1+1", " =1+1", "\t=1+1", "\n=HYPERLINK(1)", "  +1",
                                  "\r\n-2", " @SUM(A1)", "\u00a0=1", "\tplain", "\rplain"])
def test_csv_defuses_formulas_behind_whitespace(cell: str) -> None:
    data = output.render_csv(["x"], [{"x": cell}]).decode("utf-8-sig")
    (row,) = list(csv.reader(io.StringIO(data)))[1:]
    assert row == ["'" + cell]


@pytest.mark.parametrize("cell", ["", "plain", "a=1", "1-2", " plain", "'=1"])
def test_csv_leaves_harmless_cells(cell: str) -> None:
    data = output.render_csv(["x"], [{"x": cell}]).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(data)))[1:] == [[cell]]


def test_large_reports_are_in_the_tables_and_what_was_left_out_is_named(
        tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a report whose report.json passed 16 MiB (its plaintext indented) was
    silently missing from reports.csv; long cells went in whole."""
    d = Drop([keyfile.public_from_file(key / "k.key")])
    big = d.submit({"kind": ["a"] * 1_600_000})  # 8 MiB sealed, ~17 MiB of report.json
    long = d.submit({"what": "x" * 40_000, "where": "short"})
    d.export(tmp_path / "b.skb")
    assert _decrypt(key, tmp_path / "out", tmp_path / "b.skb") == 0
    captured = capsys.readouterr()
    with open(tmp_path / "out" / "reports.csv", encoding="utf-8-sig", newline="") as f:
        rows = {r["report_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {big.id.hex(), long.id.hex()}
    assert rows[big.id.hex()]["kind"] == "(left out: 4799998 characters; see its report.json)"
    assert rows[long.id.hex()]["what"].startswith("(left out: 40000 characters")
    assert rows[long.id.hex()]["where"] == "short"
    notes = [line for line in captured.err.splitlines() if ": note: " in line]
    assert len(notes) == 2 and all("left out of the tables" in n for n in notes)
    assert f"report {long.id.hex()}: 'what' left out of the tables: longer than 32767" in (
        notes[0] + notes[1])
    assert "2 left out of the tables (named above)" in captured.out
    jsonl = [json.loads(line) for line in (tmp_path / "out" / "reports.jsonl").open()]
    assert len(jsonl) == 2


_PEAK = r"""
import sys
from pathlib import Path
from nacl.public import PrivateKey
from keys.decrypt import decrypt_batches
decrypt_batches(PrivateKey(bytes.fromhex(sys.argv[1])), [sys.argv[2]], sys.argv[3])
status = Path("/proc/self/status").read_text()
print(next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:")) // 1024)
"""


def _peak_mib(tmp_path: Path, n: int) -> int:
    """Peak RSS (MiB) of a fresh process decrypting ``n`` reports of 8 MiB each
    (VmHWM: unlike ru_maxrss it is not inherited from the process that forked it)."""
    analyst = PrivateKey.generate()
    d = Drop([bytes(analyst.public_key)])
    for _ in range(n):
        d.submit({"what": "ж" * (4 << 20)})
    d.export(tmp_path / f"b{n}.skb")
    proc = subprocess.run([sys.executable, "-c", _PEAK, bytes(analyst).hex(),
                           str(tmp_path / f"b{n}.skb"), str(tmp_path / f"out{n}")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_does_not_grow_with_the_batch(tmp_path: Path) -> None:
    """Before: about 4x the batch (every report held for the tables at once): 5 reports
    of 8 MiB cost ~170 MiB more than one. Now one report at a time."""
    one, five = _peak_mib(tmp_path, 1), _peak_mib(tmp_path, 5)
    assert five - one < 24, (one, five)


_MANIFEST_PEAK = r"""
import sys
from keys import reader
bf = reader.open_batch(sys.argv[1])
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
print(int(status["VmHWM"].split()[0]) // 1024, int(status["VmRSS"].split()[0]) // 1024,
      len(bf.manifest.reports))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_huge_manifest_is_held_compactly(tmp_path: Path) -> None:
    """Before: a 24 MiB manifest of 100,000 entries peaked near 190 MiB and kept ~135 MiB
    for the whole run (every batch of a run is open at once)."""
    import hashlib
    import struct

    def h(i: int, k: str) -> str:
        return hashlib.sha256(f"{i}-{k}".encode()).hexdigest()

    reports = [{"seq": i, "id": h(i, "id")[:32], "day": "2026-11-24", "size": 708,
                "sha256": h(i, "s"), "chain": h(i, "c"), "attachments": []}
               for i in range(1, 100_001)]
    manifest = json.dumps({"format": "skrynka-batch", "version": 1, "batch_id": "0" * 32,
                           "chain_id": "0" * 32, "created_day": "2026-11-24",
                           "prev": {"seq": 0, "chain": "0" * 64}, "reports": reports},
                          separators=(",", ":")).encode()
    del reports
    (tmp_path / "m.skb").write_bytes(struct.pack(">8sBI", b"SKRYNKAB", 1, len(manifest))
                                     + manifest + hashlib.sha256(manifest).digest())
    proc = subprocess.run([sys.executable, "-c", _MANIFEST_PEAK, str(tmp_path / "m.skb")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    peak, kept, count = map(int, proc.stdout.split())
    mib = len(manifest) >> 20
    assert count == 100_000
    assert peak < 5 * mib + 30 and kept < 2.5 * mib + 25, (mib, peak, kept)
