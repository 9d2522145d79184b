"""The seeder's command line, run as users run it, for mistakes caught before any server is used."""

import time

import pytest

from tests.conftest import assert_one_line_error, free_port, run_module
from tests.faultproxy import unavailable_server

ENV = {
    "MINIO_ENDPOINT": "127.0.0.1:9000",
    "MINIO_ROOT_USER": "lab",
    "MINIO_ROOT_PASSWORD": "lab-secret",
}


def test_seeder_help_reads_well(tmp_path):
    result = run_module("seeder", ["--help"], {}, tmp_path)
    assert result.returncode == 0
    for flag in ("--source", "--limit", "--bucket", "--workers", "--prune", "SEED_SOURCE"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    "override,pattern",
    [
        (
            {"MINIO_ENDPOINT": "http://127.0.0.1:9000"},
            r"MINIO_ENDPOINT=.* must be host:port without a scheme",
        ),
        ({"AWS_ENDPOINT_URL": "127.0.0.1:9000"}, r"AWS_ENDPOINT_URL=.* needs a scheme"),
        ({"MINIO_ROOT_PASSWORD": ""}, r"MINIO_ROOT_PASSWORD is not set"),
        ({"SEED_LIMIT": "lots"}, r"SEED_LIMIT='lots' is not a whole number"),
    ],
)
def test_configuration_mistakes_exit_2_with_one_line(tmp_path, override, pattern):
    result = run_module("seeder", [], {**ENV, **override}, tmp_path)
    assert_one_line_error(result, 2, pattern)


def test_the_old_admin_key_names_are_said_once_each_then_used(tmp_path):
    # Nothing listens there: the notes, then the line that says so.
    old = {
        "MINIO_ENDPOINT": f"127.0.0.1:{free_port()}",
        "MINIO_ACCESS_KEY": "lab",
        "MINIO_SECRET_KEY": "lab-secret",
    }
    result = run_module("seeder", [], old, tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 3 and "cannot reach" in lines[2], lines
    assert lines[:2] == [
        "python -m seeder: note: MINIO_ACCESS_KEY is an old name, kept for now: use MINIO_ROOT_USER",
        "python -m seeder: note: MINIO_SECRET_KEY is an old name, kept for now: use MINIO_ROOT_PASSWORD",
    ]


def test_unreachable_endpoint_is_one_line(tmp_path):
    env = {**ENV, "MINIO_ENDPOINT": f"127.0.0.1:{free_port()}"}
    result = run_module("seeder", ["--source", str(tmp_path)], env, tmp_path, timeout=60)
    assert_one_line_error(
        result, 1, r"cannot reach MinIO at http://127\.0\.0\.1:\d+ \(MINIO_ENDPOINT\).*make up"
    )


def test_a_server_answering_503_with_retry_after_is_one_line_within_seconds(tmp_path):
    """MinIO sends Retry-After: 120 with SlowDown; the SDK's pool honoured it, three times (6 min)."""
    with unavailable_server(retry_after=120) as server:
        env = {**ENV, "MINIO_ENDPOINT": f"127.0.0.1:{server.server_port}"}
        started = time.monotonic()
        result = run_module(
            "seeder", ["--source", str(tmp_path), "--limit", "10"], env, tmp_path, timeout=100
        )
        took = time.monotonic() - started
    assert_one_line_error(
        result, 1, r"MinIO at http://127\.0\.0\.1:\d+ \(MINIO_ENDPOINT\) answered every attempt"
    )
    assert took < 60, took  # well within one Retry-After, and within the lab's deadlines
    assert len(server.paths) >= 2, "the failed request was retried"


def test_bad_flags_are_usage_errors(tmp_path):
    result = run_module("seeder", ["--splits", "validation"], ENV, tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--splits takes train and/or test" in result.stderr


@pytest.mark.parametrize(
    "flags,pattern",
    [
        (["--workers", "0"], r"SEED_WORKERS=0 is too small: it must be at least 1"),
        (["--workers", "-1"], r"SEED_WORKERS=-1 is too small"),
        (["--shard-size", "0"], r"SHARD_SIZE=0 is too small"),
        (["--limit", "0"], r"SEED_LIMIT=0 is too small"),
        (["--prefix", "bad prefix"], r"DATA_PREFIX='bad prefix' is not a plain key prefix"),
        (["--bucket", "Bad_Bucket"], r"BUCKET='Bad_Bucket' is not a valid bucket name"),
    ],
)
def test_seeder_flags_go_through_the_settings_validation(tmp_path, flags, pattern):
    """Refused in one line before any side effect: the (closed) server is never contacted."""
    env = {**ENV, "MINIO_ENDPOINT": f"127.0.0.1:{free_port()}"}
    assert_one_line_error(run_module("seeder", flags, env, tmp_path), 2, pattern)
