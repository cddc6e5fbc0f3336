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
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey

from keys import envelope, errors, keyfile, pubkey
from tests.keys.spec_reader import SpecRun, spec_open_envelope, spec_read_batch, spec_run

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
INDEX = json.loads((VECTORS / "index.json").read_text(encoding="utf-8"))
KEYS = {name: PrivateKey(bytes.fromhex(k["private"])) for name, k in INDEX["keys"].items()}


def _id(entry: dict[str, Any]) -> str:
    return f"{entry.get('file', entry.get('text', ''))}-{entry['expect']}"


def _spec_class(exc: BaseException) -> type[BaseException]:
    """The SPEC's class of an error (a subclass such as BatchTruncated is its DamagedError)."""
    names = ("UnsupportedVersion", "FormatError", "DamagedError", "NotRecipient",
             "KeyFileError", "WrongPassphrase", "VerificationError")
    return next(c for c in type(exc).__mro__ if c.__name__ in names)


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


def test_every_expect_value_is_defined_in_the_spec() -> None:
    """SPEC 5 defines every ``expect`` value index.json uses (issue 14: "public-only")."""
    spec = (Path(__file__).resolve().parents[2] / "keys" / "SPEC.md").read_text(encoding="utf-8")
    section = spec[spec.index("## 5. Vectors"):]
    def expects(node: Any) -> set[str]:
        if isinstance(node, dict):
            found = {node["expect"]} if isinstance(node.get("expect"), str) else set()
            return found.union(*(expects(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(expects(v) for v in node))
        return set()

    used = expects(INDEX)
    for value in used:
        assert f"`{value}`" in section or f'`"{value}"`' in section, value


def test_key_file_opens_with_libsodium_alone() -> None:
    """SPEC 4, to the letter: crypto_pwhash (Argon2id13, p = 1) and
    crypto_secretbox_open_easy with the MAC first; the passphrase's bytes as given."""
    import base64

    import nacl.bindings as sodium

    for entry in INDEX["keyfiles"]:
        if entry["expect"] != "ok":
            continue
        text = (VECTORS / entry["file"]).read_text(encoding="utf-8")
        line = next(t for t in text.splitlines() if t.startswith("SKRYNKA-KEY-1 "))
        _, _, m, t, p, salt, box = line.split(" ")
        assert p == "p=1"
        key = sodium.crypto_pwhash_alg(
            32, entry["passphrase"].encode("utf-8"), base64.b64decode(salt),
            int(t[2:]), int(m[2:]) * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13)
        raw = base64.b64decode(box)
        private = sodium.crypto_secretbox_open_easy(raw[24:], raw[:24], key)
        assert private == bytes(KEYS["a"])


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
            assert _spec_class(caught.value) is _error(entry["expect"]), caught.value


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
    assert _spec_class(caught.value) is _error(entry["expect"]), caught.value


@pytest.mark.parametrize("entry", INDEX["public_keys"], ids=_id)
def test_public_key_vector(entry: dict[str, Any]) -> None:
    if entry["expect"] == "ok":
        assert pubkey.decode_public(entry["text"]).hex() == entry["raw"]
    else:
        with pytest.raises(errors.KeyFileError):
            pubkey.decode_public(entry["text"])


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
            assert _spec_class(caught.value) is _error(entry["expect"]), caught.value


# -- batches and runs through the reader written from SPEC.md (tests/keys/spec_reader.py) ----


def _blobs(names: list[str]) -> list[bytes]:
    return [(VECTORS / n).read_bytes() for n in names]


def spec_continuity(names: list[str]) -> tuple[str, list[str]]:
    """SPEC 3.2 and 3.3: the batches, in order, as one run and as one run each, into one
    output; (the class of the together run, the ids kept); both ways must agree."""
    together = spec_run(_blobs(names), KEYS["a"])
    apart, verdicts = SpecRun(), []
    for name in names:
        verdicts.append(spec_run(_blobs([name]), KEYS["a"], apart).verdict())
    kept = [r["id"] for r in together.delivered]
    assert sorted(kept) == sorted(r["id"] for r in apart.delivered)
    assert (together.verdict() == "ok") == all(v == "ok" for v in verdicts)
    return together.verdict(), kept


@pytest.mark.parametrize("entry", INDEX["batches"], ids=_id)
def test_batch_vector_against_spec(entry: dict[str, Any]) -> None:
    blob = (VECTORS / entry["file"]).read_bytes()
    if entry["expect"] == "ok-alone":
        spec_read_batch(blob, KEYS[entry["key"]])
        return
    if entry["expect"] != "ok":
        with pytest.raises(errors.KeysError) as caught:
            spec_read_batch(blob, KEYS[entry["key"]])
        assert _spec_class(caught.value) is _error(entry["expect"]), caught.value
        return
    manifest, reports = spec_read_batch(blob, KEYS[entry["key"]])
    assert manifest["chain_id"] == entry["chain_id"] and manifest["prev"] == entry["prev"]
    assert reports == entry["reports"]
    assert (manifest["reports"][-1]["seq"], manifest["reports"][-1]["chain"]) == (
        entry["last"]["seq"], entry["last"]["chain"])


@pytest.mark.parametrize("case", INDEX["continuity"], ids=lambda c: "+".join(c["batches"]))
def test_continuity_vector_against_spec(case: dict[str, Any]) -> None:
    verdict, kept = spec_continuity(case["batches"])
    assert verdict == case["expect"]
    assert sorted(set(kept)) == sorted(case["kept"])


@pytest.mark.parametrize("case", INDEX["runs"], ids=lambda c: "+".join(c["batches"]) + c["key"])
def test_run_vector_against_spec(case: dict[str, Any]) -> None:
    try:
        run = spec_run(_blobs(case["batches"]), KEYS[case["key"]])
    except errors.KeysError as exc:  # a bad header aborts the run
        assert type(exc) is _error(case["expect"]) and case["kept"] == []
        return
    assert run.verdict() == case["expect"], run.findings
    assert sorted(r["id"] for r in run.delivered) == sorted(case["kept"])


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
    assert _spec_class(caught.value) is _error(entry["expect"]), caught.value


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
        assert sorted(_kept(out)) == sorted(case["kept"])
        if case["expect"] != "ok" and "withholds nothing" in case.get("why", ""):
            assert "not kept" not in failures[0].message, failures[0].message


def _kept(out: Path) -> list[str]:
    """The report folders (32 hex; not quarantine/, which holds other versions, SPEC 6.4)."""
    return [p.name for p in out.iterdir()
            if p.is_dir() and re.fullmatch(r"[0-9a-f]{32}", p.name)] if out.is_dir() else []


@pytest.mark.parametrize("case", INDEX["runs"], ids=lambda c: "+".join(c["batches"]) + c["key"])
def test_run_vector_through_decryptor(case: dict[str, Any], tmp_path: Path) -> None:
    """SPEC 3.3, "A run": which class wins, and which reports are kept."""
    with pytest.raises(errors.KeysError) as caught:
        _decrypt(case["batches"], case["key"], tmp_path / "out")
    assert _spec_class(caught.value) is _error(case["expect"]), caught.value
    assert sorted(_kept(tmp_path / "out")) == sorted(case["kept"])
