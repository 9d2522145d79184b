"""Every workshop notebook, top to bottom, against a real MinIO seeded as `make workshop` seeds it.

nbclient runs them: it is the execution engine nbmake and papermill are built on, it takes the
kernel's environment as an argument (the test server's settings and the trainer's own keys), and a
failing cell raises with the cell's traceback. Exercise solutions (cells tagged ``solution``) run too:
the kernel gets LAB_RUN_SOLUTIONS=1, which a student's Run All does not have.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import offline_source, run_module
from tests.integration.conftest import server_env

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# ~100 samples a label: every first batch of 32 in listing order spans at most two labels.
SAMPLES = 1000


@pytest.fixture(scope="module")
def workshop_env(minio_server, tmp_path_factory) -> dict[str, str]:
    """A bucket seeded with objects and shards; the kernel gets the trainer's keys, not the admin's."""
    env = server_env(minio_server)
    env.update(
        {"AWS_ACCESS_KEY_ID": "lab-notebook-trainer", "AWS_SECRET_ACCESS_KEY": "notebook-trainer-secret"}
    )
    args = [
        "--source",
        str(offline_source()),
        "--limit",
        str(SAMPLES),
        "--format",
        "both",
        "--shard-size",
        "250",
    ]
    seeded = run_module("seeder", [*args, "--no-progress"], env, tmp_path_factory.mktemp("seed"), timeout=600)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    kernel_env = {k: v for k, v in env.items() if not k.startswith("MINIO_")}
    return {**kernel_env, "MINIO_ENDPOINT": env["MINIO_ENDPOINT"]}


def test_there_are_notebooks_to_run():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01-", "02-", "03-", "04-", "05-"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, workshop_env, tmp_path):
    # A copy in an empty folder: no developer's .env nearby changes what the notebook sees.
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    notebook = nbformat.read(copy, as_version=4)
    kernel_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        **workshop_env,
        "LAB_RUN_SOLUTIONS": "1",
    }
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    started = time.monotonic()
    client.execute(env=kernel_env)
    print(f"{path.name}: {time.monotonic() - started:.1f} s")
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook shows at least one picture"
    solutions = [c for c in code if "solution" in c.metadata.get("tags", [])]
    assert solutions and all(c.outputs for c in solutions), "every answer ran, and showed something"
    if path.name.startswith("01-"):
        printed = "".join(o.get("text", "") for c in code for o in c.outputs)
        assert "the dataset: Fashion-MNIST; labels 0-9 are T-shirt/top, Trouser" in printed, printed[-2000:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercises_have_a_cell_to_work_in_and_a_collapsed_answer_run_all_skips(path: Path):
    cells = nbformat.read(path, as_version=4).cells
    answers = [i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", [])]
    assert answers
    for i in answers:
        assert cells[i].metadata.get("jupyter", {}).get("source_hidden") is True
        assert cells[i].source.startswith("show_solution = False"), cells[i].source
        assert "if show_solution or RUN_SOLUTIONS:" in cells[i].source
        before = cells[i - 1]
        assert before.cell_type == "code" and before.source.strip() == "# Your answer here."
        assert cells[i - 2].cell_type == "markdown" and "## Exercise" in cells[i - 2].source
    # Nothing after an answer uses what it made: answers close their notebook.
    assert answers[-1] == len(cells) - 1
