"""One SigV4-signed HTTP request to a store's admin endpoint, for the APIs the MinIO SDK has no client for."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import urllib3
from minio.credentials import Credentials
from minio.signer import _sign_v4  # the SDK's own SigV4; its public wrappers fix the service to s3/sts

from labcore.clients import Endpoint


def signed_request(
    http: urllib3.PoolManager,
    endpoint: Endpoint,
    method: str,
    path: str,
    *,
    region: str,
    service: str = "s3",
    query: dict[str, str] | None = None,
    body: bytes = b"",
    content_type: str = "application/xml",
) -> urllib3.BaseHTTPResponse:
    """``method`` ``path`` on ``endpoint``, signed with its keys for ``service`` in ``region``."""
    qs = urlencode(sorted((query or {}).items()))
    url = urlsplit(f"{endpoint.url}{path}" + (f"?{qs}" if qs else ""))
    now = datetime.now(UTC)
    sha = hashlib.sha256(body).hexdigest()
    headers = {
        "Host": url.netloc,
        "Content-Type": content_type,
        "x-amz-content-sha256": sha,
        "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
    }
    headers = _sign_v4(
        service_name=service, method=method, url=url, region=region, headers=headers,
        credentials=Credentials(endpoint.access_key, endpoint.secret_key), content_sha256=sha, date=now,
    )  # fmt: skip
    return http.request(method, url.geturl(), body=body, headers=headers)
