"""Fuzz: mutated batches never crash decrypt and never yield unauthenticated output."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from keys.errors import KeysError
from tests.keys.helpers import Drop, assert_report_dir, decrypt_batches, folders

KEY = PrivateKey.generate()


@lru_cache(maxsize=1)
def original() -> tuple[Drop, bytes]:
    drop = Drop([bytes(KEY.public_key)])
    for i in range(5):
        drop.submit({"what": f"report {i}", "kind": ["a"]},
                    attachments=[(f"f{j}.bin", bytes([i, j]) * (40 * i + j)) for j in range(i % 3)])
    with tempfile.TemporaryDirectory() as d:
        data = drop.export(Path(d) / "b.skb").read_bytes()
    return drop, data


def _mutation(data_len: int) -> st.SearchStrategy[tuple]:
    pos = st.integers(0, data_len - 1)
    return st.one_of(
        st.tuples(st.just("flip"), pos, st.integers(0, 7)),
        st.tuples(st.just("truncate"), pos),
        st.tuples(st.just("splice"), pos, pos, pos),
        st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), pos, st.integers(1, 600)),
    )


def _apply(data: bytes, mutations: list[tuple]) -> bytes:
    buf = bytearray(data)
    for m in mutations:
        n = len(buf)
        if n == 0:
            break
        if m[0] == "flip":
            buf[m[1] % n] ^= 1 << m[2]
        elif m[0] == "truncate":
            del buf[m[1] % n :]
        elif m[0] == "splice":
            a, b = sorted((m[1] % n, m[2] % n))
            piece = bytes(buf[a:b])
            at = m[3] % n
            buf[at:at] = piece
        elif m[0] == "insert":
            at = m[1] % n
            buf[at:at] = m[2]
        else:
            del buf[m[1] % n : m[1] % n + m[2]]
    return bytes(buf)


def _run(data: bytes) -> tuple[Path, list[str]]:
    drop, _ = original()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.skb"
        path.write_bytes(data)
        out = Path(d) / "out"
        summary = None
        try:
            summary = decrypt_batches(KEY, [path], out)
            summary_ids = sorted(folders(out))
        except KeysError:
            summary_ids = sorted(folders(out)) if out.exists() else []
        by_id = {r.id.hex(): r for r in drop.reports}
        for name in summary_ids:
            assert name in by_id
            assert_report_dir(out, by_id[name])  # exactly the original: no damaged output
        if out.exists():
            assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]
            if summary is not None:
                assert summary.decrypted == len(summary_ids)
        return path, summary_ids


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_batch(data: st.DataObject) -> None:
    _, raw = original()
    mutations = data.draw(st.lists(_mutation(len(raw)), min_size=1, max_size=3))
    _run(_apply(raw, mutations))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 4), st.integers(0, 10**9), st.integers(0, 7))
def test_flip_in_one_envelope_spares_the_others(index: int, where: int, bit: int) -> None:
    drop, raw = original()
    sealed = drop.reports[index]
    start = raw.index(sealed.envelope)
    end = start + len(sealed.envelope) + sum(len(a[1]) for a in sealed.attachments)
    buf = bytearray(raw)
    buf[start + where % (end - start)] ^= 1 << bit
    _, kept = _run(bytes(buf))
    assert kept == sorted(r.id.hex() for i, r in enumerate(drop.reports) if i != index)


def test_intact_batch_decrypts_all() -> None:
    drop, raw = original()
    _, kept = _run(raw)
    assert kept == sorted(r.id.hex() for r in drop.reports)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=40)
    | st.sampled_from(["", "00" * 16, "ab" * 32, "2026-11-20"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def _leaves(obj: object, path: tuple = ()) -> list[tuple]:
    if isinstance(obj, dict):
        return [path] + [p for k, v in obj.items() for p in _leaves(v, path + (k,))]
    if isinstance(obj, list):
        return [path] + [p for i, v in enumerate(obj) for p in _leaves(v, path + (i,))]
    return [path]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_manifest_values_replaced(data: st.DataObject) -> None:
    """Validly hashed manifests with any value swapped: only KeysError, no stray output."""
    import hashlib
    import json
    import struct

    _, raw = original()
    (length,) = struct.unpack(">I", raw[9:13])
    manifest = json.loads(raw[13 : 13 + length])
    paths = _leaves(manifest)
    where = data.draw(st.sampled_from(paths[1:]))
    target = manifest
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = data.draw(_JSON)
    text = json.dumps(manifest).encode()
    mutated = (raw[:9] + struct.pack(">I", len(text)) + text + hashlib.sha256(text).digest()
               + raw[13 + length + 32 :])
    _run(mutated)
