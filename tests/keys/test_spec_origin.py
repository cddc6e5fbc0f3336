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
                  allow_unsigned=run["allow_unsigned"], new_chain=run["new_chain"],
                  signers=tuple(decode_signer(INDEX["signers"][n]["public"])
                                for n in run.get("signers", [])),
                  add_signers=tuple(decode_signer(INDEX["signers"][n]["public"])
                                    for n in run.get("add_signers", [])))
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
    """What SPEC 6.3 says an output directory keeps: the pinned signers, each chain's
    owner, the known chains, each recorded seq's report id and envelope hash."""

    def __init__(self) -> None:
        self.signers: list[bytes] = []
        self.owners: dict[str, bytes] = {}
        self.seqs: dict[tuple[str, int], tuple[str, str]] = {}

    def _pin(self, run: dict[str, Any], signers: list[bytes | None]) -> bool:
        """The options; False: the whole run is refused."""
        given = [k for k in [_signer(run["signer"])] + [_signer(n) for n in run.get(
            "signers", [])] if k is not None]
        added = [_signer(n) for n in run.get("add_signers", [])]
        if given or added:
            if self.signers and any(k not in self.signers for k in given):
                return False
            for k in given + added:
                if k is not None and k not in self.signers:
                    self.signers.append(k)
        elif not self.signers and run["trust_first"]:
            distinct = {s for s in signers if s is not None}
            if len(distinct) > 1:
                return False
            self.signers = list(distinct)
        return True

    def _known(self) -> set[str]:
        return {chain for chain, _ in self.seqs} | set(self.owners)

    def run(self, run: dict[str, Any]) -> str:
        read = [spec_read_batch((VECTORS / b).read_bytes(), KEYS["a"]) for b in run["batches"]]
        blobs = [(VECTORS / b).read_bytes() for b in run["batches"]]
        signers = [blob[45 + int.from_bytes(blob[9:13], "big"):][:32] if blob[8] == 2 else None
                   for blob in blobs]
        if not self._pin(run, signers):
            return "OriginError"
        verdict = "ok"
        accepted = []
        for (manifest, _), signer in zip(read, signers):
            unsigned_ok = signer is None and not self.signers and run["allow_unsigned"]
            owner = self.owners.get(manifest["chain_id"])
            if not unsigned_ok and (signer not in self.signers
                                    or owner not in (None, signer)):
                verdict = "OriginError"
            else:
                accepted.append((manifest, signer))
        keys: dict[str, set[bytes]] = {}
        for m, signer in accepted:
            if signer is not None and m["chain_id"] not in self.owners:
                keys.setdefault(m["chain_id"], set()).add(signer)
        if any(len(k) > 1 for k in keys.values()):
            verdict = "OriginError"
            accepted = [(m, s) for m, s in accepted if len(keys.get(m["chain_id"], ())) < 2]
        known = self._known()
        for signer in {s for _, s in accepted}:
            new = {m["chain_id"] for m, s in accepted if s == signer} - known
            has = any(self.owners.get(c) in (None, signer) for c in known)
            if new and not run["new_chain"] and (len(new) > 1 or has):
                verdict = "OriginError"
                accepted = [(m, s) for m, s in accepted if s != signer or m["chain_id"] not in new]
        for m, signer in accepted:
            if signer is not None:
                self.owners.setdefault(m["chain_id"], signer)
        return self._record([m for m, _ in accepted], verdict)

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
