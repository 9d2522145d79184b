"""SEED_UPLOAD (put or snowball), the snowball batching, and the seed bench's report: no server."""

import itertools
import json

import pytest

from labcore.clients import Endpoint
from labcore.errors import ConfigError
from labcore.settings import MINIO_VARS, load_settings
from seeder.bench import Measured, print_report
from seeder.cli import FLAG_VARS, build_parser
from seeder.mc import mc_host
from seeder.snowball import MAX_OBJECTS, MIN_OBJECTS, batch_objects, batches
from seeder.upload import SeedReport
from tests.conftest import assert_one_line_error, run_module

ENV = {"MINIO_ENDPOINT": "127.0.0.1:9000", "MINIO_ROOT_USER": "lab", "MINIO_ROOT_PASSWORD": "lab-secret"}


def settings(**env):
    return load_settings(environ={**ENV, **env}, require=MINIO_VARS)


def test_put_is_the_default_and_snowball_is_accepted():
    assert settings().seed_upload == "put"
    assert settings(SEED_UPLOAD="").seed_upload == "put"
    assert settings(SEED_UPLOAD="snowball").seed_upload == "snowball"
    assert settings(SEED_UPLOAD=" put ").seed_upload == "put"


@pytest.mark.parametrize("value", ["tar", "PUT", "snowballs", "1"])
def test_other_values_name_the_variable_and_the_fix(value):
    with pytest.raises(ConfigError) as caught:
        settings(SEED_UPLOAD=value)
    message = str(caught.value)
    assert message.startswith(f"SEED_UPLOAD={value!r} is not one of put, snowball:")
    assert "SEED_UPLOAD=put" in message and "\n" not in message


def test_the_flag_overrides_the_variable_through_the_same_check():
    args = build_parser().parse_args(["--upload", "snowball"])
    overrides = {var: getattr(args, name) for name, var in FLAG_VARS.items()}
    assert overrides["SEED_UPLOAD"] == "snowball"
    merged = load_settings(environ={**ENV, "SEED_UPLOAD": "put"}, overrides=overrides, require=MINIO_VARS)
    assert merged.seed_upload == "snowball"
    # No flag: the variable stands.
    args = build_parser().parse_args([])
    overrides = {var: getattr(args, name) for name, var in FLAG_VARS.items()}
    assert (
        load_settings(environ={**ENV, "SEED_UPLOAD": "snowball"}, overrides=overrides).seed_upload
        == "snowball"
    )


def test_a_bad_value_stops_the_seeder_in_one_line(tmp_path):
    result = run_module("seeder", [], {**ENV, "SEED_UPLOAD": "fast"}, tmp_path)
    assert_one_line_error(result, 2, r"SEED_UPLOAD='fast' is not one of put, snowball: .*SEED_UPLOAD=put")


def test_a_bad_flag_is_a_usage_error(tmp_path):
    result = run_module("seeder", ["--upload", "fast"], ENV, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--upload: invalid choice: 'fast'" in result.stderr


def test_batches_keep_order_and_both_bounds():
    items = [(f"k{i}", b"x" * (i % 7 + 1)) for i in range(1000)]
    got = list(batches(items, lambda item: len(item[1]), max_objects=30, max_bytes=100))
    assert [item for batch in got for item in batch] == items
    assert all(1 <= len(batch) <= 30 for batch in got)
    assert all(sum(len(body) for _, body in batch) <= 100 for batch in got)
    # Each batch is as full as the bounds allow: the next item would have broken one of them.
    for batch, following in zip(got, got[1:], strict=False):
        used = sum(len(body) for _, body in batch)
        assert len(batch) == 30 or used + len(following[0][1]) > 100


def test_an_item_over_the_byte_bound_goes_alone():
    sizes = [5, 500, 5, 5]
    got = list(batches(sizes, lambda n: n, max_objects=10, max_bytes=100))
    assert got == [[5], [500], [5, 5]]


def test_batches_are_lazy():
    """Only the batch being filled is held: an endless stream still yields its first batches."""
    endless = itertools.count()
    first = list(itertools.islice(batches(endless, lambda n: 1, max_objects=4), 2))
    assert first == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert list(batches([], len)) == []


def test_batches_need_room_for_an_item():
    with pytest.raises(ValueError, match="room for one item"):
        list(batches([1], lambda n: n, max_objects=0))


@pytest.mark.parametrize(
    "total,workers,expected",
    [(70000, 16, MAX_OBJECTS), (10000, 16, 625), (200, 16, MIN_OBJECTS), (0, 16, MIN_OBJECTS), (999, 1, 999)],
)
def test_tars_keep_every_worker_busy_within_bounds(total, workers, expected):
    assert batch_objects(total, workers) == expected


def test_the_summary_counts_tars_only_when_there_are_some():
    report = SeedReport("lab-data", "mnist", counts={"train": 10}, uploaded=10, seconds=1.0)
    assert report.line().endswith("10 objects/s")
    report.tars = 2
    assert report.line().endswith("10 objects/s in 2 snowball tars")


def test_mc_host_escapes_the_credentials():
    endpoint = Endpoint("127.0.0.1:9000", False, "lab admin", "p@ss/w:rd", "E", "K", "S")
    assert mc_host(endpoint) == "http://lab%20admin:p%40ss%2Fw%3Ard@127.0.0.1:9000"


def results(put: float, snowball: float, mc: float | None) -> list[Measured]:
    def one(method: str, seconds: float | None) -> Measured:
        return Measured(method, f"p/{method}", seconds=seconds, objects=1000 if seconds else 0)

    unmeasured = one("mc mirror", mc)
    if mc is None:
        unmeasured.unmeasured = "docker is not installed"
    return [one("seeder put", put), one("seeder snowball", snowball), unmeasured]


def test_report_says_met_or_missed_against_mc_mirror(capsys):
    checks = print_report(results(put=2.0, snowball=0.5, mc=2.9), 1000, 0.3)
    out = capsys.readouterr().out
    assert "target seeder put >= 2x mc mirror: 1.45x, MISSED" in out
    assert "target seeder snowball >= 2x mc mirror: 5.80x, met" in out
    assert "| seeder put | 1000 | 2.00 | 500 | 1.45x |" in out
    assert "| mc mirror | 1000 | 2.90 | 345 | 1.00x |" in out
    assert [(c["method"], c["met"]) for c in checks] == [("seeder put", False), ("seeder snowball", True)]
    json.dumps(checks)  # they go into the JSON as they are


def test_report_without_mc_mirror_says_why_in_one_line(capsys):
    checks = print_report(results(put=2.0, snowball=0.5, mc=None), 1000, 0.3)
    out = capsys.readouterr().out
    assert "mc mirror not measured: docker is not installed" in out
    assert "target seeder put >= 2x mc mirror: not measured" in out
    assert "| seeder put | 1000 | 2.00 | 500 | n/a |" in out
    assert all(c["met"] is None for c in checks)


def test_report_on_a_server_without_auto_extract_keeps_the_put_result(capsys):
    rows = results(put=2.0, snowball=0.5, mc=4.0)
    rows[1].seconds, rows[1].objects, rows[1].unmeasured = None, 0, "s3://b stored the snowball tar x ..."
    checks = print_report(rows, 1000, 0.3)
    out = capsys.readouterr().out
    assert "seeder snowball not measured: s3://b stored the snowball tar x ..." in out
    assert "target seeder put >= 2x mc mirror: 2.00x, met" in out
    assert "target seeder snowball >= 2x mc mirror: not measured" in out
    assert [c["met"] for c in checks] == [True, None]
