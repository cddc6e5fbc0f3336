"""The analyst kit installs and works offline: a fresh venv, only the kit's wheels.

Builds the kit with scripts/analyst-kit.sh (this needs the package registry),
checks it on the "laptop" as INSTALL.txt says (``sha256sum -c SHA256SUMS``), installs
PyNaCl + argon2-cffi + Pillow from its wheels with ``--no-index --require-hashes`` into a
new virtualenv on the oldest supported Python when available, then runs the kit's
own copy of keys/ there: ``--help``, keygen, pubkey, passwd, a full decrypt, and
keys/evidence on a photo (metadata, scrub, perceptual hash, grouping). A tampered
wheel fails both the checksum file and pip's hash check.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from keys import batch, envelope
from keys.pubkey import decode_public

ROOT = Path(__file__).resolve().parents[2]
PY39 = Path("/root/.pyenv/versions/3.9.18/bin/python3.9")
BASE_PYTHON = str(PY39) if PY39.exists() else sys.executable

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _run(args: list[str], cwd: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(kit directory, the venv's python) with the kit installed offline."""
    base = tmp_path_factory.mktemp("airgap")
    kit_dir = base / "kit"
    built = subprocess.run([str(ROOT / "scripts" / "analyst-kit.sh"), str(kit_dir)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    install_txt = (kit_dir / "INSTALL.txt").read_text()
    assert "CPython 3.9" in install_txt
    # the hash of SHA256SUMS, given to the analysts by another channel, is printed last
    sums_hash = hashlib.sha256((kit_dir / "SHA256SUMS").read_bytes()).hexdigest()
    assert built.stdout.splitlines()[-1] == f"{sums_hash}  SHA256SUMS"
    laptop = base / "laptop"
    shutil.copytree(kit_dir, laptop)  # what the USB stick carries
    # INSTALL.txt's own commands, as printed
    for command in ("sha256sum SHA256SUMS", "sha256sum -c SHA256SUMS", "python3 -m venv venv",
                    INSTALL):
        assert f"\n     {command}\n" in install_txt, command
    assert _run(["sha256sum", "SHA256SUMS"], laptop).stdout.split()[0] == sums_hash
    _run(["sha256sum", "-c", "SHA256SUMS"], laptop)
    _run([BASE_PYTHON, "-m", "venv", "venv"], laptop)
    python = laptop / "venv" / "bin" / "python"
    _run(INSTALL.split(), laptop)  # venv/bin/pip, relative to the laptop folder
    return laptop, python


INSTALL = ("venv/bin/pip install --no-index --find-links wheels --require-hashes "
           "-r requirements-analyst.txt")


def test_checksums_cover_the_whole_kit(kit: tuple[Path, Path]) -> None:
    laptop, _ = kit
    listed = {line.split("  ", 1)[1] for line in (laptop / "SHA256SUMS").read_text().splitlines()}
    files = {str(p.relative_to(laptop)) for p in laptop.rglob("*")
             if p.is_file() and "venv" not in p.relative_to(laptop).parts}
    assert listed == files - {"SHA256SUMS"}
    assert {"INSTALL.txt", "requirements-analyst.txt", "keys/cli.py"} <= listed
    assert sum(name.startswith("wheels/") for name in listed) >= 6


def test_a_tampered_wheel_is_refused(kit: tuple[Path, Path], tmp_path: Path) -> None:
    """A wheel changed on the stick (here: a module added, still a valid wheel) fails
    ``sha256sum -c`` and pip's --require-hashes install, and nothing gets installed."""
    laptop, _ = kit
    stick = tmp_path / "stick"
    shutil.copytree(laptop, stick, ignore=shutil.ignore_patterns("venv"))
    [wheel] = (stick / "wheels").glob("argon2_cffi-*-py3-none-any.whl")  # any Python picks it
    with zipfile.ZipFile(wheel, "a") as whl:
        whl.writestr("argon2/_sneaky.py", "print('hello')\n")
    checked = _run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], stick, code=1)
    assert f"{wheel.relative_to(stick)}: FAILED" in checked.stdout
    _run([BASE_PYTHON, "-m", "venv", "venv"], stick)
    refused = _run(INSTALL.split(), stick, code=1)
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr
    assert wheel.name in refused.stderr
    listed = _run([str(stick / "venv" / "bin" / "python"), "-m", "pip", "list",
                   "--format=json"], stick).stdout
    assert {p["name"].lower() for p in json.loads(listed)} <= {"pip", "setuptools"}


