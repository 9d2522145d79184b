"""make reads .env and .env.local as Compose and python-dotenv do, or stops in one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]
READER = ROOT / "scripts" / "env-value.sh"

# Lines all three readers accept, each with the value they read.
ACCEPTED = {
    "export NPROC=2 # two": ("NPROC", "2"),
    'STORE="garage"': ("STORE", "garage"),
    "LOADER='map'   # a comment": ("LOADER", "map"),
    "SEED_LIMIT=": ("SEED_LIMIT", ""),
    "BUCKET=  lab-data  ": ("BUCKET", "lab-data"),
    "MINIO_ROOT_PASSWORD='pa$$word # not a comment'": ("MINIO_ROOT_PASSWORD", "pa$$word # not a comment"),
    "DATA_PREFIX=a#b": ("DATA_PREFIX", "a#b"),
}
# Lines one reader would read differently, and the words of the line make stops with.
REFUSED = {
    "MINIO_ROOT_PASSWORD=pa$word": "put the value in single quotes",
    'MINIO_ROOT_PASSWORD="pa$word"': "use single quotes",
    "STORE='garage": "close its quote on the same line",
    "NPROC = 2": "not a KEY=value line",
    'STORE="garage" minio': "close its quote on the same line",
}


def make(target: str, env_file: Path) -> subprocess.CompletedProcess:
    """``make -n target`` reading ``env_file`` as its .env.local, in an environment without the
    settings an outer make (make test) exports: the environment would win over the files."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"LOCAL_ENV={env_file}"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("line", ACCEPTED)
def test_the_reader_agrees_with_python_dotenv(line, tmp_path):
    env_file = tmp_path / ".env.local"
    env_file.write_text(line + "\n")
    name, expected = ACCEPTED[line]
    assert dotenv_values(env_file, interpolate=False)[name] == expected
    read = subprocess.run(["bash", str(READER), name, str(env_file)], capture_output=True, text=True)
    assert read.stdout == expected + "\n", read.stderr


def test_make_reads_export_quotes_and_inline_comments(tmp_path):
    env_file = tmp_path / ".env.local"
    env_file.write_text('export NPROC=2 # two ranks\nSTORE="seaweedfs"\n')
    planned = make("train", env_file)
    assert planned.returncode == 0, planned.stderr
    # The comment no longer swallows "-m trainer"; the quotes no longer make an unknown store.
    assert "--nproc-per-node 2 -m trainer" in planned.stdout, planned.stdout
    assert "-f docker/stores/seaweedfs/compose.yml" in planned.stdout, planned.stdout


@pytest.mark.parametrize("line", REFUSED)
def test_a_line_the_readers_would_read_differently_stops_make_in_one_line(line, tmp_path):
    env_file = tmp_path / ".env.local"
    env_file.write_text("# mine\n" + line + "\n")
    planned = make("help", env_file)
    assert planned.returncode != 0
    errors = [row for row in planned.stderr.splitlines() if row.strip()]
    assert len(errors) == 1 and f"{env_file}:2:" in errors[0] and REFUSED[line] in errors[0], planned.stderr
