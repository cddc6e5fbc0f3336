"""The house rules of issue 12, checked on the source (``ast`` and text, nothing imported
but the error classes):

* report plaintext: only app/intake reads a request body;
* no import cycles among the project's own modules (keys/ standing alone: tests/keys);
* one error vocabulary: every exit code means one thing across all commands.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "onion", "keys")
TOP_MODULES = ("contract",)
# Reading a request's body or form, in any of werkzeug's/Flask's spellings.
BODY_ACCESS = re.compile(
    r"request\.(form|files|data|stream|get_data|input_stream|values|json|get_json)\b"
    r"|wsgi\.input|get_input_stream|\.read\(|\.readinto\(|\.readline\("
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    found.update({name: ROOT / f"{name}.py" for name in TOP_MODULES})
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (anywhere but under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking(node)
            for n in ast.walk(node)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            # ``from app import views`` depends on app.views; ``from app.x import y`` on app.x
            out |= subs if len(subs) == len(node.names) else subs | {node.module}
    return {name for name in out if name in known}


def import_graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {name: _imports(path, known) - {name} for name, path in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert {"app.intake.sealing", "app.storage", "onion.tor", "keys.decrypt"} <= set(graph)
    assert find_cycle(graph) is None


def body_access(text: str) -> list[str]:
    return [f"{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
            if BODY_ACCESS.search(line)]


def test_body_access_pattern_catches_the_usual_spellings() -> None:
    for line in ("x = request.form['a']", "request.files.getlist('f')", "request.get_data()",
                 "environ['wsgi.input']", "stream.read(10)", "request.stream"):
        assert body_access(line), line
    assert not body_access("path.read_text()")


def test_only_intake_reads_request_bodies() -> None:
    """``grep`` for body reads in app/ finds only app/intake (its docstring names the one
    documented way out of plaintext: the re-rendered form)."""
    outside = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        if (ROOT / "app" / "intake") in path.parents:
            continue
        if found := body_access(path.read_text(encoding="utf-8")):
            outside[path.relative_to(ROOT).as_posix()] = found
    assert outside == {}
    intake = body_access("".join(p.read_text() for p in (ROOT / "app/intake").glob("*.py")))
    assert intake, "the scan found no body read at all: is the pattern still right?"
    doc = (ROOT / "app" / "intake" / "__init__.py").read_text()
    assert "one other way out" in doc and "form_page" in doc


def test_every_exit_code_means_one_thing() -> None:
    import app.errors
    import keys.errors
    import onion.errors
    from keys.dispatch import exit_codes

    classes = [cls for module in (keys.errors, app.errors, onion.errors)
               for cls in vars(module).values()
               if isinstance(cls, type) and issubclass(cls, keys.errors.SkrynkaError)
               and cls is not keys.errors.SkrynkaError]
    defined: dict[int, set[str]] = {}
    for cls in classes:
        if "exit_code" in vars(cls):
            defined.setdefault(cls.exit_code, set()).add(cls.__qualname__)
    assert {code: names for code, names in defined.items() if len(names) > 1} == {}
    assert set(defined).isdisjoint({0, 1, 10, 11, 130})
    table = exit_codes(classes)  # raises on two meanings for one code
    assert all(f"  {code}  " in table for code in defined)


def _strings(tree: ast.Module) -> list[str]:
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docs]


@pytest.mark.parametrize("name", ["app/__main__.py", "keys/cli.py", "onion/cli.py",
                                  "gunicorn.conf.py"])
def test_each_cli_goes_through_the_one_dispatcher(name: str) -> None:
    """No command prints its own ``error:`` lines: keys.dispatch does, for all of them."""
    path = ROOT / name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert "run_cli" in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert [s for s in _strings(tree) if "error:" in s] == []


def test_readme_exit_code_table_covers_every_code() -> None:
    import app.errors
    import keys.errors
    import onion.errors

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Exit codes"):]
    listed: set[int] = set()
    for first, last in re.findall(r"^\| (\d+)(?:-(\d+))? \|", section, re.M):
        listed |= set(range(int(first), int(last or first) + 1))
    codes = {0, 1, 10, 11, 130} | {
        cls.exit_code for module in (keys.errors, app.errors, onion.errors)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, keys.errors.SkrynkaError)}
    assert listed == codes
