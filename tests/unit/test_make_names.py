"""One name for the dataset's folder where users type it: SOURCE_DIR, on make's command line or in
.env.local; the old name SEED_SOURCE_DIR still works, with one line saying so."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OLD_AND_NEW = ("SOURCE_DIR", "SEED_SOURCE_DIR", "SEED_SOURCE", "DATA_DIR", "LAB_OFFLINE_SOURCE", "MAKEFLAGS")


def what_make_passes_on(tmp_path: Path, *variables: str, local: str = "") -> tuple[str, str]:
    """(SOURCE_DIR and SEED_SOURCE as make's recipes see them, make's stderr)."""
    (tmp_path / "local.env").write_text(local)
    env = {k: v for k, v in os.environ.items() if k not in OLD_AND_NEW}
    show = 'show: ; @echo "$$SOURCE_DIR|$$SEED_SOURCE"'
    args = ["make", "-s", "-C", str(ROOT), f"--eval={show}", "show", f"LOCAL_ENV={tmp_path / 'local.env'}"]
    result = subprocess.run([*args, *variables], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), result.stderr


def test_source_dir_from_the_command_line_or_env_local(tmp_path):
    assert what_make_passes_on(tmp_path) == ("|", "")
    assert what_make_passes_on(tmp_path, "SOURCE_DIR=some/dir") == (f"{ROOT}/some/dir|/source", "")
    assert what_make_passes_on(tmp_path, local="SOURCE_DIR=/data/fashion\n") == ("/data/fashion|/source", "")


def test_the_old_name_still_works_and_says_the_new_one(tmp_path):
    shown, said = what_make_passes_on(tmp_path, local="SEED_SOURCE=/source\nSEED_SOURCE_DIR=/data/old\n")
    assert shown == "/data/old|/source"
    assert said.strip().endswith("SEED_SOURCE_DIR is an old name, kept for now: use SOURCE_DIR=/data/old")
    assert len(said.strip().splitlines()) == 1
