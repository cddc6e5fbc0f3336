"""testkit/hostile/batch_reader.py (the hostile tests' own strict reader) agrees with the
reference on the rules issue 14 resolved: on the SPEC vectors a healthy server's batch
passes, and each batch the reference rejects for a resolved rule is a BatchProblem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from testkit.hostile.batch_reader import BatchProblem, decrypt_batch

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
INDEX = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))
KEY_A = PrivateKey(bytes.fromhex(INDEX["keys"]["a"]["private"]))


def test_a_healthy_batch_passes() -> None:
    assert len(decrypt_batch(VECTORS / "batch-1.skb", KEY_A)) == 2


@pytest.mark.parametrize("name", ["batch-report-surrogate.skb", "batch-report-deep.skb",
                                  "batch-manifest-version-string.skb",
                                  "batch-manifest-version-true.skb", "batch-skip.skb"])
def test_resolved_rules_are_problems(name: str) -> None:
    with pytest.raises(BatchProblem):
        decrypt_batch(VECTORS / name, KEY_A)
