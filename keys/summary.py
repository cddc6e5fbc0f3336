"""The summary of a decrypt run, and the error it ends with (keys.decrypt)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from keys.errors import KeysError, UnexpectedRecipients, VerificationError


@dataclass
class Summary:
    out_dir: Path
    decrypted: int = 0
    attachments: int = 0
    skipped: int = 0
    unresolved: int = 0  # citations of codes no report in the directory has (yet)
    quarantined: int = 0  # new versions of recorded seqs, kept in DIR/quarantine/
    problems: list[str] = field(default_factory=list)
    fatal: list[KeysError] = field(default_factory=list)
    pinned: int | None = None  # how many keys the directory's recipients pin has
    unexpected: int = 0  # reports of this run sealed to a key outside the pin
    flags: list[str] = field(default_factory=list)  # one line per such report
    notes: list[str] = field(default_factory=list)  # where a chain starts; unpinned keys
    gaps: list[tuple[int, int]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # from the tables, and why (no error)
    signer_pinned: bytes | None = None  # the export key this run pinned for the directory
    new_chains: list[bytes] = field(default_factory=list)  # accepted with --new-chain
    signers_pinned: list[bytes] = field(default_factory=list)  # every key pinned this run
    signers_added: list[bytes] = field(default_factory=list)  # --add-signer, beside others
    several_signers: bool = False  # DIR trusts several export keys (messages name them)
    names: dict[bytes, str] = field(default_factory=dict)  # names given to keys this run

    def line(self) -> str:
        count = len(self.problems) + len(self.fatal)
        pin = "" if self.pinned is None else (
            f"; {self.unexpected} sealed to keys outside the pinned {self.pinned}")
        kept = f"; {self.quarantined} kept in quarantine" if self.quarantined else ""
        return (
            f"decrypted {self.decrypted} reports ({self.attachments} attachments) to "
            f"{self.out_dir}; skipped {self.skipped} already present; "
            f"{count} problem{'' if count == 1 else 's'}; {self.unresolved} unresolved "
            f"citation{'' if self.unresolved == 1 else 's'}{pin}{kept}"
        ) + (f"; {len(self.left_out)} left out of the tables (named above)"
             if self.left_out else "")

    def raise_for_problems(self) -> None:
        """The error the run ends with, if any: a batch-level one first."""
        if self.fatal:
            first = self.fatal[0]
            more = f" (and {len(self.fatal) - 1} more batch errors)" if len(self.fatal) > 1 else ""
            raise type(first)(first.message + more, hint=first.hint)
        if self.problems:
            raise VerificationError(
                f"{len(self.problems)} problem(s) found: " + _verdict(self.problems)
                + self._unexpected_part("; "), hint=self._hint(),
            )
        if self.unexpected:
            raise UnexpectedRecipients(
                self._unexpected_part("") + "; they were decrypted and are marked in reports.csv",
                hint="someone added a key to the server's analysts.pub: ask the operator for "
                     "`python -m app stats` and its log's \"analyst keys changed\" lines",
            )

    def _unexpected_part(self, lead: str) -> str:
        if not self.unexpected:
            return ""
        return (f"{lead}{self.unexpected} report(s) are sealed to keys outside the pinned "
                "recipients (named above)")

    def _hint(self) -> str:
        if not self.gaps:
            return ("ask the server operator to export the reports named above again "
                    "(`python -m app export --again A-B --out FILE`)")
        spans = ", ".join(f"`python -m app export --again {a}-{b} --out FILE`"
                          for a, b in self.gaps[:3])
        where = (" (each on the server whose export key its gap names above)"
                 if self.several_signers else "")
        return f"ask the server operator for the missing reports: {spans}{where}"


def _verdict(problems: list[str]) -> str:
    """What the findings mean for the reports: which were withheld, which never came,
    which were kept beside another version."""
    kinds = [p.split(":", 1)[0] for p in problems]
    withheld = sum(k not in ("gap", "forked", "conflict") for k in kinds)
    parts = []
    if withheld:
        parts.append(f"{withheld} report(s) named above were not kept")
    if "gap" in kinds:
        parts.append(f"{kinds.count('gap')} range(s) of reports are missing from every batch")
    if "forked" in kinds:
        parts.append(f"{kinds.count('forked')} batch(es) contradict a link seen before; "
                     "their reports were kept but do not continue the earlier ones")
    if "conflict" in kinds:
        parts.append(f"{kinds.count('conflict')} report(s) are another version of a seq "
                     "recorded before; both versions were kept in quarantine (named above)")
    return "; ".join(parts)
