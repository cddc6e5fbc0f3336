"""The analyst's offline tool on thousands of damaged batches (seeded, bounded).

Bit flips, truncations and splices of a valid batch: each run ends in a clean
error (a KeysError, never a crash), the damaged report is named and not written,
and every report the damage did not reach is decrypted exactly.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from testkit.hostile.mutations import Mutation, Unclean, build, check, run_mutations

SEED = int(os.environ.get("HOSTILE_SEED", "20261124"))


def _work(tmp_path: Path) -> Path:
    # decrypt fsyncs every file; on a tmpfs that is free, so thousands of runs stay fast
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="hostile-", dir=shm))
    return tmp_path


@pytest.mark.slow
def test_thousands_of_mutations_end_cleanly(tmp_path: Path) -> None:
    work = _work(tmp_path)
    try:
        stats = run_mutations(2000, SEED, work, time_limit=120)
    finally:
        if work != tmp_path:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    print(f"\nbatch mutations: {stats.runs} runs in {stats.seconds:.1f} s; "
          f"kinds {dict(stats.kinds)}; outcomes {dict(stats.outcomes)}")
    assert stats.runs >= 1500, "too few mutations ran within the time limit"
    # every kind of damage was tried, and both whole-batch errors and partial output seen
    assert set(stats.kinds) == {"flip", "truncate", "delete", "insert", "duplicate",
                                "overwrite"}
    assert stats.outcomes["partial"] > 0
    assert any(k.startswith("error:") for k in stats.outcomes)


def test_checker_notices_unnoticed_damage(tmp_path: Path) -> None:
    """The checker itself can fail: an undamaged batch passed off as damaged is caught."""
    key = PrivateKey.generate()
    orig = build(random.Random(SEED), key, 3)
    fake = Mutation("flip", orig.data, orig.body_start)
    with pytest.raises(Unclean, match="unnoticed"):
        check(orig, fake, key, tmp_path)
    # and a damaged report is never written, while the others are
    data = bytearray(orig.data)
    target = orig.reports[1]
    data[target.start + 200] ^= 0x10
    outcome = check(orig, Mutation("flip", bytes(data), target.start + 200), key, tmp_path)
    assert outcome == "partial"
