"""``python -m app export``: write reports to a batch file for the analysts.

A plain export takes every report not exported yet and marks them exported.
``--again A-B`` writes the stored reports ``A..B``, already exported, to a new
batch of the same chain (its own batch id; ``prev`` is the link before ``A``), for
a stick that was lost; it changes nothing in the database. Both write their file
through :func:`_write_file`, the one batch writer. Without ``--out`` the file is
``batch-CHAIN-FIRST-LAST.skb`` in the working directory (:func:`default_out`): two exports
of one chain never hold the same seqs, so a second export the same day never meets the
first one's name.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from nacl.utils import random as random_bytes

from app import exportkey
from app.config import Config
from app.errors import ExportError, UsageError
from app.purge import kept_link
from app.storage import ChainState, Store, fsync_dir, open_store
from contract import today
from keys.batch import GENESIS, AttachmentEntry, ReportEntry, write_batch

Say = Callable[[str], None]
_RANGE = re.compile(r"([0-9]{1,18})(?:-([0-9]{1,18}))?")


def parse_range(text: str) -> tuple[int, int]:
    """``A-B`` (or ``A``) as the seqs ``(A, B)``; UsageError if it is not one."""
    match = _RANGE.fullmatch(text.strip())
    if not match:
        raise UsageError(f"--again {text!r} is not a range of sequence numbers",
                         hint="give the first and last seq, e.g. --again 12-40")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if first < 1 or last < first:
        raise UsageError(f"--again {text}: the range must start at 1 or later and not end "
                         "before it starts", hint="e.g. --again 12-40")
    return first, last


def default_out(chain_id: bytes, first: int, last: int, again: bool = False) -> Path:
    """``batch-CHAIN-FIRST-LAST.skb`` (``again-…`` for ``--again``) in the working
    directory, CHAIN the chain id's first 8 hex digits; ``-2``, ``-3``, … added before
    ``.skb`` if that file exists (a repeated ``--again``). Never a file that exists now;
    :func:`_write_file` still refuses one that appears meanwhile."""
    stem = f"{'again' if again else 'batch'}-{chain_id.hex()[:8]}-{first}-{last}"
    here = Path.cwd()
    out = here / f"{stem}.skb"
    number = 1
    while out.exists() or out.is_symlink():
        number += 1
        out = here / f"{stem}-{number}.skb"
    return out


def _entries(store: Store, rows: Sequence[Any], first: int) -> list[ReportEntry]:
    for expected, row in enumerate(rows, first):
        if row.seq != expected:
            raise ExportError(
                f"report {expected} is missing from the database (found {row.seq})",
                hint="the database was altered; restore it from a backup before exporting",
            )
    atts = store.attachments_of([r.seq for r in rows])

    def report_opener(seq: int) -> Callable[[], BinaryIO]:
        return lambda: io.BytesIO(store.report_envelope(seq))

    def blob_opener(attachment_id: bytes) -> Callable[[], BinaryIO]:
        return lambda: store.blobs.reader(attachment_id)

    return [
        ReportEntry(
            seq=r.seq, id=bytes(r.report_id), day=r.day, size=r.envelope_size,
            sha256=bytes(r.envelope_sha256), chain=bytes(r.chain), open=report_opener(r.seq),
            attachments=tuple(
                AttachmentEntry(bytes(a.attachment_id), a.size, bytes(a.sha256),
                                blob_opener(bytes(a.attachment_id)))
                for a in atts[r.seq]
            ),
        )
        for r in rows
    ]


def _write_file(
    config: Config, out: Path, state: ChainState, prev_seq: int, prev_chain: bytes,
    entries: Sequence[ReportEntry], day: str,
) -> tuple[bytes, str]:
    """Write one batch made on ``day`` to ``out`` (never over a file), durably, signed by
    the drop's export key; returns its batch id and the signer's public text."""
    if out.exists():
        raise ExportError(f"{out} already exists; it is never overwritten",
                          hint="choose a new file name, or leave out --out for a default one")
    signing_key = exportkey.load(config.paths.export_key)
    tmp = out.with_name(out.name + ".tmp")
    batch_id = random_bytes(16)
    try:
        with open(tmp, "xb") as f:
            write_batch(
                f, batch_id=batch_id, chain_id=state.chain_id, created_day=day,
                prev_seq=prev_seq, prev_chain=prev_chain, reports=entries,
                signing_key=signing_key,
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write the batch {out}: {exc}",
                          hint="give --out FILE in a folder this user can write to") from None
    return batch_id, exportkey.public_text(signing_key)


def export(config: Config, out: Path | None, say: Say) -> int:
    """Write every unexported report to a batch file (``out``, else :func:`default_out`),
    then mark them exported.

    Returns how many reports were exported; with none, writes no file.
    """
    store = open_store(config)
    try:
        state = store.state()
        entries = _entries(store, store.unexported(state.exported_seq), state.exported_seq + 1)
        if not entries:
            say("nothing to export (no file written)")
            return 0
        day = today()
        if out is None:
            out = default_out(state.chain_id, entries[0].seq, entries[-1].seq)
        batch_id, signer = _write_file(config, out, state, state.exported_seq,
                                       state.exported_chain, entries, day)
        last = entries[-1]
        try:
            store.mark_exported(state.exported_seq, last.seq, last.chain, batch_id, day)
        except Exception:
            out.unlink(missing_ok=True)
            raise
        say(f"exported {len(entries)} report(s), seq {entries[0].seq}-{last.seq}, to {out}, "
            f"signed by {signer}")
        return len(entries)
    finally:
        store.close()


def export_again(config: Config, span: tuple[int, int], out: Path | None, say: Say) -> int:
    """Write the already exported reports ``span`` to a new batch (``out``, else
    :func:`default_out`); marks nothing."""
    first, last = span
    store = open_store(config)
    try:
        state = store.state()
        if last > state.exported_seq:
            raise ExportError(
                f"seq {first}-{last} reaches past the last exported report "
                f"(seq {state.exported_seq})",
                hint="reports never exported go in a plain `python -m app export`",
            )
        rows = store.stored(first - 1 if first > 1 else 1, last)
        if len([r for r in rows if r.seq >= first]) != last - first + 1:
            _missing(store, first, last)
        prev = GENESIS if first == 1 else _link_before(config, store, rows, span)
        entries = _entries(store, [r for r in rows if r.seq >= first], first)
        if out is None:
            out = default_out(state.chain_id, first, last, again=True)
        _batch_id, signer = _write_file(config, out, state, first - 1, prev, entries, today())
    finally:
        store.close()
    say(f"exported again {len(entries)} report(s), seq {first}-{last}, to {out}, signed by "
        f"{signer} (already exported before: nothing marked)")
    return len(entries)


def _link_before(
    config: Config, store: Store, rows: Sequence[Any], span: tuple[int, int]
) -> bytes:
    """The chain link of report ``first - 1``, which the batch's ``prev`` names: from
    its row, or kept by the purge that deleted it (app/purge.py)."""
    first, last = span
    if rows and rows[0].seq == first - 1:
        return bytes(rows[0].chain)
    kept = kept_link(config.data, store.state().chain_id)
    if kept is not None and kept[0] == first - 1:
        return kept[1]
    low = store.first_stored()
    hint = (f"report {first - 1}'s link was purged with it, so seq {first} cannot travel in a "
            "batch again; only the analysts' copies remain")
    if low is not None and low < last:
        hint = (f"report {first - 1} was purged without its link kept (before purge kept "
                "it, or not by `python -m app purge`), so a re-export starts after the oldest "
                f"report still stored: `python -m app export --again {max(low + 1, first)}-"
                f"{last} --out FILE`")
    raise ExportError(
        f"cannot export seq {first}-{last} again: report {first - 1}, whose chain link the "
        "batch starts from, is no longer in the database (purged)", hint=hint)


def _missing(store: Store, first: int, last: int) -> None:
    low = store.first_stored()
    raise ExportError(
        f"cannot export seq {first}-{last} again: some of these reports are no longer in the "
        "database (purged)",
        hint="purged reports are gone from the server; only the analysts' copies remain"
             + ("" if low is None else f" (the oldest still stored is seq {low})"),
    )
