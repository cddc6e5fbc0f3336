"""Attachment names from voters are hostile: they never leave the report's folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from keys.output import safe_name
from tests.keys.helpers import Drop, assert_report_dir, decrypt_batches

HOSTILE = [
    "../../x", "/etc/passwd", "a\x00b", "report.json", "..", ".", "", ".bashrc",
    "evil\u202egnp.exe", "C:\\Windows\\system32\\cmd.exe", "CON", "nul.txt",
    "a" * 300 + ".jpg", "фота з участка.jpg", "photo.jpg", "PHOTO.jpg", "photo.jpg",
    "new\nline\r.txt", "reports.csv", "x/..", ".skrynka-state.json", "a:b*c?.txt",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_name_is_a_plain_name(name: str) -> None:
    result = safe_name(name, set())
    assert result and "/" not in result and "\\" not in result and "\x00" not in result
    assert result not in (".", "..", "report.json") and not result.startswith(".")
    assert not any(ord(c) < 32 or c in "\u202e\u202d\u200f" for c in result)
    assert len(result.encode("utf-8")) <= 180
    assert result.split(".")[0].lower() not in ("con", "nul")


def test_safe_name_examples() -> None:
    taken: set[str] = set()
    assert safe_name("../../x", taken) == "x"
    assert safe_name("/etc/passwd", taken) == "passwd"
    assert safe_name("report.json", taken) == "_report.json"
    assert safe_name("photo.jpg", taken) == "photo.jpg"
    assert safe_name("PHOTO.jpg", taken) == "PHOTO (2).jpg"
    assert safe_name("photo.jpg", taken) == "photo (3).jpg"
    assert safe_name("evil\u202egnp.exe", taken) == "evilgnp.exe"
    assert safe_name("..", taken) == "attachment"
    assert safe_name("", taken) == "attachment (2)"
    long = safe_name("a" * 300 + ".jpg", taken)
    assert long.endswith(".jpg") and len(long) <= 180


def test_hostile_names_stay_inside(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    sealed = drop.submit({"what": "names"},
                         attachments=[(n, f"data {i}".encode()) for i, n in enumerate(HOSTILE)])
    drop.export(tmp_path / "b.skb")
    out = tmp_path / "sub" / "out"
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], out)
    assert (s.decrypted, s.attachments, s.problems) == (1, len(HOSTILE), [])
    assert_report_dir(out, sealed)  # every attachment, byte for byte, nothing else
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.skb", "sub"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["out"]
    folder = out / sealed.id.hex()
    assert all(p.is_file() and not p.is_symlink() for p in folder.iterdir())


def test_symlink_in_output_not_followed(tmp_path: Path, drop: Drop, analyst: PrivateKey) -> None:
    sealed = drop.submit({"what": "a"})
    drop.export(tmp_path / "b.skb")
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "victim"
    target.write_text("untouched")
    os.symlink(target, out / "reports.csv")
    os.symlink(target, out / f".tmp-{sealed.id.hex()}")
    s = decrypt_batches(analyst, [tmp_path / "b.skb"], out)
    assert s.decrypted == 1
    assert target.read_text() == "untouched"
    assert not (out / "reports.csv").is_symlink()
