"""The lab over HTTPS (issue 23, item 5): MinIO with a certificate from the lab's own CA.

The MinIO SDK and the S3 Connector for PyTorch get that CA through SSL_CERT_FILE (the connector
has no TLS option of its own: awslabs/s3-connector-for-pytorch#409; its CRT client reads the
variable). `make ... TLS=1` sets it up with Compose (docker/tls/compose.yml); here the same
certificate (scripts/make-tls.sh) serves a MinIO of this module's own.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.forked import run_forked
from tests.integration.conftest import LabMinio, server_env, start_minio

MAKE_TLS = Path(__file__).resolve().parents[2] / "scripts" / "make-tls.sh"


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls")
    subprocess.run(["bash", str(MAKE_TLS), str(path)], check=True, capture_output=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def tls_minio(tls_dir: Path) -> Iterator[LabMinio]:
    server = start_minio(tls_dir=tls_dir)
    try:
        yield server
    finally:
        server.stop()


def https_env(server: LabMinio, trust: Path | None) -> dict[str, str]:
    """Settings for the HTTPS server, both conventions; SSL_CERT_FILE only when ``trust``."""
    return server_env(server, secure=True) | ({"SSL_CERT_FILE": str(trust)} if trust else {})


def test_a_sweep_point_over_https_reads_every_key_once_with_the_lab_s_ca(tls_minio, tls_dir, tmp_path):
    out = tmp_path / "results"
    args = ["--sizes", "1KB,128KB", "--bytes-per-point", "128KB", "--min-objects", "16", "--workers", "2"]
    args += ["--imagenet", "0"]
    args += [
        "--loaders",
        "s3iter,map,shards",
        "--knobs-at",
        "none",
        "--ceiling-seconds",
        "1",
        "--out",
        str(out),
    ]
    env = https_env(tls_minio, tls_dir / "ca-bundle.crt")
    result = run_forked("trainer.bench.sweep", args, env, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(next(out.glob("bench-sizes-*.json")).read_text())
    assert report["endpoint"] == env["AWS_ENDPOINT_URL"]
    # Seeded with the SDK and read by the connector (objects and shards), both over TLS.
    for point in report["points"]:
        assert [row["loader"] for row in point["rows"]] == ["s3iter", "map", "shards"]
        for row in point["rows"]:
            assert row["samples"] == row["distinct"] == point["count"], row
            assert row["object_bytes"] == point["count"] * point["size"], row
        # wrk's presigned GETs over HTTPS too.
        assert point["wrong"] == [] and point["ceiling_gets_per_s"] > 0


@pytest.mark.parametrize(
    ("trust", "pattern"),
    [
        # The machine's CAs only (certifi's): the lab's CA is not among them. The sweep seeds
        # with the admin keys, so the SDK's MINIO_* convention is the one named.
        (
            None,
            r"^python -m trainer.bench.sweep: error: TLS with MinIO at https://127\.0\.0\.1:\d+ "
            r"\(MINIO_ENDPOINT\) failed: use MINIO_SECURE=false for a plain-HTTP server, "
            r"or give the CA that signed its certificate in SSL_CERT_FILE",
        ),
        ("missing.pem", r"SSL_CERT_FILE=\S+missing\.pem is not a file: give a PEM file of CA certificates"),
    ],
    ids=["not-trusted", "not-a-file"],
)
def test_without_the_lab_s_ca_the_sweep_stops_in_one_line(tls_minio, tmp_path, trust, pattern):
    env = https_env(tls_minio, tmp_path / trust if trust else None)
    result = run_forked("trainer.bench.sweep", ["--sizes", "1KB", "--out", str(tmp_path)], env, tmp_path)
    assert_one_line_error(result, 2, pattern)
