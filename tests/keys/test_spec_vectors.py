"""Every vector in tests/vectors/index.json, checked against the code and against SPEC.md.

Envelopes, key files and public keys go through the reference modules;
envelopes and batches also go through ``spec_open_envelope`` and
``spec_read_batch`` below, written from SPEC.md alone (so the SPEC is shown to
be enough), and batches through the analyst's decryptor (keys.decrypt).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey

from keys import batch, envelope, errors, keyfile, pubkey

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
INDEX = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))
KEYS = {name: PrivateKey(bytes.fromhex(k["private"])) for name, k in INDEX["keys"].items()}


def _id(entry: dict[str, Any]) -> str:
    return f"{entry.get('file', entry.get('text', ''))}-{entry['expect']}"


def _error(name: str) -> type[errors.KeysError]:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.KeysError)
    return cls  # type: ignore[no-any-return]


def test_index_covers_every_file() -> None:
    listed = {e["file"] for group in ("envelopes", "batches", "keyfiles") for e in INDEX[group]}
    on_disk = {p.name for p in VECTORS.iterdir() if p.suffix in (".bin", ".skb", ".key", ".pub")}
    assert listed == on_disk
    assert sum(p.stat().st_size for p in VECTORS.iterdir()) < 1 << 20


def test_generator_still_makes_these_vectors(tmp_path: Path) -> None:
    """make_vectors.py, rerun, gives the same files and expectations (bytes differ)."""
    from tests.vectors import make_vectors

    assert make_vectors.main([str(tmp_path)]) == 0
    fresh = json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))
    assert fresh["envelopes"] == INDEX["envelopes"] and fresh["keys"] == INDEX["keys"]
    for group in ("batches", "keyfiles", "continuity", "public_keys"):
        strip = [{k: v for k, v in e.items() if k not in ("last", "prev", "reports")}
                 for e in fresh[group]]
        assert strip == [{k: v for k, v in e.items() if k not in ("last", "prev", "reports")}
                         for e in INDEX[group]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in VECTORS.iterdir() if p.suffix != ".py" and p.is_file())


def test_keys_match_their_public_text() -> None:
    for name, key in KEYS.items():
        assert pubkey.encode_public(bytes(key.public_key)) == INDEX["keys"][name]["public"]


@pytest.mark.parametrize("entry", INDEX["envelopes"], ids=_id)
def test_envelope_vector(entry: dict[str, Any]) -> None:
    blob = (VECTORS / entry["file"]).read_bytes()
    for name in entry["keys"]:
        if entry["expect"] == "ok":
            header, plain = envelope.open_bytes(blob, KEYS[name])
            assert len(plain) == entry["length"]
            assert hashlib.sha256(plain).hexdigest() == entry["sha256"]
            assert header.kind == entry["kind"]
            assert header.envelope_id.hex() == entry["envelope_id"]
            assert header.report_id.hex() == entry["report_id"]
            assert len(blob) == envelope.sealed_size(len(plain), len(header.recipients))
        else:
            with pytest.raises(errors.KeysError) as caught:
                envelope.open_bytes(blob, KEYS[name])
            assert type(caught.value) is _error(entry["expect"]), caught.value


def test_known_data_vectors_hold_the_stated_data() -> None:
    for entry in INDEX["envelopes"]:
        match = re.fullmatch(r"env-(\d+)\.bin", entry["file"])
        if match and entry["expect"] == "ok":
            want = hashlib.shake_256(b"skrynka-vector").digest(int(match[1]))
            assert hashlib.sha256(want).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("entry", INDEX["keyfiles"], ids=_id)
def test_keyfile_vector(entry: dict[str, Any]) -> None:
    path = VECTORS / entry["file"]
    if entry["expect"] == "public-only":
        assert pubkey.encode_public(keyfile.public_from_file(path)) == entry["public"]
        return
    passphrase = entry["passphrase"].encode("utf-8")
    if entry["expect"] == "ok":
        key = keyfile.load_private(path, passphrase)
        assert bytes(key) == bytes(KEYS["a"])
        assert pubkey.encode_public(keyfile.public_from_file(path)) == entry["public"]
        return
    with pytest.raises(errors.KeysError) as caught:
        keyfile.load_private(path, passphrase)
    assert type(caught.value) is _error(entry["expect"]), caught.value


@pytest.mark.parametrize("entry", INDEX["public_keys"], ids=_id)
def test_public_key_vector(entry: dict[str, Any]) -> None:
    if entry["expect"] == "ok":
        assert pubkey.decode_public(entry["text"]).hex() == entry["raw"]
    else:
        with pytest.raises(errors.KeyFileError):
            pubkey.decode_public(entry["text"])


# -- an envelope opener written from SPEC.md section 2 -----------------------------------------


def _spec_padded_size(length: int) -> int:
    need = length + 8
    if need <= 512:
        return 512
    if need <= 1 << 20:
        return 1 << (need - 1).bit_length()
    return -(-need // (1 << 20)) * (1 << 20)


def spec_open_envelope(blob: bytes, key: PrivateKey) -> tuple[int, bytes, bytes, bytes]:
    """(kind, envelope_id, report_id, data), or the error class SPEC 2.5 names."""
    import nacl.bindings as sodium
    from nacl.exceptions import CryptoError
    from nacl.public import SealedBox

    if len(blob) < 8 or blob[:8] != b"SKRYNKAE":
        raise errors.FormatError("magic")
    if len(blob) < 43:
        raise errors.DamagedError("truncated header")
    version, kind, eid, rid, n = blob[8], blob[9], blob[10:26], blob[26:42], blob[42]
    if version != 1:
        raise errors.UnsupportedVersion("version")
    if kind not in (1, 2) or (kind == 1 and eid != rid) or not 1 <= n <= 32:
        raise errors.FormatError("header field")
    end = 67 + 112 * n
    if len(blob) < end:
        raise errors.DamagedError("truncated header")
    stanzas = [blob[43 + 112 * i : 43 + 112 * (i + 1)] for i in range(n)]
    if len({s[:32] for s in stanzas}) != n:
        raise errors.FormatError("duplicate recipient")
    mine = [s[32:] for s in stanzas if s[:32] == bytes(key.public_key)]
    if not mine:
        raise errors.NotRecipient("not a recipient")
    try:
        file_key = SealedBox(key).decrypt(mine[0])
    except CryptoError:
        raise errors.DamagedError("stanza") from None
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, blob[end - 24 : end], file_key)
    body = blob[end:]
    chunks = [body[i : i + 65553] for i in range(0, len(body), 65553)] or [b""]
    padded = b""
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        if len(chunk) <= 17:
            raise errors.DamagedError("short chunk")
        try:
            piece, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                state, chunk, blob[:end] if i == 0 else None)
        except CryptoError:
            raise errors.DamagedError("chunk authentication") from None
        if tag != (3 if last else 0):
            raise errors.DamagedError("tag")
        padded += piece
    if len(padded) < 8:
        raise errors.DamagedError("short")
    (length,) = struct.unpack(">Q", padded[-8:])
    if length > len(padded) - 8 or _spec_padded_size(length) != len(padded) or any(
            padded[length:-8]):
        raise errors.DamagedError("padding")
    return kind, eid, rid, padded[:length]


@pytest.mark.parametrize("entry", INDEX["envelopes"], ids=_id)
def test_envelope_vector_against_spec(entry: dict[str, Any]) -> None:
    blob = (VECTORS / entry["file"]).read_bytes()
    for name in entry["keys"]:
        if entry["expect"] == "ok":
            kind, eid, rid, plain = spec_open_envelope(blob, KEYS[name])
            assert (kind, eid.hex(), rid.hex()) == (
                entry["kind"], entry["envelope_id"], entry["report_id"])
            assert hashlib.sha256(plain).hexdigest() == entry["sha256"]
        else:
            with pytest.raises(errors.KeysError) as caught:
                spec_open_envelope(blob, KEYS[name])
            assert type(caught.value) is _error(entry["expect"]), caught.value


# -- a batch reader written from SPEC.md section 3 ---------------------------------------------

_HEX16, _HEX32 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise errors.FormatError("duplicate key")
    return dict(pairs)


def _shape(value: Any, form: dict[str, Any]) -> None:
    """FormatError unless ``value`` has exactly the keys of ``form``, each of its form."""
    if not isinstance(value, dict) or set(value) != set(form):
        raise errors.FormatError(f"keys {sorted(value) if isinstance(value, dict) else value}")
    for key, want in form.items():
        got = value[key]
        if isinstance(want, re.Pattern):
            ok = isinstance(got, str) and want.fullmatch(got) is not None
        elif want is int:
            ok = type(got) is int and got >= 0
        elif isinstance(want, list):
            ok = isinstance(got, list)
            for item in got if ok else []:
                _shape(item, want[0])
        elif isinstance(want, dict):
            _shape(got, want)
            ok = True
        else:
            ok = got == want
        if not ok:
            raise errors.FormatError(f"{key} = {got!r}")


_ATT = {"id": _HEX16, "size": int, "sha256": _HEX32}
_REPORT = {"seq": int, "id": _HEX16, "day": _DAY, "size": int, "sha256": _HEX32,
           "chain": _HEX32, "attachments": [_ATT]}
_MANIFEST = {"format": "skrynka-batch", "version": int, "batch_id": _HEX16, "chain_id": _HEX16,
             "created_day": _DAY, "prev": {"seq": int, "chain": _HEX32}, "reports": [_REPORT]}


def spec_read_batch(blob: bytes, key: PrivateKey) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(manifest, [{seq, id, sha256 of plaintext, attachments}]) or the SPEC's error."""
    if blob[:8] != b"SKRYNKAB":
        raise errors.FormatError("magic")
    if len(blob) < 13:
        raise errors.DamagedError("short prefix")  # SPEC: file shorter than 45 + M
    version, length = struct.unpack(">BI", blob[8:13])
    if version not in (1, 2):
        raise errors.UnsupportedVersion("version")
    if length > 64 << 20:
        raise errors.FormatError("manifest too long")
    raw, digest = blob[13 : 13 + length], blob[13 + length : 45 + length]
    block = blob[45 + length : 141 + length] if version == 2 else b""
    if len(digest) != 32 or len(block) != (96 if version == 2 else 0):
        raise errors.DamagedError("truncated manifest or signature")
    if hashlib.sha256(raw).digest() != digest:
        raise errors.DamagedError("manifest hash")
    if version == 2:  # SPEC 6.1
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey

        try:
            VerifyKey(block[:32]).verify(b"skrynka-batch-v2" + blob[:13] + digest, block[32:])
        except BadSignatureError:
            raise errors.DamagedError("signature") from None
    try:
        manifest = json.loads(raw.decode("ascii"), object_pairs_hook=_pairs)
    except (UnicodeDecodeError, ValueError):
        raise errors.FormatError("not ASCII JSON") from None
    if isinstance(manifest, dict) and manifest.get("version") not in (version, None):
        raise errors.UnsupportedVersion("manifest version")
    _shape(manifest, _MANIFEST)
    offset, out = 45 + length + len(block), []
    seq, link = manifest["prev"]["seq"], bytes.fromhex(manifest["prev"]["chain"])
    if seq == 0 and link != bytes(32):
        raise errors.VerificationError("prev.seq 0 must have the GENESIS link")
    ids: set[str] = set()
    for rep in manifest["reports"]:
        if rep["seq"] <= seq or rep["id"] in ids:
            raise errors.FormatError("seq order or repeated id")
        if rep["seq"] != seq + 1:
            raise errors.VerificationError("gap in seq")
        ids.add(rep["id"])
        env, offset = blob[offset : offset + rep["size"]], offset + rep["size"]
        _check_bytes(env, rep)
        link = batch.chain_next(link, rep["seq"], bytes.fromhex(rep["id"]),
                                hashlib.sha256(env).digest())
        if link.hex() != rep["chain"]:
            raise errors.VerificationError("chain")
        seq = rep["seq"]
        kind, eid, _, plain = _open(env, key)
        if kind != 1 or eid.hex() != rep["id"]:
            raise errors.VerificationError("report envelope does not match its entry")
        listed = {a["id"]: a for a in _spec_plain(plain)["attachments"]}
        if set(listed) != {a["id"] for a in rep["attachments"]}:
            raise errors.VerificationError("attachments differ from the report's list")
        atts = []
        for att in rep["attachments"]:
            if att["id"] in ids:
                raise errors.FormatError("repeated id")
            ids.add(att["id"])
            env, offset = blob[offset : offset + att["size"]], offset + att["size"]
            _check_bytes(env, att)
            kind, eid, rid, body = _open(env, key)
            if (kind, eid.hex(), rid.hex()) != (2, att["id"], rep["id"]):
                raise errors.VerificationError("attachment envelope does not match")
            want = listed[att["id"]]
            if (len(body), hashlib.sha256(env).hexdigest()) != (want["size"],
                                                                 want["envelope_sha256"]):
                raise errors.VerificationError("attachment differs from the report's list")
            atts.append({"id": att["id"], "size": len(body),
                         "sha256": hashlib.sha256(body).hexdigest()})
        out.append({"seq": rep["seq"], "id": rep["id"],
                    "sha256": hashlib.sha256(plain).hexdigest(), "attachments": atts})
    if offset != len(blob):
        raise errors.DamagedError("bytes after the last envelope")
    return manifest, out


