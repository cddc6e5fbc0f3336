"""Backend mode (``onion serve --onionbalance-frontend``) without Tor: the torrc lines, the
instance directory and ``ob_config``, the hostnames file, the app answering the frontend(s)
with the signed announcement of a frontend move, and the refusals with their hints."""

from __future__ import annotations

import html
import stat
import subprocess
import sys
from pathlib import Path

import nacl.signing
import pytest
from flask.testing import FlaskClient

from onion import announce, backend, state
from onion.errors import UsageError
from onion.onionkey import OnionKey

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _hostnames_in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve and the test app must agree on the hostnames file: the data directory's."""
    monkeypatch.delenv("SKRYNKA_HOSTNAMES_FILE", raising=False)


def onion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def addresses(n: int) -> list[str]:
    return [OnionKey.generate().address for _ in range(n)]


def test_torrc_lines_carry_the_instance_and_the_defenses(tmp_path: Path) -> None:
    text = backend.torrc_lines(tmp_path, "127.0.0.1:8086", pow_enabled=True,
                               pow_queue_rate=250, pow_queue_burst=2500, max_streams=8)
    assert text.splitlines() == [
        f"HiddenServiceDir {tmp_path / 'onion' / 'instance'}",
        "HiddenServicePort 80 127.0.0.1:8086",
        "HiddenServiceOnionbalanceInstance 1",
        "HiddenServiceMaxStreams 8",
        "HiddenServiceMaxStreamsCloseCircuit 1",
        "HiddenServicePoWDefensesEnabled 1",
        "HiddenServicePoWQueueRate 250",
        "HiddenServicePoWQueueBurst 2500"]
    off = backend.torrc_lines(tmp_path, "127.0.0.1:9", pow_enabled=False, pow_queue_rate=1,
                              pow_queue_burst=2, max_streams=3)
    assert "PoW" not in off and "HiddenServiceMaxStreams 3\n" in off


def test_prepare_makes_a_private_instance_dir_and_ob_config(tmp_path: Path) -> None:
    new, old = addresses(2)
    be = backend.check_frontends([new, old])
    key = backend.prepare(tmp_path, be)
    hs = tmp_path / "onion" / "instance"
    assert stat.S_IMODE(hs.stat().st_mode) == 0o700
    conf = hs / "ob_config"
    assert conf.read_text() == f"MasterOnionAddress {new}\nMasterOnionAddress {old}\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert stat.S_IMODE((hs / "hs_ed25519_secret_key").stat().st_mode) == 0o600
    assert backend.is_backend(tmp_path)
    # the next start keeps the instance key (the address in onionbalance's config.yaml)
    again = backend.prepare(tmp_path, backend.check_frontends([new]))
    assert again.address == key.address
    assert conf.read_text() == f"MasterOnionAddress {new}\n"


def test_frontend_addresses_are_checked() -> None:
    a, b = addresses(2)
    assert backend.check_frontends([f"http://{a.upper()}/", b]).frontends == (a, b)
    bad = a[:10] + ("a" if a[10] != "a" else "b") + a[11:]    # checksum no longer matches
    for values in ([bad], ["example.com"], [a, a]):
        with pytest.raises(UsageError):
            backend.check_frontends(values)


def signed_move(data: Path, old: str, new: str) -> tuple[str, str]:
    body = announce.Announcement(old, new, "2026-12-02", "2026-12-16").body()
    text, sig = announce.sign(body, nacl.signing.SigningKey.generate(), 5, "2027-03-01")
    folder = state.onion_dir(data) / "announcements"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026-12-02-move.txt").write_text(text)
    (folder / "2026-12-02-move.txt.sig").write_text(sig)
    return text, sig


def test_hostnames_list_the_frontends_not_the_instance(tmp_path: Path) -> None:
    new, old = addresses(2)
    key = backend.prepare(tmp_path, backend.check_frontends([new, old]))
    be = backend.check_frontends([new, old])
    assert backend.hostnames_text(tmp_path, be) == f"{new}\n{old}\n"   # no announcement yet
    signed_move(tmp_path, old, new)
    backend.write_hostnames(tmp_path, be)
    text = (tmp_path / "onion" / "hostnames").read_text()
    assert text == f"{new}\n{old} # until 2026-12-16, then {new}\n"
    assert key.address not in text
    assert backend.hostnames_text(tmp_path, backend.check_frontends([new])) == f"{new}\n"


