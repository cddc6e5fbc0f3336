"""README's Operators section, followed as printed.

Every ``sh`` code block of the section is preceded by a marker: ``<!-- readme-test: run -->``
(this test runs each of its commands, in order, from a directory outside the checkout,
with the console commands on PATH, through a terminal so that passphrase prompts work) or
``<!-- readme-test: not run: WHY -->``. A block without a marker fails the test, so a new
example cannot slip in untested. Words the marker names as placeholders are bound to
what the earlier commands made (a file of that name in the working directory, or the
address rotate retired). serve is given ``--tor-config`` with ``DisableNetwork 1``: no
test talks to the Tor network.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nacl.public
import pytest

from keys.pubkey import encode_public
from onion import state
from testkit.terminal import on_terminal
from testkit.tornet import free_ports
from tests.onion.test_serve import Output

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARK = re.compile(r"<!-- readme-test: (run|not run: [^>]+?)(?: \([^>]*\))? ?-->\n"
                  r"```sh\n(.*?)```", re.S)
BLOCK = re.compile(r"```sh\n")
PASSPHRASE = "correct horse battery staple orbit"
OFFLINE = "--tor-config offline.torrc"

pytestmark = pytest.mark.skipif(not (BIN / "skrynka").exists(),
                                reason="the console commands are not installed (make setup)")


@dataclass
class Block:
    run: bool
    why: str
    commands: list[str]


def operators_section() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    return text[text.index("\n## Operators\n"):text.index("\n## Analysts\n")]


def blocks() -> list[Block]:
    section = operators_section()
    found = [Block(m.group(1) == "run", m.group(1), commands(m.group(2)))
             for m in MARK.finditer(section)]
    assert len(found) == len(BLOCK.findall(section)), "an sh block without a readme-test marker"
    return found


def commands(body: str) -> list[str]:
    """The block's commands: continuation lines joined, comment lines left out."""
    out: list[str] = []
    for line in body.replace("\\\n", "").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(line)
    return out


def in_terminal(command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run ``command`` with bash on a new terminal; answer every passphrase prompt."""
    answered = 0

    def answer(_chunk: bytes, output: bytes) -> bytes | None:
        nonlocal answered
        if answered < len(re.findall(rb"(?i)passphrase[^\n]*: |Repeat it: ", output)):
            answered += 1
            return PASSPHRASE.encode()
        return None

    return on_terminal(["/bin/bash", "-c", command], cwd, answer, env)


@pytest.fixture
def operator(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An operator's shell: HOME and the working directory outside the checkout, the
    commands on PATH, SKRYNKA_DATA a drop initialised with one analyst key."""
    home, work, data = tmp_path / "home", tmp_path / "work", tmp_path / "data"
    home.mkdir()
    work.mkdir()
    env = {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home),
           "SKRYNKA_DATA": str(data), "LANG": "C.UTF-8", "TERM": "dumb"}
    init = subprocess.run(["skrynka", "init"], env=env, cwd=work, capture_output=True,
                          text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    key = nacl.public.PrivateKey.generate()
    (data / "analysts.pub").write_text(encode_public(bytes(key.public_key)) + "\n")
    (work / "offline.torrc").write_text("DisableNetwork 1\n")
    return env, work


def file_a_report(data: Path) -> None:
    """One report through the app itself (as a voter's would arrive), so export has one."""
    from app import create_app
    from app.config import Config
    from tests.app.helpers import post, valid_fields

    env = {"SKRYNKA_DATA": str(data), "SKRYNKA_ALLOW_LOCAL_HOST": "1"}
    app = create_app(Config.from_env(env), TESTING=True)
    try:
        resp = post(app.test_client(), "/en/", valid_fields("en"))
        assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    finally:
        app.extensions["skrynka"].store.close()


def start_serve(env: dict[str, str], work: Path, argv: list[str]) -> tuple[
        subprocess.Popen[str], Output]:
    proc = subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = Output(proc)
    out.wait("Ctrl-C stops", 90)
    return proc, out


def stop(proc: subprocess.Popen[str], out: Output) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    assert proc.returncode == 0, out.text


def test_every_block_has_a_marker() -> None:
    found = blocks()
    assert sum(b.run for b in found) >= 3
    assert all(b.commands for b in found)
    for b in found:
        assert b.run or len(b.why) > len("not run: ") + 20, b.why  # a reason, not a shrug


@pytest.mark.tor
def test_the_operators_commands_run_as_printed(operator: tuple[dict[str, str], Path]) -> None:
    env, work = operator
    data = Path(env["SKRYNKA_DATA"])
    run_blocks = [b for b in blocks() if b.run]
    serve_argv = ["skrynka-onion", "serve", *OFFLINE.split(), "--bind",
                  f"127.0.0.1:{free_ports(1)[0]}"]
    proc, out = start_serve(env, work, serve_argv)
    try:
        file_a_report(data)
        for block in run_blocks:
            run_block(block, env, work, data)
    finally:
        if proc.poll() is None:
            stop(proc, out)
    assert list(work.glob("batch-*.skb")), "the daily export wrote no batch"
    assert (work / "ANNOUNCEMENT.sig").is_file() and (work / "REVOCATION").is_file()


def run_block(block: Block, env: dict[str, str], work: Path, data: Path) -> None:
    for command in block.commands:
        command = bind(command, work, data)
        if " serve" in command.split("#")[0]:
            run_serve_line(command, env, work)
            continue
        code, text = in_terminal(command, env, work)
        assert code == 0, f"{command}\n{text}"
        collect_staff_key(command, text, work)


def collect_staff_key(command: str, text: str, work: Path) -> None:
    """The staging block's python line prints a key pair; the operator collects the public
    key into staff.keys (what the README says between its two commands)."""
    m = re.search(r"^public +([A-Z2-7]{52})\s*$", text, re.M)
    if command.startswith("python -c") and m:
        (work / "staff.keys").write_text(m.group(1) + "\n")


def bind(command: str, work: Path, data: Path) -> str:
    """The README's placeholders: ANNOUNCEMENT is the file rotate wrote (copied here),
    OLD.onion the address it retired, staff.keys the public keys the python line gave."""
    if "ANNOUNCEMENT" in command and not (work / "ANNOUNCEMENT").exists():
        written = sorted((data / "onion" / "announcements").glob("*.txt"))
        shutil.copy(written[-1], work / "ANNOUNCEMENT")
    if "OLD.onion" in command:
        old = [s.address for s in state.load_services(data) if s.superseded_at is not None]
        command = command.replace("OLD.onion", old[-1])  # what rotate wrote
    return command


def run_serve_line(command: str, env: dict[str, str], work: Path) -> None:
    """A serve line starts a drop that runs until stopped: wait for its 'Ctrl-C stops',
    then stop it (offline: no traffic leaves the machine)."""
    if "staff.keys" in command and not (work / "staff.keys").exists():
        raise AssertionError("staff.keys: the python line's public key was not collected")
    argv = ["bash", "-c", command.split("#")[0].replace(" serve ", f" serve {OFFLINE} ", 1)]
    proc, out = start_serve(env, work, argv)
    assert "onion address: http://" in out.text
    stop(proc, out)
