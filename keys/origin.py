"""Which batches of a run an output directory accepts, by who signed them (SPEC.md 6.3).

An output directory pins one signer (the server's export key) in its state:
from ``--signer`` or, once and loudly, from the batches themselves with
``--trust-first-signer``. Then only batches signed by that key are decrypted;
an unsigned (version 1) batch needs ``--allow-unsigned`` and only while no
signer is pinned; a chain the directory does not know needs ``--new-chain``
once it knows one. A refused batch is refused whole, before any of it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from keys.errors import OriginError
from keys.reader import BatchFile
from keys.signature import describe
from keys.state import State

_PIN_HINT = ("give --signer with the skrynka-export1… key the operator gave you, or, for a "
             "directory's first batch only, --trust-first-signer")


@dataclass(frozen=True)
class Trust:
    """The analyst's decisions on the command line."""

    signer: bytes | None = None  # --signer: the export key to pin
    trust_first: bool = False  # --trust-first-signer: pin the key the batches are signed with
    allow_unsigned: bool = False  # --allow-unsigned: accept version 1 while no key is pinned
    new_chain: bool = False  # --new-chain: accept chains the directory does not know


STRICT = Trust()  # no flag: only the pinned signer's batches


@dataclass
class Verdict:
    accepted: list[BatchFile] = field(default_factory=list)
    refused: list[OriginError] = field(default_factory=list)
    pinned_now: bytes | None = None  # the signer this run pinned (print it loudly)
    new_chains: list[bytes] = field(default_factory=list)  # accepted with --new-chain


def pin(state: State, files: Sequence[BatchFile], trust: Trust) -> bytes | None:
    """Pin the directory's signer if the run says so; return the newly pinned key.

    Raises OriginError (nothing is decrypted) when ``--signer`` names another key
    than the one pinned, or ``--trust-first-signer`` meets batches by several keys.
    """
    if trust.signer is not None:
        if state.signer is not None and state.signer != trust.signer:
            raise OriginError(
                f"this output directory trusts the export key {describe(state.signer)}; "
                f"--signer names {describe(trust.signer)}",
                hint="decrypt another server's batches into another output directory")
        if state.signer is None:
            state.signer = trust.signer
            return trust.signer
        return None
    if state.signer is not None or not trust.trust_first:
        return None
    signers = sorted({f.manifest.signer for f in files if f.manifest.signer is not None})
    if len(signers) > 1:
        raise OriginError(
            f"--trust-first-signer: these batches are signed by {len(signers)} different keys "
            f"({', '.join(describe(s) for s in signers)}); not trusting any",
            hint="ask the operator which export key is the server's and give it with --signer")
    if signers:
        state.signer = signers[0]
        return signers[0]
    return None


def _refusal(bf: BatchFile, state: State, trust: Trust) -> OriginError | None:
    signer = bf.manifest.signer
    if signer is None:
        if state.signer is not None:
            return OriginError(
                f"{bf.name}: unsigned (version 1) batch, and this directory trusts the export "
                f"key {describe(state.signer)}; refused",
                hint="a genuine server of this version signs every batch: ask for it again")
        if not trust.allow_unsigned:
            return OriginError(f"{bf.name}: unsigned (version 1) batch; anyone can make one",
                               hint="only for batches of an old server: --allow-unsigned")
        return None
    if state.signer is None:
        return OriginError(
            f"{bf.name}: signed by {describe(signer)}, and this directory trusts no export key "
            "yet", hint=_PIN_HINT)
    if signer != state.signer:
        return OriginError(
            f"{bf.name}: signed by {describe(signer)}, not by the trusted export key "
            f"{describe(state.signer)}; refused (forged, or another server)",
            hint="decrypt another server's batches into another output directory")
    return None


def check(state: State, files: Sequence[BatchFile], trust: Trust) -> Verdict:
    """Split a run's batches into accepted and refused (pinning first, see :func:`pin`)."""
    verdict = Verdict(pinned_now=pin(state, files, trust))
    for bf in files:
        refusal = _refusal(bf, state, trust)
        if refusal is None:
            verdict.accepted.append(bf)
        else:
            verdict.refused.append(refusal)
    known = set(state.chains)
    new = sorted({bf.manifest.chain_id for bf in verdict.accepted} - known)
    if trust.new_chain or (not known and len(new) <= 1):
        verdict.new_chains = new if known or len(new) > 1 else []
        return verdict
    for bf in list(verdict.accepted):
        if bf.manifest.chain_id in new:
            verdict.accepted.remove(bf)
            what = ("this directory already holds reports of another chain" if known else
                    f"this run brings {len(new)} chains at once")
            verdict.refused.append(OriginError(
                f"{bf.name}: new server chain {bf.manifest.chain_id.hex()}; {what}; refused",
                hint="a new chain means the server was re-initialised (its unexported reports "
                     "are lost) or is another server; if you know it was, give --new-chain"))
    return verdict
