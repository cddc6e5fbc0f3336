"""``python -m onion``'s dispatcher: exit codes in --help, bugs and missing packages as one
line, and stem kept inside onion/tor.py."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import stem

from onion import cli, errors, tor
from onion.errors import ControlLost, OnionError, TorFailed

ROOT = Path(__file__).resolve().parents[2]
#: The project's non-test Python code.
SCANNED = ("app", "onion", "keys", "bench", "contract.py", "gunicorn.conf.py")


def test_help_lists_each_exit_code_once() -> None:
    res = subprocess.run([sys.executable, "-m", "onion", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    block = res.stdout.split("exit codes:\n", 1)[1]
    codes = [int(m) for m in re.findall(r"^\s*(\d+)  ", block, re.MULTILINE)]
    assert codes == sorted(set(codes)), codes
    assert codes == [0, 1, 2, 7, 10, 11, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 130]
    assert "27  serve is not running" in block
    assert "29  serve is already running with this data directory" in block
    sub = subprocess.run([sys.executable, "-m", "onion", "verify", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert "exit codes:\n" in sub.stdout and "24  announcement:" in sub.stdout
    assert "28  announcement: genuine but refused" in sub.stdout


def test_every_onion_error_is_in_the_help_table_and_codes_are_in_the_20s() -> None:
    defined = {obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, OnionError) and obj is not OnionError}
    assert defined <= set(errors.ALL)
    for cls in defined:
        assert 20 <= cls.exit_code <= 29, cls
        assert cls.__doc__, cls
    # TorMissing and TorTooOld share 20 through their parent, so the table has one line for it
    assert "exit_code" not in vars(errors.TorMissing)


def test_an_unexpected_error_is_one_line_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    from onion import announce

    def broken(*args: object) -> object:
        raise RuntimeError("secret detail from the data")

    monkeypatch.delenv("SKRYNKA_DEBUG", raising=False)
    monkeypatch.setattr(announce, "verify", broken)
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / "a.txt.sig").write_text("x\n")
    key = "skrynka-verify-key-v1 " + "A" * 43 + "="
    assert cli.main(["verify", "--verify-key", key, str(tmp_path / "a.txt")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "onion: error: internal error (RuntimeError); this is a bug"
    assert "Traceback" not in err and "secret detail" not in err


def test_a_missing_stem_is_reported_as_a_missing_package(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "stem", None)     # import stem -> ImportError
    for name in ("onion.serve", "onion.tor"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delenv("SKRYNKA_DEBUG", raising=False)
    assert cli.main(["--data", str(tmp_path), "serve"]) == 10
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "onion: error: a required package is missing: stem"
    assert err[1].startswith("hint: run `make setup`")


@pytest.mark.parametrize(("raised", "expected", "code"), [
    (stem.SocketClosed(), ControlLost, 22),
    (stem.SocketError("connection reset"), ControlLost, 22),
    (stem.ProtocolError("garbled reply"), TorFailed, 21),
    (stem.InvalidRequest("552", "Unrecognized option"), TorFailed, 21),
])
def test_stem_errors_become_onion_errors(raised: Exception, expected: type[OnionError],
                                         code: int) -> None:
    with pytest.raises(expected) as caught, tor.stem_errors():
        raise raised
    assert caught.value.exit_code == code
    assert caught.value.__cause__ is raised


def _stem_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(n == "stem" or n.startswith("stem.") for n in names):
            lines.append(node.lineno)
    return lines


def test_only_onion_tor_imports_stem() -> None:
    files = []
    for name in SCANNED:
        path = ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    assert len(files) > 30
    importers = {str(f.relative_to(ROOT)) for f in files if _stem_imports(f)}
    assert importers == {"onion/tor.py"}
