"""Reading MinIO's own request counters, so benchmarks report what the server actually served.

Only MinIO keeps them (``Store.request_metrics``): ``get_counter`` is None on the other stores.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Callable

from labcore.clients import sdk_endpoint, store_errors
from labcore.settings import Settings
from labcore.stores import STORES

_SAMPLE_RE = re.compile(
    r'^minio_api_requests_total\{name="(?P<api>[A-Za-z0-9]+)"[^}]*\}\s+(?P<value>[0-9.e+]+)$'
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def prometheus_token(access_key: str, secret_key: str, ttl: int = 3600) -> str:
    """The bearer token ``mc admin prometheus generate`` makes: an HS512 JWT signed with the secret."""
    header = _b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode())
    claims = _b64(
        json.dumps({"exp": int(time.time()) + ttl, "sub": access_key, "iss": "prometheus"}).encode()
    )
    signature = hmac.new(secret_key.encode(), f"{header}.{claims}".encode(), hashlib.sha512).digest()
    return f"{header}.{claims}.{_b64(signature)}"


def request_counts(url: str, access_key: str, secret_key: str, timeout: float = 10.0) -> Counter:
    """S3 requests served so far by the node at ``url`` (``http://host:port``), by API name.

    Metrics v3: the v2 node counters are refreshed on a cache interval, too late for a benchmark
    that reads them right after each run.
    """
    request = urllib.request.Request(
        url.rstrip("/") + "/minio/metrics/v3/api/requests",
        headers={"Authorization": f"Bearer {prometheus_token(access_key, secret_key)}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    counts: Counter = Counter()
    for line in text.splitlines():
        match = _SAMPLE_RE.match(line)
        if match:
            counts[match["api"]] += int(float(match["value"]))
    return counts


def settled_counts(url: str, access_key: str, secret_key: str, attempts: int = 10) -> Counter:
    """:func:`request_counts` once it stops changing (at most ``attempts`` more readings, 0.2 s apart).

    MinIO counts a GET when its handler returns, a moment after the client has the last byte: a
    benchmark that reads the counters at once loses the last GETs on a busy machine.
    """
    now = request_counts(url, access_key, secret_key)
    for _ in range(attempts):
        time.sleep(0.2)
        again = request_counts(url, access_key, secret_key)
        if again == now:
            break
        now = again
    return now


def get_counter(settings: Settings) -> Callable[[], int] | None:
    """A function reading the GET requests the server has served so far, or None where it keeps no count."""
    if not STORES[settings.store].request_metrics:
        return None
    admin = sdk_endpoint(settings, "minio")

    def gets() -> int:
        with store_errors(settings, "minio"):
            return settled_counts(admin.url, admin.access_key, admin.secret_key)["GetObject"]

    return gets
