"""What the size sweep found: a table, the issue's three ratios, and one chart of MB/s against size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainer.bench.sizes import Point
from trainer.bench.verdicts import cpu_text, save_chart

# The targets the sweep reports against, met or not (issue 23).
CEILING_SHARE = 0.70  # best per-object loader / server ceiling, in MB/s, at 128 KB and above
CEILING_FROM = 128 << 10
SHARDS_OVER_LOCAL = 0.90  # shards / local disk, at every size
CROSSOVER_SHARE = 0.80  # per-object reaches this share of shards at the crossover size


@dataclass(frozen=True)
class Ratio:
    """One ratio of the sweep against its target: ``value`` is None where a side was not measured."""

    what: str
    size: str
    value: float | None
    target: float

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value >= self.target

    def line(self) -> str:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[self.met]
        value = "n/a" if self.value is None else f"{self.value:.2f}"
        return f"{self.what} at {self.size}: {value} (target >= {self.target:.2f}): {verdict}"


def _share(top: float | None, bottom: float | None) -> float | None:
    return None if not top or not bottom else top / bottom


def ratios(points: list[Point]) -> list[Ratio]:
    """Per size: best per-object loader / ceiling (from 128 KB) and shards / local disk."""
    found = []
    for point in points:
        best = point.best_per_object()
        if point.size >= CEILING_FROM:
            found.append(
                Ratio(
                    "best per-object loader / server ceiling (MB/s)",
                    point.label,
                    _share(best and best[1], point.ceiling_mb_per_s),
                    CEILING_SHARE,
                )
            )
        found.append(
            Ratio(
                "shards / local disk (MB/s)",
                point.label,
                _share(point.mb_per_s("shards"), point.mb_per_s("local")),
                SHARDS_OVER_LOCAL,
            )
        )
    return found


def crossover(points: list[Point]) -> str:
    """The smallest size at which the best per-object loader reaches 80% of shards, in words
    (over the fixed sizes: the ImageNet-like point decodes, so it is no point of that curve)."""
    points = [p for p in points if not p.profile]
    measured = False
    for point in points:
        best = point.best_per_object()
        share = _share(best and best[1], point.mb_per_s("shards"))
        if share is None:
            continue
        measured = True
        if share >= CROSSOVER_SHARE:
            return f"{point.label} ({best[0]} at {share:.0%} of shards)"
    if not measured:
        return "not measured (needs shards and a per-object loader)"
    return f"not reached up to {points[-1].label}: shards stay ahead by more than {1 - CROSSOVER_SHARE:.0%}"


def table(points: list[Point]) -> str:
    """A Markdown table: MB/s and objects/s per loader and size, with the ceiling and the checks."""
    loaders = list(dict.fromkeys(r["loader"] for p in points for r in p.rows))
    head = "| size | objects | " + " | ".join(loaders) + " | server ceiling | every key once, all bytes |"
    lines = [head, "|" + " --- |" * (len(loaders) + 4)]
    for point in points:
        cells = []
        for loader in loaders:
            row = point.row(loader)
            cells.append(
                "n/a"
                if row is None
                else f"{row['mb_per_s_median']:.1f} MB/s, {row['samples_per_s_median']:.0f}/s"
            )
        ceiling = point.ceiling_mb_per_s
        ceiling_text = "n/a" if ceiling is None else f"{ceiling:.1f} MB/s, {point.ceiling_gets_per_s:.0f}/s"
        checked = "yes" if not point.wrong else "NO: " + "; ".join(point.wrong)
        lines.append(
            f"| {point.label} | {point.count} | " + " | ".join(cells) + f" | {ceiling_text} | {checked} |"
        )
    return "\n".join(lines)


def knobs_table(points: list[Point]) -> str:
    """The connector's knobs at the size they were tried: MB/s per loader, defaults first; "" if none."""
    point = next((p for p in points if p.knobs), None)
    if point is None:
        return ""
    knobs = list(dict.fromkeys(row["knob"] for row in point.knobs))
    lines = [
        f"connector knobs at {point.label} (MB/s, and GETs the server counted):",
        "| loader | defaults (sequential reader, 8 MB parts) | " + " | ".join(knobs) + " |",
        "|" + " --- |" * (len(knobs) + 2),
    ]

    def cell(row: dict | None) -> str:
        if row is None:
            return "n/a"
        gets = "" if row["get_requests"] is None else f", {row['get_requests']} GETs"
        return f"{row['mb_per_s_median']:.1f}{gets}"

    for loader in dict.fromkeys(row["loader"] for row in point.knobs):
        base = point.row(loader)
        turned = [
            next((r for r in point.knobs if r["loader"] == loader and r["knob"] == k), None) for k in knobs
        ]
        lines.append(f"| {loader} | {cell(base)} | " + " | ".join(cell(r) for r in turned) + " |")
    return "\n".join(lines)


def decode_table(points: list[Point]) -> str:
    """The ImageNet-like point: each loader's rate with decoding and the CPU split; "" if none."""
    point = next((p for p in points if p.profile), None)
    if point is None:
        return ""
    lines = [
        f"{point.label}, decoded to 224x224 ({point.count} objects; decoding alone "
        + ("n/a" if point.decode_ms is None else f"{point.decode_ms:.1f} ms per object on one core")
        + "):",
        "| loader | objects/s | MB/s | CPU main/workers/server and others/idle |",
        "| --- | ---: | ---: | --- |",
    ]
    for row in point.rows:
        lines.append(
            f"| {row['loader']} | {row['samples_per_s_median']:.0f} | {row['mb_per_s_median']:.1f} "
            f"| {cpu_text(row['cpu'])} |"
        )
    return "\n".join(lines)


def chart(points: list[Point], path: Path, title: str) -> None:
    """MB/s against object size (log-log), one line per loader, the server's ceiling dashed; the
    ImageNet-like point (decoded) as stars at its mean size, in each loader's colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiled = [p for p in points if p.profile]
    points = [p for p in points if not p.profile]
    sizes = [p.size for p in points]
    loaders = list(dict.fromkeys(r["loader"] for p in points + profiled for r in p.rows))
    fig, ax = plt.subplots(figsize=(9, 5.2))
    for loader in loaders:
        values = [p.mb_per_s(loader) for p in points]
        style = {"local": ":", "shards": "-"}.get(loader, "-")
        (line,) = ax.plot(
            sizes, values, style, marker="o", label=loader, linewidth=2.2 if loader == "shards" else 1.4
        )
        for point in profiled:
            ax.plot([point.size], [point.mb_per_s(loader)], "*", color=line.get_color(), markersize=11)
    ceiling = [p.ceiling_mb_per_s for p in points]
    if any(ceiling):
        ax.plot(sizes, ceiling, "k--", marker="x", label="server ceiling (wrk, presigned GETs)")
    for point in profiled:
        ax.plot([], [], "k*", markersize=11, label=f"{point.label}, decoded")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [p.label for p in points])
    ax.set_xlabel("object size")
    ax.set_ylabel("MB/s (median, log scale)")
    ax.set_title(title)
    save_chart(fig, ax, path)