def test_app_answers_both_frontends_and_shows_the_move(client: FlaskClient,
                                                      data_dir: Path) -> None:
    new, old = addresses(2)
    be = backend.check_frontends([new, old])
    instance = backend.prepare(data_dir, be)
    text, sig = signed_move(data_dir, old, new)
    backend.write_hostnames(data_dir, be)
    for host in (new, old):
        resp = client.get("/en/address", base_url=f"http://{host}")
        assert resp.status_code == 200, host
        page = html.unescape(resp.get_data(as_text=True))
        assert text in page and sig.strip() in page
    on_old = html.unescape(client.get("/en/", base_url=f"http://{old}").get_data(as_text=True))
    assert new in on_old and "2026-12-16" in on_old           # the grace notice
    on_new = html.unescape(client.get("/en/", base_url=f"http://{new}").get_data(as_text=True))
    assert "2026-12-16" not in on_new
    assert client.get("/en/", base_url=f"http://{instance.address}").status_code == 421
    assert client.get("/en/", base_url=f"http://{addresses(1)[0]}").status_code == 421


def test_attached_mode_goes_on_to_the_operators_tor(skrynka_data: Path) -> None:
    """Attached backend mode (tests/onion/test_attached.py) is no longer refused up front:
    serve goes on to the control port (none listens here) and writes no instance."""
    front = addresses(1)[0]
    for attach in (["--control-port", "9"],
                   ["--control-socket", str(skrynka_data.parent / "none")]):
        res = onion("--data", str(skrynka_data), "serve", *attach,
                    "--onionbalance-frontend", front)
        assert res.returncode == 22, res.stderr
        assert res.stderr.startswith("onion: error: tor's control "), res.stderr
        assert "--onionbalance-frontend" not in res.stderr
    assert not backend.is_backend(skrynka_data)


def test_client_auth_and_bad_addresses_are_refused(tmp_path: Path) -> None:
    keys = tmp_path / "clients"
    keys.write_text("A" * 52 + "\n")
    res = onion("--data", str(tmp_path / "d"), "serve", "--client-auth", str(keys),
                "--onionbalance-frontend", addresses(1)[0])
    assert res.returncode == 2
    assert "--client-auth cannot be used with --onionbalance-frontend" in res.stderr
    res = onion("--data", str(tmp_path / "d"), "serve", "--onionbalance-frontend", "x.onion")
    assert res.returncode == 2
    assert res.stderr.startswith("onion: error: --onionbalance-frontend x.onion: ")
    assert not (tmp_path / "d").exists()


def test_rotate_is_refused_on_a_backend(skrynka_data: Path) -> None:
    backend.prepare(skrynka_data, backend.check_frontends(addresses(1)))
    before = sorted(p.name for p in (skrynka_data / "onion").iterdir())
    res = onion("--data", str(skrynka_data), "rotate")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"onion: error: {skrynka_data} is an Onionbalance backend")
    assert "the frontend address rotates, not a backend" in lines[0]
    assert lines[1].startswith("hint: ") and "python -m onion announce OLD NEW" in lines[1]
    assert sorted(p.name for p in (skrynka_data / "onion").iterdir()) == before


def test_announce_writes_the_frontend_move_to_sign(tmp_path: Path) -> None:
    old, new = addresses(2)
    out = tmp_path / "move.txt"
    res = onion("announce", old, new, "--valid-from", "2026-12-03", "--old-until",
                "2026-12-17", "--out", str(out))
    assert res.returncode == 0, res.stderr
    st = announce.parse(out.read_text())
    assert st == announce.Announcement(old, new, "2026-12-03", "2026-12-17")
    assert "python -m onion sign --key signing.key" in res.stdout
    bad = onion("announce", old, "nope.onion", "--out", str(tmp_path / "x.txt"))
    assert bad.returncode != 0 and not (tmp_path / "x.txt").exists()


def test_status_of_a_stopped_backend_names_its_instance(tmp_path: Path) -> None:
    from onion import statustext

    assert not any("instance:" in line for line in statustext.stopped(tmp_path))
    key = backend.prepare(tmp_path, backend.check_frontends(addresses(1)))
    (tmp_path / "onion" / "instance" / "hostname").write_text(key.address + "\n")  # as tor
    assert f"instance:   {key.address}  Onionbalance backend, not published: serve is not " \
        "running" in statustext.stopped(tmp_path)
