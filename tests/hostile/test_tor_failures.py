"""Tor failures on the private Tor network: after each, the same onion address is served
again by itself and a report posted over Tor afterwards arrives (exported, decrypted).

(The bare "tor killed -> the address answers" check is in tests/e2e/test_over_tor.py;
here: the control connection dropped, the network gone for a while, and in every case
a report sent after recovery reaching the analysts.)
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import pytest

from testkit.formfill import answers, curl_form_args, parse_form
from testkit.onion_serve import Served
from testkit.tornet import TorNet

pytestmark = [pytest.mark.e2e, pytest.mark.tor, pytest.mark.slow]
RECOVER_S = 150.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if shutil.which("tor") is None or shutil.which("curl") is None:
        pytest.fail("tor and curl are needed: `make setup-test` installs them")
    with TorNet.start(tmp_path_factory.mktemp("hostile-tornet")) as net:
        net.wait_client_bootstrapped(150)
        srv = Served.start(tmp_path_factory.mktemp("hostile-served"), net,
                           ["--grace-seconds", "3600"])
        try:
            srv.wait_for(lambda: (srv.data / "onion" / "status.json").exists(), 60,
                         "status.json")
            srv.fetch(srv.address, "/en/", timeout=RECOVER_S)
            yield srv
        finally:
            code = srv.stop()
            assert code == 0, srv.log_text()[-3000:]


def post_report(srv: Served, tmp: Path, timeout: float = RECOVER_S) -> str:
    """Post a complete report over Tor; returns its marker once the receipt came."""
    address = srv.address
    form = parse_form(srv.fetch(address, "/ru/", timeout=timeout).body)
    marker = "after-recovery " + secrets.token_hex(6)
    action = urljoin(f"http://{address}/ru/", form.action or "/ru/")
    page = srv.fetch(address, action.split(address, 1)[1], timeout=timeout,
                     extra=["-L", *curl_form_args(answers(form, marker), {})])
    assert page.status == 200 and 'class="receipt"' in page.body, page.body[:1000]
    return marker


def arrived(srv: Served, tmp: Path, markers: list[str]) -> None:
    reports = srv.export_and_decrypt(tmp / f"out-{secrets.token_hex(3)}")
    texts = [str(r.get("fields")) for r, _ in reports]
    for m in markers:
        assert sum(m in t for t in texts) == 1, f"{m!r} did not arrive exactly once"


def test_report_after_tor_kill_arrives(served: Served, tmp_path: Path) -> None:
    address = served.address
    tor_pid = served.tor_pid()
    os.kill(tor_pid, signal.SIGKILL)
    served.wait_republished(tor_pid, 60)
    marker = post_report(served, tmp_path)
    assert served.address == address
    arrived(served, tmp_path, [marker])


def _control_port(srv: Served) -> int:
    text = (srv.data / "tor" / "control-port").read_text()
    m = re.search(r":(\d+)", text)
    assert m, text
    return int(m.group(1))


def test_control_connection_dropped(served: Served, tmp_path: Path) -> None:
    """The kernel tears down serve's control connection (ss -K): serve notices, reconnects
    and publishes the same address again; a report posted afterwards arrives."""
    address = served.address
    port = _control_port(served)
    lost = served.log_text().count("lost the control connection")
    restarts = served.status()["tor_restarts"]
    res = subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(port)],
                         capture_output=True, text=True, timeout=10)
    if res.returncode != 0 or f":{port}" not in res.stdout:
        pytest.skip(f"cannot destroy sockets here (ss -K): {res.stderr.strip()}")
    # tor owned by serve's control connection may exit with it (then serve relaunches it),
    # or stay up (then serve reconnects): either way serve must notice and recover
    served.wait_for(lambda: served.status()["tor_restarts"] > restarts
                    or served.log_text().count("lost the control connection") > lost,
                    30, "serve to notice the dropped control connection")
    how = ("reconnected" if served.log_text().count("lost the control connection") > lost
           else "tor exited with it and was relaunched")
    t0 = time.monotonic()
    marker = post_report(served, tmp_path)
    print(f"\ncontrol connection dropped ({how}): a report went through "
          f"{time.monotonic() - t0:.1f} s after serve noticed")
    assert served.address == address
    arrived(served, tmp_path, [marker])


def test_network_gone_for_a_while(served: Served, tmp_path: Path) -> None:
    """Every relay and the authority frozen for 20 s (SIGSTOP), then back: the same
    address answers again by itself and a report posted afterwards arrives."""
    address = served.address
    net = served.net
    client = net.client.proc
    frozen = [p for p in net.pids() if client is None or p != client.pid]
    assert frozen
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(20)
        down = served.curl(f"http://{address}/en/", max_time=10)
        print(f"\nnetwork frozen: curl exit {down.code}, status {down.status}")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    t0 = time.monotonic()
    marker = post_report(served, tmp_path)
    print(f"network back: a report went through after {time.monotonic() - t0:.1f} s")
    assert served.address == address
    arrived(served, tmp_path, [marker])
