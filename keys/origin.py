"""Which batches of a run an output directory accepts, by who signed them (SPEC.md 6.3).

An output directory pins the export keys of the servers it takes batches from
(one, or one per backend when several serve one onion address): from ``--signer``
(repeatable) on its first run, later one at a time and loudly with
``--add-signer``, or, once and for one key only, from the batches themselves with
``--trust-first-signer``. Then only batches signed by a pinned key are decrypted,
and each chain only from the key that signed its first accepted batch (a backend
cannot write into another's chain). An unsigned (version 1) batch needs
``--allow-unsigned`` and only while no signer is pinned; a chain the directory
does not know needs ``--new-chain`` once its signer has one (a key's first chain
needs no flag). A refused batch is refused whole, before any of it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from keys.errors import OriginError
from keys.reader import BatchFile
from keys.signature import describe, fingerprint
from keys.state import State

_PIN_HINT = ("give --signer with the skrynka-export1… key the operator gave you, or, for a "
             "directory's first batch only, --trust-first-signer")
_OTHER_DIR = "decrypt another server's batches into another output directory"
_ADD_HINT = (_OTHER_DIR + "; only if the operator gave you this key for another backend of "
             "the same drop, add it once with --add-signer KEY")


@dataclass(frozen=True)
class Trust:
    """The analyst's decisions on the command line."""

    signer: bytes | None = None  # --signer: the export key to pin (the first one given)
    trust_first: bool = False  # --trust-first-signer: pin the key the batches are signed with
    allow_unsigned: bool = False  # --allow-unsigned: accept version 1 while no key is pinned
    new_chain: bool = False  # --new-chain: accept chains the directory does not know
    signers: tuple[bytes, ...] = ()  # further --signer keys (one per backend)
    add_signers: tuple[bytes, ...] = ()  # --add-signer: pin these beside the pinned keys
    names: tuple[tuple[bytes, str], ...] = ()  # --signer NAME=KEY: the analyst's names

    def given(self) -> list[bytes]:
        """Every --signer key, once each, in the order given."""
        keys = ([self.signer] if self.signer is not None else []) + list(self.signers)
        return list(dict.fromkeys(keys))


STRICT = Trust()  # no flag: only the pinned signers' batches


@dataclass
class Verdict:
    accepted: list[BatchFile] = field(default_factory=list)
    refused: list[OriginError] = field(default_factory=list)
    pinned_now: bytes | None = None  # the (first) signer this run pinned (print it loudly)
    new_chains: list[bytes] = field(default_factory=list)  # accepted with --new-chain
    pinned: list[bytes] = field(default_factory=list)  # every key pinned on a bare directory
    added: list[bytes] = field(default_factory=list)  # pinned beside others (--add-signer)
    bound: bool = False  # a chain was bound to its signer (the state must be saved)
    named: list[bytes] = field(default_factory=list)  # pinned keys whose name this run set


def trusted(state: State) -> str:
    """``the export key …`` or ``N export keys (fingerprints)``, for messages."""
    if len(state.signers) == 1:
        return f"the export key {describe(state.signers[0])}"
    return (f"{len(state.signers)} export keys "
            f"({', '.join(fingerprint(k) for k in state.signers)})")


def pin(state: State, files: Sequence[BatchFile], trust: Trust) -> tuple[list[bytes], list[bytes]]:
    """Pin the directory's signers if the run says so; return (pinned on a directory that
    trusted none, added beside the pinned ones with --add-signer).

    Raises OriginError (nothing is decrypted) when a ``--signer`` key is not pinned in a
    directory that pins others, or ``--trust-first-signer`` meets batches by several keys.
    """
    given = trust.given()
    if given or trust.add_signers:
        unknown = [k for k in given if k not in state.signers]
        if state.signers and unknown:
            raise OriginError(
                f"this output directory trusts {trusted(state)}; "
                f"--signer names {describe(unknown[0])}", hint=_ADD_HINT)
        if not state.signers:
            state.signers = list(dict.fromkeys(given + list(trust.add_signers)))
            return list(state.signers), []
        added = [k for k in dict.fromkeys(trust.add_signers) if k not in state.signers]
        state.signers += added
        return [], added
    if state.signers or not trust.trust_first:
        return [], []
    signers = sorted({f.manifest.signer for f in files if f.manifest.signer is not None})
    if len(signers) > 1:
        raise OriginError(
            f"--trust-first-signer: these batches are signed by {len(signers)} different keys "
            f"({', '.join(describe(s) for s in signers)}); not trusting any",
            hint="ask the operator which export key is the server's and give it with --signer")
    state.signers = signers
    return signers, []


