"""Envelope padding: the current buckets (SPEC 2.2) against Padmé, measured.

    .venv/bin/python -m bench.padding_overhead

For data sizes from 1 KiB to 100 MiB, log-spaced, prints each scheme's overhead
(padded / data - 1) and how many distinct padded sizes (buckets) each range of
sizes falls into: the fewer buckets, the less a padded size says about the
data (whoever holds a voter's original photo matches its size to a bucket).
Padmé (Nikitin et al., PETS 2019): keep the top ``floor(log2 E) + 1`` bits of
the length, where ``E = floor(log2 L)``; at most ~11-12 % overhead.
"""

from __future__ import annotations

import math

KIB, MIB = 1 << 10, 1 << 20


def current(length: int) -> int:
    """SPEC 2.2's padded_size: 512, powers of two to 1 MiB, whole MiB above."""
    need = length + 8
    if need <= 512:
        return 512
    if need <= MIB:
        return 1 << (need - 1).bit_length()
    return -(-need // MIB) * MIB


def padme(length: int) -> int:
    """Padmé of ``length + 8`` (the trailer), at least 512, rounded up to 512."""
    need = max(length + 8, 512)
    e = need.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return -(-((need + mask) & ~mask) // 512) * 512


def pow2(length: int) -> int:
    """Powers of two all the way (the current rule without the 1 MiB switch)."""
    return max(512, 1 << (length + 8 - 1).bit_length())


def buckets(scheme: object, low: int, high: int) -> int:
    """Distinct padded sizes of the data lengths in ``low .. high - 1``."""
    pad = scheme  # type: ignore[assignment]
    count, length = 0, low
    while length < high:
        size = pad(length)  # type: ignore[operator]
        count += 1
        length = size - 8 + 1  # the first length of the next bucket
    return count


def main() -> int:
    sizes = [round(KIB * 10 ** (i / 8)) for i in range(0, 8 * 5 + 1)]  # 1 KiB .. 100 MiB
    sizes = [s for s in sizes if s <= 100 * MIB]
    print("| data size | current | overhead | Padmé | overhead |")
    print("|---:|---:|---:|---:|---:|")
    for size in sizes[::4]:
        c, p = current(size), padme(size)
        print(f"| {_human(size)} | {_human(c)} | {c / size - 1:.1%} | {_human(p)} | "
              f"{p / size - 1:.1%} |")
    print()
    print("| data sizes | overhead max / mean: current | Padmé | powers of 2 | "
          "buckets: current | Padmé | powers of 2 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ranges = [(KIB, MIB), (MIB, 4 * MIB), (4 * MIB, 16 * MIB), (MIB, 25 * MIB),
              (16 * MIB, 64 * MIB), (64 * MIB, 100 * MIB)]
    for low, high in ranges:
        span = _dense(low, high)
        cells = []
        for scheme in (current, padme, pow2):
            over = [scheme(s) / s - 1 for s in span]
            cells.append(f"{max(over):.1%} / {sum(over) / len(over):.1%}")
        counts = [str(buckets(scheme, low, high)) for scheme in (current, padme, pow2)]
        print(f"| {_human(low)} – {_human(high)} | {' | '.join(cells)} | {' | '.join(counts)} |")
    return 0


def _dense(low: int, high: int, points: int = 4000) -> list[int]:
    """Log-spaced sizes in ``low .. high``, ``points`` of them."""
    step = math.log(high / low) / points
    return sorted({round(low * math.exp(i * step)) for i in range(points + 1)})


def _human(size: int) -> str:
    if size >= MIB:
        return f"{size / MIB:.2f} MiB"
    return f"{size / KIB:.1f} KiB"


if __name__ == "__main__":
    raise SystemExit(main())
