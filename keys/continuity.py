"""SPEC 3.2's one gap rule, per chain, after all batches of a run (keys.decrypt).

Each gap is named with its chain and, when the directory trusts several export
keys (several backends, SPEC 6.3), with the key that owns the chain, so the
analysts know which backend's operator to ask.
"""

from __future__ import annotations

from keys.state import State
from keys.summary import Summary


def report_gaps(state: State, listed: dict[bytes, set[int]], anchors: dict[bytes, set[int]],
                known_chains: set[bytes], summary: Summary) -> None:
    """Seqs from the lowest a batch starts after (prev.seq + 1) to the highest known
    (listed, recorded, or a batch's prev.seq) that no batch listed and the directory has
    not recorded; for a chain new to the directory, the seq it starts from (a note)."""
    for chain_id, seqs in listed.items():
        chain = state.chains.get(chain_id)
        have = seqs | set(chain.seen if chain else ())
        low = min(have | {a + 1 for a in anchors[chain_id]})
        high = max(have | anchors[chain_id])
        name = state.chain_name(chain_id)
        if chain_id not in known_chains:
            before = "" if low == 1 else (
                f"; seq {low - 1 if low == 2 else f'1-{low - 1}'} not seen here")
            summary.notes.append(f"{name}: this folder starts at seq {low}{before}")
        for first, last in missing(low, high, have):
            span = f"seq {first}" if first == last else f"seq {first}-{last}"
            summary.gaps.append((first, last))
            summary.problems.append(
                f"gap: {name}: reports {span} are in none of the batches seen")


def missing(low: int, high: int, have: set[int]) -> list[tuple[int, int]]:
    """The ranges of ``low .. high`` not in ``have``, without listing every seq (a hostile
    prev.seq or seq may be 2^63 - 1)."""
    out: list[tuple[int, int]] = []
    expect = low
    for seq in sorted(n for n in have if low <= n <= high) + [high + 1]:
        if seq > expect:
            out.append((expect, seq - 1))
        expect = max(expect, seq + 1)
    return out
