"""The bench's verdicts and output: targets from the issue, the Markdown tables, the chart, the JSON.

Targets are ratios within one run on one machine; a missed target is printed as MISSED, never
hidden or re-based.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trainer.bench.ceiling import Ceiling
from trainer.bench.loaders import PER_OBJECT, parse_loader
from trainer.bench.training import TrainRun, mean_over_seeds

# Ratios of best samples/s (best worker count against best worker count), as
# (numerator, denominator, minimum). "per-object" is the best loader that GETs one object per
# sample, read-ahead included; "manual" stays the seed post's design, one GET at a time.
# A minimum of None is reported, not a target.
RATIO_TARGETS = (("shards", "local", 0.9), ("per-object", "manual", 3.0), ("shards", "s3iter", None))
CEILING_SHARE = 0.35  # best per-object loader >= 35% of the server's small-GET ceiling
MAX_DATA_WAIT = 0.05  # make train at defaults (the default loader) waits <= 5% of the epoch
MIN_ENTROPY_BITS = 3.1  # default streaming loader, mean of the seeds
MAX_ACCURACY_GAP = 0.005  # default streaming loader vs map, test accuracy after one epoch, mean of the seeds


@dataclass
class Check:
    """One target: its name, the measured value as text, and whether it was met (None: reported only)."""

    target: str
    value: float
    shown: str
    met: bool | None

    def line(self) -> str:
        verdict = "" if self.met is None else (", met" if self.met else ", MISSED")
        return f"target {self.target}: {self.shown}{verdict}"


def best_rates(rows: list[dict]) -> dict[str, float]:
    """Each loader's best median samples/s over worker counts, plus ``per-object``."""
    best: dict[str, float] = {}
    for row in rows:
        best[row["loader"]] = max(best.get(row["loader"], 0.0), row["samples_per_s_median"])
    per_object = [v for loader, v in best.items() if parse_loader(loader)[0] in PER_OBJECT]
    if per_object:
        best["per-object"] = max(per_object)
    return best


def loader_checks(rows: list[dict], ceiling: Ceiling | None) -> list[Check]:
    """The throughput targets: ratios between loaders, and the best per-object loader vs the ceiling."""
    best = best_rates(rows)
    checks = []
    for num, den, minimum in RATIO_TARGETS:
        if num in best and den in best and best[den] > 0:
            ratio = best[num] / best[den]
            name = f"{num} >= {minimum}x {den}" if minimum else f"{num} / {den} (reported)"
            checks.append(Check(name, ratio, f"{ratio:.2f}x", None if minimum is None else ratio >= minimum))
    if ceiling is not None and ceiling.best > 0 and "per-object" in best:
        share = best["per-object"] / ceiling.best
        checks.append(
            Check(
                f"per-object >= {CEILING_SHARE:.0%} of the server's small-GET ceiling",
                share,
                f"{share:.0%} ({best['per-object']:.0f} of {ceiling.best:.0f} GETs/s)",
                share >= CEILING_SHARE,
            )
        )
    return checks


def training_checks(runs: list[TrainRun], default_loader: str) -> list[Check]:
    """make train's data wait at defaults; the default loader's mixing and accuracy against map."""
    checks = []
    first = next((r for r in runs if r.loader == default_loader and r.seed == 0), None)
    if first is not None:
        checks.append(
            Check(
                f"make train at defaults ({default_loader}) waits for data <= {MAX_DATA_WAIT:.0%} of the epoch",
                first.data_wait,
                f"{first.data_wait:.1%} ({first.data_seconds:.1f} s of {first.seconds:.1f} s)",
                first.data_wait <= MAX_DATA_WAIT,
            )
        )
    seeds = len({r.seed for r in runs if r.loader == default_loader})
    entropy = mean_over_seeds(runs, default_loader, "label_entropy_bits")
    if entropy is not None:
        checks.append(
            Check(
                f"{default_loader} label entropy per batch >= {MIN_ENTROPY_BITS} bits (mean of {seeds} seeds)",
                entropy,
                f"{entropy:.2f} bits",
                entropy >= MIN_ENTROPY_BITS,
            )
        )
    mine, theirs = (mean_over_seeds(runs, loader, "test_accuracy") for loader in (default_loader, "map"))
    if mine is not None and theirs is not None and default_loader != "map":
        gap = theirs - mine
        checks.append(
            Check(
                f"{default_loader} test accuracy within {MAX_ACCURACY_GAP * 100:.1f} points of map "
                f"(mean of {seeds} seeds, one epoch)",
                gap,
                f"{mine:.2%} vs {theirs:.2%}, {abs(gap) * 100:.2f} points {'behind' if gap > 0 else 'ahead'}",
                gap <= MAX_ACCURACY_GAP,
            )
        )
    return checks


