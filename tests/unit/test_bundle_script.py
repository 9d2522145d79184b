"""scripts/bundle.sh load refuses what it cannot trust in one line, before Docker is touched.

A fake `docker` on PATH answers for the laptop, so a bundle the script accepts really reaches
`docker load` and `.env.local`: a refusal is seen to write nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bundle.sh"
NAME = "minio-torch-lab-bundle-linux-amd64"
GOOD_ENV = b"BUNDLE_PLATFORM=linux-amd64\nMINIO_IMAGE=minio-torch-lab/minio:x\n"
FAKE_DOCKER = """#!/usr/bin/env bash
echo "$*" >>"${0%/*}/../docker.log"
case "$1" in
  version) echo linux-amd64 ;;
  image) exit 0 ;;
  save) printf 'saved images' >"$3" ;;
  load) cat >/dev/null; echo "Loaded image: minio-torch-lab/trainer:local" ;;
  *) exit 1 ;;
esac
"""


def entry(path: str, data: bytes = b"", **fields) -> tuple[tarfile.TarInfo, bytes]:
    """One tar member under the bundle's top directory (``path`` may climb out of it)."""
    info = tarfile.TarInfo(path if path.startswith("/") else f"{NAME}/{path}".rstrip("/"))
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def make_bundle(
    tmp_path: Path,
    *,
    damage: str | None = None,
    env: bytes = GOOD_ENV,
    more: dict[str, bytes] | None = None,
    extra: tuple[tuple[tarfile.TarInfo, bytes], ...] = (),
    sums: dict[str, bytes] | None = None,
) -> Path:
    """A bundle-shaped tar with real checksums and its .sha256 beside it, as make bundle writes.

    ``damage`` names a member changed after summing; ``more`` adds members SHA256SUMS lists,
    ``extra`` members it does not list, ``sums`` lines it lists (the SHA-256 of the given bytes).
    """
    members = {
        "bundle.env": env,
        "data/train-labels-idx1-ubyte.gz": b"\x1f\x8b labels",
        **(more or {}),
        "images.tar": b"not really images",
    }
    listed = {**members, **(sums or {})}
    checksums = "".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in listed.items())
    if damage:
        members[damage] += b"!"
    entries = [
        entry("", type=tarfile.DIRTYPE),
        entry("bundle.env", members.pop("bundle.env")),
        entry("SHA256SUMS", checksums.encode()),
        entry("data", type=tarfile.DIRTYPE),
        *(entry(p, d) for p, d in members.items()),
        *extra,
    ]
    bundle = tmp_path / f"{NAME}.tar"
    with tarfile.open(bundle, "w") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    (tmp_path / f"{NAME}.tar.sha256").write_text(f"{digest}  {bundle.name}\n")
    return bundle


def fake_docker(tmp_path: Path) -> dict[str, str]:
    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir(exist_ok=True)
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    return {**os.environ, "PATH": f"{docker.parent}{os.pathsep}{os.environ['PATH']}"}


def load(tmp_path: Path, bundle: Path) -> subprocess.CompletedProcess:
    args = ["bash", str(SCRIPT), "load", str(bundle), str(tmp_path / "data"), str(tmp_path / ".env.local")]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=fake_docker(tmp_path))


def assert_refused(result: subprocess.CompletedProcess, words: str, tmp_path: Path) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert not (tmp_path / ".env.local").exists() and not (tmp_path / "data").exists(), "nothing changed"
    assert not (tmp_path / "docker.log").exists(), "Docker was not touched"


