"""Two versions of one report seq: both kept, side by side (SPEC.md 6.4).

When a batch brings a report whose seq the directory has recorded with another
report id, envelope or link, neither version is dropped. The recorded one stays
where it is (and is copied); the new one, once it verifies on its own, is
decrypted beside the copy:

    DIR/quarantine/<chain_id>/<seq>/recorded.json   what the directory recorded
    DIR/quarantine/<chain_id>/<seq>/recorded/       a copy of DIR/<recorded id>/
    DIR/quarantine/<chain_id>/<seq>/new-<sha16>.json   the new version's ids, batch
    DIR/quarantine/<chain_id>/<seq>/new-<sha16>/       the new version, decrypted

``<sha16>`` is the first 16 hex digits of the new envelope's SHA-256, so a third
version gets a folder of its own and the same one again is not written twice.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from keys.errors import OutputError
from keys.output import write_atomic
from keys.state import Seen

DIR_NAME = "quarantine"


@dataclass(frozen=True)
class Conflict:
    chain_id: bytes
    seq: int
    recorded: Seen
    new: Seen
    batch: str  # the file name the new version came in
    signer: bytes | None  # who signed that batch (None: unsigned)
    name: str = ""  # how messages name the chain (keys.state.State.chain_name)

    def folder(self, out: Path) -> Path:
        return out / DIR_NAME / self.chain_id.hex() / str(self.seq)

    def new_name(self) -> str:
        return f"new-{self.new.envelope_sha256.hex()[:16]}"

    def problem(self, final: Path) -> str:
        """The summary line naming both versions and where they are."""
        name = self.name or f"server {self.chain_id.hex()}"
        return (f"conflict: {name} seq {self.seq}: report "
                f"{self.new.report_id.hex()} in {self.batch} differs from report "
                f"{self.recorded.report_id.hex()} recorded before; both are kept in "
                f"{final.parent} (recorded/ and {final.name}/)")


def _describe(seen: Seen) -> dict[str, str]:
    return {"report_id": seen.report_id.hex(), "envelope_sha256": seen.envelope_sha256.hex(),
            "chain": seen.chain.hex()}


def prepare(out: Path, conflict: Conflict) -> Path:
    """Write the descriptions and the copy of the recorded version; return where the new
    version's folder goes (the caller renames its verified staging folder there)."""
    folder = conflict.folder(out)
    try:
        for part in (out / DIR_NAME, folder.parent, folder):
            if part.is_symlink():  # never write outside DIR through a planted link
                raise OutputError(f"{part} is a symbolic link; refusing to write through it")
            part.mkdir(mode=0o700, exist_ok=True)
        recorded = folder / "recorded"
        source = out / conflict.recorded.report_id.hex()
        if source.is_dir() and not source.is_symlink() and not recorded.exists():
            tmp = folder / ".recorded.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source, tmp, symlinks=True)
            os.rename(tmp, recorded)
        write_atomic(folder / "recorded.json", _json({
            **_describe(conflict.recorded), "chain_id": conflict.chain_id.hex(),
            "seq": conflict.seq, "folder": conflict.recorded.report_id.hex()}))
        write_atomic(folder / f"{conflict.new_name()}.json", _json({
            **_describe(conflict.new), "chain_id": conflict.chain_id.hex(),
            "seq": conflict.seq, "batch": Path(conflict.batch).name,
            "signer": conflict.signer.hex() if conflict.signer else None}))
    except OSError as exc:
        raise OutputError(f"cannot write the quarantine folder {folder}: {exc.strerror}") from None
    return folder / conflict.new_name()


def _json(data: dict[str, object]) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("ascii")
