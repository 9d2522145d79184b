"""Credentials in TORCH_INDEX_URL reach no image: no build arg gets them, no layer, no bundle.env.

A build arg shows in `docker history`, and the classic builder has no build secrets. So `make`
hands the builds TORCH_BUILD_INDEX_URL, which is TORCH_INDEX_URL when it has no user:token@ and
the word build/wheels when it has: torch is then downloaded on the host into build/wheels/
(scripts/fetch-torch-wheels.sh) and installed from there. bundle.env: test_bundle_script.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FETCH = ROOT / "scripts" / "fetch-torch-wheels.sh"
TOKEN = "s3cret-token"


def build_index(torch_index_url: str | None) -> str:
    """TORCH_BUILD_INDEX_URL as make computes it for this TORCH_INDEX_URL (None: the default)."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "TORCH_INDEX_URL")}
    show = 'print-build-index: ; @printf "%s\\n" "$$TORCH_BUILD_INDEX_URL"'
    args = ["make", "-s", "--no-print-directory", "-C", str(ROOT), "--eval", show, "print-build-index"]
    args += ["LOCAL_ENV=/nonexistent"] + ([f"TORCH_INDEX_URL={torch_index_url}"] if torch_index_url else [])
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{TOKEN}@pkgs.example.com/simple",
        f"https://__token__:{TOKEN}@pkgs.example.com:8443/pypi/simple/",
        f"http://{TOKEN}@10.0.0.5/simple",
    ],
)
def test_an_index_with_credentials_reaches_the_builds_as_build_wheels(url):
    assert build_index(url) == "build/wheels"


@pytest.mark.parametrize(
    "url",
    [None, "https://pypi.org/simple", "https://download.pytorch.org/whl/cu126", "https://h/x@y/simple"],
)
def test_an_index_without_credentials_reaches_the_builds_unchanged(url):
    assert build_index(url) == (url or "https://download.pytorch.org/whl/cpu")


def test_the_image_builds_get_torch_index_url_only_through_make_s_sanitized_value():
    for compose in ("docker-compose.yml", "docker-compose.cluster.yml"):
        args = re.findall(r"^\s*TORCH_INDEX_URL:.*$", (ROOT / compose).read_text(), flags=re.M)
        assert args, compose
        for line in args:
            assert line.split(":", 1)[1].strip().startswith("${TORCH_BUILD_INDEX_URL:-"), (compose, line)
    makefile = (ROOT / "Makefile").read_text()
    for target in ("build", "cluster-build"):
        recipe = re.search(rf"^{target}:.*?\n(?:\t.*\n|ifeq.*\n|else.*\n|endif.*\n)+", makefile, flags=re.M)
        assert recipe, target
        lines = recipe.group(0).splitlines()
        fetches = [i for i, line in enumerate(lines) if "scripts/fetch-torch-wheels.sh" in line]
        builds = [
            i for i, line in enumerate(lines) if re.match(r"\t\$\((COMPOSE|CLUSTER)\) .*\bbuild\b", line)
        ]
        assert fetches and builds and fetches[0] < builds[0], (target, lines)
    assert re.search(r"^!build/wheels/$", (ROOT / ".dockerignore").read_text(), flags=re.M)
    dockerfile = (ROOT / "docker" / "lab.Dockerfile").read_text()
    assert 'if [ "${TORCH_INDEX_URL}" = build/wheels ]; then' in dockerfile
    assert "set -- --no-index --find-links /tmp/torch-wheels;" in dockerfile
    assert 'pip install -q "$@" --no-deps "torch==${TORCH_VERSION}"' in dockerfile


