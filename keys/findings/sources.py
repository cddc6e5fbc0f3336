"""The index's "sources" table: per server chain, the export key that owns it, how many of
its reports the summary counts, the seqs the decrypt directory recorded and the gaps
between them.

Several backends of one drop (Onionbalance) each have their own chain and export key;
their reports are counted together everywhere else, and this table says where they came
from. It reads the directory's state (keys.state) only; the index is rendered every run,
so no report page (keys.findings.pagecache) depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from keys.continuity import missing
from keys.errors import OutputError
from keys.findings.labels import Labels
from keys.findings.page import esc, table
from keys.signature import encode_signer, fingerprint
from keys.state import STATE_FILE, load_state


@dataclass(frozen=True)
class Source:
    chain_id: bytes
    signer: bytes | None  # None: no key owns the chain (unsigned version 1 batches)
    name: str | None  # the analyst's name for the key (decrypt --signer NAME=KEY)
    reports: int  # of its recorded reports, those the summary counts
    first: int | None  # lowest and highest seq recorded
    last: int | None
    gaps: list[tuple[int, int]] = field(default_factory=list)  # unrecorded seqs between


def sources(in_dir: Path, counted: Iterable[str]) -> list[Source] | None:
    """The chains of ``in_dir``'s state, in chain id order; ``counted``: the report ids
    (hex) the summary counts. None if the state file is damaged (the counts do not
    depend on it; the index says the sources are unknown)."""
    try:
        state = load_state(in_dir)
    except OutputError:
        return None
    ids = set(counted)
    found = []
    for chain_id in sorted(set(state.chains) | set(state.owners)):
        chain = state.chains.get(chain_id)
        seen = chain.seen if chain else {}
        first, last = (min(seen), max(seen)) if seen else (None, None)
        gaps = missing(first, last, set(seen)) if first is not None and last is not None else []
        owner = state.owners.get(chain_id)
        found.append(Source(chain_id, owner, state.names.get(owner) if owner else None,
                            sum(s.report_id.hex() in ids for s in seen.values()),
                            first, last, gaps))
    return found


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}–{last}"


def section(found: list[Source] | None, labels: Labels) -> str:
    """The heading and table (or "none", or why they are unknown)."""
    w = labels.word
    head = f'<h2 id="sources">{esc(w("sources"))}</h2>'
    if found is None:
        return head + f'<p class="note">{esc(w("sources_unknown").format(file=STATE_FILE))}</p>'
    if not found:
        return head + f"<p>{esc(w('none'))}</p>"
    rows = []
    for s in found:
        key = (f"<code>{esc(encode_signer(s.signer))}</code><br>{esc(w('fingerprint'))} "
               f"{esc(fingerprint(s.signer))}" if s.signer else esc(w("unsigned")))
        if s.name:
            key = f"<strong>{esc(s.name)}</strong><br>{key}"
        seqs = _span(s.first, s.last) if s.first is not None and s.last is not None else ""
        gaps = ", ".join(_span(a, b) for a, b in s.gaps) or w("none")
        rows.append([f"<code>{esc(s.chain_id.hex())}</code>", key, str(s.reports),
                     esc(seqs), esc(gaps)])
    return head + table([w("chain"), w("signer"), w("reports"), w("seqs"), w("gaps")], rows,
                        numeric_from=2)
