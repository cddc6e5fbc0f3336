"""``python -m app purge``: delete exported reports, saying what first, and never
reports exported so recently that the analysts may not have them yet without ``--yes``.

An exported batch travels on a stick; until the analysts have decrypted it, the
server's copy is the only way back (``export --again``). So purge lists what it
will delete (count, seq ranges, export days) and refuses, deleting nothing, when
any of it was exported less than ``SKRYNKA_PURGE_MIN_DAYS`` (default 2) days ago,
unless the operator says ``--yes``.

Purge deletes a prefix of the chain (exports go in seq order). The chain link of
the last report it deletes is kept in ``$SKRYNKA_DATA/purged.link`` (chain id,
seq, link: no time), so that the oldest report still stored can still be exported
again (``export --again`` starts a batch from the link before its first report).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from app.config import Config
from app.errors import UsageError
from app.storage import Store, fsync_dir, open_store
from contract import today_date

Say = Callable[[str], None]
MAX_RANGES_SHOWN = 8
LINK_FILE = "purged.link"


def seq_ranges(seqs: Sequence[int]) -> str:
    """``1-3, 7, 9-12`` (at most MAX_RANGES_SHOWN ranges, then how many more)."""
    spans: list[list[int]] = []
    for seq in seqs:
        if spans and spans[-1][1] == seq - 1:
            spans[-1][1] = seq
        else:
            spans.append([seq, seq])
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:MAX_RANGES_SHOWN]]
    more = len(spans) - MAX_RANGES_SHOWN
    return ", ".join(text) + (f" and {more} more range(s)" if more > 0 else "")


def _days(plan: Sequence[tuple[int, str]]) -> str:
    counts: dict[str, int] = {}
    for _, day in plan:
        counts[day] = counts.get(day, 0) + 1
    return ", ".join(f"{day} ({n})" for day, n in sorted(counts.items()))


def purge(config: Config, days: int, say: Say, *, yes: bool = False) -> int:
    """Delete reports exported at least ``days`` days ago (never unexported ones)."""
    today = today_date()
    cutoff = (today - dt.timedelta(days=days)).isoformat()
    guard = (today - dt.timedelta(days=config.purge_min_days)).isoformat()
    store = open_store(config)
    try:
        plan = store.purgeable(cutoff)
        if plan:
            say(f"to purge: {len(plan)} exported report(s), seq {seq_ranges([s for s, _ in plan])}"
                f"; exported on {_days(plan)}")
        recent = [(seq, day) for seq, day in plan if day > guard]
        if recent and not yes:
            raise UsageError(
                f"nothing purged: {len(recent)} of these report(s) (seq "
                f"{seq_ranges([s for s, _ in recent])}) were exported less than "
                f"{config.purge_min_days} day(s) ago (SKRYNKA_PURGE_MIN_DAYS)",
                hint="the analysts may not have decrypted them yet, and after a purge no "
                     "`export --again` can bring them back: ask them, then add --yes; or "
                     f"purge with --days {config.purge_min_days} or more",
            )
        count = _purge_through(store, config.data, cutoff, plan[-1][0], say) if plan else 0
    finally:
        store.close()
    say(f"purged {count} exported report(s) exported on or before {cutoff}")
    return count


def _purge_through(store: Store, data: Path, cutoff: str, last: int, say: Say) -> int:
    """Keep report ``last``'s link, then delete (the link first: a failed delete
    leaves a link of a report still stored, which nothing then needs). A link that
    cannot be kept (a full disk) does not stop the purge that would free space."""
    rows = store.stored(last, last)
    try:
        if rows:
            keep_link(data, store.state().chain_id, last, bytes(rows[0].chain))
    except OSError as exc:
        say(f"warning: the chain link of report {last} was not kept ({exc.strerror}): "
            f"`export --again` will not be able to start at seq {last + 1}")
    return store.purge(cutoff, last)


def keep_link(data: Path, chain_id: bytes, seq: int, link: bytes) -> None:
    path = data / LINK_FILE
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{chain_id.hex()} {seq} {link.hex()}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(data)


def kept_link(data: Path, chain_id: bytes) -> tuple[int, bytes] | None:
    """The seq and link of the last report purged from chain ``chain_id``, if known."""
    try:
        chain_hex, seq, link = (data / LINK_FILE).read_text(encoding="ascii").split()
        if bytes.fromhex(chain_hex) == chain_id and len(bytes.fromhex(link)) == 32:
            return int(seq), bytes.fromhex(link)
    except (OSError, ValueError):
        pass
    return None
