"""Test modules share helpers through conftest.py or helper modules, never through each other.

Importing a test module from another one runs its module-level code and re-collects nothing, but
it ties the two together: moving or deleting a test breaks an unrelated one. Imports are read with
``ast`` (function-local ones count too), resolved the way Python would resolve them from the tests
package, and refused when they land on a ``test_*.py`` file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


def _module_path(dotted: str, repo: Path) -> Path | None:
    """The file of ``dotted`` (a module or a package's ``__init__.py``) under ``repo``, if there is one."""
    base = repo.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_test_module(path: Path | None) -> bool:
    return path is not None and path.name.startswith("test_") and path.suffix == ".py"


def imports_of_test_modules(source: str, path: Path, repo: Path = REPO) -> list[str]:
    """``line: import`` for every import in ``source`` (the text of ``path``) that names a test module."""
    package = path.relative_to(repo).parent.parts
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            anchor = list(package[: len(package) - node.level + 1]) if node.level else []
            base = ".".join(anchor + ([node.module] if node.module else []))
            # ``from package import name``: name may be a submodule (``from tests.unit import test_x``).
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # A bare name also resolves beside the file when pytest puts its folder on sys.path.
            candidates = [_module_path(target, repo)]
            if "." not in target:
                candidates.append(_module_path(".".join([*package, target]), repo))
            if any(_is_test_module(c) and c != path for c in candidates):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
                break
    return found


def test_no_test_module_imports_another():
    offenders = {
        str(path.relative_to(REPO)): found
        for path in sorted(TESTS.rglob("test_*.py"))
        if (found := imports_of_test_modules(path.read_text(), path))
    }
    assert not offenders, (
        f"move shared helpers to tests/conftest.py, a folder's conftest.py or a helper module: {offenders}"
    )


@pytest.mark.parametrize(
    "line",
    [
        "from tests.unit.test_seeder_cli import ENV",
        "from tests.unit import test_seeder_cli",
        "import tests.unit.test_seeder_cli",
        "import tests.unit.test_seeder_cli as cli",
        "from .test_seeder_cli import ENV",
        "from ..unit.test_seeder_cli import ENV",
        "from test_seeder_cli import ENV",
        "def f():\n    from tests.unit.test_seeder_cli import ENV",
    ],
)
def test_the_check_sees_every_spelling_of_a_test_module_import(line):
    """Fed to the checker as if written in a test module beside test_seeder_cli.py."""
    path = TESTS / "unit" / "test_something_new.py"
    assert len(imports_of_test_modules(line, path)) == 1, line


@pytest.mark.parametrize(
    "line",
    [
        "from tests.conftest import run_module",
        "from tests.integration.conftest import server_env",
        "from tests.integration.ranks import read_epoch",
        "from tests import s3probes",
        "from . import dead_peer",
        "import pytest",
    ],
)
def test_the_check_lets_conftest_and_helper_modules_be_imported(line):
    path = TESTS / "unit" / "test_something_new.py"
    assert imports_of_test_modules(line, path) == [], line


def test_the_cluster_runs_beside_the_other_compose_tests_which_share_one_group():
    from tests.conftest import worker_group

    assert (
        worker_group("tests/e2e/test_stack.py::a")
        == worker_group("tests/e2e/test_workshop.py::b")
        == "compose"
    )
    assert worker_group("tests/e2e/test_cluster.py::c") == "tests/e2e/test_cluster.py"
    assert worker_group("tests/integration/test_faults.py::d") == "tests/integration/test_faults.py"