def _spec_plain(plain: bytes) -> dict[str, Any]:
    """SPEC 3.4's rules for a report plaintext, as written there."""
    def no_constant(name: str) -> Any:
        raise ValueError(name)

    def is_int(v: Any) -> bool:
        return type(v) is int

    def is_hex(v: Any, n: int) -> bool:
        return isinstance(v, str) and len(v) == n and all(c in "0123456789abcdef" for c in v)

    try:
        doc = json.loads(plain.decode("utf-8"), object_pairs_hook=_pairs,
                         parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, errors.FormatError):
        raise errors.VerificationError("report plaintext is not strict UTF-8 JSON") from None
    ok = (isinstance(doc, dict) and doc.get("format") == "skrynka-report"
          and is_int(doc.get("version")) and doc["version"] == 1
          and isinstance(doc.get("form"), dict) and isinstance(doc["form"].get("id"), str)
          and is_int(doc["form"].get("version"))
          and isinstance(doc.get("lang"), str) and isinstance(doc.get("received_day"), str)
          and isinstance(doc.get("fields"), dict)
          and all(isinstance(v, str) or (isinstance(v, list) and all(isinstance(c, str) for c in v))
                  for v in doc["fields"].values())
          and isinstance(doc.get("attachments"), list)
          and all(isinstance(a, dict) and is_hex(a.get("id"), 32) and isinstance(a.get("name"), str)
                  and is_int(a.get("size")) and is_hex(a.get("envelope_sha256"), 64)
                  for a in doc["attachments"]))
    if not ok:
        raise errors.VerificationError("report plaintext breaks SPEC 3.4")
    return doc


