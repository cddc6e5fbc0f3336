"""keys.reader: streaming a batch, strict manifest validation, chain checks."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from keys import batch, reader
from keys.errors import DamagedError, FormatError, UnsupportedVersion
from tests.keys.helpers import Drop, make_batch


def _split(path: Path) -> tuple[bytes, dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack(">I", data[9:13])
    return data[:13], json.loads(data[13 : 13 + length]), data[13 + length + 32 :]


def _rewrite(path: Path, manifest: object, *, raw: bytes | None = None) -> Path:
    _, _, body = _split(path)
    text = raw if raw is not None else json.dumps(manifest, separators=(",", ":")).encode()
    out = path.with_name("mut.skb")
    out.write_bytes(batch.MAGIC + b"\x01" + struct.pack(">I", len(text)) + text
                    + hashlib.sha256(text).digest() + body)
    return out


def test_reads_manifest_and_envelopes(tmp_path: Path, analyst) -> None:
    drop = make_batch(tmp_path / "b.skb", [bytes(analyst.public_key)], 3, attachments=2)
    with reader.open_batch(tmp_path / "b.skb") as bf:
        m = bf.manifest
        assert m.chain_id == drop.chain_id and m.prev_seq == 0 and m.prev_chain == batch.GENESIS
        assert [r.seq for r in m.reports] == [1, 2, 3]
        for index, (item, sealed) in enumerate(zip(m.reports, drop.reports)):
            assert item.id == sealed.id and item.chain == sealed.chain
            section = bf.section(item.size, "report")
            assert section.read() == sealed.envelope
            assert reader.link_ok(m, index, section.sha256()) is True
            for att, (aid, env, _) in zip(item.attachments, sealed.attachments):
                assert att.id == aid
                assert bf.section(att.size, "att").sha256() == hashlib.sha256(env).digest()
        bf.finish()
    assert m.body_size == sum(len(r.envelope) + sum(len(a[1]) for a in r.attachments)
                              for r in drop.reports)


def test_link_ok_detects_wrong_envelope(tmp_path: Path, analyst) -> None:
    make_batch(tmp_path / "b.skb", [bytes(analyst.public_key)], 2, attachments=0)
    with reader.open_batch(tmp_path / "b.skb") as bf:
        assert reader.link_ok(bf.manifest, 1, bytes(32)) is False


@pytest.mark.parametrize("mutate, error", [
    (lambda m: m.update(format="other"), FormatError),
    (lambda m: m.update(version=2), UnsupportedVersion),
    (lambda m: m.update(version=True), FormatError),  # mistyped, not a version (SPEC 3.3)
    (lambda m: m.update(version="1"), FormatError),
    (lambda m: m.update(version=-1), UnsupportedVersion),
    (lambda m: m.update(extra=1), FormatError),
    (lambda m: m.pop("prev"), FormatError),
    (lambda m: m.update(batch_id="AB" * 16), FormatError),
    (lambda m: m.update(chain_id="ab" * 15), FormatError),
    (lambda m: m.update(created_day="2026-02-30"), FormatError),
    (lambda m: m["prev"].update(seq=-1), FormatError),
    (lambda m: m["reports"][0].update(seq="1"), FormatError),
    (lambda m: m["reports"][0].update(seq=True), FormatError),
    (lambda m: m["reports"][0].update(size=10), FormatError),
    (lambda m: m["reports"][0].update(attachments={}), FormatError),
    (lambda m: m["reports"][0]["attachments"][0].update(sha256="zz" * 32), FormatError),
    (lambda m: m["reports"][1].update(seq=1), FormatError),  # out of order
    (lambda m: m["reports"].append(m["reports"][0]), FormatError),
    (lambda m: m["reports"][1].update(id=m["reports"][0]["id"]), FormatError),  # id twice
    (lambda m: m["reports"][1]["attachments"][0].update(id=m["reports"][0]["id"]), FormatError),
    (lambda m: m.update(reports=None), FormatError),
])
def test_manifest_validation(tmp_path: Path, analyst, mutate, error) -> None:
    # version 1: _rewrite writes a version 1 prefix and no signature block
    make_batch(tmp_path / "b.skb", [bytes(analyst.public_key)], 2, signed=False)
    _, manifest, _ = _split(tmp_path / "b.skb")
    mutate(manifest)
    with pytest.raises(error) as caught:
        reader.open_batch(_rewrite(tmp_path / "b.skb", manifest))
    assert type(caught.value) is error


@pytest.mark.parametrize("raw", [
    b'{"format":"skrynka-batch","format":"skrynka-batch"}', b"[1, 2]", b"not json",
    b'{"version": 1.0}', b'{"version": NaN}', "{\"é\":1}".encode(), b"[" * 100000,
])
def test_manifest_bad_json(tmp_path: Path, analyst, raw: bytes) -> None:
    make_batch(tmp_path / "b.skb", [bytes(analyst.public_key)], 1)
    with pytest.raises(FormatError):
        reader.open_batch(_rewrite(tmp_path / "b.skb", None, raw=raw))


def test_manifest_hash_checked(tmp_path: Path, analyst) -> None:
    make_batch(tmp_path / "b.skb", [bytes(analyst.public_key)], 1)
    data = bytearray((tmp_path / "b.skb").read_bytes())
    data[20] ^= 1
    (tmp_path / "b.skb").write_bytes(bytes(data))
    with pytest.raises(DamagedError, match="hash"):
        reader.open_batch(tmp_path / "b.skb")


def test_prefix_checks(tmp_path: Path) -> None:
    p = tmp_path / "x"
    for content, error, text in [
        (b"", FormatError, "not a Skrynka batch"),
        (b"SKRYNKAE\x01", FormatError, "not a Skrynka batch"),
        (b"SKRYNKAB\x01\x00", reader.BatchTruncated, "prefix"),
        (b"SKRYNKAB\x03\x00\x00\x00\x02{}", UnsupportedVersion, "version 3"),
        (b"SKRYNKAB\x01\xff\xff\xff\xff", FormatError, "64 MiB"),
        (b"SKRYNKAB\x01\x00\x00\x00\x10{}", reader.BatchTruncated, "manifest"),
    ]:
        p.write_bytes(content)
        with pytest.raises(error, match=text):
            reader.open_batch(p)
    with pytest.raises(FormatError, match="cannot read"):
        reader.open_batch(tmp_path / "missing")


def test_truncation_named(tmp_path: Path, analyst) -> None:
    drop = make_batch(tmp_path / "b.skb", [bytes(analyst.public_key)], 2)
    data = (tmp_path / "b.skb").read_bytes()
    (tmp_path / "b.skb").write_bytes(data[:-10])
    with reader.open_batch(tmp_path / "b.skb") as bf:
        r1, r2 = bf.manifest.reports
        bf.section(r1.size, "report seq 1").drain()
        bf.section(r1.attachments[0].size, "attachment 1").drain()
        bf.section(r2.size, "report seq 2").drain()
        with pytest.raises(reader.BatchTruncated, match="truncated in attachment of seq 2"):
            bf.section(r2.attachments[0].size, "attachment of seq 2").drain()
    assert isinstance(reader.BatchTruncated("x"), DamagedError)
    assert drop.reports


def test_hole_in_sequence_is_unverifiable(tmp_path: Path, drop: Drop) -> None:
    for i in range(3):
        drop.submit({"what": str(i)})
    drop.export(tmp_path / "b.skb", [drop.reports[0], drop.reports[2]])
    with reader.open_batch(tmp_path / "b.skb") as bf:
        sha = hashlib.sha256(drop.reports[2].envelope).digest()
        assert reader.link_ok(bf.manifest, 1, sha) is None
