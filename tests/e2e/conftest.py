"""Session fixtures: one private Tor network and one ``onion serve`` of the real app.

Tests in this folder share them (the network takes ~20-30 s to come up); the rotation
test runs last (file order) because it changes the served address.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator

import pytest

from testkit.onion_serve import Served
from testkit.procfs import alive
from testkit.tornet import TorNet


@pytest.fixture(scope="session")
def tornet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorNet]:
    if shutil.which("tor") is None:
        pytest.fail("tor is not installed: `make setup-test` installs it")
    net = TorNet.start(tmp_path_factory.mktemp("tornet"))
    try:
        net.wait_client_bootstrapped(150)
        yield net
    finally:
        pids = net.pids()
        net.stop()
        assert not [p for p in pids if alive(p)], "tor processes left behind"


@pytest.fixture(scope="session")
def served(tornet: TorNet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    srv = Served.start(tmp_path_factory.mktemp("served"), tornet, ["--grace-seconds", "3600"])
    pids: set[int] = set()
    try:
        srv.wait_for(lambda: srv.status().get("tor_pid") if (
            srv.data / "onion" / "status.json").exists() else False, 60, "status.json")
        yield srv
    finally:
        try:
            st = srv.status()
            pids |= {p for p in (st.get("tor_pid"), st.get("web_pid")) if isinstance(p, int)}
        except (OSError, ValueError):
            pass
        code = srv.stop()
        assert code == 0, f"serve exited with {code}:\n{srv.log_text()[-3000:]}"
        left = [p for p in pids if alive(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        assert not left, "serve left tor or gunicorn running"
