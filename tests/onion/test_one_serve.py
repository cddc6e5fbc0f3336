"""One serve per data directory, and what serve, status and rotate say about it (issue 17):
a second serve refuses before touching the first's files, a killed serve's lock blocks
nothing, status and rotate with serve stopped say so, a wrong data directory is refused,
serve's lines carry the time, and no "next: open" line while every form would answer 503."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nacl.public
import pytest

from keys.pubkey import encode_public
from onion import cli, running, state, statustext
from onion.errors import AlreadyRunning
from testkit.tornet import free_ports
from tests.onion.test_serve import STUB, Output, onion

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d onion: ")
CHANGING = {"onion/status.json"}      # the running serve rewrites it every 2 s


def listing(data: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``data`` (but status.json): inode, mtime (ns), size; for a folder
    the inode only (the running serve's status.json renames move onion/'s mtime, and a
    file made or removed shows up as a path of its own)."""
    out = {}
    for path in sorted(data.rglob("*")):
        rel = path.relative_to(data).as_posix()
        if rel in CHANGING or path.name.startswith(".status.json."):
            continue
        st = path.lstat()
        out[rel] = (st.st_ino, 0, 0) if path.is_dir() else (st.st_ino, st.st_mtime_ns,
                                                              st.st_size)
    return out


def pinned(data: Path) -> bool:
    """The first serve's web server has set the data directory's times to the day
    (app/dayclock.py, every 2 s), so they hold still while we look."""
    return all(p.stat().st_mtime % 86400 == 0 for p in data.iterdir()
               if p.is_file())


