"""Attached backend mode without Tor: reading ``GETCONF HiddenServiceOptions``, matching the
instance service to serve's --bind, the refusals with the lines to add, and
``onion backend-config`` printing exactly the lines own-tor backend mode writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from onion import backend, statustext, torrc
from onion.errors import InstanceMissing, UsageError
from onion.onionkey import OnionKey

ROOT = Path(__file__).resolve().parents[2]

#: tor 0.4.9's reply lines to GETCONF HiddenServiceOptions (one torrc service, as
#: backend-config prints it; note tor's own spelling "OnionBalance").
REPLY = ["HiddenServiceDir=/var/lib/tor/skrynka-instance",
         "HiddenServicePort=80 127.0.0.1:8086",
         "HiddenServiceOnionBalanceInstance=1",
         "HiddenServiceMaxStreams=8",
         "HiddenServiceMaxStreamsCloseCircuit=1",
         "HiddenServicePoWDefensesEnabled=1",
         "HiddenServicePoWQueueRate=250",
         "HiddenServicePoWQueueBurst=2500"]


def wanted(target: str = "127.0.0.1:8086", pow_enabled: bool = True) -> str:
    return backend.service_lines(torrc.SYSTEM_HS_DIR, target, pow_enabled=pow_enabled,
                                 pow_queue_rate=250, pow_queue_burst=2500, max_streams=8)


def onion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_services_are_read_in_order() -> None:
    other = ["HiddenServiceDir=/var/lib/tor/other/", "HiddenServicePort=22",
             "HiddenServicePort=443 unix:/run/x.sock"]
    services = torrc.parse_hs_options(other + REPLY)
    assert [s.directory for s in services] == ["/var/lib/tor/other",
                                               "/var/lib/tor/skrynka-instance"]
    assert services[0].ports == [("22", "22"), ("443", "unix:/run/x.sock")]
    assert not services[0].onionbalance_instance
    assert services[0].target_of("22") == "127.0.0.1:22"
    assert services[1].onionbalance_instance
    assert services[1].target_of("80") == "127.0.0.1:8086"
    assert services[1].options["hiddenservicepowqueueburst"] == "2500"
    assert torrc.parse_hs_options(["HiddenServiceOptions"]) == []


def test_the_instance_matching_the_bind_is_found_without_warnings() -> None:
    services = torrc.parse_hs_options(["HiddenServiceDir=/x", "HiddenServicePort=80 9"]
                                      + REPLY)
    service, warnings = torrc.check_instance(services, "127.0.0.1:8086", wanted())
    assert service.directory == "/var/lib/tor/skrynka-instance"
    assert warnings == []
    bare = [line.replace("80 127.0.0.1:8086", "80 8086") for line in REPLY]
    assert torrc.check_instance(torrc.parse_hs_options(bare), "127.0.0.1:8086",
                                wanted())[0].directory == service.directory


def test_pow_off_or_other_limits_are_warned() -> None:
    lines = [line for line in REPLY if "PoW" not in line]
    lines = [line.replace("MaxStreams=8", "MaxStreams=40") for line in lines]
    _, warnings = torrc.check_instance(torrc.parse_hs_options(lines), "127.0.0.1:8086",
                                       wanted())
    assert len(warnings) == 4, warnings
    assert "HiddenServicePoWDefensesEnabled is not set, serve would set 1" in warnings
    assert "HiddenServiceMaxStreams is 40, serve would set 8" in warnings
    _, none = torrc.check_instance(torrc.parse_hs_options(lines),
                                   "127.0.0.1:8086", wanted(pow_enabled=False).replace(
                                       "MaxStreams 8", "MaxStreams 40"))
    assert none == []


@pytest.mark.parametrize(("lines", "reason"), [
    ([], "has no onion service in its torrc"),
    ([line for line in REPLY if "Balance" not in line],
     "lacks HiddenServiceOnionbalanceInstance 1"),
    ([line.replace("8086", "8087") for line in REPLY],
     "no Onionbalance instance service of that tor sends port 80 to serve's --bind "
     "127.0.0.1:8086 (/var/lib/tor/skrynka-instance -> 127.0.0.1:8087)"),
])
def test_no_matching_instance_is_refused_with_the_lines(lines: list[str], reason: str) -> None:
    with pytest.raises(InstanceMissing) as err:
        torrc.check_instance(torrc.parse_hs_options(lines), "127.0.0.1:8086", wanted())
    assert reason in err.value.message
    hint = err.value.hint or ""
    assert "skrynka-onion backend-config" in hint and "docs/onionbalance.md" in hint
    for line in wanted().splitlines():
        assert line in hint
    assert err.value.exit_code == 21


def test_backend_config_prints_own_tor_modes_lines(tmp_path: Path) -> None:
    new, old = (OnionKey.generate().address for _ in range(2))
    res = onion("backend-config", "--onionbalance-frontend", new, "--onionbalance-frontend",
                old, "--bind", "127.0.0.1:8090", "--max-streams", "5")
    assert res.returncode == 0, res.stderr
    printed = [line for line in res.stdout.splitlines() if not line.startswith("#")]
    own = backend.torrc_lines(tmp_path, "127.0.0.1:8090", pow_enabled=True,
                              pow_queue_rate=250, pow_queue_burst=2500, max_streams=5)
    own = own.replace(str(backend.instance_dir(tmp_path)), torrc.SYSTEM_HS_DIR)
    ob = backend.ob_config_text(backend.check_frontends([new, old]))
    assert printed == (own + ob).splitlines()
    assert "systemctl reload tor" in res.stdout
    # what serve would check is what was printed
    services = torrc.parse_hs_options(
        [line.replace(" ", "=", 1) for line in own.splitlines()])
    assert torrc.check_instance(services, "127.0.0.1:8090", own) == (services[0], [])
    bad = onion("backend-config", "--onionbalance-frontend", "x.onion")
    assert bad.returncode == 2 and bad.stderr.startswith("onion: error: ")


def test_instance_address_only_in_attached_backend_mode(tmp_path: Path) -> None:
    addr = OnionKey.generate().address
    res = onion("--data", str(tmp_path), "serve", "--instance-address", addr)
    assert res.returncode == 2
    assert res.stderr.startswith("onion: error: --instance-address is for attached "), \
        res.stderr
    assert "\nhint: " in res.stderr


def test_instance_address_must_agree_with_a_readable_hostname(tmp_path: Path) -> None:
    a, b = (OnionKey.generate().address for _ in range(2))
    assert backend.attached_address(tmp_path, None) is None
    assert backend.attached_address(tmp_path, a) == a
    (tmp_path / "hostname").write_text(a + "\n")
    assert backend.attached_address(tmp_path, None) == a
    with pytest.raises(UsageError):
        backend.attached_address(tmp_path, b)


def test_status_says_when_the_instance_is_not_known() -> None:
    front = OnionKey.generate().address
    lines = statustext.backend_lines({"frontends": [front], "instance": None,
                                      "published": False})
    assert lines[0].startswith(f"frontend:   {front}")
    assert lines[1].startswith("instance:   address not known yet")


def test_the_instance_is_learnt_only_from_one_upload_of_a_sole_service(tmp_path: Path) -> None:
    """No --instance-address, no readable hostname: with one torrc service, the one
    service id tor reported uploaded is the instance's; with two, nothing is guessed."""
    from onion.serve import ServeConfig, Server

    front, inst, other = (OnionKey.generate() for _ in range(3))
    said: list[str] = []
    cfg = ServeConfig(data=tmp_path, control_port=9, frontends=(front.address,))
    server = Server(cfg, said.append)
    server.tor.uploads = {inst.service_id}
    server.learn_instance()
    assert server.instance_address is None             # the torrc may hold others
    server.sole_service = True
    server.tor.uploads = {inst.service_id, other.service_id}
    server.learn_instance()
    assert server.instance_address is None             # two candidates: no guess
    server.tor.uploads = {inst.service_id}
    server.learn_instance()
    assert server.instance_address == inst.address
    assert server.tor.instance_id == inst.service_id
    assert server._backend_status(server.tor.published, True) == {
        "frontends": [front.address], "instance": inst.address, "published": True}
    assert said == [f"instance address (from tor's upload): {inst.address} (tor's torrc "
                    "has this one service; --instance-address makes it certain)"]
