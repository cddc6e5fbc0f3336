"""keys/ stands alone: it imports the standard library, PyNaCl, argon2-cffi, Pillow (only
keys/evidence, for images) and itself.

The analyst's laptop has only the kit's packages (tests/keys/test_airgap_install.py
installs them for real); this checks every import statement of keys/**/*.py, even
those inside functions, without installing anything.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

KEYS = Path(__file__).resolve().parents[2] / "keys"
KIT = {"keys", "nacl", "argon2", "tomli"}  # tomli: Python < 3.11 only (tomllib)
IMAGES = {"PIL"}  # Pillow: keys/evidence and keys/findings only; decrypting never needs it
SERVER = {"app", "onion", "contract", "flask", "werkzeug", "sqlalchemy", "alembic", "stem",
          "gunicorn", "tests", "testkit", "bench"}


def imported(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``source``; relative ones as 'keys'."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            top = "keys" if node.level else (node.module or "").split(".")[0]
            found.append((node.lineno, top))
    return found


def test_imported_finds_every_kind_of_import() -> None:
    source = ("import os, flask.json\nfrom app.intake import body\nfrom . import output\n"
              "def f():\n    import stem.control\n    from sqlalchemy import text\n")
    assert imported(source) == [(1, "os"), (1, "flask"), (2, "app"), (3, "keys"),
                                (5, "stem"), (6, "sqlalchemy")]


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
def test_keys_imports_only_the_stdlib_and_the_kit() -> None:
    paths = sorted(KEYS.rglob("*.py"))  # subpackages too
    assert {"cli.py", "decrypt.py", "envelope.py", "scrub.py", "build.py"} <= {
        p.name for p in paths}
    for path in paths:
        allowed = set(sys.stdlib_module_names) | KIT
        if path.parent.name in ("evidence", "findings"):
            allowed |= IMAGES
        name = path.relative_to(KEYS)
        for line, top in imported(path.read_text(encoding="utf-8")):
            assert top in allowed and top not in SERVER, f"keys/{name}:{line} imports {top}"
