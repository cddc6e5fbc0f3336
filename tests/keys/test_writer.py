"""keys.writer: report folders written by a helper process, exactly as inline."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import output, writer
from keys.decrypt import decrypt_batches
from keys.errors import OutputError
from tests.keys.helpers import Drop, assert_report_dir, folders


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("reports.csv", "reports.jsonl")
            and not p.name.startswith(".skrynka-state")}


def _reaped(pids: list[int]) -> bool:
    """Every helper has exited and been waited for (other children of the test
    process, such as a session's tor or PostgreSQL, are not ours to judge)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every helper process started, by pid; the helper takes over from the third report."""
    monkeypatch.setattr(output.Publisher, "FORK_AFTER", 2)
    started: list[int] = []
    real = writer.ForkWriter.__init__

    def spy(self: writer.ForkWriter, *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        started.append(self.pid)

    monkeypatch.setattr(writer.ForkWriter, "__init__", spy)
    return started


def test_helper_output_equals_inline_output(tmp_path: Path, drop: Drop, analyst: PrivateKey,
                                            forks: list[int],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.Publisher, "MAX_ITEMS", 3)  # several groups, several waits
    sent = [drop.submit({"what": f"звесткі {i}"},
                        attachments=[("фота.jpg", os.urandom(i * 300))] if i % 3 == 0 else ())
            for i in range(10)]
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "forked")
    assert len(forks) == 1 and s.decrypted == 10 and not s.problems
    for report in sent:
        assert_report_dir(tmp_path / "forked", report)
    monkeypatch.setattr(output, "can_fork", lambda: False)
    decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "inline")
    assert len(forks) == 1
    assert _tree(tmp_path / "forked") == _tree(tmp_path / "inline")
    assert all(os.stat(p).st_mode & 0o777 == 0o600
               for p in (tmp_path / "forked").rglob("report.json"))
    assert _reaped(forks)


def _export(drop: Drop, path: Path, count: int) -> Path:
    for i in range(count):
        drop.submit({"what": str(i)})
    drop.export(path)
    return path


def _in_helper(monkeypatch: pytest.MonkeyPatch, before: Callable[[int, Path], None]) -> None:
    """Call ``before(n, file)`` ahead of the helper's n-th write (n from 1); the parent's
    own writes are untouched."""
    real, parent, calls = output._write_report, os.getpid(), [0]

    def write(staging: Path, path: Path, data: bytes, make_dir: bool) -> None:
        if os.getpid() != parent:
            calls[0] += 1  # counts in the helper's own memory
            before(calls[0], path)
        real(staging, path, data, make_dir)

    monkeypatch.setattr(output, "_write_report", write)


def test_helper_error_fails_the_run_and_leaves_nothing(
    tmp_path: Path, drop: Drop, analyst: PrivateKey, forks: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = _export(drop, tmp_path / "b.skb", 6)

    def full_disk(n: int, path: Path) -> None:
        if n == 2:  # the helper's second report: the fourth overall
            raise OutputError(f"cannot write {path}: No space left on device")

    _in_helper(monkeypatch, full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        decrypt_batches(analyst, [batch], tmp_path / "out")
    assert len(forks) == 1 and _reaped(forks)
    assert folders(tmp_path / "out") == {}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp-")]


def test_a_dead_helper_is_an_error(tmp_path: Path, drop: Drop, analyst: PrivateKey,
                                   forks: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    batch = _export(drop, tmp_path / "b.skb", 5)
    _in_helper(monkeypatch, lambda n, path: os._exit(9))
    with pytest.raises(OutputError, match="helper process writing report folders has died"):
        decrypt_batches(analyst, [batch], tmp_path / "out")
    assert len(forks) == 1 and _reaped(forks)
    assert folders(tmp_path / "out") == {}


def test_no_helper_in_a_threaded_process(tmp_path: Path, drop: Drop, analyst: PrivateKey,
                                         forks: list[int]) -> None:
    batch = _export(drop, tmp_path / "b.skb", 5)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not writer.can_fork()
        s = decrypt_batches(analyst, [batch], tmp_path / "out")
    finally:
        stop.set()
        other.join()
    assert s.decrypted == 5 and forks == []