def print_tables(
    rows: list[dict], ceiling: Ceiling | None, runs: list[TrainRun], checks: list[Check]
) -> None:
    """The results as Markdown tables, then one line per target."""
    best = ceiling.best if ceiling is not None else 0.0
    print(
        "\n| loader | workers | samples/s median | samples/s min | of ceiling | MB/s | GET requests "
        "| label entropy/batch (bits) | peak RSS (MB) | CPU main/workers/others/idle |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        # GETs/s is samples/s only where a sample is an object: not for shards or local files.
        per_object = parse_loader(r["loader"])[0] in PER_OBJECT
        share = f"{r['samples_per_s_median'] / best:.0%}" if best and per_object else "n/a"
        print(
            f"| {r['loader']} | {r['workers']} | {r['samples_per_s_median']:.0f} | {r['samples_per_s_min']:.0f} | "
            f"{share} | {r['mb_per_s_median']:.1f} | {'n/a' if r['get_requests'] is None else r['get_requests']} | {r['label_entropy_bits']:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {cpu_text(r['cpu'])} |"
        )
    if ceiling is not None:
        if ceiling.unmeasured:
            print(f"\nceiling: not measured: {ceiling.unmeasured}")
        else:
            at = ", ".join(f"{c}: {r:.0f}" for c, r in ceiling.rates.items())
            print(
                f"\nceiling ({ceiling.method}, {ceiling.objects} objects): GETs/s by connections {at}; best {best:.0f}"
            )
    if runs:
        print("\n| training (1 epoch, defaults) | seed | samples/s | epoch (s) | first batch (start-up) "
              "| waiting for data (later batches) | test accuracy "
              "| label entropy/batch (bits) | CPU main/workers/others/idle |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in runs:
            print(
                f"| {r.loader} | {r.seed} | {r.samples_per_s:.0f} | {r.seconds:.1f} | "
                f"{r.startup_seconds:.1f} s ({r.startup_share:.1%}) | {r.data_wait:.1%} | "
                f"{r.test_accuracy:.2%} | {r.label_entropy_bits:.2f} | {cpu_text(r.cpu)} |"
            )
    print()
    for check in checks:
        print(check.line())


def cpu_text(shares: dict) -> str:
    """``"10/55/33/2%"``: the machine's CPU split main/workers/server and others/idle, in percent."""
    if not shares:
        return "n/a"
    return "/".join(f"{shares[k] * 100:.0f}" for k in ("main", "workers", "others", "idle")) + "%"


def chart(rows: list[dict], ceiling: Ceiling | None, path: Path) -> None:
    """Bars of median samples/s per loader and worker count, with the ceiling as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loaders = list(dict.fromkeys(r["loader"] for r in rows))
    workers = sorted({r["workers"] for r in rows})
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / len(workers)
    for j, w in enumerate(workers):
        values = [
            next((r["samples_per_s_median"] for r in rows if r["loader"] == lo and r["workers"] == w), 0)
            for lo in loaders
        ]
        ax.bar([i + j * width for i in range(len(loaders))], values, width, label=f"{w} workers")
    if ceiling is not None and ceiling.best:
        ax.axhline(
            ceiling.best, color="black", linestyle="--", label=f"server ceiling, {ceiling.best:.0f} GETs/s"
        )
    ax.set_xticks([i + width * (len(workers) - 1) / 2 for i in range(len(loaders))], loaders)
    ax.set_yscale("log")
    ax.set_ylabel("samples/s (median, log scale)")
    ax.set_title("Loader throughput from the object store, no model")
    save_chart(fig, ax, path)


def save_chart(fig, ax, path: Path) -> None:
    """Legend, layout, a PNG at ``path``, and the figure closed (matplotlib keeps figures otherwise)."""
    import matplotlib.pyplot as plt

    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(path: Path, report: dict) -> None:
    path.write_text(json.dumps(report, indent=2))
