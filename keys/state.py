"""What an output directory has seen: ``DIR/.skrynka-state.json``.

Per chain (one per server) every report sequence number accepted into the
directory, with its report id, envelope SHA-256 and chain link, so a later
batch can be checked for gaps, duplicates and altered reports, and reports
already decrypted are skipped. ``signers``: the export keys the directory
trusts (keys/origin.py), once pinned, one per server (backend); ``owners``: the key
each chain is bound to, the one that signed its first accepted batch (SPEC 6.3).
Version 1 files (one ``signer``) are read as version 2 with that one key owning
every chain; a run writes version 2, which a version 1 reader refuses as damaged
(it would otherwise ignore the pins it does not know).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys.errors import OutputError
from keys.output import read_json, write_atomic
from keys.signature import NAME_PATTERN, describe

STATE_FILE = ".skrynka-state.json"
_FORMAT = "skrynka-analyst-state"
_HINT = f"move {STATE_FILE} aside to start afresh (checks against earlier batches are then lost)"


@dataclass(frozen=True)
class Seen:
    report_id: bytes
    envelope_sha256: bytes
    chain: bytes


@dataclass
class ChainState:
    seen: dict[int, Seen] = field(default_factory=dict)

    def last(self) -> tuple[int, bytes] | None:
        if not self.seen:
            return None
        seq = max(self.seen)
        return seq, self.seen[seq].chain


@dataclass
class State:
    chains: dict[bytes, ChainState] = field(default_factory=dict)
    ids: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)
    signers: list[bytes] = field(default_factory=list)  # pinned export keys, SPEC 6.3
    owners: dict[bytes, bytes] = field(default_factory=dict)  # chain_id -> its signer
    names: dict[bytes, str] = field(default_factory=dict)  # signer -> the analyst's name

    @property
    def signer(self) -> bytes | None:
        """The first pinned export key (the only one, unless several servers feed DIR)."""
        return self.signers[0] if self.signers else None

    def chain_name(self, chain_id: bytes) -> str:
        """How messages name a chain: ``server <hex>``, led by its export key when the
        directory trusts more than one or the analyst named the key (``backend NAME,
        export key skrynka-export1… (fingerprint …): server <hex>``)."""
        owner = self.owners.get(chain_id)
        name = self.names.get(owner) if owner else None
        if owner is None or (len(self.signers) < 2 and not name):
            return f"server {chain_id.hex()}"
        lead = f"backend {name}, " if name else ""
        return f"{lead}export key {describe(owner)}: server {chain_id.hex()}"

    def add(self, chain_id: bytes, seq: int, seen: Seen) -> None:
        self.chains.setdefault(chain_id, ChainState()).seen[seq] = seen
        self.ids[seen.report_id] = (chain_id, seq)

    def get(self, chain_id: bytes, seq: int) -> Seen | None:
        chain = self.chains.get(chain_id)
        return chain.seen.get(seq) if chain else None

    def dump(self) -> bytes:
        chains: dict[str, Any] = {}
        for chain_id, chain in sorted(self.chains.items()):
            last = chain.last()
            chains[chain_id.hex()] = {
                "last": {"seq": last[0], "chain": last[1].hex()} if last else None,
                "reports": [
                    [seq, s.report_id.hex(), s.envelope_sha256.hex(), s.chain.hex()]
                    for seq, s in sorted(chain.seen.items())
                ],
            }
        data: dict[str, Any] = {
            "format": _FORMAT, "version": 2, "signers": [k.hex() for k in self.signers],
            "owners": {c.hex(): k.hex() for c, k in sorted(self.owners.items())},
            "names": {k.hex(): n for k, n in sorted(self.names.items())},
            "chains": chains}
        return (json.dumps(data, separators=(",", ":")) + "\n").encode("ascii")

    def save(self, out_dir: Path) -> None:
        write_atomic(out_dir / STATE_FILE, self.dump())


def load_state(out_dir: Path) -> State:
    """The directory's state; an empty one if there is none yet."""
    path = out_dir / STATE_FILE
    data = read_json(path, _HINT)
    if data is None:
        return State()
    try:
        return _parse(data)
    except (ValueError, KeyError, TypeError, IndexError):
        raise OutputError(f"{path} is damaged", hint=_HINT) from None


def _key(text: Any) -> bytes:
    raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise ValueError("bad signer")
    return raw


def _name(text: Any) -> str:
    if not isinstance(text, str) or not NAME_PATTERN.fullmatch(text):
        raise ValueError("bad name")
    return text


def _parse(data: Any) -> State:
    if data["format"] != _FORMAT or data["version"] not in (1, 2):
        raise ValueError("not a state file")
    state = State()
    if data["version"] == 1:  # one signer, if any: it owns every chain
        state.signers = [_key(data["signer"])] if "signer" in data else []
        if state.signers:
            state.owners = {bytes.fromhex(c): state.signers[0] for c in data["chains"]}
    else:
        state.signers = [_key(k) for k in data["signers"]]
        state.owners = {bytes.fromhex(c): _key(k) for c, k in data["owners"].items()}
        state.names = {_key(k): _name(n) for k, n in data.get("names", {}).items()}
        if len(set(state.signers)) != len(state.signers) or not (
                set(state.owners.values()) | set(state.names)) <= set(state.signers):
            raise ValueError("bad signers")
    if any(len(c) != 16 for c in state.owners):
        raise ValueError("bad chain id")
    for chain_hex, chain in data["chains"].items():
        chain_id = bytes.fromhex(chain_hex)
        for seq, rid, sha, link in chain["reports"]:
            if type(seq) is not int or seq < 1:
                raise ValueError("bad seq")
            seen = Seen(bytes.fromhex(rid), bytes.fromhex(sha), bytes.fromhex(link))
            lengths = (len(seen.report_id), len(seen.envelope_sha256), len(seen.chain))
            if lengths != (16, 32, 32):
                raise ValueError("bad entry")
            state.add(chain_id, seq, seen)
    return state


LOCK_FILE = ".skrynka-lock"


class DirLock:
    """One decrypt at a time per output directory: an ``flock`` on ``DIR/.skrynka-lock``.

    Two runs into one directory would remove each other's staging folders and
    overwrite each other's state. Where ``flock`` does not exist (Windows) or the
    filesystem refuses it, runs are not guarded.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._fd = -1

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:
            return
        path = self.out / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise OutputError(f"cannot open {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"another decrypt is writing to {self.out}",
                hint="wait for it to finish, or decrypt into another directory",
            ) from None
        except OSError:
            os.close(fd)  # no locks on this filesystem: run unguarded
            return
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
