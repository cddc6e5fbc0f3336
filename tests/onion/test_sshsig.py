"""Announcements checked with a standard tool: OpenSSH's ``ssh-keygen -Y verify`` (Debian's
openssh-client, installed by ``scripts/system-deps.sh test``) on signatures made by
``python -m onion sign``, with the exact command onion/ANNOUNCEMENT.md gives; and the other
way round, a signature ssh-keygen made checks with ``python -m onion verify``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onion import announce, rotation, sshsig, state
from tests.onion.conftest import STRONG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    assert found, "ssh-keygen is missing: run `scripts/system-deps.sh test` (openssh-client)"
    return found


def _onion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "onion", *args], cwd=cwd, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert res.returncode == 0, res.stderr
    return res


def _ssh_verify(ssh_keygen: str, cwd: Path, allowed: str,
                name: str) -> subprocess.CompletedProcess[str]:
    """The command of onion/ANNOUNCEMENT.md, as a voter would type it."""
    with open(cwd / name, "rb") as message:
        return subprocess.run([ssh_keygen, "-Y", "verify", "-f", allowed, "-I", "skrynka", "-n",
                               "skrynka-announcement", "-s", f"{name}.sig"], cwd=cwd,
                              stdin=message, capture_output=True, text=True, timeout=60)


def test_ssh_keygen_verifies_what_our_cli_signed(ssh_keygen: str, tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes(STRONG)
    _onion("signing-keygen", "--out", "signing.key", "--passphrase-file", "pw",
           "--kdf-memory-mib", "64", "--kdf-passes", "1", cwd=tmp_path)
    state.ensure_services(tmp_path / "data")
    path, new = rotation.rotate(tmp_path / "data", 86400.0)
    (tmp_path / "ANNOUNCEMENT").write_text(path.read_text())
    _onion("sign", "--key", "signing.key", "--passphrase-file", "pw", "ANNOUNCEMENT",
           cwd=tmp_path)
    good = _ssh_verify(ssh_keygen, tmp_path, "signing.key.allowed_signers", "ANNOUNCEMENT")
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith('Good "skrynka-announcement" signature for skrynka with '
                                  "ED25519 key")
    # the revocation too
    _onion("revoke", new, "--out", "REVOCATION", cwd=tmp_path)
    _onion("sign", "--key", "signing.key", "--passphrase-file", "pw", "REVOCATION",
           cwd=tmp_path)
    assert _ssh_verify(ssh_keygen, tmp_path, "signing.key.allowed_signers",
                       "REVOCATION").returncode == 0
    # altered by one character: ssh-keygen says no
    text = (tmp_path / "ANNOUNCEMENT").read_text()
    (tmp_path / "ANNOUNCEMENT").write_text(text.replace("serial: 1", "serial: 7"))
    bad = _ssh_verify(ssh_keygen, tmp_path, "signing.key.allowed_signers", "ANNOUNCEMENT")
    assert bad.returncode != 0 and "Good" not in bad.stdout
    # another key in allowed_signers: no
    (tmp_path / "ANNOUNCEMENT").write_text(text)
    other = tmp_path / "other_signers"
    other.write_text(sshsig.allowed_signers_line(bytes(32 * [7])) + "\n")
    assert _ssh_verify(ssh_keygen, tmp_path, str(other), "ANNOUNCEMENT").returncode != 0


def test_our_verify_accepts_a_signature_made_by_ssh_keygen(ssh_keygen: str,
                                                           tmp_path: Path) -> None:
    """The same format both ways: an organisation could even sign with ssh-keygen."""
    subprocess.run([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")],
                   check=True, timeout=60)
    state.ensure_services(tmp_path / "data")
    path, new = rotation.rotate(tmp_path / "data", 86400.0)
    ann = announce.parse(path.read_text())
    assert isinstance(ann, announce.Announcement)
    (tmp_path / "A").write_text(announce.Announcement(
        ann.old, ann.new, ann.valid_from, ann.old_until, 1, "2999-01-01").body())
    subprocess.run([ssh_keygen, "-Y", "sign", "-f", str(tmp_path / "id"), "-n",
                    "skrynka-announcement", str(tmp_path / "A")], check=True,
                   capture_output=True, timeout=60)
    res = _onion("verify", "--verify-key", "id.pub", "--state", "seen.json", "A", cwd=tmp_path)
    assert res.stdout.startswith("GOOD SIGNATURE: ") and f"-> {new}," in res.stdout
