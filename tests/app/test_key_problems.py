"""Issue 17, part 1 (app side): a private key pasted into analysts.pub is named as one;
unusable analyst keys are logged with what, where and a hint, once per problem across
workers, and again as usable when fixed; ``keys_problem`` says the same without logging."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from keys.errors import KeyFileError
from keys.pubkey import encode_public, fingerprint, read_recipients

EXPOSED = "not a public key: remove it from the server and treat it as exposed"


@pytest.fixture(scope="module")
def key_file_text() -> str:
    """A real analyst key file's text (keys keygen's format), cheap KDF."""
    from keys.keyfile import KdfParams, render

    return render(PrivateKey.generate(), b"a passphrase", KdfParams(64 * 1024, 1, 1),
                  "2026-01-01")


def _pub(key: PrivateKey) -> str:
    return encode_public(bytes(key.public_key)) + "\n"


def _refusal(path: Path) -> KeyFileError:
    with pytest.raises(KeyFileError) as err:
        read_recipients(path)
    return err.value


def test_a_pasted_analyst_key_file_is_named_with_its_line(
    tmp_path: Path, analyst_key: PrivateKey, key_file_text: str,
) -> None:
    path = tmp_path / "analysts.pub"
    path.write_text(_pub(analyst_key) + key_file_text)  # the whole file under a good line
    assert key_file_text.splitlines()[3].startswith("SKRYNKA-KEY-1 ")
    err = _refusal(path)
    assert err.message == (f"line 5 of {path} is an analyst's private key (keys keygen's key "
                           f"file), {EXPOSED}")
    assert err.hint and "python -m keys keygen" in err.hint and ".pub line" in err.hint
    path.write_text("not a key at all\n# " + key_file_text.splitlines()[3] + "\n")
    err = _refusal(path)  # commented out, and after a bad line: still found, and first
    assert err.message.startswith(f"line 2 of {path} is an analyst's private key")


def test_other_private_keys_are_named(tmp_path: Path, analyst_key: PrivateKey) -> None:
    from app.exportkey import render as export_key_text
    from onion.onionkey import OnionKey
    from onion.signkey import TAG as SIGNING_TAG

    path = tmp_path / "analysts.pub"
    cases = {
        "an age private key": "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
        "a PEM or OpenSSH private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn==\n",
        "the organisation's signing key": f"{SIGNING_TAG} argon2id m=65536 t=1 p=1 x y\n",
    }
    for what, text in cases.items():
        path.write_text(_pub(analyst_key) + text)
        err = _refusal(path)
        assert err.message.startswith(f"line 2 of {path} is {what}") and EXPOSED in err.message
    # keys that live on the server anyway: named, and to be removed from this file
    path.write_text(_pub(analyst_key) + export_key_text(SigningKey.generate()))
    err = _refusal(path)
    assert err.message == (f"line 5 of {path} is the server's export signing key "
                           "(export.key), not a public key: remove it from this file")
    path.write_bytes(OnionKey.generate().to_file_bytes())  # tor's binary key file
    err = _refusal(path)
    assert err.message.startswith(f"line 1 of {path} is an onion service's private key")


def test_the_analysts_own_recipients_file_says_no_server(tmp_path: Path,
                                                         key_file_text: str) -> None:
    path = tmp_path / "team.pub"
    path.write_text(key_file_text)
    with pytest.raises(KeyFileError) as err:
        read_recipients(path, on_server=False)
    assert err.value.message.endswith("not a public key: remove it from this file")


def test_stats_and_init_name_the_private_key(runner, app: Flask, data_dir: Path,
                                             key_file_text: str) -> None:
    path = data_dir / "analysts.pub"
    path.write_text(key_file_text)
    res = runner("stats")
    assert res.exit_code == 0
    assert f"analyst_keys: unusable (line 4 of {path} is an analyst's private key" in res.stdout
    res = runner("init")
    assert f"line 4 of {path} is an analyst's private key" in res.stderr
    assert "treat it as exposed" in res.stderr


def _lines(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "skrynka" and r.getMessage().startswith(start)]


UNUSABLE = "not accepting reports: analyst keys unusable: "


def test_the_server_names_a_private_key_and_answers_503(
    make_app, data_dir: Path, key_file_text: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="skrynka")
    path = data_dir / "analysts.pub"
    path.write_text(key_file_text)
    app: Flask = make_app()
    assert app.test_client().get("/en/").status_code == 503
    logged = _lines(caplog, UNUSABLE)
    assert logged == [f"{UNUSABLE}line 4 of {path} is an analyst's private key (keys keygen's "
                      f"key file), {EXPOSED}; hint: on the analyst's offline laptop make a new "
                      "key pair (`python -m keys keygen`) and put only its .pub line "
                      "(skrynka1…) here; stop using the exposed key"]
    assert "argon2id" not in (data_dir / "analysts.logged").read_text()


def test_unusable_keys_are_logged_once_across_workers_then_usable_again(
    make_app, data_dir: Path, analyst_key: PrivateKey, caplog: pytest.LogCaptureFixture,
) -> None:
    """Two apps stand for two gunicorn workers sharing the data directory."""
    caplog.set_level(logging.WARNING, logger="skrynka")
    path = data_dir / "analysts.pub"
    path.write_text(_pub(analyst_key) + "skrynka1notakey\n")
    first, second = make_app(), make_app()
    for app in (first, second, first, second):
        assert app.extensions["skrynka"].recipients() is None
        assert app.test_client().get("/en/").status_code == 503
    logged = _lines(caplog, UNUSABLE)
    assert len(logged) == 1, logged
    assert logged[0].startswith(f"{UNUSABLE}{path}:2: public key has ")
    assert "; hint: copy the whole line from the analyst's .pub file" in logged[0]
    assert "notakey" not in (data_dir / "analysts.logged").read_text()  # a digest, no text

    path.write_text("")  # another problem: logged once more
    for app in (first, second, first):
        assert app.extensions["skrynka"].recipients() is None
    logged = _lines(caplog, UNUSABLE)
    assert len(logged) == 2 and logged[1] == (
        f"{UNUSABLE}{path} lists no analyst public key; hint: on the analyst's offline laptop "
        f"run `python -m keys keygen`, then copy the skrynka1… line of its .pub file into "
        f"{path} (one key per line)")

    path.write_text(_pub(analyst_key))  # fixed
    mine = bytes(analyst_key.public_key)
    for app in (second, first, second):
        assert app.extensions["skrynka"].recipients() == (mine,)
    assert app.test_client().get("/en/").status_code == 200
    assert _lines(caplog, "analyst keys usable again") == [
        f"analyst keys usable again: now sealing to 1 key(s): {fingerprint(mine)}"]
    assert len(_lines(caplog, UNUSABLE)) == 2 and not _lines(caplog, "analyst keys changed")


def test_a_server_start_logs_the_problem_again_its_workers_do_not(
    make_app, data_dir: Path, analyst_key: PrivateKey, caplog: pytest.LogCaptureFixture,
) -> None:
    from app.analystkeys import check_at_start

    caplog.set_level(logging.WARNING, logger="skrynka")
    path = data_dir / "analysts.pub"
    path.unlink()
    make_app()
    assert _lines(caplog, UNUSABLE) == [
        f"{UNUSABLE}no analyst keys file at {path}; hint: on the analyst's offline laptop run "
        f"`python -m keys keygen`, then copy the skrynka1… line of its .pub file into {path} "
        "(one key per line)"]
    check_at_start(path, data_dir)  # the next run's master
    make_app()  # and its worker
    assert len(_lines(caplog, UNUSABLE)) == 2
    path.write_text(_pub(analyst_key))  # fixed while stopped
    check_at_start(path, data_dir)
    make_app()
    assert len(_lines(caplog, "analyst keys usable again: now sealing to 1 key(s)")) == 1


def test_keys_problem_says_what_and_where_without_logging(
    data_dir: Path, analyst_key: PrivateKey, key_file_text: str,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.analystkeys import keys_problem

    caplog.set_level(logging.DEBUG, logger="skrynka")
    monkeypatch.delenv("SKRYNKA_ANALYST_KEYS", raising=False)
    path = data_dir / "analysts.pub"
    assert keys_problem(data_dir) is None
    path.write_text(_pub(analyst_key) + key_file_text)
    problem = keys_problem(data_dir)
    assert problem is not None and problem.startswith(
        f"line 5 of {path} is an analyst's private key") and "; hint: " in problem
    path.unlink()
    assert keys_problem(data_dir) == (
        f"no analyst keys file at {path}; hint: on the analyst's offline laptop run "
        f"`python -m keys keygen`, then copy the skrynka1… line of its .pub file into {path} "
        "(one key per line)")
    other = data_dir / "elsewhere.pub"
    other.write_text(_pub(analyst_key))
    monkeypatch.setenv("SKRYNKA_ANALYST_KEYS", str(other))
    assert keys_problem(data_dir) is None
    assert not caplog.records and not (data_dir / "analysts.logged").exists()
