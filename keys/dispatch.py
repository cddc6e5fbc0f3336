"""The one dispatcher of every Skrynka command: errors in, lines and exit codes out.

``run_cli(prog, command)`` runs ``command()`` and turns what it raises into the
lines a user reads on stderr and the command's exit code:

* a :class:`~keys.errors.SkrynkaError`: ``prog: error: MESSAGE`` (and
  ``hint: HINT``), its own exit code;
* a package that is not installed: ``prog: error: a required package is
  missing: NAME`` and the installation hint, exit 10;
* an OSError no command translated: ``prog: error: cannot use PATH: REASON``,
  exit 11 (the system refused; not a bug);
* Ctrl-C: ``prog: error: interrupted``, exit 130;
* anything else is a bug: ``prog: error: internal error (TYPE); this is a bug``,
  exit 1, never the message (it may quote data). ``SKRYNKA_DEBUG=1`` re-raises it.

It lives in keys/ because keys/ must stand alone on the analyst's laptop; app/,
onion/ and gunicorn.conf.py use it too. :func:`exit_codes` writes the exit-code
table for ``--help`` from the error classes' own docstrings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from keys import terminal
from keys.errors import (
    INTERNAL_ERROR,
    INTERRUPTED,
    MISSING_DEPENDENCY,
    SYSTEM_ERROR,
    SkrynkaError,
)

DEBUG_ENV = "SKRYNKA_DEBUG"


def report(prog: str, exc: SkrynkaError, stream: TextIO | None = None) -> int:
    """Write ``exc`` as ``prog: error: …`` / ``hint: …``; return its exit code.

    Messages quote file names and batch contents: they pass through
    :func:`keys.terminal.clean`, so no escape sequence reaches the terminal."""
    out = sys.stderr if stream is None else stream
    out.write(f"{prog}: error: {terminal.clean(exc.message)}\n")
    if exc.hint:
        out.write(f"hint: {terminal.clean(exc.hint)}\n")
    out.flush()
    return int(exc.exit_code)


def run_cli(prog: str, command: Callable[[], int], *, install_hint: str) -> int:
    """Run ``command`` and return its exit code; never raises (but SystemExit)."""
    try:
        code = command()
        sys.stdout.flush()
        return code
    except SkrynkaError as exc:
        sys.stdout.flush()
        return report(prog, exc)
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write(f"\n{prog}: error: interrupted\n")
        return INTERRUPTED
    except ImportError as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        name = (exc.name or "?").split(".")[0]  # the package to install, not a submodule
        return report(prog, _Missing(f"a required package is missing: {name}", install_hint))
    except OSError as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        return report(prog, _System(_os_message(exc)))
    except Exception as exc:  # a bug: one line, no traceback, never data
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        sys.stderr.write(f"{prog}: error: internal error ({type(exc).__name__}); this is a bug\n")
        sys.stderr.write(f"hint: run again with {DEBUG_ENV}=1 to see the details\n")
        return INTERNAL_ERROR


class _Missing(SkrynkaError):
    exit_code = MISSING_DEPENDENCY


class _System(SkrynkaError):
    exit_code = SYSTEM_ERROR
    hint = "check the path, its permissions and the free disk space"


def _os_message(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    if exc.filename is None:
        return f"the system refused: {reason}"
    return f"cannot use {exc.filename}: {reason}"


def _meaning(cls: type) -> str:
    return " ".join((cls.__doc__ or cls.__name__).split())


def exit_codes(classes: Iterable[type[SkrynkaError]]) -> str:
    """The ``exit codes:`` block of a command's ``--help``.

    Lists 0, 1, 10 and 130 and every code that one of ``classes`` defines
    itself (a subclass that inherits its parent's code adds nothing). Raises
    ValueError if two classes define one code with different meanings.
    """
    lines = {0: "success", INTERNAL_ERROR: f"internal error: a bug (run with {DEBUG_ENV}=1)",
             MISSING_DEPENDENCY: "a required package is not installed",
             SYSTEM_ERROR: "the system refused: a file or directory cannot be read or "
                           "written (permissions, disk space)",
             INTERRUPTED: "interrupted (Ctrl-C)"}
    for cls in classes:
        code = cls.__dict__.get("exit_code")
        if code is None:
            continue
        text = _meaning(cls)
        if lines.get(code, text) != text:
            raise ValueError(f"exit code {code} means both {lines[code]!r} and {text!r}")
        lines[code] = text
    body = "\n".join(_wrap(code, text) for code, text in sorted(lines.items()))
    return "exit codes:\n" + body + "\n"


def _wrap(code: int, text: str, width: int = 78) -> str:
    indent = " " * 7
    words, rows, row = text.split(), [], f"{code:>5}  "
    for word in words:
        if len(row) + len(word) + 1 > width and row.strip() != str(code):
            rows.append(row.rstrip())
            row = indent
        row += word + " "
    rows.append(row.rstrip())
    return "\n".join(rows)


def prog_name(command: str, module_form: str) -> str:
    """What ``--help`` and usage lines call the program: the console command
    (``skrynka``) when run as it, else the ``python -m …`` form that was run."""
    return command if os.path.basename(sys.argv[0]) == command else module_form
