"""Rotation over the private Tor network: both addresses answer during the grace period,
the signed announcement verifies, and the old address is gone once the period is over.

Runs last in this folder (file order): it changes the served address."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from onion.errors import AnnouncementError
from testkit.onion_serve import Served, run

pytestmark = [pytest.mark.e2e, pytest.mark.tor]

GRACE = 90.0


def test_rotation_serves_both_then_retires_old(served: Served, tmp_path: Path) -> None:
    old = served.address
    key = tmp_path / "signing.key"
    pw = tmp_path / "pw"
    pw.write_text("ember quarry lantern velvet oboe\n")
    run(["-m", "onion", "signing-keygen", "--out", str(key), "--passphrase-file", str(pw),
         "--kdf-memory-mib", "64", "--kdf-passes", "1"], served.env)
    res = run(["-m", "onion", "rotate", "--grace-seconds", str(GRACE), "--signing-key",
               str(key), "--passphrase-file", str(pw)], served.env)
    t0 = time.monotonic()
    new = served.address
    assert new != old and new in res.stdout
    announcement = next(line.split("announcement: ", 1)[1] for line in res.stdout.splitlines()
                        if "announcement: " in line)

    seen = ["--state", str(tmp_path / "seen.json")]
    ok = run(["-m", "onion", "verify", "--verify-key", str(key) + ".pub", *seen, announcement],
             served.env)
    assert f"{old} -> {new}" in ok.stdout
    tampered = tmp_path / "tampered.txt"
    signed = Path(announcement).read_text()
    valid_from = next(line.split(": ", 1)[1] for line in signed.splitlines()
                      if line.startswith("valid-from: "))
    tampered.write_text(signed.replace(valid_from, "2001-01-01"))  # summary + field lines
    Path(f"{tampered}.sig").write_text(Path(f"{announcement}.sig").read_text())
    bad = run(["-m", "onion", "verify", "--verify-key", str(key) + ".pub", *seen,
               str(tampered)], served.env, check=False)
    assert bad.returncode == AnnouncementError.exit_code, bad.stderr
    assert "BAD SIGNATURE" in bad.stderr, bad.stderr

    served.wait_for(lambda: sorted(served.hostnames()) == sorted([old, new]), 15,
                    "both addresses in the hostnames file")
    served.wait_for(lambda: all(s["published"] for s in served.status()["services"]), 45,
                    "the new descriptor to be uploaded")
    assert served.fetch(new, "/en/", timeout=GRACE - 50).status == 200
    assert served.fetch(old, "/en/", timeout=15).status == 200
    assert time.monotonic() - t0 < GRACE, "too slow to check both inside the grace period"

    served.wait_for(lambda: served.hostnames() == [new], GRACE + 20, "the old address retired")
    deadline = time.monotonic() + 90
    gone = served.curl(f"http://{old}/en/", max_time=20)
    while gone.code == 0 and time.monotonic() < deadline:
        time.sleep(2)
        gone = served.curl(f"http://{old}/en/", max_time=20)
    assert gone.code != 0, "the old address still answers after its grace period"
    assert served.fetch(new, "/en/", timeout=60).status == 200
    assert [s["address"] for s in served.services()] == [new]
    assert not (served.data / "onion" / "keys" / (old[:-6] + ".key")).exists()