def test_only_the_analyst_packages_are_installed(kit: tuple[Path, Path]) -> None:
    laptop, python = kit
    listed = _run([str(python), "-m", "pip", "list", "--format=json"], laptop).stdout
    names = {p["name"].lower() for p in json.loads(listed)} - {"pip", "setuptools", "wheel"}
    old = _run([str(python), "-c", "import sys; print(sys.version_info < (3, 11))"],
               laptop).stdout.strip() == "True"
    assert names == {"pynacl", "argon2-cffi", "argon2-cffi-bindings", "cffi", "pycparser",
                     "pillow"} | ({"tomli"} if old else set())  # tomli: TOML before 3.11
    for module in ("flask", "sqlalchemy", "werkzeug", "stem"):
        failed = _run([str(python), "-c", f"import {module}"], laptop, code=1)
        assert "ModuleNotFoundError" in failed.stderr


def test_help(kit: tuple[Path, Path]) -> None:
    laptop, python = kit
    out = _run([str(python), "-m", "keys", "--help"], laptop).stdout
    for command in ("keygen", "pubkey", "passwd", "decrypt"):
        assert command in out
    version = _run([str(python), "-c", "import sys; print(sys.version_info[:2])"], laptop).stdout
    if PY39.exists():
        assert version.strip() == "(3, 9)"


def _seal_batch(public: bytes, path: Path, count: int = 2) -> dict[str, bytes]:
    """A batch of ``count`` reports (the first with a photo) sealed to ``public``."""
    photo = os.urandom(5000)
    rids, aid = [os.urandom(16) for _ in range(count)], os.urandom(16)
    att = envelope.seal_bytes(photo, [public], kind=envelope.KIND_ATTACHMENT, envelope_id=aid,
                              report_id=rids[0])
    with_atts = [(rid, [att] if i == 0 else []) for i, rid in enumerate(rids)]
    plains = {}
    for rid, atts in with_atts:
        plains[rid.hex()] = json.dumps({
            "format": "skrynka-report", "version": 1, "form": {"id": "f", "version": 1},
            "lang": "be", "received_day": "2026-11-24", "fields": {"what": "Тэст"},
            "labels": {"what": "What happened"},
            "attachments": [{"id": aid.hex(), "name": "photo.jpg", "media_type": "image/jpeg",
                             "size": len(photo), "envelope_sha256": hashlib.sha256(a).hexdigest()}
                            for a in atts],
        }, ensure_ascii=False).encode()
    entries, link = [], batch.GENESIS
    for seq, (rid, atts) in enumerate(with_atts, start=1):
        env = envelope.seal_bytes(plains[rid.hex()], [public], report_id=rid)
        sha = hashlib.sha256(env).digest()
        link = batch.chain_next(link, seq, rid, sha)
        entries.append(batch.ReportEntry(
            seq, rid, "2026-11-24", len(env), sha, link, (lambda e=env: io.BytesIO(e)),
            [batch.AttachmentEntry(aid, len(a), hashlib.sha256(a).digest(),
                                   (lambda a=a: io.BytesIO(a))) for a in atts]))
    with open(path, "wb") as fh:
        batch.write_batch(fh, batch_id=os.urandom(16), chain_id=os.urandom(16),
                          created_day="2026-11-24", prev_seq=0, prev_chain=batch.GENESIS,
                          reports=entries, signing_key=None)
    return {"photo": photo, **plains}


