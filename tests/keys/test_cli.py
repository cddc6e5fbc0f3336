"""keys.cli: `python -m keys …` run as the analyst runs it (messages, exit codes, files),
and its parts called in-process (one key derivation, progress bar, Ctrl-C)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keys import cli, keyfile
from keys.pubkey import encode_public, fingerprint
from testkit.terminal import on_terminal
from tests.keys.helpers import Drop, assert_report_dir, folders

ROOT = Path(__file__).resolve().parents[2]
FAST = keyfile.KdfParams(65536, 1, 1)


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keys", *map(str, args)], cwd=ROOT, capture_output=True,
        text=True, stdin=subprocess.DEVNULL, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("key")
    (d / "pw").write_bytes("пароль correct horse\n".encode())
    (d / "bad").write_bytes(b"wrong\n")
    keyfile.generate(d / "analyst.key", "пароль correct horse".encode(), params=FAST)
    return d


@pytest.fixture
def cli_drop(keydir: Path) -> Drop:
    return Drop([keyfile.public_from_file(keydir / "analyst.key")])


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("skrynka-keys: error:",
                                                                      "hint:"))]


def _quiet(stderr: str) -> str:
    """stderr without the NOTE lines of a first run's --trust-first-signer."""
    return "".join(line for line in stderr.splitlines(keepends=True)
                   if not line.startswith("skrynka-keys: NOTE: "))


def test_decrypt_ok(tmp_path: Path, keydir: Path, cli_drop: Drop) -> None:
    a = cli_drop.submit({"what": "=1+1", "kind": ["x", "y"]}, lang="be",
                        attachments=[("../../etc/x.jpg", b"jpeg")])
    cli_drop.export(tmp_path / "b.skb")
    out = tmp_path / "out"
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--out", out, tmp_path / "b.skb")
    assert r.returncode == 0, r.stderr
    key = fingerprint(keyfile.public_from_file(keydir / "analyst.key"))
    assert r.stdout == (f"note: server {cli_drop.chain_id.hex()}: this folder starts at seq 1\n"
                        f"note: recipients not pinned for {out}: the reports decrypted are "
                        f"sealed to {key} (1); pin the expected keys with --recipients FILE\n"
                        f"decrypted 1 reports (1 attachments) to {out}; "
                        "skipped 0 already present; 0 problems; 0 unresolved citations\n")
    assert _quiet(r.stderr) == ""  # no progress bar when stderr is not a terminal
    assert "NOTE: " in r.stderr and "now trusts the export key skrynka-export1" in r.stderr
    assert_report_dir(out, a)
    with open(out / "reports.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["what"] == "'=1+1" and rows[0]["attachments"] == "x.jpg"
    again = run("decrypt", "--trust-first-signer",
                "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
                "--out", out, tmp_path / "b.skb")
    assert again.returncode == 0 and "skipped 1 already present; 0 problems" in again.stdout


def test_wrong_passphrase(tmp_path: Path, keydir: Path, cli_drop: Drop) -> None:
    cli_drop.submit()
    cli_drop.export(tmp_path / "b.skb")
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--passphrase-file", keydir / "bad",
            "--out", tmp_path / "out", tmp_path / "b.skb")
    assert r.returncode == 7
    lines = _error_lines(r.stderr)
    assert len(lines) == 2 and "wrong passphrase" in lines[0] and lines[1].startswith("hint: ")
    assert r.stderr.count("\n") == 2 and not (tmp_path / "out").exists()


def test_not_recipient(tmp_path: Path, keydir: Path) -> None:
    from nacl.public import PrivateKey

    other = Drop([bytes(PrivateKey.generate().public_key)])  # sealed to someone else
    for _ in range(4):
        other.submit()
    other.export(tmp_path / "b.skb")
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--out", tmp_path / "out", tmp_path / "b.skb")
    assert r.returncode == 5, r.stderr
    assert r.stderr.count("not sealed to this key") == 1
    err = _quiet(r.stderr)
    assert len(err.splitlines()) == 2 and err.startswith("skrynka-keys: error: ")


def test_truncated(tmp_path: Path, keydir: Path, cli_drop: Drop) -> None:
    cli_drop.submit(attachments=[("a", os.urandom(100000))])
    path = cli_drop.export(tmp_path / "b.skb")
    path.write_bytes(path.read_bytes()[:-1000])
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--out", tmp_path / "out", path)
    assert r.returncode == 4
    lines = _quiet(r.stderr).splitlines()
    assert len(lines) == 2 and "truncated" in lines[0] and lines[1].startswith("hint: ")
    assert lines[0].startswith("skrynka-keys: error: ")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".tmp")]


