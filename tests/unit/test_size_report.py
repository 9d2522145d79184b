"""The size sweep's verdicts from its points (issue 23): ratios, crossover, table, checks."""

from __future__ import annotations

from labcore.synthetic import SyntheticSpec
from trainer.bench.size_report import chart, crossover, decode_table, ratios, table
from trainer.bench.sizes import Point, SweepPlan, check_pass, spec_bytes


def point(size: int, ceiling: float | None, **mb: float) -> Point:
    rows = [
        {"loader": name, "mb_per_s_median": rate, "samples_per_s_median": rate * 1e6 / size}
        for name, rate in mb.items()
    ]
    return Point(size, 100, f"bench-sizes/{size}", rows, ceiling)


def test_ratios_compare_the_best_per_object_loader_with_the_ceiling_from_128_kb():
    points = [
        point(1024, 1000.0, s3iter=0.5, map=0.3, shards=5.0, local=6.0),
        point(128 << 10, 200.0, **{"s3iter@8": 20.0, "map": 10.0, "shards": 25.0, "local": 25.0}),
    ]
    found = {(r.what.split(" /")[0], r.size): r for r in ratios(points)}
    assert set(found) == {("shards", "1 KB"), ("shards", "128 KB"), ("best per-object loader", "128 KB")}
    ceiling = found["best per-object loader", "128 KB"]
    # 200 GETs/s of 128 KB objects is 26.2 MB/s; s3iter@8's 20 MB/s is 0.76 of it.
    assert round(ceiling.value, 2) == 0.76 and ceiling.met
    assert found["shards", "1 KB"].met is False and found["shards", "128 KB"].met is True
    assert "NOT met" in found["shards", "1 KB"].line()


def test_the_crossover_is_the_first_size_where_per_object_reaches_80_percent_of_shards():
    small = point(1024, None, s3iter=1.0, shards=10.0)
    middle = point(16 << 10, None, s3iter=7.0, manual=8.5, shards=10.0)
    large = point(1 << 20, None, s3iter=9.9, shards=10.0)
    assert crossover([small, middle, large]) == "16 KB (manual at 85% of shards)"
    assert crossover([small]).startswith("not reached up to 1 KB")
    assert crossover([point(1024, None, local=1.0)]).startswith("not measured")


def test_a_ratio_not_measured_says_so():
    found = ratios([point(1 << 20, None, s3iter=5.0)])
    assert [r.met for r in found] == [None, None]
    assert all(r.line().endswith("not measured") for r in found)


def test_the_table_shows_each_loader_the_ceiling_and_the_checks():
    good = point(1024, 500.0, s3iter=0.5, shards=2.0)
    bad = point(2048, None, s3iter=1.0)
    bad.wrong.append("s3iter: 99 samples of 99 distinct keys, not 100")
    text = table([good, bad]).splitlines()
    assert text[0] == "| size | objects | s3iter | shards | server ceiling | every key once, all bytes |"
    assert text[2] == "| 1 KB | 100 | 0.5 MB/s, 488/s | 2.0 MB/s, 1953/s | 0.5 MB/s, 500/s | yes |"
    assert text[3].endswith("| n/a | n/a | NO: s3iter: 99 samples of 99 distinct keys, not 100 |")


def test_a_pass_is_checked_for_every_key_once_and_every_byte():
    row = {"samples": 100, "distinct": 100, "object_bytes": 102400, "unusable": 0}
    assert check_pass(row, 100, 102400) == ""
    assert check_pass({**row, "distinct": 99}, 100, 102400) == "100 samples of 99 distinct keys, not 100"
    assert check_pass({**row, "object_bytes": 5}, 100, 102400) == "5 bytes, not 102400"
    assert check_pass({**row, "unusable": 2}, 100, 102400) == "2 objects did not decode"


def test_counts_read_a_similar_number_of_bytes_and_batches_stay_under_16_mb():
    plan = SweepPlan(sizes=(1024, 1 << 20), bytes_per_point=32 << 20, min_objects=256)
    assert [plan.count(s) for s in (1024, 16 << 10, 128 << 10, 1 << 20)] == [32768, 2048, 256, 256]
    # The defaults: 512 MB per size, but never more than 32,768 objects (1 KB ones would be 524,288).
    plan = SweepPlan(sizes=(1024,))
    assert [plan.count(s) for s in (1024, 16 << 10, 128 << 10, 1 << 20)] == [32768, 32768, 4096, 512]
    assert [plan.batch(s) for s in (1024, 128 << 10, 1 << 20, 64 << 20)] == [256, 128, 16, 1]


def test_the_imagenet_like_point_has_its_own_table_and_stays_off_the_size_curve(tmp_path):
    sizes = [point(1024, None, s3iter=1.0, shards=10.0), point(1 << 20, 100.0, s3iter=9.9, shards=10.0)]
    jpegs = point(111_000, 900.0, s3iter=40.0, shards=60.0)
    jpegs.profile, jpegs.decode_ms = "imagenet", 6.25
    jpegs.rows[0]["cpu"], jpegs.rows[1]["cpu"] = (
        {"main": 0.05, "workers": 0.7, "others": 0.2, "idle": 0.05},
        {},
    )
    assert jpegs.label == "ImageNet-like JPEG (mean 108 KB)"
    # Decoded JPEGs are no point of the raw curve: the crossover is the fixed sizes'.
    assert crossover([*sizes, jpegs]) == crossover(sizes) == "1 MB (s3iter at 99% of shards)"
    lines = decode_table([*sizes, jpegs]).splitlines()
    assert lines[0] == (
        "ImageNet-like JPEG (mean 108 KB), decoded to 224x224 (100 objects; decoding alone 6.2 ms per object on one core):"
    )
    assert lines[3:] == ["| s3iter | 360 | 40.0 | 5/70/20/5% |", "| shards | 541 | 60.0 | n/a |"]
    assert decode_table(sizes) == ""
    chart([*sizes, jpegs], tmp_path / "sizes.png", "sweep")
    assert (tmp_path / "sizes.png").read_bytes()[:4] == b"\x89PNG"


def test_a_pass_must_read_the_bytes_the_spec_makes_not_what_the_bucket_lists():
    assert spec_bytes(SyntheticSpec(40, 1024)) == 40 * 1024
    jpegs = SyntheticSpec(5, None, labels=1000)
    assert spec_bytes(jpegs) == sum(len(jpegs.split("train").encoded(i)[1]) for i in range(5))