def _check_bytes(env: bytes, entry: dict[str, Any]) -> None:
    if len(env) != entry["size"]:
        raise errors.DamagedError("batch truncated")
    if hashlib.sha256(env).hexdigest() != entry["sha256"]:
        raise errors.VerificationError("envelope altered")


def _open(env: bytes, key: PrivateKey) -> tuple[int, bytes, bytes, bytes]:
    try:
        return spec_open_envelope(env, key)
    except (errors.FormatError, errors.DamagedError) as exc:
        raise errors.VerificationError(f"envelope damaged: {exc}") from None


def spec_continuity(names: list[str]) -> None:
    """SPEC 3.2: VerificationError if the batches, in order, show a gap or a fork."""
    links: dict[int, str] = {}
    last = (0, bytes(32).hex())
    for name in names:
        manifest, _ = spec_read_batch((VECTORS / name).read_bytes(), KEYS["a"])
        prev = (manifest["prev"]["seq"], manifest["prev"]["chain"])
        if prev[0] > last[0]:
            raise errors.VerificationError("gap")
        if links.get(prev[0], prev[1]) != prev[1] or (prev[0] == last[0] and prev != last):
            raise errors.VerificationError("fork at prev")
        for rep in manifest["reports"]:
            if links.setdefault(rep["seq"], rep["chain"]) != rep["chain"]:
                raise errors.VerificationError("fork")
            if rep["seq"] > last[0]:
                last = (rep["seq"], rep["chain"])


