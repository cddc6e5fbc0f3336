"""``python -m keys summary`` on 100,000 reports: target a fresh summary in <= 60 s.

The report folders are written directly (report.json as decrypt writes it, no
encryption; every tenth with a small photo carrying EXIF) with an empty state file,
synced to the disk (else the kernel writing the generator's files back competes with the
summary: a fresh 30,000 took 14-25 s unsynced, 11-14 s synced), then: a fresh summary,
a second run with nothing new (all from the cache), and a run after 1,000 more reports
arrived.
``python -m bench summary_bench`` runs it alone; ``SUMMARY_BENCH_N`` changes the count.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from bench import Row
from keys import output
from keys.findings.form import default_form_path, load_form
from keys.state import State

N = int(os.environ.get("SUMMARY_BENCH_N", "100000"))
MORE = 1000
TARGET_S = 60.0


def _report(rng: random.Random, form_choices: dict[str, list[str]], i: int) -> dict[str, object]:
    day = f"2025-01-{rng.randint(1, 28):02d}"
    what = rng.sample(form_choices["what"], rng.choice((1, 1, 1, 2, 3)))
    fields: dict[str, object] = {
        "what": what, "stage": rng.choice(form_choices["stage"]),
        "region": rng.choice(form_choices["region"]), "town": f"Town {rng.randint(1, 400)}",
        "station": str(rng.randint(1, 3000)), "incident_date": day, "incident_time": "14:30",
        "description": "Описание нарушения. " * rng.randint(1, 30),
        "role": rng.choice(form_choices["role"]), "contact": "",
    }
    attachments = []
    if i % 10 == 0:
        attachments.append({"id": f"{i:032x}", "name": "photo.jpg", "media_type": "image/jpeg",
                            "size": 1000, "envelope_sha256": "0" * 64})
    return {"format": "skrynka-report", "version": 1,
            "form": {"id": "election-violation", "version": rng.choice((2, 3))}, "lang": "ru",
            "received_day": "2026-12-01", "fields": fields, "labels": {},
            "attachments": attachments}


def make_dir(out: Path, start: int, count: int) -> None:
    """Report folders start..start+count-1 in ``out`` (a decrypt output directory)."""
    form = load_form(default_form_path())
    choices = {name: form.choice_ids(name) or [""] for name in ("what", "stage", "region",
                                                                 "role")}
    rng = random.Random(start)
    out.mkdir(exist_ok=True)
    if not (out / ".skrynka-state.json").exists():
        State().save(out)
    for i in range(start, start + count):
        folder = out / f"{i:032x}"
        folder.mkdir()
        (folder / output.REPORT_FILE).write_bytes(output.report_json(_report(rng, choices, i)))
        if i % 10 == 0:
            (folder / "photo.jpg").write_bytes(_photo(rng))


def _photo(rng: random.Random) -> bytes:
    """A distinct 160x120 JPEG (random rectangles) with camera EXIF and GPS: every tenth
    report has one, so the evidence step reads, hashes, inspects and scrubs 10,000."""
    img = Image.new("RGB", (160, 120), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.randrange(140), rng.randrange(100)
        draw.rectangle((x, y, x + rng.randrange(8, 60), y + rng.randrange(8, 60)),
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Phone", "Model X"
    exif.get_ifd(0x8825)[1] = "N"
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85, exif=exif.tobytes())
    return buf.getvalue()


def _timed(in_dir: Path) -> float:
    """The wall time of ``python -m keys summary DIR`` as the analyst runs it, in a process
    of its own (called in the bench's process after the other benches, the same 100,000
    reports once took 75.7 s against 49.9 s alone)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "keys", "summary", str(in_dir)],
                          capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"keys summary failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def run(soak: bool = False) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="summary-bench-"))
    try:
        in_dir = tmp / "reports"
        make_dir(in_dir, 1, N)
        os.sync()  # the generator's own writes reach the disk before the clock starts
        fresh = _timed(in_dir)
        again = _timed(in_dir)
        make_dir(in_dir, N + 1, MORE)
        os.sync()
        more = _timed(in_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    group = f"keys summary ({N:,} reports)"
    return [
        Row(group, "fresh summary", fresh, "s", target=f"<= {TARGET_S:.0f} s",
            ok=fresh <= TARGET_S * N / 100_000),
        Row(group, "again, nothing new", again, "s"),
        Row(group, f"after {MORE:,} more reports", more, "s"),
    ]


if __name__ == "__main__":
    from bench import table

    print(table(run()))