# The host's python3 in fetch(): a stand-in for pip's downloads (the real interpreter runs
# everything else, scripts/torch-deps.py included). Each download is recorded with its environment;
# the torch download writes a wheel whose METADATA requires one plain package and Triton.
FAKE_PYTHON = """#!{python}
import json, os, sys, zipfile
from pathlib import Path
args = sys.argv[1:]
if args[:2] != ["-m", "pip"]:
    os.execv({python!r}, [{python!r}, *args])
if args[2] == "--version":
    sys.exit(0)
record = {{"args": args, "env": dict(os.environ)}}
dest = Path(args[args.index("--dest") + 1])
if "--no-deps" in args:
    meta = "Name: torch\\nVersion: 2.15.0\\nRequires-Dist: filelock\\n"
    meta += 'Requires-Dist: triton~=3.9.0; platform_system == "Linux"\\n'
    with zipfile.ZipFile(dest / "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl", "w") as wheel:
        wheel.writestr("torch-2.15.0.dist-info/METADATA", meta)
else:
    record["requirements"] = Path(args[args.index("-r") + 1]).read_text().split()
    (dest / "filelock-4.3.1-py3-none-any.whl").touch()
with open(Path(sys.argv[0]).parent.parent / "pip-calls", "a") as calls:
    calls.write(json.dumps(record) + "\\n")
"""


def fetch(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """scripts/fetch-torch-wheels.sh (and torch-deps.py) in a copy of the repository's layout, with
    a fake docker and a python3 whose pip downloads are stand-ins (FAKE_PYTHON)."""
    (tmp_path / "scripts").mkdir(exist_ok=True)
    shutil.copy(FETCH, tmp_path / "scripts")
    shutil.copy(ROOT / "scripts" / "torch-deps.py", tmp_path / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text('#!/bin/sh\necho "311 2.36 x86_64"\n')
    (bin_dir / "python3").write_text(FAKE_PYTHON.format(python=sys.executable))
    for tool in ("docker", "python3"):
        (bin_dir / tool).chmod(0o755)
    full = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TORCH_VERSION": "2.15.0",
        **env,
    }
    full.pop("PYTHON", None)
    args = ["bash", str(tmp_path / "scripts" / "fetch-torch-wheels.sh"), "python:3.11-slim-bookworm"]
    return subprocess.run(args, capture_output=True, text=True, env=full, timeout=60)


def pip_calls(tmp_path: Path) -> list[dict]:
    path = tmp_path / "pip-calls"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_with_credentials_torch_is_downloaded_on_the_host_for_the_image(tmp_path):
    url = f"https://user:{TOKEN}@pkgs.example.com/simple"
    result = fetch(tmp_path, TORCH_INDEX_URL=url, TORCH_BUILD_INDEX_URL="build/wheels")
    assert result.returncode == 0, result.stderr
    torch, deps = pip_calls(tmp_path)
    for call in (torch, deps):
        args = call["args"]
        assert TOKEN not in "\n".join(args) + result.stdout + result.stderr, (
            "not on a command line or in the log"
        )
        assert call["env"]["PIP_INDEX_URL"] == url
        assert args[:3] == ["-m", "pip", "download"] and "--only-binary=:all:" in args
        assert {"linux_x86_64", "manylinux2014_x86_64", "manylinux_2_36_x86_64"} <= set(args)
        assert "manylinux_2_37_x86_64" not in args and args[args.index("--python-version") + 1] == "311"
    # torch alone, then what its wheel requires without Triton (scripts/torch-deps.py).
    assert "torch==2.15.0" in torch["args"] and "--no-deps" in torch["args"]
    assert deps["requirements"] == ["filelock"]
    wheels = tmp_path / "build" / "wheels"
    assert sorted(p.name for p in wheels.iterdir() if p.name != ".target") == [
        "filelock-4.3.1-py3-none-any.whl",
        "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    ]

    # A build without credentials uses the index itself: the wheels go, pip is not run.
    (tmp_path / "pip-calls").unlink()
    again = fetch(
        tmp_path, TORCH_INDEX_URL="https://pypi.org/simple", TORCH_BUILD_INDEX_URL="https://pypi.org/simple"
    )
    assert again.returncode == 0 and again.stdout == "", again.stderr
    assert list((tmp_path / "build" / "wheels").glob("*.whl")) == [] and pip_calls(tmp_path) == []
