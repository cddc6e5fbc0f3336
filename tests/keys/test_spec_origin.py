"""SPEC.md section 6 (signed batches, origin): the ``origin`` cases of
``tests/vectors/index.json``, through the analyst's decryptor and through
``spec_origin`` below, written from SPEC 6.3-6.4 alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keys import errors
from keys.decrypt import decrypt_batches
from keys.origin import Trust
from keys.signature import decode_signer
from tests.keys.test_spec_vectors import INDEX, KEYS, VECTORS, spec_read_batch

CASES = INDEX["origin"]


def _signer(name: str | None) -> bytes | None:
    return None if name is None else decode_signer(INDEX["signers"][name]["public"])


def _outcome(run: dict[str, Any], out: Path) -> tuple[str, int]:
    trust = Trust(signer=_signer(run["signer"]), trust_first=run["trust_first"],
                  allow_unsigned=run["allow_unsigned"], new_chain=run["new_chain"])
    summary = None
    try:
        summary = decrypt_batches(KEYS["a"], [VECTORS / b for b in run["batches"]], out,
                                  trust=trust)
        summary.raise_for_problems()
    except errors.KeysError as exc:
        return type(exc).__name__, summary.quarantined if summary else 0
    return "ok", summary.quarantined


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["why"][:60])
def test_origin_case_through_decryptor(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    for number, run in enumerate(case["runs"], 1):
        assert _outcome(run, out) == (run["expect"], run["quarantined"]), (number, run)
    quarantined = sum(r["quarantined"] for r in case["runs"])
    kept = list((out / "quarantine").glob("*/*/new-*/report.json"))
    assert len(kept) == quarantined
    for report in kept:  # the recorded version is beside the new one, and described
        folder = report.parent.parent
        recorded = json.loads((folder / "recorded.json").read_text())
        assert (folder / "recorded" / "report.json").is_file()
        assert (out / recorded["folder"] / "report.json").is_file()


class _Dir:
    """What SPEC 6.3 says an output directory keeps: the pinned signer, the known
    chains, each recorded seq's report id and envelope hash."""

    def __init__(self) -> None:
        self.signer: bytes | None = None
        self.seqs: dict[tuple[str, int], tuple[str, str]] = {}

    def run(self, run: dict[str, Any]) -> str:
        read = [spec_read_batch((VECTORS / b).read_bytes(), KEYS["a"]) for b in run["batches"]]
        blobs = [(VECTORS / b).read_bytes() for b in run["batches"]]
        signers = [blob[45 + int.from_bytes(blob[9:13], "big"):][:32] if blob[8] == 2 else None
                   for blob in blobs]
        given = _signer(run["signer"])
        if given is not None and self.signer not in (None, given):
            return "OriginError"
        if self.signer is None and given is not None:
            self.signer = given
        elif self.signer is None and run["trust_first"]:
            distinct = {s for s in signers if s is not None}
            if len(distinct) > 1:
                return "OriginError"
            self.signer = distinct.pop() if distinct else None
        verdict = "ok"
        accepted = []
        for (manifest, _), signer in zip(read, signers):
            unsigned_ok = signer is None and self.signer is None and run["allow_unsigned"]
            if not unsigned_ok and (signer is None or signer != self.signer):
                verdict = "OriginError"
            else:
                accepted.append(manifest)
        known = {chain for chain, _ in self.seqs}
        new = {m["chain_id"] for m in accepted} - known
        if not run["new_chain"] and (len(new) > 1 or (known and new)):
            verdict = "OriginError"
            accepted = [m for m in accepted if m["chain_id"] not in new]
        return self._record(accepted, verdict)

    def _record(self, accepted: list[dict[str, Any]], verdict: str) -> str:
        conflict = False
        for m in accepted:
            for rep in m["reports"]:
                key, value = (m["chain_id"], rep["seq"]), (rep["id"], rep["sha256"])
                if self.seqs.setdefault(key, value) != value:
                    conflict = True  # SPEC 6.4: both kept, VerificationError
        if verdict == "ok" and conflict:
            return "VerificationError"
        return verdict


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["why"][:60])
def test_origin_case_against_spec(case: dict[str, Any]) -> None:
    directory = _Dir()
    assert [directory.run(r) for r in case["runs"]] == [r["expect"] for r in case["runs"]]


def test_signer_texts_in_the_index() -> None:
    from nacl.signing import SigningKey

    from keys.signature import encode_signer

    for entry in INDEX["signers"].values():
        key = SigningKey(bytes.fromhex(entry["seed"]))
        assert encode_signer(bytes(key.verify_key)) == entry["public"]
        assert decode_signer(entry["public"].upper()) == bytes(key.verify_key)