def test_a_sound_bundle_loads_its_listed_files_and_settings(tmp_path):
    # An .env.local from an earlier make load names the source directory by its old names.
    (tmp_path / ".env.local").write_text("SEED_SOURCE=/source\nSEED_SOURCE_DIR=/old\nEPOCHS=3\n")
    result = load(tmp_path, make_bundle(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["train-labels-idx1-ubyte.gz"]
    settings = (tmp_path / ".env.local").read_text().splitlines()
    assert "MINIO_IMAGE=minio-torch-lab/minio:x" in settings and "LAB_PREBUILT=1" in settings
    # One name for the dataset's folder; the user's own lines stay.
    assert [line for line in settings if "SOURCE" in line] == [f"SOURCE_DIR={tmp_path / 'data'}"]
    assert "EPOCHS=3" in settings
    assert "load" in (tmp_path / "docker.log").read_text()


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


def test_a_bundle_that_does_not_match_its_sha256_file_is_refused(tmp_path):
    """Another bundle, whole by its own SHA256SUMS, in place of the one make bundle summed."""
    bundle = make_bundle(tmp_path)
    outer = (tmp_path / f"{NAME}.tar.sha256").read_text()
    make_bundle(tmp_path, more={"data/t10k-labels-idx1-ubyte": b"other labels"})
    (tmp_path / f"{NAME}.tar.sha256").write_text(outer)
    assert_refused(load(tmp_path, bundle), f"does not match {bundle}.sha256", tmp_path)


def test_a_member_sha256sums_does_not_list_is_refused(tmp_path):
    bundle = make_bundle(tmp_path, extra=(entry("data/t10k-images-idx3-ubyte", b"unlisted"),))
    assert_refused(load(tmp_path, bundle), "which SHA256SUMS does not list", tmp_path)


def test_a_member_no_bundle_has_is_refused_even_when_listed(tmp_path):
    bundle = make_bundle(tmp_path, more={"data/notes.sh": b"#!/bin/sh\n"})
    assert_refused(load(tmp_path, bundle), "which no lab bundle has", tmp_path)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_are_refused(tmp_path, kind):
    """A link listed with the SHA-256 of what tar streams for it (nothing) is still a link."""
    outside = tmp_path / "outside"
    link = entry("data/t10k-images-idx3-ubyte", type=kind, linkname=str(outside))
    bundle = make_bundle(tmp_path, extra=(link,), sums={"data/t10k-images-idx3-ubyte": b""})
    assert_refused(load(tmp_path, bundle), "holds a link or special file", tmp_path)
    assert not outside.exists()


@pytest.mark.parametrize("path", ["data/../../evil", "../evil", "/tmp/minio-torch-lab-evil"])
def test_paths_out_of_the_bundle_are_refused(tmp_path, path):
    bundle = make_bundle(tmp_path, extra=(entry(path, b"evil"),))
    assert_refused(load(tmp_path, bundle), "holds an unsafe path", tmp_path)
    assert not (tmp_path / "evil").exists() and not Path("/tmp/minio-torch-lab-evil").exists()


@pytest.mark.parametrize(
    "line",
    [
        b"MINIO_IMAGE=minio'$(touch pwned)'",
        b'MINIO_IMAGE=x"; touch pwned; "',
        b"MINIO_IMAGE=$(touch pwned)",
        b"MINIO_IMAGE=minio/minio:x\nLAB_PREBUILT=0",
        b"MINIO_IMAGE=minio/minio:x\nMINIO_IMAGE=minio/other:y",
        b"MINIO_IMAGE=minio/minio:x\nLAB_TAG=$(touch pwned)",
        b"MINIO_IMAGE=minio/minio:x\nLAB_TAG=-flag",
    ],
)
def test_bundle_env_values_of_the_wrong_shape_are_refused(tmp_path, line):
    bundle = make_bundle(tmp_path, env=b"BUNDLE_PLATFORM=linux-amd64\n" + line + b"\n")
    assert_refused(load(tmp_path, bundle), "bundle.env", tmp_path)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_make_bundle_records_the_torch_index_without_credentials_and_loads(tmp_path):
    """bundle.env goes to every laptop: an index's user:token@ stays behind; the result loads."""
    idx = tmp_path / "idx"
    idx.mkdir()
    for base in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (idx / f"{base}.gz").write_bytes(base.encode())
    (idx / "t10k-labels-idx1-ubyte").write_bytes(b"raw labels")
    env = {
        **fake_docker(tmp_path),
        "MINIO_IMAGE": "minio-torch-lab/minio:x",
        "TORCH_VERSION": "2.15.0",
        "TORCH_INDEX_URL": "https://u:s3cret-token@pkgs.example.com/simple",
    }
    dist = tmp_path / "dist"
    made = subprocess.run(
        ["bash", str(SCRIPT), "create", str(dist), str(idx)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    with tarfile.open(dist / f"{NAME}.tar") as tar:
        bundle_env = tar.extractfile(f"{NAME}/bundle.env").read().decode()
    assert "TORCH_INDEX_URL=https://pkgs.example.com/simple\n" in bundle_env
    assert "s3cret-token" not in bundle_env and "u:" not in bundle_env

    loaded = load(tmp_path, dist / f"{NAME}.tar")
    assert loaded.returncode == 0, loaded.stderr
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(f"{p.name}" for p in idx.iterdir())


def test_the_bundle_s_image_tag_reaches_env_local_and_an_old_bundle_means_local(tmp_path):
    """A bundle made with LAB_TAG=v2 runs its images by that tag; one made before LAB_TAG, by local."""
    (tmp_path / ".env.local").write_text("LAB_TAG=stale\n")
    result = load(tmp_path, make_bundle(tmp_path, env=GOOD_ENV + b"LAB_TAG=v2\n"))
    assert result.returncode == 0, result.stderr
    assert [line for line in (tmp_path / ".env.local").read_text().splitlines() if "LAB_TAG" in line] == [
        "LAB_TAG=v2"
    ]
    result = load(tmp_path, make_bundle(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "LAB_TAG=local" in (tmp_path / ".env.local").read_text().splitlines()


def test_make_bundle_saves_the_images_of_its_tag_and_refuses_a_tag_that_is_not_one(tmp_path):
    env = {**fake_docker(tmp_path), "MINIO_IMAGE": "minio-torch-lab/minio:x", "LAB_TAG": "v2"}
    idx = tmp_path / "idx"
    idx.mkdir()
    for base in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (idx / f"{base}.gz").write_bytes(base.encode())
    create = ["bash", str(SCRIPT), "create", str(tmp_path / "dist"), str(idx)]
    made = subprocess.run(create, capture_output=True, text=True, timeout=60, env=env)
    assert made.returncode == 0, made.stderr
    saved = [line for line in (tmp_path / "docker.log").read_text().splitlines() if line.startswith("save")]
    assert saved and saved[0].endswith(
        "minio-torch-lab/minio:x minio-torch-lab/seeder:v2 minio-torch-lab/trainer:v2 minio-torch-lab/workshop:v2"
    ), saved
    with tarfile.open(tmp_path / "dist" / f"{NAME}.tar") as tar:
        assert "LAB_TAG=v2\n" in tar.extractfile(f"{NAME}/bundle.env").read().decode()

    refused = subprocess.run(
        create, capture_output=True, text=True, timeout=60, env={**env, "LAB_TAG": "v2;rm"}
    )
    assert refused.returncode == 1 and "LAB_TAG 'v2;rm' is not an image tag" in refused.stderr, refused.stderr
