"""Version 2 (signed) batch vectors and the origin cases of SPEC.md section 6.

Called by make_vectors.main; the export keys are fixed seeds (index.json
``signers``): ``export`` is the server's, ``forger`` anyone else's (a courier,
a coerced operator with only an analyst's public key), ``backend2`` a second
backend's of the same drop (Onionbalance: its own key and chain, SPEC 6.3).
"""

from __future__ import annotations

import hashlib
import io
import struct
from typing import Any

from nacl.signing import SigningKey

from keys import batch, signature
from tests.vectors.make_vectors import DAY, Rep, dump, entries, expect_reports, ident, set_byte

SIGNERS = {"export": bytes(range(97, 129)), "forger": bytes(range(129, 161)),
           "backend2": bytes(range(161, 193))}
CHAIN = ident("signed-chain")
NEW_CHAIN = ident("signed-chain-new")
CHAIN_B2 = ident("signed-chain-b2")
CHAIN_B2_NEW = ident("signed-chain-b2-new")


def _key(name: str) -> SigningKey:
    return SigningKey(SIGNERS[name])


def write(reps: list[Rep], prev_seq: int, prev_chain: bytes, signer: str | None,
          chain_id: bytes = CHAIN) -> tuple[bytes, bytes]:
    ents, link = entries(reps, prev_chain)
    out = io.BytesIO()
    batch.write_batch(out, batch_id=ident(f"signed-{prev_seq}-{signer}-{chain_id.hex()[:4]}"),
                      chain_id=chain_id, created_day=DAY, prev_seq=prev_seq,
                      prev_chain=prev_chain, reports=ents,
                      signing_key=_key(signer) if signer else None)
    return out.getvalue(), link


def _manifest_v1_signed(reps: list[Rep]) -> bytes:
    """A version 2 prefix and valid signature over a manifest that says version 1."""
    ents, _ = entries(reps, batch.GENESIS)
    manifest = dump(batch.manifest_dict(
        batch_id=ident("signed-v1-manifest"), chain_id=CHAIN, created_day=DAY, prev_seq=0,
        prev_chain=batch.GENESIS, reports=ents, version=1))
    prefix = struct.pack(">8sBI", b"SKRYNKAB", 2, len(manifest))
    digest = hashlib.sha256(manifest).digest()
    bodies = b"".join(b for r in reps for b in [r.env, *r.att_envs])
    return prefix + manifest + digest + signature.sign(_key("export"), prefix, digest) + bodies


def _ok(name: str, reps: list[Rep], prev: tuple[int, bytes], last: tuple[int, bytes],
        signer: str | None, chain_id: bytes = CHAIN, expect: str = "ok") -> dict[str, Any]:
    return {"file": name, "key": "a", "expect": expect, "signer": signer,
            "chain_id": chain_id.hex(), "prev": {"seq": prev[0], "chain": prev[1].hex()},
            "last": {"seq": last[0], "chain": last[1].hex()}, "reports": expect_reports(reps)}