@pytest.mark.parametrize("entry", INDEX["batches"], ids=_id)
def test_batch_vector_against_spec(entry: dict[str, Any]) -> None:
    blob = (VECTORS / entry["file"]).read_bytes()
    if entry["expect"] == "ok-alone":
        spec_read_batch(blob, KEYS[entry["key"]])
        return
    if entry["expect"] != "ok":
        with pytest.raises(errors.KeysError) as caught:
            spec_read_batch(blob, KEYS[entry["key"]])
        assert type(caught.value) is _error(entry["expect"]), caught.value
        return
    manifest, reports = spec_read_batch(blob, KEYS[entry["key"]])
    assert manifest["chain_id"] == entry["chain_id"] and manifest["prev"] == entry["prev"]
    assert reports == entry["reports"]
    assert (manifest["reports"][-1]["seq"], manifest["reports"][-1]["chain"]) == (
        entry["last"]["seq"], entry["last"]["chain"])


@pytest.mark.parametrize("case", INDEX["continuity"], ids=lambda c: "+".join(c["batches"]))
def test_continuity_vector_against_spec(case: dict[str, Any]) -> None:
    if case["expect"] == "ok":
        spec_continuity(case["batches"])
    else:
        with pytest.raises(errors.VerificationError):
            spec_continuity(case["batches"])


