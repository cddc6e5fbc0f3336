"""What the hostile runs sent and what came back: the ledger every scenario reconciles.

Each report carries a unique token in its description (see
:func:`testkit.hostile.client.make_report`); the :class:`Ledger` keeps, per token, what
was sent and whether the receipt came, and :meth:`Ledger.reconcile` compares that with
the decrypted export: an acknowledged report must come back exactly as sent.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from testkit.hostile.client import TOKEN_RE, Outcome, Report


def digest(data: bytes) -> str:
    """What a comparison needs of an attachment: its size and SHA-256 (not the bytes)."""
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Sent:
    """What the ledger keeps of a submitted report (attachment digests, not bytes)."""

    token: str
    lang: str
    fields: dict[str, str | list[str]]
    files: tuple[tuple[str, str], ...]  # (name, digest)

    @classmethod
    def of(cls, report: Report) -> Sent:
        return cls(report.token, report.lang, report.fields,
                   tuple((a.name, digest(a.data)) for a in report.files))


@dataclass(frozen=True)
class Opened:
    """One decrypted report: its plaintext JSON and its attachments' digests by id."""

    report: dict[str, object]
    attachments: dict[str, str]

    @property
    def token(self) -> str | None:
        fields = self.report.get("fields")
        desc = fields.get("description", "") if isinstance(fields, dict) else ""
        m = TOKEN_RE.search(desc if isinstance(desc, str) else "")
        return m.group(0) if m else None


def _canon(fields: object) -> object:
    """Fields with multi-choice lists sorted (their order is the form's, not ours)."""
    if not isinstance(fields, dict):
        return fields
    return {k: sorted(v) if isinstance(v, list) else v for k, v in fields.items()}


def mismatch(sent: Sent, got: Opened) -> str | None:
    """Why ``got`` is not exactly ``sent`` (None when it is)."""
    if _canon(got.report.get("fields")) != _canon(sent.fields):
        return f"fields differ: sent {sent.fields!r}, got {got.report.get('fields')!r}"
    if got.report.get("lang") != sent.lang:
        return f"lang {got.report.get('lang')!r} != {sent.lang!r}"
    listed = got.report.get("attachments")
    if not isinstance(listed, list) or len(listed) != len(sent.files):
        return f"attachment list {listed!r} != {len(sent.files)} sent"
    for meta, (name, want) in zip(listed, sent.files):
        if meta.get("name") != name or got.attachments.get(meta["id"]) != want:
            return f"attachment {name!r} differs (name {meta.get('name')!r})"
        if f"{meta.get('size')}:" != want.split(":")[0] + ":":
            return f"attachment {name!r}: listed size is wrong"
    return None


@dataclass
class Tally:
    attempted: int
    acknowledged: int
    recovered: int  # acknowledged and found intact after the run
    lost: int  # acknowledged and missing or different
    unacked_present: int  # not acknowledged, but stored (complete) anyway
    problems: list[str]


class Ledger:
    """Thread-safe record of every submission and what it returned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempted = 0
        self.acked: dict[str, Sent] = {}
        self.unacked: dict[str, Sent] = {}
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies: list[float] = []

    def record(self, report: Report, outcome: Outcome) -> None:
        sent = Sent.of(report)  # hashing outside the lock
        with self._lock:
            if report.token in self.acked or report.token in self.unacked:
                raise ValueError(f"token {report.token} used twice (seed reused?)")
            self.attempted += 1
            self.statuses[outcome.status] += 1
            if outcome.error:
                self.errors[outcome.error.split(":")[0]] += 1
            if outcome.acknowledged:
                self.acked[report.token] = sent
                self.latencies.append(outcome.elapsed)
            else:
                self.unacked[report.token] = sent

    def reconcile(self, opened: Sequence[Opened]) -> Tally:
        """Compare the decrypted export with what was sent and acknowledged."""
        by_token: dict[str, Opened] = {}
        problems: list[str] = []
        for o in opened:
            tok = o.token
            if tok is None:
                problems.append("a stored report carries no token")
            elif tok in by_token:
                problems.append(f"{tok} stored twice")
            else:
                by_token[tok] = o
        recovered = 0
        for tok, sent in self.acked.items():
            got = by_token.get(tok)
            why = "missing" if got is None else mismatch(sent, got)
            if why is None:
                recovered += 1
            else:
                problems.append(f"acknowledged {tok}: {why}")
        extra = 0
        for tok, got in by_token.items():
            if tok in self.unacked:
                why = mismatch(self.unacked[tok], got)
                if why:
                    problems.append(f"unacknowledged but stored {tok}: {why}")
                extra += 1
            elif tok not in self.acked:
                problems.append(f"{tok} stored but never sent")
        return Tally(self.attempted, len(self.acked), recovered,
                     len(self.acked) - recovered, extra, problems)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
