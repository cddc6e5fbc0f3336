"""Issue 14, part 4: hostile batches cannot hurt the analyst.

Each test reproduces one report of the issue and fails on the code before it:
a lone surrogate in a report, escape sequences reaching the terminal, CSV cells
that start with whitespace before a formula, very large reports in the tables.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from keys import cli, keyfile, output
from keys.terminal import clean
from tests.keys.helpers import Drop

FAST = keyfile.KdfParams(65536, 1, 1)
ESC = "\x1b[2K\x1b[1A"  # erase the line, go up one: hides the line before it


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("key")
    keyfile.generate(d / "k.key", b"pw", params=FAST)
    (d / "pw").write_bytes(b"pw")
    return d


def _decrypt(key: Path, out: Path, *batches: Path) -> int:
    return cli.main(["decrypt", "--key", str(key / "k.key"), "--passphrase-file",
                     str(key / "pw"), "--out", str(out), *map(str, batches)])


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