def signed_vectors() -> tuple[dict[str, bytes], list[dict[str, Any]], list[dict[str, Any]],
                              dict[str, Any]]:
    """(files, batch index entries, origin cases, signers for index.json)."""
    r1, r2, r3 = Rep(1, "s1", n_att=1), Rep(2, "s2"), Rep(3, "s3")
    other3, fresh1 = Rep(3, "s3-other"), Rep(1, "n1")
    files: dict[str, bytes] = {}
    index: list[dict[str, Any]] = []
    files["signed-1.skb"], link2 = write([r1, r2], 0, batch.GENESIS, "export")
    files["signed-2.skb"], link3 = write([r3], 2, link2, "export")
    index.append(_ok("signed-1.skb", [r1, r2], (0, batch.GENESIS), (2, link2), "export"))
    index.append(_ok("signed-2.skb", [r3], (2, link2), (3, link3), "export"))
    alone = [  # valid on their own; the origin cases say where they are refused
        ("signed-forged-3.skb", [other3], 2, link2, "forger", CHAIN),
        ("signed-conflict-3.skb", [other3], 2, link2, "export", CHAIN),
        ("signed-new-chain.skb", [fresh1], 0, batch.GENESIS, "export", NEW_CHAIN),
        ("unsigned-forged-3.skb", [other3], 2, link2, None, CHAIN),
    ]
    for name, reps, seq, link, signer, chain in alone:
        files[name], last = write(reps, seq, link, signer, chain)
        index.append(_ok(name, reps, (seq, link), (reps[-1].seq, last), signer, chain,
                         "ok-alone"))
    more_files, more_index = backend_vectors(link2)
    files.update(more_files)
    index += more_index
    first = files["signed-1.skb"]
    mlen = struct.unpack(">I", first[9:13])[0]
    sig_at, signer_at = 13 + mlen + 32 + 32, 13 + mlen + 32

    def bad(name: str, blob: bytes, expect: str, why: str) -> None:
        files[name] = blob
        index.append({"file": name, "key": "a", "expect": expect, "why": why})

    bad("signed-bad-sig.skb", set_byte(first, sig_at + 5, first[sig_at + 5] ^ 1),
        "DamagedError", "a signature bit flipped")
    bad("signed-bad-signer.skb", set_byte(first, signer_at, first[signer_at] ^ 1),
        "DamagedError", "a bit of the signer key flipped: the signature does not verify")
    bad("signed-cut-sig.skb", first[: sig_at + 10], "DamagedError",
        "the file ends inside the signature block")
    bad("signed-manifest-v1.skb", _manifest_v1_signed([r1, r2]), "UnsupportedVersion",
        "prefix version 2, validly signed, manifest version 1")
    signers = {k: {"seed": v.hex(), "public": signature.encode_signer(
        bytes(SigningKey(v).verify_key))} for k, v in SIGNERS.items()}
    return files, index, origin_cases(), signers


def backend_vectors(link2: bytes) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """A second backend's batches (signed by ``backend2``): its own chain (reports 1-2),
    and, valid alone, a second chain of its own, a continuation of ``export``'s chain
    after ``link2`` (its seq 2), and a batch of the chain of signed-new-chain.skb."""
    b1, b2 = Rep(1, "b2-1"), Rep(2, "b2-2")
    files: dict[str, bytes] = {}
    files["signed-b2-1.skb"], last = write([b1, b2], 0, batch.GENESIS, "backend2", CHAIN_B2)
    index = [_ok("signed-b2-1.skb", [b1, b2], (0, batch.GENESIS), (2, last), "backend2",
                 CHAIN_B2)]
    alone = [("signed-b2-into-1.skb", [Rep(3, "s3-b2")], 2, link2, CHAIN),
             ("signed-b2-new-chain.skb", [Rep(1, "b2-new-1")], 0, batch.GENESIS, CHAIN_B2_NEW),
             ("signed-b2-on-new.skb", [Rep(1, "n1-b2")], 0, batch.GENESIS, NEW_CHAIN)]
    for name, reps, seq, link, chain in alone:
        files[name], last = write(reps, seq, link, "backend2", chain)
        index.append(_ok(name, reps, (seq, link), (reps[-1].seq, last), "backend2", chain,
                         "ok-alone"))
    return files, index


def _run(batches: list[str], expect: str, *, signer: str | None = None,
         trust_first: bool = False, allow_unsigned: bool = False, new_chain: bool = False,
         quarantined: int = 0, signers: tuple[str, ...] = (),
         add_signers: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"batches": batches, "signer": signer, "signers": list(signers),
            "add_signers": list(add_signers), "trust_first": trust_first,
            "allow_unsigned": allow_unsigned, "new_chain": new_chain, "expect": expect,
            "quarantined": quarantined}


