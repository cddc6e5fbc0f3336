"""keys.dispatch: the one place that turns errors into lines and exit codes, for every CLI."""

from __future__ import annotations

import errno

import pytest

from keys.dispatch import exit_codes, run_cli
from keys.errors import KeyFileError, SkrynkaError, UsageError


def _run(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    def command() -> int:
        raise exc

    code = run_cli("prog", command, install_hint="install it")
    return code, capsys.readouterr().err


def test_success_returns_the_command_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("prog", lambda: 0, install_hint="") == 0
    assert capsys.readouterr().err == ""


def test_an_error_of_ours(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(KeyFileError("bad key.txt", hint="make a new one"), capsys)
    assert (code, err) == (6, "prog: error: bad key.txt\nhint: make a new one\n")
    code, err = _run(UsageError("no file given"), capsys)
    assert (code, err) == (2, "prog: error: no file given\n")


def test_ctrl_c(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(KeyboardInterrupt(), capsys)
    assert code == 130 and err.endswith("prog: error: interrupted\n")


def test_a_missing_package_names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(ModuleNotFoundError("no", name="stem.control"), capsys)
    assert (code, err) == (10, "prog: error: a required package is missing: stem\n"
                               "hint: install it\n")


def test_a_refused_file_is_not_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", "/srv/data/services.json")
    code, err = _run(exc, capsys)
    assert code == 11
    assert err.startswith("prog: error: cannot use /srv/data/services.json: Permission denied\n")


def test_a_bug_is_one_line_without_its_message(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKRYNKA_DEBUG", raising=False)
    code, err = _run(KeyError("secret report text"), capsys)
    assert code == 1
    assert err == ("prog: error: internal error (KeyError); this is a bug\n"
                   "hint: run again with SKRYNKA_DEBUG=1 to see the details\n")
    monkeypatch.setenv("SKRYNKA_DEBUG", "1")
    with pytest.raises(KeyError):
        _run(KeyError("x"), capsys)


def test_exit_codes_refuse_a_code_with_two_meanings() -> None:
    class A(SkrynkaError):
        """first meaning"""

        exit_code = 40

    class B(SkrynkaError):
        """second meaning"""

        exit_code = 40

    class C(A):
        """inherits A's code: adds no line"""

    table = exit_codes([A, C])
    assert "   40  first meaning" in table and "inherits" not in table
    with pytest.raises(ValueError, match="exit code 40"):
        exit_codes([A, B])