def test_not_a_batch(tmp_path: Path, keydir: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 JFIF")
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--out", tmp_path / "out", tmp_path / "photo.jpg")
    assert r.returncode == 3
    first = r.stderr.splitlines()[0]
    assert first == f"skrynka-keys: error: {tmp_path / 'photo.jpg'} is not a Skrynka batch"
    assert r.stderr.splitlines()[1].startswith("hint: ") and len(r.stderr.splitlines()) == 2


def test_altered_report_exit_8(tmp_path: Path, keydir: Path, cli_drop: Drop) -> None:
    for i in range(3):
        cli_drop.submit({"what": f"r{i}"})
    path = cli_drop.export(tmp_path / "b.skb")
    data = bytearray(path.read_bytes())
    data[data.index(cli_drop.reports[1].envelope) + 400] ^= 0x80
    path.write_bytes(bytes(data))
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--out", tmp_path / "out", path)
    assert r.returncode == 8
    assert "decrypted 2 reports" in r.stdout and "1 problem" in r.stdout
    assert f"damaged: report {cli_drop.reports[1].id.hex()} (seq 2)" in r.stderr
    assert len(_error_lines(r.stderr)) == 2


def test_no_passphrase_without_tty(tmp_path: Path, keydir: Path, cli_drop: Drop) -> None:
    cli_drop.submit()
    cli_drop.export(tmp_path / "b.skb")
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--out", tmp_path / "o", tmp_path / "b.skb")
    assert r.returncode == 2 and "passphrase-file" in r.stderr


def test_help_documents_exit_codes() -> None:
    r = run("--help")
    assert r.returncode == 0
    for code in ("2  usage", "4  damaged", "5  this key", "7  wrong passphrase", "8  verification"):
        assert code in r.stdout
    assert "exit codes" in run("decrypt", "--help").stdout


def _listed_codes(help_text: str) -> list[int]:
    """The codes of the ``exit codes:`` block, in the order --help lists them."""
    block = help_text.split("\nexit codes:\n", 1)[1]
    return [int(line.split()[0]) for line in block.splitlines() if line[:5].strip().isdigit()]


def test_help_lists_each_exit_code_once() -> None:
    from keys import errors

    own = {cls.exit_code for cls in vars(errors).values()
           if isinstance(cls, type) and issubclass(cls, errors.SkrynkaError)
           and cls is not errors.SkrynkaError and "exit_code" in cls.__dict__}
    assert own == set(range(2, 10)) | {30, 31}  # 30: a batch's origin (issue 14); 31: summary
    for args in (["--help"], ["decrypt", "--help"], ["keygen", "--help"]):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        codes = _listed_codes(r.stdout)
        assert codes == sorted(set(codes)), codes  # each once, in order
        assert set(codes) >= own | {0, 1, errors.MISSING_DEPENDENCY, errors.INTERRUPTED}
    assert _listed_codes("\n" + cli.EPILOG) == codes


def test_keygen_pubkey_passwd(tmp_path: Path, keydir: Path) -> None:
    key = tmp_path / "k.key"
    r = run("keygen", "--out", key, "--passphrase-file", keydir / "pw", "--kdf-memory-mib", "64",
            "--kdf-passes", "1")
    assert r.returncode == 0, r.stderr
    public = keyfile.public_from_file(key)
    assert r.stdout.splitlines()[0] == encode_public(public) and str(key) in r.stdout
    assert oct(key.stat().st_mode & 0o777) == "0o600" and Path(f"{key}.pub").exists()
    again = run("keygen", "--out", key, "--passphrase-file", keydir / "pw")
    assert again.returncode == 9 and "already exists" in again.stderr
    assert run("pubkey", key).stdout == encode_public(public) + "\n"
    (tmp_path / "empty").write_bytes(b"\n")
    empty = run("keygen", "--out", tmp_path / "e.key", "--passphrase-file", tmp_path / "empty")
    assert empty.returncode == 2 and "empty" in empty.stderr
    (tmp_path / "new").write_bytes(b"lantern quarry ember velvet oboe\n")
    p = run("passwd", key, "--passphrase-file", keydir / "pw", "--new-passphrase-file",
            tmp_path / "new")
    assert p.returncode == 0, p.stderr
    new = keyfile.load_private(key, b"lantern quarry ember velvet oboe")
    assert bytes(new.public_key) == public


def test_internal_error_has_no_traceback(tmp_path: Path, keydir: Path) -> None:
    # a directory where the batch should be is a usage error, not a crash
    r = run("decrypt", "--trust-first-signer",
            "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--out", tmp_path / "o", tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_bug_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                         tmp_path: Path) -> None:
    def boom(args: object, out: object) -> int:
        raise RuntimeError("secret plaintext")

    monkeypatch.setattr(cli, "cmd_pubkey", boom)
    assert cli.main(["pubkey", str(tmp_path / "k")]) == 1
    err = capsys.readouterr().err
    assert "secret plaintext" not in err and "Traceback" not in err
    first = err.splitlines()[0]
    assert first == "skrynka-keys: error: internal error (RuntimeError); this is a bug"
    monkeypatch.setenv("SKRYNKA_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["pubkey", str(tmp_path / "k")])


def _on_tty(args: list[str], answers: list[bytes]) -> tuple[int, str]:
    """Run ``python -m keys`` with a pseudo-terminal as its controlling terminal, typing
    ``answers`` in turn, each at a new prompt."""
    pending = list(answers)

    def answer(chunk: bytes, _output: bytes) -> bytes | None:
        if pending and chunk.rstrip().endswith(b":"):  # a new prompt, not an old one
            return pending.pop(0)
        return None

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return on_terminal([sys.executable, "-m", "keys", *args], ROOT, answer, env, timeout=60)


def test_tty_passphrase_and_progress(tmp_path: Path, keydir: Path, cli_drop: Drop) -> None:
    for i in range(3):
        cli_drop.submit({"what": f"r{i}"})
    cli_drop.export(tmp_path / "b.skb")
    code, text = _on_tty(["decrypt", "--trust-first-signer",
                          "--key", str(keydir / "analyst.key"), "--out",
                          str(tmp_path / "out"), str(tmp_path / "b.skb")],
                         ["пароль correct horse".encode()])
    assert code == 0, text
    assert "Passphrase for" in text and "пароль" not in text  # not echoed
    assert "3/3 reports" in text and "decrypted 3 reports" in text
    assert len(folders(tmp_path / "out")) == 3


SAME = b"same words twice over"


def test_tty_keygen_asks_twice(tmp_path: Path) -> None:
    code, text = _on_tty(["keygen", "--out", str(tmp_path / "k.key"), "--kdf-memory-mib", "64",
                          "--kdf-passes", "1"],
                         [b"one strong passphrase", b"two strong passphrases"])
    assert code == 2 and "differ" in text and not (tmp_path / "k.key").exists()
    code, text = _on_tty(["keygen", "--out", str(tmp_path / "k.key"), "--kdf-memory-mib", "64",
                          "--kdf-passes", "1"], [b"one"])  # refused before it is asked again
    assert code == 2 and "too weak" in text and "Repeat" not in text
    code, text = _on_tty(["keygen", "--out", str(tmp_path / "k.key"), "--kdf-memory-mib", "64",
                          "--kdf-passes", "1"], [SAME, SAME])
    assert code == 0, text
    assert bytes(keyfile.load_private(tmp_path / "k.key", SAME).public_key) == \
        keyfile.public_from_file(tmp_path / "k.key")


@pytest.mark.parametrize("flags, named", [
    (("--kdf-memory-mib", "8"), "--kdf-memory-mib"),
    (("--kdf-memory-mib", "999999"), "--kdf-memory-mib"),
    (("--kdf-passes", "0"), "--kdf-passes"),
])
def test_keygen_rejects_out_of_range_kdf_options(tmp_path: Path, flags: tuple[str, str],
                                                 named: str) -> None:
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    proc = run("keygen", "--out", tmp_path / "a.key", "--passphrase-file", pw, *flags)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("skrynka-keys: error: ") and named in lines[0]
    assert lines[1].startswith("hint: ")
    assert not (tmp_path / "a.key").exists()


def test_cli_derives_once_for_many_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    keyfile.generate(tmp_path / "k.key", b"a strong enough phrase",
                     params=keyfile.KdfParams(65536, 1, 1))
    (tmp_path / "pw").write_bytes(b"a strong enough phrase")
    d = Drop([keyfile.public_from_file(tmp_path / "k.key")])
    for i in range(3):
        d.submit({"what": str(i)})
        d.export(tmp_path / f"b{i}.skb", d.reports[i:])
    calls: list[object] = []
    real = keyfile.load_private
    monkeypatch.setattr(keyfile, "load_private", lambda *a: (calls.append(a), real(*a))[1])
    code = cli.main(["decrypt", "--trust-first-signer",
                     "--key", str(tmp_path / "k.key"), "--passphrase-file",
                     str(tmp_path / "pw"), "--out", str(tmp_path / "out"),
                     *(str(tmp_path / f"b{i}.skb") for i in range(3))])
    assert code == 0 and len(calls) == 1
    assert "decrypted 3 reports" in capsys.readouterr().out


def test_progress_bar_output() -> None:
    stream = io.StringIO()
    bar = cli._Bar(stream)  # type: ignore[arg-type]
    bar(1, 4, 1048576, 4 * 1048576)
    bar.end()
    assert stream.getvalue() == "\r[#######.......................] 1/4 reports, 1.0/4.0 MiB\n"


def test_interrupt_exit_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    def stop(args: object, out: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_pubkey", stop)
    assert cli.main(["pubkey", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "skrynka-keys: error: interrupted"
    assert "Traceback" not in err


def _decrypt(keydir: Path, out: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run("decrypt", "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
               "--out", out, *args)


def test_signer_flags_and_origin_exit_code(tmp_path: Path, keydir: Path, cli_drop: Drop) -> None:
    """Issue 14: --signer KEY|FILE pins, another signer exits 30 naming both keys."""
    from keys.signature import describe, encode_signer

    cli_drop.submit()
    cli_drop.export(tmp_path / "b.skb")
    signer = bytes(cli_drop.signer.verify_key)  # type: ignore[union-attr]
    out = tmp_path / "out"
    refused = _decrypt(keydir, out, tmp_path / "b.skb")
    assert refused.returncode == 30 and "trusts no export key yet" in refused.stderr
    assert "hint: give --signer" in refused.stderr and not folders(out)
    both = _decrypt(keydir, out, "--signer", encode_signer(signer), "--trust-first-signer",
                    tmp_path / "b.skb")
    assert both.returncode == 2
    (tmp_path / "export.txt").write_text(f"# from the operator\n{encode_signer(signer)}\n")
    ok = _decrypt(keydir, out, "--signer", tmp_path / "export.txt", tmp_path / "b.skb")
    assert ok.returncode == 0, ok.stderr
    assert f"now trusts the export key {describe(signer)}" in ok.stderr
    forger = Drop(cli_drop.recipients, chain_id=cli_drop.chain_id, links=dict(cli_drop.links),
                  reports=list(cli_drop.reports))
    forger.export(tmp_path / "f.skb", [forger.submit()])
    bad = _decrypt(keydir, out, "--trust-first-signer", tmp_path / "f.skb")
    assert bad.returncode == 30, bad.stderr
    assert _error_lines(bad.stderr)[0].startswith("skrynka-keys: error: ")
    assert describe(signer) in bad.stderr and "refused" in bad.stderr
    text = encode_signer(signer)
    mistyped = text[:-1] + ("q" if text[-1] != "q" else "p")
    typo = _decrypt(keydir, out, "--signer", mistyped, tmp_path / "b.skb")
    assert typo.returncode == 6 and "export key" in typo.stderr


def test_help_names_the_origin_flags() -> None:
    text = run("decrypt", "--help").stdout
    for flag in ("--signer", "--trust-first-signer", "--allow-unsigned", "--new-chain"):
        assert flag in text
    assert "   30  origin:" in text


def test_decrypt_recipients_flags_a_rogue_key_loudly(tmp_path: Path, keydir: Path,
                                                     cli_drop: Drop) -> None:
    from nacl.public import PrivateKey

    cli_drop.submit()
    rogue = bytes(PrivateKey.generate().public_key)
    cli_drop.recipients.append(rogue)
    cli_drop.submit()
    cli_drop.export(tmp_path / "b.skb")
    pin = tmp_path / "expected.pub"
    pin.write_text("# our analyst\n" + (keydir / "analyst.key.pub").read_text())
    out = tmp_path / "out"
    r = run("decrypt", "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
            "--recipients", pin, "--trust-first-signer", "--out", out, tmp_path / "b.skb")
    assert r.returncode == 8, r.stderr
    warnings = [x for x in r.stderr.splitlines() if x.startswith("skrynka-keys: WARNING: ")]
    assert len(warnings) == 1 and "(seq 2)" in warnings[0] and fingerprint(rogue) in warnings[0]
    assert "1 report(s) are sealed to keys outside the pinned recipients" in r.stderr
    assert r.stdout.endswith("; 1 sealed to keys outside the pinned 1\n")
    assert len(folders(out)) == 2
    (tmp_path / "bad.pub").write_text("skrynka1nope\n")
    bad = run("decrypt", "--key", keydir / "analyst.key", "--passphrase-file", keydir / "pw",
              "--recipients", tmp_path / "bad.pub", "--out", out, tmp_path / "b.skb")
    assert bad.returncode == 6 and "bad.pub:1" in bad.stderr
    (tmp_path / "other.pub").write_text(encode_public(rogue) + "\n")
    other = run("decrypt", "--key", keydir / "analyst.key", "--passphrase-file", keydir / "bad",
                "--recipients", tmp_path / "other.pub", "--out", out, tmp_path / "b.skb")
    assert other.returncode == 2 and "does not list this key" in other.stderr  # before the
    # passphrase (a wrong one is given) is tried
