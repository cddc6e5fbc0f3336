"""`make bench`: one table of speed and memory figures.

Each bench module (``bench/<name>.py``) has ``run(soak: bool) -> list[Row]``.
A row names what was measured, its value and, where there is one, the baseline
measured in the same run and the ratio against it, with the target the issue sets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    group: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None  # same metric for the in-run baseline
    target: str = ""  # e.g. "ratio >= 0.8", "<= 3 s"
    ok: bool | None = None  # whether the target was met; None when there is none

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def table(rows: list[Row]) -> str:
    head = ("group", "metric", "value", "unit", "baseline", "ratio", "target", "met")
    body = [
        (r.group, r.metric, fmt(r.value), r.unit, fmt(r.baseline), fmt(r.ratio), r.target,
         {True: "yes", False: "NO", None: ""}[r.ok])
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
