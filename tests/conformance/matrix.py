"""The compatibility matrix from the conformance run: store x capability, as JSON and Markdown."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from labcore.stores import STORES


def write_matrix(out: Path, outcomes: dict[tuple[str, str], dict], extra: dict[str, dict]) -> None:
    """``out/compat.json`` and ``out/compat.md``: every outcome, with the error of each failure."""
    out.mkdir(parents=True, exist_ok=True)
    stores = list(dict.fromkeys(store for store, _ in outcomes))
    capabilities = list(dict.fromkeys(cap for _, cap in outcomes))
    report = {
        "made": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()}, {platform.system()}",
        "stores": {
            store: {
                "source": STORES[store].source,
                **extra.get(store, {}),
                "capabilities": {
                    cap: outcomes[(store, cap)] for cap in capabilities if (store, cap) in outcomes
                },
            }
            for store in stores
        },
    }
    (out / "compat.json").write_text(json.dumps(report, indent=2))
    lines = [
        "| capability | " + " | ".join(STORES[s].title for s in stores) + " |",
        "| --- |" + " :---: |" * len(stores),
    ]
    notes = []
    for cap in capabilities:
        cells = []
        for store in stores:
            outcome = outcomes.get((store, cap))
            if outcome is None:
                cells.append("not run")
            elif outcome["status"] == "pass":
                cells.append("pass")
            else:
                notes.append(f"- **{STORES[store].title}, {cap}**: {outcome['detail']}")
                cells.append(f"{outcome['status']} [{len(notes)}]")
        lines.append(f"| {cap} | " + " | ".join(cells) + " |")
    rates = {s: extra.get(s, {}).get("throughput_samples_per_s") for s in stores}
    if any(rates.values()):
        loaders = list(dict.fromkeys(lo for r in rates.values() if r for lo in r))
        for loader in loaders:
            cells = [str((rates[s] or {}).get(loader, "n/a")) for s in stores]
            lines.append(f"| samples/s, {loader}, 2 workers | " + " | ".join(cells) + " |")
    sizes = {s: extra.get(s, {}).get("sizes") for s in stores}
    for label in dict.fromkeys(size for found in sizes.values() if found for size in found):
        for loader in dict.fromkeys(lo for found in sizes.values() if found for lo in found.get(label, {})):
            cells = []
            for s in stores:
                rate = ((sizes[s] or {}).get(label) or {}).get(loader)
                cells.append("n/a" if rate is None else f"{rate[0]}/s, {rate[1]} MB/s")
            lines.append(f"| {label} objects, {loader}, 2 workers | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n".join(f"{i}. {n[2:]}" for i, n in enumerate(notes, 1)) + "\n"
    (out / "compat.md").write_text(text)