# -- the same batch vectors through the analyst's decryptor (keys.decrypt) ----------------------

_K2_KNOWN_BUGS: dict[str, str] = {}  # vectors keys.decrypt is known to get wrong: none


def _decrypt(names: list[str], key: str, out: Path, signer: str | None = None) -> None:
    from keys import decrypt
    from keys.origin import Trust
    from keys.signature import decode_signer

    trust = (Trust(allow_unsigned=True) if signer is None
             else Trust(signer=decode_signer(INDEX["signers"][signer]["public"])))
    summary = decrypt.decrypt_batches(KEYS[key], [VECTORS / n for n in names], out, trust=trust)
    summary.raise_for_problems()


@pytest.mark.parametrize("entry", INDEX["batches"], ids=_id)
def test_batch_vector_through_decryptor(entry: dict[str, Any], tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    if entry["file"] in _K2_KNOWN_BUGS:
        request.applymarker(pytest.mark.xfail(reason=_K2_KNOWN_BUGS[entry["file"]], strict=True))
    out = tmp_path / "out"
    if entry["expect"].startswith("ok"):
        _decrypt([entry["file"]], entry["key"], out, entry.get("signer"))
        for rep in entry.get("reports", []):
            folder = out / rep["id"]
            assert folder.is_dir()
            sizes = sorted(p.stat().st_size for p in folder.iterdir() if p.name != "report.json")
            assert sizes == sorted(a["size"] for a in rep["attachments"])
        return
    with pytest.raises(errors.KeysError) as caught:
        _decrypt([entry["file"]], entry["key"], out, entry.get("signer"))
    assert isinstance(caught.value, _error(entry["expect"])), caught.value


@pytest.mark.parametrize("case", INDEX["continuity"], ids=lambda c: "+".join(c["batches"]))
def test_continuity_vector_through_decryptor(case: dict[str, Any], tmp_path: Path) -> None:
    """Given together in one run, and one batch per run into the same directory."""
    for runs in ([case["batches"]], [[name] for name in case["batches"]]):
        out = tmp_path / f"out{len(runs)}"
        failures = []
        for names in runs:
            try:
                _decrypt(names, "a", out)
            except errors.VerificationError as exc:
                failures.append(exc)
        assert bool(failures) == (case["expect"] != "ok"), (runs, failures)