def origin_cases() -> list[dict[str, Any]]:
    """Runs into one fresh output directory, in order (SPEC 6.3, 6.4)."""
    pinned = _run(["signed-1.skb"], "ok", signer="export")
    return [
        {"why": "a forged batch continuing the real chain is refused; the genuine one "
                "that comes later is accepted",
         "runs": [pinned, _run(["signed-forged-3.skb"], "OriginError"),
                  _run(["signed-forged-3.skb"], "OriginError", trust_first=True),
                  _run(["signed-2.skb"], "ok")]},
        {"why": "a new chain_id needs --new-chain once the directory knows a chain",
         "runs": [pinned, _run(["signed-new-chain.skb"], "OriginError"),
                  _run(["signed-new-chain.skb"], "ok", new_chain=True)]},
        {"why": "two chains in a fresh directory's first run need --new-chain",
         "runs": [_run(["signed-1.skb", "signed-new-chain.skb"], "OriginError",
                       signer="export"),
                  _run(["signed-1.skb", "signed-new-chain.skb"], "ok", new_chain=True)]},
        {"why": "version 1 is refused once a signer is pinned, even with --allow-unsigned",
         "runs": [pinned, _run(["unsigned-forged-3.skb"], "OriginError", allow_unsigned=True)]},
        {"why": "version 1 elsewhere only with --allow-unsigned",
         "runs": [_run(["unsigned-forged-3.skb"], "OriginError"),
                  _run(["unsigned-forged-3.skb"], "ok", allow_unsigned=True)]},
        {"why": "a signed batch needs a pinned signer: --signer or --trust-first-signer",
         "runs": [_run(["signed-1.skb"], "OriginError"),
                  _run(["signed-1.skb"], "ok", trust_first=True),
                  _run(["signed-forged-3.skb"], "OriginError")]},
        {"why": "--trust-first-signer refuses batches by two keys at once",
         "runs": [_run(["signed-1.skb", "signed-forged-3.skb"], "OriginError",
                       trust_first=True)]},
        {"why": "--signer naming another key than the pinned one refuses the run",
         "runs": [pinned, _run(["signed-2.skb"], "OriginError", signer="forger")]},
        {"why": "a seq conflict by the pinned signer: both versions kept, named",
         "runs": [_run(["signed-1.skb", "signed-2.skb"], "ok", signer="export"),
                  _run(["signed-conflict-3.skb"], "VerificationError", quarantined=1)]},
        *backend_cases(),
    ]


def backend_cases() -> list[dict[str, Any]]:
    """Several backends into one directory (SPEC 6.3: pinned signers, chain owners)."""
    both = {"signer": "export", "signers": ("backend2",)}
    return [
        {"why": "two backends' keys pinned in one run: each key's first chain needs no flag",
         "runs": [_run(["signed-b2-1.skb", "signed-1.skb"], "ok", **both),  # type: ignore[arg-type]
                  _run(["signed-2.skb"], "ok")]},
        {"why": "a key pinned with no chain yet: its first chain later needs no flag, its "
                "second one --new-chain",
         "runs": [_run(["signed-1.skb"], "ok", **both),  # type: ignore[arg-type]
                  _run(["signed-b2-1.skb"], "ok"),
                  _run(["signed-b2-new-chain.skb"], "OriginError"),
                  _run(["signed-b2-new-chain.skb"], "ok", new_chain=True)]},
        {"why": "a known chain signed by the other pinned key is refused, even with "
                "--new-chain; its owner's next batch is accepted",
         "runs": [_run(["signed-1.skb", "signed-b2-1.skb"], "ok", **both),  # type: ignore[arg-type]
                  _run(["signed-b2-into-1.skb"], "OriginError"),
                  _run(["signed-b2-into-1.skb"], "OriginError", new_chain=True),
                  _run(["signed-2.skb"], "ok")]},
        {"why": "a key the directory does not pin needs --add-signer: --signer never adds one",
         "runs": [_run(["signed-1.skb"], "ok", signer="export"),
                  _run(["signed-b2-1.skb"], "OriginError"),
                  _run(["signed-b2-1.skb"], "OriginError", signer="backend2"),
                  _run(["signed-b2-1.skb"], "OriginError", **both),  # type: ignore[arg-type]
                  _run(["signed-b2-1.skb"], "ok", add_signers=("backend2",)),
                  _run(["signed-b2-new-chain.skb"], "OriginError")]},
        {"why": "a forger's batch among the pinned backends' is refused alone",
         "runs": [_run(["signed-1.skb", "signed-b2-1.skb", "signed-forged-3.skb"],
                       "OriginError", **both),  # type: ignore[arg-type]
                  _run(["signed-2.skb"], "ok")]},
        {"why": "a new chain signed by two pinned keys in one run: refused for both; "
                "alone, its first key's first chain",
         "runs": [_run(["signed-new-chain.skb", "signed-b2-on-new.skb"], "OriginError",
                       **both),  # type: ignore[arg-type]
                  _run(["signed-new-chain.skb"], "ok"),
                  _run(["signed-b2-on-new.skb"], "OriginError")]},
    ]