def start_serve(data: Path, torrc: Path, *extra: str) -> tuple[subprocess.Popen[str], Output]:
    """serve with its own tor, offline (DisableNetwork), and the stub app."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "onion", "--data", str(data), "serve", "--tor-config",
         str(torrc), "--wsgi", STUB, "--bind", f"127.0.0.1:{free_ports(1)[0]}", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, Output(proc)


@pytest.mark.tor
def test_a_second_serve_refuses_and_touches_nothing(tmp_path: Path, skrynka_data: Path) -> None:
    data = skrynka_data
    torrc = tmp_path / "offline.torrc"
    torrc.write_text("DisableNetwork 1\n")
    first, out = start_serve(data, torrc)
    try:
        out.wait("Ctrl-C stops", 60)
        deadline = time.monotonic() + 20
        while not pinned(data):
            assert time.monotonic() < deadline, listing(data)
            time.sleep(0.2)
        assert running.running_pid(data) == first.pid
        pid_file = running.pid_path(data)
        assert pid_file.read_text() == f"{first.pid}\n"
        assert pid_file.stat().st_mtime % 86400 == 0          # the day, not the moment
        before = listing(data)
        assert {"tor/torrc", "tor/control_auth_cookie", "onion/hostnames", "onion/serve.pid",
                "onion/services.json"} <= set(before)
        started = time.monotonic()
        second = onion("--data", str(data), "serve", "--tor-config", str(torrc), "--wsgi", STUB,
                       "--bind", f"127.0.0.1:{free_ports(1)[0]}")
        took = time.monotonic() - started
        assert listing(data) == before
        assert second.returncode == 29, second.stderr
        assert second.stderr.splitlines() == [
            f"onion: error: serve is already running (pid {first.pid}) with the data "
            f"directory {data}",
            "hint: stop it first (Ctrl-C in its terminal, `kill PID`, or stop its service); "
            "`python -m onion status` shows it"]
        assert second.stdout == ""
        assert took < 10, took
        again = onion("--data", str(data), "serve", "--init", "--tor-config", str(torrc),
                      "--wsgi", STUB, "--bind", f"127.0.0.1:{free_ports(1)[0]}")  # make run
        assert (again.returncode, again.stderr) == (29, second.stderr)
        assert again.stdout == ""  # no `app init` ran on the running instance's database
        assert listing(data) == before
        status = onion("--data", str(data), "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.splitlines()[0].startswith(f"serve:      running, pid {first.pid}")
        # the uptime comes from the kernel: status.json keeps no time finer than the day
        assert re.search(r"^uptime:     0d 0h [0-2]m \d+s$", status.stdout, re.M), status.stdout
        written = json.loads((data / "onion" / "status.json").read_text())
        assert not {"started", "updated"} & set(written), written
        rotated = onion("--data", str(data), "rotate", "--grace-seconds", "3600")
        assert rotated.returncode == 0, rotated.stderr
        assert f"onion: the running serve (pid {first.pid}) picks this up" in rotated.stdout
        out.wait("now serving: ", 30)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)
    assert first.returncode == 0, out.text
    said = [line for line in out.lines if " onion: " in line or line.startswith("onion: ")]
    assert said and all(STAMP.match(line) for line in said), said
    # offline: tor uploaded nothing, so serve must not say it did
    assert "descriptor published" not in out.text
    # no analyst key in this data directory: no "open the onion address" line
    assert "next: " not in out.text
    keys = data / "analysts.pub"
    assert (f"no usable analyst key (no analyst keys file at {keys}): every form page answers "
            f"503 and no report can be sent until an analyst key is added to {keys}") in out.text
    assert "hint: on the analyst's offline laptop run `python -m keys keygen`" in out.text
    assert running.running_pid(data) is None
    assert running.pid_path(data).read_text() == ""                # emptied when serve stops


_HOLDER = """
import sys, time
from pathlib import Path
from onion import running
with running.hold(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_serves_lock_blocks_nothing(skrynka_data: Path) -> None:
    """The kernel drops the lock with the process: the pid left in the file means nothing."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(skrynka_data)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    assert running.running_pid(skrynka_data) == holder.pid
    with pytest.raises(AlreadyRunning) as refused, running.hold(skrynka_data, wait=0.2):
        pass
    assert refused.value.exit_code == 29
    assert str(refused.value) == (f"serve is already running (pid {holder.pid}) with the "
                                  f"data directory {skrynka_data}")
    holder.kill()
    holder.wait(10)
    assert running.pid_path(skrynka_data).read_text() == f"{holder.pid}\n"  # stale
    assert running.running_pid(skrynka_data) is None
    with running.hold(skrynka_data, wait=0):
        assert running.running_pid(skrynka_data) == os.getpid()


_LIGHT = """
import sys
from onion import cli
codes = [cli.main(["--data", sys.argv[1], "rotate"]), cli.main(["--data", sys.argv[1], "status"])]
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"flask", "sqlalchemy", "stem", "app"})
print("RESULT", codes, heavy)
"""


def test_rotate_and_status_load_neither_flask_nor_stem(skrynka_data: Path) -> None:
    """A serve that never ran since ``rotate``: status lists both addresses, unpublished; and
    neither command imports the web app, SQLAlchemy or stem."""
    state.ensure_services(skrynka_data)
    res = subprocess.run([sys.executable, "-c", _LIGHT, str(skrynka_data)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.splitlines()[-1] == "RESULT [0, 27] []", res.stdout + res.stderr
    assert res.stdout.count("configured (") == 2 and "serve:      NOT running" in res.stdout


def test_status_while_serve_starts() -> None:
    """serve holds the lock but has not written status.json yet (or an old one is there)."""
    old = {"pid": 4242, "running": True, "started": 0, "services": []}
    for st in (None, old):
        assert statustext.running(77, st) == [
            "serve:      running, pid 77 (starting: no status written yet)"]
    assert statustext.running(4242, old)[0] == "serve:      running, pid 4242"


def test_status_and_rotate_with_serve_stopped(skrynka_data: Path) -> None:
    """What a serve killed with SIGKILL leaves: status.json still saying "running" and
    "published", with a pid that is alive again (here: this test's)."""
    data = skrynka_data
    (old,) = state.ensure_services(data)
    state.write_status(data, {
        "pid": os.getpid(), "running": True, "started": 0, "mode": "launched",
        "bootstrap": 100, "grace_seconds": 7 * 86400.0,
        "services": [{"address": old.address, "published": True, "retire_at": None}]})
    status = onion("--data", str(data), "status")
    assert status.returncode == 27, status.stderr
    assert status.stdout.splitlines() == [
        "serve:      NOT running: no onion address is published (start it with `make run` or "
        "`python -m onion serve`)",
        f"address:    {old.address}  configured (current), not published: serve is not running"]
    rotated = onion("--data", str(data), "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "picks this up" not in rotated.stdout
    assert ("onion: serve is not running: the new address is published at its next start, "
            "with the old one for its grace period") in rotated.stdout
    new = next(s for s in state.load_services(data) if s.superseded_at is None)
    status = onion("--data", str(data), "status")
    assert status.returncode == 27
    lines = status.stdout.splitlines()
    assert re.fullmatch(rf"address:    {old.address}  configured \(old, kept until "
                        r"\d{4}-\d\d-\d\d\), not published: serve is not running", lines[1])
    assert lines[2] == (f"address:    {new.address}  configured (current), not published: "
                        "serve is not running")
    assert "descriptor published" not in status.stdout


@pytest.mark.tor
def test_serve_init_makes_a_new_data_directory_once_it_holds_the_lock(tmp_path: Path) -> None:
    """`make run` on a fresh clone: `serve --init` makes the data directory and database."""
    data = tmp_path / "new" / "data"
    torrc = tmp_path / "offline.torrc"
    torrc.write_text("DisableNetwork 1\n")
    proc, out = start_serve(data, torrc, "--init")
    try:
        out.wait("Ctrl-C stops", 60)
        assert (data / "export.key").is_file() and (data / "skrynka.db").is_file()
        assert data.stat().st_mode & 0o777 == 0o700
        assert "database ready at schema" in out.text and "export key made: " in out.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, out.text


@pytest.mark.parametrize("command", [["status"], ["rotate"], ["serve", "--control-port", "9"]])
@pytest.mark.parametrize("empty", [False, True], ids=["missing", "empty"])
def test_a_wrong_data_directory_is_refused_and_nothing_made(
        tmp_path: Path, command: list[str], empty: bool) -> None:
    data = tmp_path / "nowhere"
    if empty:
        data.mkdir()
    res = onion("--data", str(data), *command)
    assert res.returncode == 2, res.stdout + res.stderr
    why = "it is empty" if empty else "no such directory"
    assert res.stderr.splitlines() == [
        f"onion: error: no Skrynka data directory at {data} ({why})",
        "hint: make it with `python -m app init`, or name the right one with --data DIR or "
        "SKRYNKA_DATA (without either: the checkout's data/)"]
    assert (list(data.iterdir()) == []) if empty else not data.exists()


def test_tor_config_is_refused_in_attach_mode(tmp_path: Path) -> None:
    (tmp_path / "extra.torrc").write_text("HiddenServiceEnableIntroDoSDefense 1\n")
    for attach in (["--control-port", "9051"], ["--control-socket", "/run/tor/control"]):
        res = onion("--data", str(tmp_path), "serve", *attach, "--tor-config",
                    str(tmp_path / "extra.torrc"))
        assert res.returncode == 2
        assert res.stderr.splitlines() == [
            "onion: error: --tor-config is for the tor serve launches; with --control-port or "
            "--control-socket serve attaches to your tor and cannot configure it",
            "hint: put those lines into that tor's own torrc (see torrc.example) and reload "
            "it, then run serve without --tor-config"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extra.torrc"]


@pytest.mark.parametrize("command", ["serve", "rotate"])
def test_grace_seconds_is_in_the_help(command: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--grace-seconds SECONDS the same in seconds (overrides --grace-days; for tests)" \
        in text


def test_serve_lines_carry_the_time(capsys: pytest.CaptureFixture[str]) -> None:
    cli.say_at("onion address: http://x.onion/")
    line = capsys.readouterr().out
    assert STAMP.match(line) and line.endswith(" onion: onion address: http://x.onion/\n")
    moment = time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    assert abs(time.mktime(moment) - time.time()) < 5


def test_next_line_only_with_a_usable_analyst_key(skrynka_data: Path) -> None:
    from onion.serve import ServeConfig, Server

    state.ensure_services(skrynka_data)
    said: list[str] = []
    server = Server(ServeConfig(data=skrynka_data, env={}), said.append)
    server.services = state.load_services(skrynka_data)
    keys = skrynka_data / "analysts.pub"
    keys.write_text("skrynka1 not a key\n")
    server.announce()
    assert not any(line.startswith("next: ") for line in said)
    assert any(f"until an analyst key is added to {keys}" in line for line in said)
    keys.write_text(encode_public(bytes(nacl.public.PrivateKey.generate().public_key)) + "\n")
    said.clear()
    server.announce()
    assert said[-1].startswith("next: wait for 'descriptor published'")
    assert not any("503" in line for line in said)
