"""bench/ and testkit/ stand on their own: no module of theirs imports from ``tests``.

The live harness (gunicorn on loopback, private Tor network, PostgreSQL, raw HTTP
clients) lives in testkit/ so that `make bench` never loads test modules (or their
conftest files). Checked with ``ast`` on every module, including imports inside
functions and module names handed over as strings (``python -m tests.x``, a WSGI app
``tests.x:app``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STANDALONE = ("bench", "testkit")
MODULE_STRING = re.compile(r"^tests(\.\w+)+(:\w+)?$")


def _from_tests(name: str | None) -> bool:
    return name is not None and (name == "tests" or name.startswith("tests."))


def imports_of_tests(source: str, filename: str = "<source>") -> list[str]:
    """Each place in ``source`` that imports from the ``tests`` package, as 'line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _from_tests(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _from_tests(node.module):
            found.append(f"{node.lineno}: from {node.module} import …")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and MODULE_STRING.match(node.value)):
            found.append(f"{node.lineno}: module name {node.value!r}")
    return found


def modules() -> list[Path]:
    return sorted(p for d in STANDALONE for p in (ROOT / d).rglob("*.py"))


def test_there_is_something_to_scan() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in modules()}
    assert {"bench/app_bench.py", "bench/hostile_bench.py", "testkit/liveserver.py"} <= names


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_imports_nothing_from_tests(path: Path) -> None:
    assert imports_of_tests(path.read_text("utf-8"), str(path)) == []


@pytest.mark.parametrize("source", [
    "import tests.liveserver",
    "import tests",
    "from tests.app.live_client import post",
    "from tests import pg",
    "def f():\n    from tests.hostile import client\n",
    "ARGS = ['-m', 'tests.vectors.make_vectors']",
    "APP = 'tests.onion.wsgi_stub:app'",
])
def test_the_scan_finds_an_import_from_tests(source: str) -> None:
    assert imports_of_tests(source) != []


@pytest.mark.parametrize("source", [
    "import testkit.liveserver",
    "from testkit import tornet",
    "from . import tests",
    "import contests",
    '"""Checked by tests/test_layout.py; see tests/hostile."""',
])
def test_the_scan_lets_other_imports_be(source: str) -> None:
    assert imports_of_tests(source) == []
