"""The server's small-GET ceiling: how many distinct small objects per second it serves at best.

Measured with ``wrk`` (Debian's package), not with Python: wrk is an event loop in C, so the
client costs the two shared cores almost nothing and the figure is the server's, not the GIL's.
Each connection GETs presigned URLs of many distinct objects in turn (raw bytes, no decoding);
the best of several connection counts is the ceiling every loader is compared with.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from labcore.errors import StoreError

CONNECTIONS = (1, 4, 16, 64)
# Distinct objects the probe cycles through: enough that no one object is hot, few enough to
# presign in a second or two.
MAX_KEYS = 5000

# Each wrk thread walks the list from its own offset, so threads do not GET the same object at once.
_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("LAB_WRK_PATHS")) do paths[#paths + 1] = line end
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end
local i = 0
function init(args)
  i = offset % #paths
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""

_RATE_RE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.M)
_BAD_RE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class Ceiling:
    """Small GETs per second at each connection count, and the best of them."""

    method: str
    objects: int
    seconds_each: float
    rates: dict[int, float] = field(default_factory=dict)
    unmeasured: str = ""  # why there is no ceiling (wrk missing, ...), else empty

    @property
    def best(self) -> float:
        return max(self.rates.values(), default=0.0)

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "objects": self.objects,
            "seconds_each": self.seconds_each,
            "requests_per_s": {str(c): r for c, r in self.rates.items()},
            "best_requests_per_s": self.best,
            "unmeasured": self.unmeasured,
        }


def parse_wrk(output: str) -> float:
    """Requests/s from wrk's report; ValueError if any request failed or the report has no rate."""
    bad = _BAD_RE.search(output)
    if bad:
        raise ValueError(f"{bad.group(1)} GETs were not answered 2xx: {output.strip().splitlines()[-1]}")
    errors = _ERRORS_RE.search(output)
    if errors and any(int(n) for n in errors.groups()):
        raise ValueError(f"socket errors ({errors.group(0)})")
    rate = _RATE_RE.search(output)
    if not rate:
        raise ValueError(f"no Requests/sec in wrk's output: {output.strip()[-300:]!r}")
    return float(rate.group(1))


def presigned_paths(client, bucket: str, keys: list[str], expires: timedelta) -> tuple[str, list[str]]:
    """``(base URL, [path?query, ...])``: one presigned GET per key, all on the same endpoint."""
    urls = [client.presigned_get_object(bucket, key, expires=expires) for key in keys]
    first = urlsplit(urls[0])
    base = f"{first.scheme}://{first.netloc}"
    paths = []
    for url in urls:
        part = urlsplit(url)
        paths.append(f"{part.path}?{part.query}")
    return base, paths


def measure_ceiling(
    client,
    bucket: str,
    keys: list[str],
    *,
    seconds: float = 5.0,
    connections: tuple[int, ...] = CONNECTIONS,
    log=print,
) -> Ceiling:
    """GET ``keys`` (presigned, in turn) with wrk at each connection count for ``seconds`` each.

    Without wrk the ceiling is reported as unmeasured, with the reason, rather than guessed.
    """
    wrk = shutil.which("wrk")
    chosen = keys[:MAX_KEYS]
    ceiling = Ceiling("wrk, presigned GETs of distinct objects", len(chosen), seconds)
    if wrk is None:
        ceiling.unmeasured = "wrk is not installed (Debian: apt-get install wrk)"
        return ceiling
    if not chosen:
        ceiling.unmeasured = "no objects to GET"
        return ceiling
    # Valid for the whole probe and a margin, nothing longer: the URLs are bearer tokens.
    total = seconds * len(connections)
    base, paths = presigned_paths(client, bucket, chosen, timedelta(seconds=int(total) + 300))
    with tempfile.TemporaryDirectory(prefix="lab-ceiling-") as tmp:
        script, listing = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        script.write_text(_SCRIPT)
        listing.write_text("\n".join(paths) + "\n")
        for count in connections:
            threads = min(2, count)
            done = subprocess.run(
                [wrk, f"-t{threads}", f"-c{count}", f"-d{seconds:g}s", "-s", str(script), base],
                capture_output=True,
                text=True,
                timeout=seconds + 60,
                env={"LAB_WRK_PATHS": str(listing), "PATH": "/usr/bin:/bin"},
            )
            if done.returncode != 0:
                raise StoreError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-300:]}")
            try:
                ceiling.rates[count] = parse_wrk(done.stdout)
            except ValueError as exc:
                raise StoreError(f"the ceiling probe at {count} connections failed: {exc}") from None
            log(f"bench: ceiling, {count:2d} connections: {ceiling.rates[count]:8.0f} GETs/s", flush=True)
    return ceiling
