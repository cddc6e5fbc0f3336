"""onion.tor.TorLink without a tor: what it does when the control connection misbehaves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import stem

from onion.errors import ControlLost
from onion.onionkey import OnionKey
from onion.tor import LinkConfig, TorLink


class BrokenController:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True
        raise stem.SocketError("socket closed under us")


def test_stop_ends_our_tor_even_when_the_control_connection_breaks(tmp_path: Path) -> None:
    link = TorLink(LinkConfig(tor_dir=tmp_path), lambda _line: None)
    link.proc = subprocess.Popen(["sleep", "60"])
    link.ctl = BrokenController()  # type: ignore[assignment]
    try:
        with pytest.raises(ControlLost, match="control connection to tor broke"):
            link.stop()
        assert link.ctl is None
        assert link.proc.poll() is not None  # terminated, not left behind
    finally:
        if link.proc.poll() is None:
            link.proc.kill()
        link.proc.wait(10)


def test_only_our_own_uploads_count_as_published(tmp_path: Path) -> None:
    """An operator's tor reports the HS_DESC uploads of its other services too: serve says
    "descriptor published" only for the addresses it serves."""
    link = TorLink(LinkConfig(tor_dir=tmp_path, control_port=9051), lambda _line: None)
    ours, theirs = OnionKey.generate(), OnionKey.generate()
    link.wanted = {ours.address: ours}
    link._uploaded(theirs.service_id)
    assert link.published == set()
    link._uploaded(ours.service_id)
    assert link.published == {ours.service_id}
