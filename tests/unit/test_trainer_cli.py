"""The trainer's command line, for mistakes caught before any server is used."""

import os
import subprocess
import sys

import pytest

from tests.conftest import assert_one_line_error, free_port, run_module

ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "lab",
    "AWS_SECRET_ACCESS_KEY": "lab-secret",
}


def test_trainer_help_reads_well(tmp_path):
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


def test_help_shows_the_values_a_run_here_gets(tmp_path):
    """.env's value, or the environment's when set (run_module's cwd has no .env: the defaults)."""
    result = run_module("trainer", ["--help"], {"NUM_WORKERS": "5", "BUCKET": "mine"}, tmp_path)
    text = " ".join(result.stdout.split())
    assert "[env NUM_WORKERS, now 5]" in text and "[env BUCKET, now mine]" in text
    assert "[env EPOCHS, now 2]" in text and "default" not in text.split("--epochs", 1)[1].split("--lr")[0]


def test_bucket_and_prefix_flags_win_over_the_environment():
    from trainer.cli import build_parser, read_settings

    args = build_parser().parse_args(["--bucket", "other-bucket", "--prefix", "fashion"])
    settings = read_settings(args, environ={**ENV, "BUCKET": "lab-data", "DATA_PREFIX": "mnist"})
    assert (settings.bucket, settings.data_prefix) == ("other-bucket", "fashion")


def test_endpoint_without_scheme(tmp_path):
    result = run_module("trainer", [], {**ENV, "AWS_ENDPOINT_URL": "minio:9000"}, tmp_path)
    assert_one_line_error(result, 2, r"AWS_ENDPOINT_URL='minio:9000' needs a scheme.*http://minio:9000")


def test_unknown_loader_in_env(tmp_path):
    result = run_module("trainer", [], {**ENV, "LOADER": "fast"}, tmp_path)
    assert_one_line_error(result, 2, r"LOADER='fast' is not one of s3iter, s3prefix, map, manual, shards")


def test_unreachable_endpoint(tmp_path):
    result = run_module(
        "trainer", [], {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}, tmp_path, timeout=60
    )
    assert_one_line_error(result, 1, r"cannot reach MinIO at http://127\.0\.0\.1:\d+ \(AWS_ENDPOINT_URL\)")


@pytest.mark.parametrize(
    "flags,pattern",
    [
        (["--epochs", "0"], r"EPOCHS=0 is too small: it must be at least 1"),
        (["--batch-size", "0"], r"BATCH_SIZE=0 is too small: it must be at least 1"),
        (["--workers", "-1"], r"NUM_WORKERS=-1 is too small: it must be at least 0"),
        (["--shuffle-buffer", "-5"], r"SHUFFLE_BUFFER=-5 is too small"),
        (["--read-ahead", "0"], r"READ_AHEAD=0 is too small: it must be at least 1"),
        (["--checkpoint-every", "-1"], r"CHECKPOINT_EVERY=-1 is too small"),
        (["--lr", "0"], r"LR=0 is out of range"),
    ],
)
def test_trainer_flags_go_through_the_settings_validation(tmp_path, flags, pattern):
    """A flag is checked like its variable, before any server is used (the endpoint is closed)."""
    env = {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    assert_one_line_error(run_module("trainer", flags, env, tmp_path), 2, pattern)
    variable = pattern.split("=")[0]
    value = flags[1]
    assert_one_line_error(run_module("trainer", [], {**env, variable: value}, tmp_path), 2, pattern)


@pytest.mark.parametrize("run_id", ["../escape", "a/b", "-flag-like", "x" * 65])
def test_run_ids_are_plain_names(tmp_path, run_id):
    env = {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    result = run_module("trainer", [f"--run-id={run_id}"], env, tmp_path)
    assert_one_line_error(result, 2, r"RUN_ID=.* is not a run name: use up to 64 letters")


def test_the_env_files_are_read_for_help_only(monkeypatch):
    """A run reads .env once, in load_settings; parsing its flags must not read it again."""
    import labcore.cli
    from trainer.cli import build_parser

    reads = []
    monkeypatch.setattr(labcore.cli, "read_environment", lambda: reads.append(1) or {"EPOCHS": "7"})
    parser = build_parser()
    parser.parse_args(["--epochs", "3"])
    assert reads == []
    assert "[env EPOCHS, now 7]" in " ".join(parser.format_help().split())
    assert reads == [1]


@pytest.mark.parametrize(
    "flags, env, code",
    [
        (["--help"], {}, 0),
        (["--epochs", "0"], {}, 2),
        ([], {"WORLD_SIZE": "2", "RANK": "0", "DATA_TIMEOUT": "60", "DIST_TIMEOUT": "30"}, 2),
        ([], {}, 1),
    ],
    ids=["help", "a bad flag", "deadlines that contradict", "one process, no server"],
)
def test_help_and_configuration_mistakes_come_before_torch_is_imported(tmp_path, flags, env, code):
    """torch's import costs seconds of CPU; a mistake in the flags or settings need not pay for it,
    nor, in a single process, one the planning finds (here: nothing listens at the endpoint)."""
    probe = (
        "import sys\nfrom trainer.cli import main\n"
        f"try:\n    main({flags!r})\nexcept SystemExit as stop:\n"
        "    print(stop.code, 'torch' in sys.modules)\n"
    )
    env = {"PATH": os.environ["PATH"], **ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", **env}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split()[-2:] == [str(code), "False"], (result.stdout, result.stderr)
