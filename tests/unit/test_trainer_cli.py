"""The trainer's command line, for mistakes caught before any server is used."""

from tests.conftest import assert_one_line_error, run_module
from tests.unit.test_seeder_cli import closed_port

ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "lab",
    "AWS_SECRET_ACCESS_KEY": "lab-secret",
}


def test_help_reads_well(tmp_path):
    result = run_module("trainer", ["--help"], {}, tmp_path)
    assert result.returncode == 0
    for text in (
        "--loader",
        "--workers",
        "--epochs",
        "--batch-size",
        "--shuffle-buffer",
        "NUM_WORKERS",
        "s3iter",
    ):
        assert text in result.stdout


def test_endpoint_without_scheme(tmp_path):
    result = run_module("trainer", [], {**ENV, "AWS_ENDPOINT_URL": "minio:9000"}, tmp_path)
    assert_one_line_error(result, 2, r"AWS_ENDPOINT_URL='minio:9000' needs a scheme.*http://minio:9000")


def test_unknown_loader_in_env(tmp_path):
    result = run_module("trainer", [], {**ENV, "LOADER": "fast"}, tmp_path)
    assert_one_line_error(result, 2, r"LOADER='fast' is not one of s3iter, map, manual, shards")


def test_unreachable_endpoint(tmp_path):
    result = run_module(
        "trainer", [], {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"}, tmp_path, timeout=60
    )
    assert_one_line_error(result, 1, r"cannot reach MinIO at http://127\.0\.0\.1:\d+ \(AWS_ENDPOINT_URL\)")
