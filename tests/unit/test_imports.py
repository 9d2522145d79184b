"""The lab's modules form layers: no import cycle among labcore/, seeder/ and trainer/, and the
record of the stores (``labcore/stores.py``) sits at the bottom, importing nothing of ours.

Imports are read from the source with ``ast``, not by importing: those inside function bodies
count (a cycle held together by function-local imports is still a cycle), and so do those under
``if TYPE_CHECKING:`` (a module that names a type from above it is a knot in the design).
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("labcore", "seeder", "trainer")


def module_files(repo: Path = REPO) -> dict[str, Path]:
    """Every module of ours by its dotted name (a package by its ``__init__.py``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((repo / package).rglob("*.py")):
            parts = path.relative_to(repo).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _ours(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that importing ``name`` runs last: its longest prefix that is one of ours."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, modules: dict[str, Path]) -> dict[str, int]:
    """The modules of ours that ``module`` imports, each with the line of its first import there."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from package import name``: a submodule when there is one, else a name in the package.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        for target in targets:
            ours = _ours(target, modules)
            if ours is not None and ours != module:
                found.setdefault(ours, node.lineno)
    return found


def import_graph(repo: Path = REPO) -> dict[str, dict[str, int]]:
    modules = module_files(repo)
    return {module: imports_of(module, modules) for module in modules}


def _knots(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected parts of the graph with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    knots = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                knots.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(knots)


def _cycle(graph: dict[str, dict[str, int]], knot: list[str]) -> list[str]:
    """One shortest cycle through the first module of a knot, staying inside it."""
    start, inside = knot[0], set(knot)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if nxt in inside and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


def describe_knots(graph: dict[str, dict[str, int]]) -> list[str]:
    """One line per import cycle: a shortest cycle, each import with its line, and all the modules it ties."""
    lines = []
    for knot in _knots(graph):
        cycle = _cycle(graph, knot)
        steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False))
        lines.append(f"{steps} -> {cycle[-1]}; the knot ties {len(knot)} modules: {', '.join(knot)}")
    return lines


def test_no_module_of_ours_imports_itself_through_others():
    knots = describe_knots(import_graph())
    assert not knots, "import cycle(s):\n" + "\n".join(knots)


def test_the_record_of_the_stores_imports_nothing_of_ours():
    graph = import_graph()
    assert graph["labcore.stores"] == {}


def test_the_reader_sees_function_local_relative_and_submodule_imports(tmp_path):
    """The test's own reader, on a small package: what it must not miss to find a knot."""
    (tmp_path / "labcore" / "sub").mkdir(parents=True)
    for package in ("seeder", "trainer"):
        (tmp_path / package).mkdir()
    files = {
        "labcore/__init__.py": "",
        "labcore/a.py": "def f():\n    from labcore.sub import b\n",
        "labcore/sub/__init__.py": "",
        "labcore/sub/b.py": "from . import c\n",
        "labcore/sub/c.py": "from ..d import x\n",
        "labcore/d.py": "import labcore.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["labcore.a"] == {"labcore.sub.b": 2}
    assert graph["labcore.sub.b"] == {"labcore.sub.c": 1}
    assert graph["labcore.sub.c"] == {"labcore.d": 1}
    assert describe_knots(graph) == [
        "labcore.a (line 2) -> labcore.sub.b (line 1) -> labcore.sub.c (line 1) -> labcore.d (line 1) "
        "-> labcore.a; the knot ties 4 modules: labcore.a, labcore.d, labcore.sub.b, labcore.sub.c"
    ]


def test_the_seeder_imports_nothing_its_image_lacks():
    """The seeder's image installs locks/seeder.txt (no NumPy, no torch): its command line, and the
    settings and synthetic datasets it shares with the trainer, must import without them."""
    import subprocess
    import sys

    probe = "import sys, seeder.cli; print(sorted({'numpy', 'torch'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
    lock = (Path(__file__).parents[2] / "locks" / "seeder.txt").read_text()
    assert "numpy==" not in lock and "torch==" not in lock
