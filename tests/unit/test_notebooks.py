"""The workshop notebooks as committed: no outputs, exercises with tagged solutions, asserting cells."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: clear outputs before committing"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_teaches_with_asserts_and_an_exercise(path: Path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    solutions = [c for c in code if "solution" in c.metadata.get("tags", [])]
    assert solutions, f"{path.name}: an exercise with a cell tagged solution"
    assert all("assert " in c.source for c in solutions), "a solution proves itself"
    assert sum("assert " in c.source for c in code) >= 2, f"{path.name}: cells assert what they teach"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