def test_keygen_passwd_and_decrypt_offline(kit: tuple[Path, Path]) -> None:
    laptop, python = kit
    (laptop / "pw").write_text("a long passphrase\n")
    (laptop / "pw2").write_text("another passphrase\n")
    made = _run([str(python), "-m", "keys", "keygen", "--out", "analyst.key", "--passphrase-file",
                 "pw", "--kdf-memory-mib", "64", "--kdf-passes", "1"], laptop).stdout
    public = decode_public(made.split()[0])
    shown = _run([str(python), "-m", "keys", "pubkey", "analyst.key"], laptop).stdout
    assert decode_public(shown.strip()) == public
    _run([str(python), "-m", "keys", "passwd", "analyst.key", "--passphrase-file", "pw",
          "--new-passphrase-file", "pw2"], laptop)
    # a batch of some size, so the oldest Python writes and publishes hundreds of folders
    expect = _seal_batch(public, laptop / "one.skb", count=300)
    failed = _run([str(python), "-m", "keys", "decrypt", "--allow-unsigned",
                   "--key", "analyst.key", "--out", "out",
                   "--passphrase-file", "pw", "one.skb"], laptop, code=7)
    assert "error:" in failed.stderr
    _run([str(python), "-m", "keys", "decrypt", "--allow-unsigned",
          "--key", "analyst.key", "--out", "out",
          "--passphrase-file", "pw2", "one.skb"], laptop)
    reports = {p.name: p for p in (laptop / "out").iterdir() if p.is_dir()}
    plains = {k: v for k, v in expect.items() if k != "photo"}
    assert set(reports) == set(plains)
    for rid, folder in reports.items():
        got = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        assert got["fields"] == json.loads(plains[rid])["fields"]
        files = [p.read_bytes() for p in folder.iterdir() if p.name != "report.json"]
        assert files == ([expect["photo"]] if json.loads(plains[rid])["attachments"] else [])
    # the summary, with the kit's forms/election.toml (tomli before Python 3.11)
    done = _run([str(python), "-m", "keys", "summary", "out", "--lang", "be"], laptop)
    assert "summary of 300 reports" in done.stdout and "no form file" not in done.stderr
    index = (laptop / "out" / "summary" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="be">' in index and "Што адбылося?" in index


def test_spec_vectors_decrypt_on_the_laptop(kit: tuple[Path, Path]) -> None:
    laptop, python = kit
    vectors = ROOT / "tests" / "vectors"
    (laptop / "vpw").write_text("correct horse battery staple\n")
    _run([str(python), "-m", "keys", "decrypt", "--allow-unsigned",
          "--key", str(vectors / "key-a.key"), "--out",
          "vout", "--passphrase-file", "vpw", str(vectors / "batch-1.skb"),
          str(vectors / "batch-2.skb")], laptop)
    index = json.loads((vectors / "index.json").read_text(encoding="utf-8"))
    want = {r["id"] for b in index["batches"] if b["expect"] == "ok"
            and not b.get("signer") for r in b["reports"]}  # the unsigned batch-1, batch-2
    assert {p.name for p in (laptop / "vout").iterdir() if p.is_dir()} == want
    bad = _run([str(python), "-m", "keys", "decrypt", "--allow-unsigned",
                "--key", str(vectors / "key-a.key"),
                "--out", "vbad", "--passphrase-file", "vpw", str(vectors / "batch-hash.skb")],
               laptop, code=4)
    assert "hint:" in bad.stderr


EVIDENCE = """
import io, json, pathlib, sys
from PIL import Image
from keys.evidence import groups, metadata, phash, scrub
exif = Image.Exif()
exif[0x010F] = "Canon"
exif.get_ifd(0x8825)[1] = "N"
buf = io.BytesIO()
Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG", exif=exif.tobytes(), comment=b"x")
photo = buf.getvalue()
facts = metadata.inspect(photo)
clean = scrub.scrub(photo)
folder = pathlib.Path("ev") / "r1"
folder.mkdir(parents=True)
(folder / "report.json").write_text(json.dumps({"attachments": [{"name": "p.jpg"}]}))
(folder / "p.jpg").write_bytes(photo)
[item] = scrub.process_report_folder(folder, pathlib.Path("ev-shared"))
[group] = groups.group_reports(groups.load_reports(pathlib.Path("ev")))
print(json.dumps([sys.version_info[:2], facts.make, facts.has_gps, scrub.verify_clean(clean),
                  phash.image_hash(photo) is not None, item.scrubbed_name, group.report_ids]))
"""


def test_evidence_on_the_laptop(kit: tuple[Path, Path]) -> None:
    """keys/evidence runs on the oldest Python with the kit's own Pillow, offline."""
    laptop, python = kit
    out = json.loads(_run([str(python), "-c", EVIDENCE], laptop).stdout)
    assert out[1:] == ["Canon", True, [], True, "p.jpg", ["r1"]]
    if PY39.exists():
        assert out[0] == [3, 9]
