"""Attached backend mode over the private Tor network: the operator's tor (as Debian's
system tor under deploy/systemd/skrynka.service) runs the Onionbalance instance from its
torrc, ``onion serve --control-port … --onionbalance-frontend X`` attaches to it.

serve accepts that tor, takes the instance address (--instance-address, checked against
the hostname file, readable here), sees the descriptor published, and the app answers
through the instance address for Host = the frontend; a report posted there decrypts from
the export. The operator's tor is then restarted: serve keeps running and sees the
instance published again. Last, serve with another --bind is refused, its hint naming the
lines to add. Onionbalance itself is not run here (tests/e2e/test_onionbalance.py does,
with own-tor backends): a frontend's first fetch alone takes about a minute.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest

from contract import DEFAULT_MAX_STREAMS
from onion import backend
from onion.onionkey import OnionKey
from testkit.formfill import answers, curl_form_args, parse_form
from testkit.onion_serve import ROOT, Served
from testkit.tornet import Node, TorNet, free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.tor]

PUBLISH_WAIT = 90         # the descriptor, after tor (re)started
FETCH_WAIT = 90


def operator_tor(root: Path, net: TorNet, web_port: int, frontend: str) -> tuple[Node, Path]:
    """A tor joined to the network with the instance service in its torrc and its
    ob_config written first, as docs/onionbalance.md tells an operator."""
    hs = root / "instance"
    hs.mkdir(parents=True, mode=0o700)
    be = backend.check_frontends([frontend])
    (hs / backend.OB_CONFIG).write_text(backend.ob_config_text(be))
    node = Node("operator", root / "tor", free_ports(1)[0])
    node.launch(net.service_config() + f"DataDirectory {node.data}\n"
                f"ControlPort 127.0.0.1:{node.control_port}\nCookieAuthentication 1\n"
                "SocksPort 0\n" + backend.service_lines(
                    str(hs), f"127.0.0.1:{web_port}", pow_enabled=True, pow_queue_rate=250,
                    pow_queue_burst=2500, max_streams=DEFAULT_MAX_STREAMS))
    return node, hs


def wait_hostname(hs: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (hs / "hostname").exists():
            return (hs / "hostname").read_text().strip()
        time.sleep(0.5)
    raise AssertionError("the operator's tor wrote no hostname file")


def wait_published(srv: Served, restarts: int) -> dict[str, object]:
    def done() -> bool:
        if not (srv.data / "onion" / "status.json").exists():
            return False
        st = srv.status()
        be = st.get("backend") or {}
        return bool(be.get("published")) and st.get("tor_restarts", 0) >= restarts

    srv.wait_for(done, PUBLISH_WAIT, f"the instance published (tor restarts {restarts})")
    return dict(srv.status()["backend"])


def post_report(srv: Served, instance: str, frontend: str, marker: str) -> str:
    host = ["-H", f"Host: {frontend}"]
    page = srv.fetch(instance, "/en/", timeout=FETCH_WAIT, extra=host)
    assert page.status == 200, page.body[:2000]
    form = parse_form(page.body)
    action = urljoin("/en/", form.action or "/en/")
    got = srv.fetch(instance, action, timeout=FETCH_WAIT,
                    extra=[*host, "-L", *curl_form_args(answers(form, marker), {})])
    assert got.status == 200 and 'class="receipt"' in got.body, got.body[:2000]
    return got.body


def be_instance(srv: Served) -> str:
    return str(srv.status()["backend"]["instance"])


def run_attached(root: Path, net: TorNet, node: Node, hs: Path, frontend: str,
                 port: int) -> tuple[Served, str, str]:
    """serve attached to ``node``: accepted, instance published, a report acknowledged
    through the instance address for Host = the frontend. Returns serve (running), the
    receipt page and the report's marker."""
    instance = wait_hostname(hs, 30)
    attach = ["--control-port", str(node.control_port), "--onionbalance-frontend", frontend,
              "--instance-address", instance]         # as the unit's drop-in gives it
    srv = Served.start(root / "serve", net, attach, port=port, own_tor=False)
    try:
        be = wait_published(srv, 0)
        assert be["instance"] == instance and be["frontends"] == [frontend]
        assert srv.hostnames() == [frontend]
        assert f"instance address: {instance}" in srv.log_text()
        assert srv.status()["mode"] == "attached"
        shown = subprocess.run([sys.executable, "-m", "onion", "status"], cwd=ROOT,
                               env=srv.env, capture_output=True, text=True, timeout=60)
        assert f"instance:   {instance}  descriptor published" in shown.stdout, shown.stdout
        assert f"frontend:   {frontend}" in shown.stdout
        marker = f"attached {OnionKey.generate().service_id[:10]}"
        page = post_report(srv, instance, frontend, marker)
        wrong = srv.curl(f"http://{instance}/en/", max_time=60)   # Host = the instance
        assert wrong.code != 0 or wrong.status == 421, (wrong.code, wrong.status)
    except BaseException:
        srv.stop()
        raise
    return srv, page, marker


def test_serve_attaches_to_an_operator_tor_instance(tornet: TorNet, tmp_path: Path) -> None:
    t0 = time.monotonic()
    frontend = OnionKey.generate().address
    port = free_ports(1)[0]
    node, hs = operator_tor(tmp_path, tornet, port, frontend)
    try:
        srv, page, marker = run_attached(tmp_path, tornet, node, hs, frontend, port)
        t_pub = time.monotonic() - t0
        try:
            node.stop()                              # the operator restarts its tor
            t_restart = time.monotonic()
            node.launch((node.data / "torrc").read_text())
            wait_published(srv, 1)
            t_back = time.monotonic() - t_restart
            again = srv.fetch(be_instance(srv), "/en/", timeout=FETCH_WAIT,
                              extra=["-H", f"Host: {frontend}"])
            assert again.status == 200
            reports = srv.export_and_decrypt(tmp_path / "out")
        finally:
            code = srv.stop()
        assert code == 0, srv.log_text()[-3000:]
        mine = [r for r, _ in reports if marker in str(r.get("fields"))]
        assert len(mine) == 1 and mine[0]["receipt"] in page
        refused = subprocess.run(                    # another --bind: refused
            [sys.executable, "-m", "onion", "serve", "--bind", f"127.0.0.1:{free_ports(1)[0]}",
             "--control-port", str(node.control_port), "--onionbalance-frontend", frontend],
            cwd=ROOT, env=srv.env, capture_output=True, text=True, timeout=60)
    finally:
        node.stop()
    assert refused.returncode == 21, refused.stderr
    err = refused.stderr.splitlines()
    assert err[0].startswith("onion: error: no Onionbalance instance service of that tor "
                             "sends port 80 to serve's --bind"), err
    hint = next(line for line in err if line.startswith("hint: "))
    assert "HiddenServiceOnionbalanceInstance 1" in hint and "backend-config" in hint
    print(f"\nattached backend: published {t_pub:.0f} s after the operator's tor started, "
          f"again {t_back:.0f} s after its restart; test {time.monotonic() - t0:.0f} s")