def _refusal(bf: BatchFile, state: State, trust: Trust) -> OriginError | None:
    signer = bf.manifest.signer
    if signer is None:
        if state.signers:
            return OriginError(
                f"{bf.name}: unsigned (version 1) batch, and this directory trusts "
                f"{trusted(state)}; refused",
                hint="a genuine server of this version signs every batch: ask for it again")
        if not trust.allow_unsigned:
            return OriginError(f"{bf.name}: unsigned (version 1) batch; anyone can make one",
                               hint="only for batches of an old server: --allow-unsigned")
        return None
    if not state.signers:
        return OriginError(
            f"{bf.name}: signed by {describe(signer)}, and this directory trusts no export key "
            "yet", hint=_PIN_HINT)
    if signer not in state.signers:
        which = (f"the trusted export key {describe(state.signers[0])}"
                 if len(state.signers) == 1 else f"any of its {trusted(state)}")
        return OriginError(
            f"{bf.name}: signed by {describe(signer)}, not by {which}; refused (forged, or "
            "another server)", hint=_ADD_HINT)
    owner = state.owners.get(bf.manifest.chain_id)
    if owner is not None and owner != signer:
        return OriginError(
            f"{bf.name}: server chain {bf.manifest.chain_id.hex()} belongs to the export key "
            f"{describe(owner)} in this directory, but this batch is signed by "
            f"{describe(signer)}; refused (a server cannot write into another's chain)",
            hint="a forgery with another backend's key, or a backend set up with a copy of "
                 "another's database: ask the operator")
    return None


def check(state: State, files: Sequence[BatchFile], trust: Trust) -> Verdict:
    """Split a run's batches into accepted and refused (pinning first, see :func:`pin`),
    and bind each newly accepted chain to its signer."""
    pinned, added = pin(state, files, trust)
    verdict = Verdict(pinned_now=pinned[0] if pinned else None, pinned=pinned, added=added)
    for key, name in trust.names:  # names only label keys; they never pin one
        if key in state.signers and state.names.get(key) != name:
            state.names[key] = name
            verdict.named.append(key)
    for bf in files:
        refusal = _refusal(bf, state, trust)
        if refusal is None:
            verdict.accepted.append(bf)
        else:
            verdict.refused.append(refusal)
    _one_signer_per_chain(state, verdict)
    _new_chains(state, verdict, trust)
    for bf in verdict.accepted:
        signer = bf.manifest.signer
        if signer is not None and bf.manifest.chain_id not in state.owners:
            state.owners[bf.manifest.chain_id] = signer
            verdict.bound = True
    return verdict


def _refuse(verdict: Verdict, bf: BatchFile, error: OriginError) -> None:
    verdict.accepted.remove(bf)
    verdict.refused.append(error)


def _one_signer_per_chain(state: State, verdict: Verdict) -> None:
    """A chain no key owns yet, signed by several pinned keys in this run: none of them."""
    keys: dict[bytes, set[bytes]] = {}
    for bf in verdict.accepted:
        if bf.manifest.signer is not None and bf.manifest.chain_id not in state.owners:
            keys.setdefault(bf.manifest.chain_id, set()).add(bf.manifest.signer)
    for bf in list(verdict.accepted):
        signers = keys.get(bf.manifest.chain_id, set())
        if len(signers) > 1:
            _refuse(verdict, bf, OriginError(
                f"{bf.name}: server chain {bf.manifest.chain_id.hex()} is signed by "
                f"{len(signers)} different trusted keys in this run "
                f"({', '.join(fingerprint(k) for k in sorted(signers))}); refused",
                hint="a chain is one server's: ask the operator which backend it is, and "
                     "decrypt that backend's batches first"))


def _chains_of(state: State, signer: bytes | None) -> set[bytes]:
    """The chains the directory knows that count as ``signer``'s: its own, and those no
    key owns (decrypted from unsigned batches)."""
    known = set(state.chains) | set(state.owners)
    return {c for c in known if state.owners.get(c) in (signer, None)}


def _new_chains(state: State, verdict: Verdict, trust: Trust) -> None:
    """SPEC 6.3's last rule, per signer: a key's first chain needs no flag."""
    known = set(state.chains) | set(state.owners)
    new: dict[bytes | None, set[bytes]] = {}
    for bf in verdict.accepted:
        if bf.manifest.chain_id not in known:
            new.setdefault(bf.manifest.signer, set()).add(bf.manifest.chain_id)
    several = len(state.signers) > 1
    for signer, chains in new.items():
        had = _chains_of(state, signer)
        if not had and len(chains) <= 1:
            continue  # this key's first chain
        if trust.new_chain:
            verdict.new_chains += sorted(chains)
            continue
        whose = f" of the export key {describe(signer)}" if several and signer else ""
        what = (f"this directory already holds reports of another chain{whose}" if had else
                f"this run brings {len(chains)} chains at once{whose}")
        for bf in list(verdict.accepted):
            if bf.manifest.signer == signer and bf.manifest.chain_id in chains:
                _refuse(verdict, bf, OriginError(
                    f"{bf.name}: new server chain {bf.manifest.chain_id.hex()}; {what}; refused",
                    hint="a new chain means the server was re-initialised (its unexported "
                         "reports are lost) or is another server; if you know it was, give "
                         "--new-chain"))
    verdict.new_chains.sort()
