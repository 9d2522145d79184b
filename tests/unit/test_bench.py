"""The bench's arithmetic: wrk's report, the targets' verdicts, loader names."""

from __future__ import annotations

import pytest

from trainer.bench.ceiling import Ceiling, parse_wrk
from trainer.bench.loaders import default_loaders, parse_loader
from trainer.bench.training import TrainRun, run_plan
from trainer.bench.verdicts import best_rates, loader_checks, training_checks

WRK_OK = """Running 5s test @ http://127.0.0.1:9000
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.01ms  20.12ms   90.00%
    Req/Sec     3.70k   200.00     4.10k    70.00%
  37001 requests in 5.00s, 20.01MB read
Requests/sec:   7400.20
Transfer/sec:      4.00MB
"""


def test_parse_wrk_reads_the_rate():
    assert parse_wrk(WRK_OK) == pytest.approx(7400.20)


@pytest.mark.parametrize(
    "extra, why",
    [
        ("  Non-2xx or 3xx responses: 37001\n", "not answered 2xx"),
        ("  Socket errors: connect 0, read 3, write 0, timeout 0\n", "socket errors"),
    ],
)
def test_parse_wrk_refuses_a_run_with_failed_requests(extra, why):
    # A presigned URL that expired or a signature the server refuses would otherwise count as speed.
    with pytest.raises(ValueError, match=why):
        parse_wrk(WRK_OK.replace("Requests/sec", extra + "Requests/sec"))


def test_parse_wrk_without_a_rate_is_an_error():
    with pytest.raises(ValueError, match="no Requests/sec"):
        parse_wrk("unable to connect to 127.0.0.1:9000 Connection refused\n")


def row(loader: str, workers: int, rate: float) -> dict:
    return {"loader": loader, "workers": workers, "samples_per_s_median": rate}


def test_best_rates_take_the_best_worker_count_and_per_object_spans_read_ahead():
    rows = [row("manual", 0, 300), row("manual", 2, 900), row("s3iter@8", 2, 2000), row("shards", 2, 9000)]
    best = best_rates(rows)
    assert best["manual"] == 900
    assert best["per-object"] == 2000  # shards hold many samples per object: not per-object


def test_loader_checks_compare_against_the_ceiling_and_report_misses():
    rows = [row("manual", 2, 900), row("s3iter", 2, 1000), row("s3iter@8", 2, 2000), row("shards", 2, 9000)]
    rows.append(row("local", 2, 10000))
    ceiling = Ceiling("wrk", 100, 5.0, rates={1: 2500, 16: 8000})
    checks = {c.target: c for c in loader_checks(rows, ceiling)}
    assert checks["shards >= 0.9x local"].met is True
    assert checks["per-object >= 3.0x manual"].met is False  # 2.22x
    assert checks["shards / s3iter (reported)"].met is None
    share = checks["per-object >= 35% of the server's small-GET ceiling"]
    assert share.value == pytest.approx(0.25) and share.met is False
    assert "MISSED" in share.line()


def test_no_ceiling_no_ceiling_target():
    rows = [row("manual", 2, 900)]
    unmeasured = Ceiling("wrk", 0, 5.0, unmeasured="wrk is not installed")
    assert not [c for c in loader_checks(rows, unmeasured) if "ceiling" in c.target]


def run(loader, seed, accuracy, entropy=3.25, seconds=100.0, waiting=3.0):
    return TrainRun(loader, seed, f"r-{loader}-{seed}", 60000, seconds, waiting, accuracy, entropy)


def test_training_checks_use_seed_zero_for_the_wait_and_every_seed_for_accuracy():
    runs = [
        run("s3iter", 0, 0.880, waiting=6.0),
        run("map", 0, 0.885),
        run("s3iter", 1, 0.884, entropy=3.0),
        run("map", 1, 0.886),
    ]
    checks = {c.target.split(" (")[0]: c for c in training_checks(runs, "s3iter")}
    wait = checks["make train at defaults"]
    assert wait.value == pytest.approx(0.06) and wait.met is False
    entropy = checks["s3iter label entropy per batch >= 3.1 bits"]
    assert entropy.value == pytest.approx(3.125) and entropy.met is True
    accuracy = checks["s3iter test accuracy within 0.5 points of map"]
    assert accuracy.value == pytest.approx(0.0035) and accuracy.met is True


def test_loader_names():
    assert parse_loader("s3iter@8") == ("s3iter", 8) and parse_loader("map") == ("map", 1)
    for bad in ("map@8", "s3iter@x", "disk"):
        with pytest.raises(ValueError):
            parse_loader(bad)
    assert default_loaders(8) == [
        "manual",
        "manual@8",
        "s3iter",
        "s3iter@8",
        "s3prefix",
        "map",
        "shards",
        "local",
    ]


def test_every_loader_trains_seed_zero_then_the_compared_loaders_take_more_seeds():
    plan = run_plan(["manual", "s3iter", "map"], 3, ("s3iter", "map"))
    assert plan == [
        ("manual", 0),
        ("s3iter", 0),
        ("map", 0),
        ("s3iter", 1),
        ("map", 1),
        ("s3iter", 2),
        ("map", 2),
    ]
    assert run_plan(["shards"], 3, ("s3iter", "map")) == [("shards", 0)]


def test_the_training_table_shows_the_first_batch_apart_from_waiting_for_data(capsys):
    from trainer.bench.verdicts import print_tables

    first = TrainRun("s3iter", 0, "r", 60000, 100.0, 3.0, 0.86, 3.25, {}, startup_seconds=1.5)
    print_tables([], None, [first], [])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| s3iter |"))
    assert "| 1.5 s (1.5%) | 3.0% |" in row
    assert first.row()["startup_share"] == pytest.approx(0.015)
