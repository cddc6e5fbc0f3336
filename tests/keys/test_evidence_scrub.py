"""keys/evidence metadata and scrub: find what a photo gives away, remove it losslessly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from keys.errors import OutputError
from keys.evidence import containers, metadata, phash, scrub
from tests.keys.evidence_images import (
    dirty_jpeg,
    dirty_png,
    dirty_webp,
    jpeg_bytes,
    picture,
    png_chunk,
)

DIRTY = {"jpeg": dirty_jpeg, "png": dirty_png, "webp": dirty_webp}


@pytest.mark.parametrize("kind", sorted(DIRTY))
def test_inspect_finds_device_time_place_and_provenance(kind: str) -> None:
    facts = metadata.inspect(DIRTY[kind]())
    assert facts.format == kind and facts.error is None
    assert (facts.width, facts.height) == (128, 96)
    assert facts.make == "Canon" and facts.model == "Canon EOS 5D Mark IV"
    assert facts.body_serial == "032021001234" and facts.lens_serial == "LS-0000777"
    assert facts.owner == "Ivan Ivanov" and facts.software == "Firmware 1.0.2"
    assert facts.capture_time == "2025:01:21 09:59:58"
    assert facts.has_gps and facts.gps_lat == pytest.approx(53.91)
    assert facts.gps_lon == pytest.approx(27.555)
    assert facts.orientation == 6 and facts.has_exif and facts.has_xmp and facts.proofmode
    if kind in ("jpeg", "png"):
        assert facts.has_c2pa and facts.has_comment
    if kind == "jpeg":
        assert facts.has_iptc and facts.trailing_bytes == len(b"MOTION-PHOTO-TRAILER GPS 53.9")
    if kind == "png":
        assert {"Comment", "Author", "XML:com.adobe.xmp", "tIME"} <= set(facts.text_keys)


def test_southern_western_gps_is_negative() -> None:
    from tests.keys.evidence_images import camera_exif

    exif = camera_exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "S", "W"
    buf = io.BytesIO()
    picture(5).save(buf, "JPEG", exif=exif.tobytes())
    facts = metadata.inspect(buf.getvalue())
    assert (facts.gps_lat, facts.gps_lon) == (pytest.approx(-53.91), pytest.approx(-27.555))


def test_a_plain_photo_has_nothing_identifying() -> None:
    facts = metadata.inspect(jpeg_bytes(picture(4)))
    assert facts.identifying == [] and not facts.has_gps and facts.error is None


@pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO file")
@pytest.mark.parametrize("kind", sorted(DIRTY))
def test_scrub_removes_everything_and_keeps_the_pixels(kind: str) -> None:
    original = DIRTY[kind]()
    assert scrub.verify_clean(original)  # the check does see the dirt
    clean = scrub.scrub(original)
    assert scrub.verify_clean(clean) == []
    assert metadata.inspect(clean).identifying == []
    for needle in (b"Canon", b"032021001234", b"LS-0000777", b"Ivan", b"2025:01:21", b"GPS",
                   b"xmpmeta", b"c2pa", b"proofmode", b"MOTION"):
        assert needle not in clean, needle
    with Image.open(io.BytesIO(clean)) as got, Image.open(io.BytesIO(original)) as want:
        assert not got.getexif() and not {"exif", "xmp", "comment", "XML:com.adobe.xmp"} & set(
            got.info)
        assert got.tobytes() == want.tobytes()  # the same decoded pixels: nothing re-encoded


def test_jpeg_scrub_copies_the_scan_byte_for_byte_and_keeps_the_icc_profile() -> None:
    original = dirty_jpeg()
    clean = scrub.scrub(original)
    sos = [s for s in containers.jpeg_segments(original).segments if s.marker == containers.SOS]
    assert sos and all(original[s.start:s.end] in clean for s in sos)
    with Image.open(io.BytesIO(clean)) as img:
        assert img.info.get("icc_profile") == b"\x00" * 128


def test_png_scrub_keeps_what_rendering_needs() -> None:
    img = Image.new("RGBA", (16, 16), (255, 0, 0, 128))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = buf.getvalue()
    extra = png_chunk(b"gAMA", struct.pack(">I", 45455)) + png_chunk(b"tEXt", b"GPS\x0053.9")
    data = data[:33] + extra + data[33:]
    clean = scrub.scrub(data)
    kinds = [c.kind for c in containers.png_chunks(clean).chunks]
    assert b"gAMA" in kinds and b"tEXt" not in kinds and scrub.verify_clean(clean) == []
    with Image.open(io.BytesIO(clean)) as got:
        assert got.tobytes() == img.tobytes()


def test_verify_clean_flags_each_kind_of_leftover() -> None:
    base = jpeg_bytes(picture(6))
    assert scrub.verify_clean(base) == []
    from tests.keys.evidence_images import with_segments

    for marker, payload in [(0xFE, b"hello"), (0xE1, b"Exif\x00\x00MM"), (0xEB, b"JP"),
                            (0xE0, b"JFXX\x00\x10"), (0xEE, b"Adobe" + b"GPS" * 10)]:
        assert scrub.verify_clean(with_segments(base, [(marker, payload)])), hex(marker)
    assert scrub.verify_clean(base + b"trailer")
    assert scrub.verify_clean(b"plain text") == ["not a JPEG, PNG or WebP image"]


def _truncations(data: bytes) -> list[bytes]:
    return [data[:n] for n in (0, 1, 2, 3, 4, 10, 20, len(data) // 3, len(data) // 2,
                              len(data) - 2, len(data) - 1)]


HOSTILE = [
    b"", b"\xff\xd8", b"\xff\xd8\xff", b"\xff\xd8\xff\xe1\xff\xff" + b"x" * 100,
    b"\xff\xd8\xff\xe1\x00\x00", b"\xff\xd8\xff\xe1\x00\x01", b"\xff\xd8" + b"\xff" * 100000,
    b"\xff\xd8\xff\xda\x00\x02" + b"\x00" * 100000,
    b"\xff\xd8\xff\xe1\x00\x20Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + b"\x00" * 12
    + b"\xff\xd9",
    containers.PNG_MAGIC + struct.pack(">I4s", 0xFFFFFFF0, b"IHDR"),
    containers.PNG_MAGIC + png_chunk(b"eXIf", b"MM\x00\x2a\x00\x00\x00\x08\xff\xff")
    + png_chunk(b"IEND", b""),
    containers.PNG_MAGIC + png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00"
                                     + b"\x78\x9c" + b"\x00" * 50) + png_chunk(b"IEND", b""),
    b"RIFF\xff\xff\xff\xffWEBPVP8X", b"RIFF\x10\x00\x00\x00WEBPVP8X\xff\xff\xff\xff",
    os.urandom(5000), b"\x89PNG\r\n\x1a\n" + os.urandom(3000),
]


def _check_never_escapes(data: bytes) -> None:
    start = time.monotonic()
    facts = metadata.inspect(data)
    assert facts.format is None or facts.error is not None or facts.width is not None
    try:
        clean = scrub.scrub(data)
    except containers.ImageError:
        clean = None
    if clean is not None:
        assert isinstance(scrub.verify_clean(clean), list)
    assert isinstance(scrub.verify_clean(data), list)
    phash.image_hash(data)
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("data", HOSTILE + _truncations(dirty_jpeg()) + _truncations(dirty_png())
                         + _truncations(dirty_webp()))
def test_hostile_input_gives_a_clean_error(data: bytes) -> None:
    _check_never_escapes(data)
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data:
        assert metadata.inspect(data).error
        with pytest.raises(containers.ImageError):
            scrub.scrub(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DIRTY)), st.lists(st.tuples(st.integers(0, 10**6),
                                                          st.integers(0, 255)), max_size=8))
def test_fuzzed_images_never_crash(kind: str, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_DIRTY_CACHE[kind])
    for where, value in flips:
        data[where % len(data)] = value
    _check_never_escapes(bytes(data))


_DIRTY_CACHE = {kind: make() for kind, make in DIRTY.items()}


def _report_folder(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    folder = tmp_path / "0011aa"
    folder.mkdir()
    files = {"photo.jpg": dirty_jpeg(), "scan.png": dirty_png(), "notes.txt": b"GPS hello",
             "gone.jpg": b""}
    report = {"format": "skrynka-report", "version": 1, "fields": {},
              "attachments": [{"id": f"{i:02x}", "name": n, "media_type": "image/jpeg",
                               "size": len(d)} for i, (n, d) in enumerate(files.items())]}
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    for name, data in files.items():
        if name != "gone.jpg":
            (folder / name).write_bytes(data)
    return folder, files


def test_process_report_folder(tmp_path: Path) -> None:
    folder, files = _report_folder(tmp_path)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out = tmp_path / "shared"
    items = {i.name: i for i in scrub.process_report_folder(folder, out)}
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert before == after  # the originals are untouched
    photo = items["photo.jpg"]
    assert photo.kind == "image" and photo.gps and photo.facts and photo.facts.make == "Canon"
    assert photo.sha256 == hashlib.sha256(files["photo.jpg"]).hexdigest()
    assert photo.phash is not None and photo.scrubbed_name == "photo.jpg"
    written = (out / "photo.jpg").read_bytes()
    assert photo.scrubbed_sha256 == hashlib.sha256(written).hexdigest()
    assert scrub.verify_clean(written) == []
    assert scrub.verify_clean((out / "scan.png").read_bytes()) == []
    assert stat.S_IMODE((out / "photo.jpg").stat().st_mode) == 0o600
    assert items["notes.txt"].kind == "other" and items["notes.txt"].sha256
    assert not (out / "notes.txt").exists()
    assert items["gone.jpg"].kind == "missing" and items["gone.jpg"].problems
    with pytest.raises(OutputError):  # never overwrites
        scrub.process_report_folder(folder, out)


def test_process_report_folder_refuses_a_damaged_image(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps({"attachments": [{"name": "a.jpg"}]}))
    (folder / "a.jpg").write_bytes(dirty_jpeg()[:500])
    [item] = scrub.process_report_folder(folder, tmp_path / "out")
    assert item.kind == "damaged" and item.problems and item.scrubbed_name is None
    assert not (tmp_path / "out" / "a.jpg").exists()


def test_symlinks_are_not_followed_and_other_files_are_hashed_in_pieces(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (tmp_path / "secret.jpg").write_bytes(dirty_jpeg())
    (folder / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    big = os.urandom(3 << 20)
    (folder / "video.mp4").write_bytes(big)
    (folder / "report.json").write_text(json.dumps(
        {"attachments": [{"name": "link.jpg"}, {"name": "video.mp4"}, "junk"]}))
    link, video, junk = scrub.process_report_folder(folder, tmp_path / "out")
    assert link.kind == "missing" and link.problems and link.sha256 is None
    assert video.kind == "other" and video.size == len(big)
    assert video.sha256 == hashlib.sha256(big).hexdigest()
    assert junk.kind == "missing" and junk.name == "attachment"
    assert not any((tmp_path / "out").iterdir())


def _saved(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("variant", ["progressive", "restart", "cmyk", "grey", "palette",
                                     "apng", "webp-lossless"])
def test_scrub_keeps_other_kinds_of_image_intact(variant: str) -> None:
    img = picture(21)
    data = {
        "progressive": lambda: _saved(img, "JPEG", progressive=True, comment=b"c"),
        "restart": lambda: _saved(img, "JPEG", restart_marker_blocks=2, comment=b"c"),
        "cmyk": lambda: _saved(img.convert("CMYK"), "JPEG", comment=b"c"),
        "grey": lambda: _saved(img.convert("L"), "JPEG", comment=b"c"),
        "palette": lambda: _saved(img.convert("P"), "PNG", transparency=0),
        "apng": lambda: _saved(img, "PNG", save_all=True, append_images=[picture(22)],
                               duration=100),
        "webp-lossless": lambda: _saved(img, "WEBP", lossless=True, exif=b"Exif\x00\x00MM"),
    }[variant]()
    clean = scrub.scrub(data)
    assert scrub.verify_clean(clean) == []
    with Image.open(io.BytesIO(clean)) as got, Image.open(io.BytesIO(data)) as want:
        assert got.mode == want.mode and got.info.get("transparency") == want.info.get(
            "transparency")
        assert getattr(got, "n_frames", 1) == getattr(want, "n_frames", 1)
        for frame in range(getattr(want, "n_frames", 1)):
            got.seek(frame)
            want.seek(frame)
            assert got.tobytes() == want.tobytes()


def test_stray_bytes_between_jpeg_segments_are_dropped() -> None:
    data = jpeg_bytes(picture(23))
    sof = data.index(b"\xff\xc0")
    padded = data[:sof] + b"\x00\x00GPS 53.9 stray" + data[sof:]
    assert scrub.verify_clean(padded) == ["16 stray bytes between segments"]
    clean = scrub.scrub(padded)
    assert b"stray" not in clean and scrub.verify_clean(clean) == []
    with Image.open(io.BytesIO(clean)) as got, Image.open(io.BytesIO(data)) as want:
        assert got.tobytes() == want.tobytes()
