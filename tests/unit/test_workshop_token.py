"""scripts/workshop-token.sh: a token of its own in the untracked file, once; the environment wins."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "workshop-token.sh"


def run(path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
    return subprocess.run(
        ["bash", str(SCRIPT), str(path)], env={**base, **env}, capture_output=True, text=True
    )


def test_generates_a_private_token_once(tmp_path):
    local = tmp_path / ".env.local"
    local.write_text("SEED_LIMIT=100\n")
    assert run(local).returncode == 0
    first = local.read_text()
    assert first.startswith("SEED_LIMIT=100\n")
    tokens = re.findall(r"^JUPYTER_TOKEN=([0-9a-f]+)$", first, flags=re.M)
    assert len(tokens) == 1 and len(tokens[0]) == 48
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert run(local).returncode == 0
    assert local.read_text() == first, "a second run keeps the token"


def test_a_token_in_the_environment_writes_nothing(tmp_path):
    local = tmp_path / ".env.local"
    assert run(local, JUPYTER_TOKEN="given").returncode == 0
    assert not local.exists()


def test_the_tracked_env_holds_no_token():
    env = (SCRIPT.parents[1] / ".env").read_text()
    assert not re.search(r"^JUPYTER_TOKEN=", env, flags=re.M)
