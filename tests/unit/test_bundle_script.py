"""scripts/bundle.sh load refuses what it cannot trust in one line, before Docker is touched."""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bundle.sh"
NAME = "minio-torch-lab-bundle-linux-amd64"


def make_bundle(tmp_path: Path, *, damage: str | None = None) -> Path:
    """A bundle-shaped tar with real checksums; ``damage`` names a member changed after summing."""
    root = tmp_path / "stage" / NAME
    (root / "data").mkdir(parents=True)
    members = {
        "bundle.env": b"BUNDLE_PLATFORM=linux-amd64\nMINIO_IMAGE=minio-torch-lab/minio:x\n",
        "data/train-labels-idx1-ubyte.gz": b"\x1f\x8b labels",
        "images.tar": b"not really images",
    }
    for path, data in members.items():
        (root / path).write_bytes(data)
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in members.items())
    (root / "SHA256SUMS").write_text(sums)
    if damage:
        (root / damage).write_bytes(members[damage] + b"!")
    bundle = tmp_path / f"{NAME}.tar"
    with tarfile.open(bundle, "w") as tar:
        for path in ("bundle.env", "SHA256SUMS", "data", "images.tar"):
            tar.add(root / path, arcname=f"{NAME}/{path}")
    return bundle


def load(tmp_path: Path, bundle: Path) -> subprocess.CompletedProcess:
    args = ["bash", str(SCRIPT), "load", str(bundle), str(tmp_path / "data"), str(tmp_path / ".env.local")]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def assert_refused(result: subprocess.CompletedProcess, words: str, tmp_path: Path) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert not (tmp_path / ".env.local").exists() and not (tmp_path / "data").exists(), "nothing changed"


def test_a_damaged_member_is_named(tmp_path):
    result = load(tmp_path, make_bundle(tmp_path, damage="data/train-labels-idx1-ubyte.gz"))
    assert_refused(result, "data/train-labels-idx1-ubyte.gz in", tmp_path)
    assert "is damaged" in result.stderr and "copy the bundle again" in result.stderr


def test_damaged_images_are_named_too(tmp_path):
    assert_refused(load(tmp_path, make_bundle(tmp_path, damage="images.tar")), "images.tar in", tmp_path)


def test_a_missing_or_foreign_file_is_refused(tmp_path):
    assert_refused(load(tmp_path, tmp_path / "nope.tar"), "no bundle at", tmp_path)
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        tar.add(SCRIPT, arcname="something/else.sh")
    assert_refused(load(tmp_path, other), "is not a lab bundle", tmp_path)
