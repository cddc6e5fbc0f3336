"""keys.output.Publisher: verified report folders made durable and visible, in groups."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys import output
from keys.errors import OutputError
from keys.state import LOCK_FILE, STATE_FILE
from tests.keys.helpers import Drop, assert_report_dir, decrypt_batches, folders


def _export(drop: Drop, path: Path, count: int) -> Path:
    for i in range(count):
        drop.submit({"what": str(i)})
    drop.export(path)
    return path


def test_many_reports_in_several_groups(tmp_path: Path, drop: Drop, analyst: PrivateKey,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.Publisher, "MAX_ITEMS", 3)  # four groups
    sent = [drop.submit({"what": f"звесткі {i}"},
                        attachments=[("фота.jpg", os.urandom(i * 300))] if i % 3 == 0 else ())
            for i in range(10)]
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 10 and s.attachments == 4 and not s.problems
    for report in sent:
        assert_report_dir(tmp_path / "out", report)
    assert all(os.stat(p).st_mode & 0o777 == 0o600
               for p in (tmp_path / "out").rglob("report.json"))
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp-")]


def test_a_write_error_fails_the_run_and_leaves_nothing(
    tmp_path: Path, drop: Drop, analyst: PrivateKey, monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = _export(drop, tmp_path / "b.skb", 6)
    real, written = output.write_new, [0]

    def full_disk(path: Path, data: bytes, *, sync: bool = True) -> None:
        if path.name == output.REPORT_FILE:
            written[0] += 1
            if written[0] == 4:
                raise OutputError(f"cannot write {path}: No space left on device")
        real(path, data, sync=sync)

    monkeypatch.setattr(output, "write_new", full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        decrypt_batches(analyst, [batch], tmp_path / "out")
    assert written[0] == 4
    assert folders(tmp_path / "out") == {}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp-")]
    monkeypatch.setattr(output, "write_new", real)  # space freed: the same batch decrypts
    s = decrypt_batches(analyst, [batch], tmp_path / "out")
    assert (s.decrypted, s.skipped, s.problems) == (6, 0, [])
    for sealed in drop.reports:
        assert_report_dir(tmp_path / "out", sealed)


def test_one_sync_per_group_before_its_renames(tmp_path: Path, drop: Drop, analyst: PrivateKey,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "_SYNC_WAITS", True)
    monkeypatch.setattr(output.Publisher, "MAX_ITEMS", 2)
    events: list[str] = []
    real_sync, real_rename = os.sync, os.rename
    monkeypatch.setattr(output.os, "sync", lambda: (events.append("sync"), real_sync())[1])
    monkeypatch.setattr(output.os, "rename",
                        lambda a, b: (events.append("rename"), real_rename(a, b))[1])
    batch = _export(drop, tmp_path / "b.skb", 5)
    s = decrypt_batches(analyst, [batch], tmp_path / "out")
    assert s.decrypted == 5 and len(folders(tmp_path / "out")) == 5
    assert events == ["sync", "rename", "rename"] * 2 + ["sync", "rename"]


def test_without_a_waiting_sync_every_file_is_fsynced(tmp_path: Path, drop: Drop,
                                                      analyst: PrivateKey,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "_SYNC_WAITS", False)
    monkeypatch.setattr(output.os, "sync", lambda: pytest.fail("os.sync called"))
    synced: list[int] = []
    real = output.os.fsync
    monkeypatch.setattr(output.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    a = drop.submit({"what": "a"}, attachments=[("x", b"1"), ("y", b"2")])
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 1
    assert_report_dir(tmp_path / "out", a)
    # 3 files + staging folder + output folder + state file (and its folder) + 2 tables (+folders)
    assert len(synced) >= 5 + 2


def test_publisher_groups(tmp_path: Path, drop: Drop, analyst: PrivateKey,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.Publisher, "MAX_ITEMS", 2)
    for i in range(5):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b.skb")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], tmp_path / "out")
    assert s.decrypted == 5 and len(folders(tmp_path / "out")) == 5


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
