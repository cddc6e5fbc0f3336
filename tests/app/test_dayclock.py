"""app/dayclock.py: the data directory's file times say the day, and nothing that
follows a file (analyst keys) is fooled by it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.dayclock import DayClock, day_start, pin
from app.watched import WatchedFile


def test_day_start_is_utc_midnight() -> None:
    assert day_start(1796196273.7) == 1796169600.0  # 2026-12-02 07:24:33 UTC
    assert day_start(1796169600.0) == 1796169600.0
    assert day_start(1796169599.9) == 1796169600.0 - 86400


def test_pin_sets_every_time_but_tor_and_onion(tmp_path: Path) -> None:
    for rel in ("skrynka.db", "sub/deep/file", "tor/state", "onion/services.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "link").symlink_to("skrynka.db")
    now = time.time()
    assert pin(tmp_path, now) == 6  # root, skrynka.db, link, sub, sub/deep, sub/deep/file:
    # nothing in tor/ or onion/, nor those folders themselves
    day = day_start(now)
    for rel in (".", "skrynka.db", "sub", "sub/deep", "sub/deep/file"):
        st = os.stat(tmp_path / rel)
        assert st.st_mtime == st.st_atime == day, rel
    assert os.lstat(tmp_path / "link").st_mtime == day
    for rel in ("tor", "tor/state", "onion", "onion/services.json"):
        assert os.stat(tmp_path / rel).st_mtime > day + 1, rel


def test_the_clock_ticks_and_pins_once_more_when_stopped(tmp_path: Path) -> None:
    clock = DayClock(tmp_path, period=0.05).start()
    try:
        (tmp_path / "new").write_text("written now")
        deadline = time.monotonic() + 5
        while os.stat(tmp_path / "new").st_mtime != day_start():
            assert time.monotonic() < deadline, "the clock never ticked"
            time.sleep(0.02)
    finally:
        clock.stop()
    (tmp_path / "late").write_text("after the last tick")
    clock = DayClock(tmp_path, period=3600).start()
    clock.stop()  # no tick in an hour: only the pin at stop
    assert os.stat(tmp_path / "late").st_mtime == day_start()


def test_a_same_size_edit_is_seen_although_the_clock_reset_its_mtime(tmp_path: Path) -> None:
    """analysts.pub replaced by a key of the same length between two requests, with a
    pin in between: the mtime and size are as before, the content is not."""
    keys = tmp_path / "analysts.pub"
    keys.write_text("key-A\n")
    parsed: list[str] = []
    watched = WatchedFile(keys, lambda text: parsed.append(text) or text.strip())
    pin(tmp_path)
    assert watched.get() == "key-A"
    with keys.open("r+") as f:  # in place: same inode, same size
        f.write("key-B\n")
    pin(tmp_path)
    assert watched.get() == "key-B"
    pin(tmp_path)  # the change time moves, the text does not: no new parse
    assert watched.get() == "key-B" and parsed == ["key-A\n", "key-B\n"]
