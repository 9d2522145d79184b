"""Building the MinIO SDK client, and turning its failures into one-line messages."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from labcore.errors import ConfigError, LabError, StoreError
from labcore.settings import Settings

# minio-py's default pool waits 300 s and retries 5 times, which turns a typo in the endpoint
# into minutes of silence; a lab wants the error in seconds.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


def minio_client(settings: Settings, *, pool_size: int = 16) -> Minio:
    """A MinIO SDK client for ``MINIO_ENDPOINT`` with short timeouts and a few quick retries."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        maxsize=pool_size,
        cert_reqs="CERT_REQUIRED",
        # An extra CA (corporate proxy, self-signed MinIO) reaches us through SSL_CERT_FILE.
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=3, connect=2, read=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
        ),
    )
    return Minio(
        settings.minio_endpoint,
        access_key=settings.minio_access_key,
        secret_key=settings.minio_secret_key,
        secure=settings.minio_secure,
        # A fixed region skips the GetBucketLocation round trip before the first request.
        region=settings.aws_region,
        http_client=http,
    )


def describe_failure(exc: BaseException, settings: Settings) -> LabError:
    """The one-line explanation of a failed request to MinIO through the SDK."""
    where = f"MinIO at {settings.minio_url} (MINIO_ENDPOINT)"
    if isinstance(exc, S3Error):
        if exc.code == "InvalidAccessKeyId":
            return ConfigError(
                f"{where} does not know MINIO_ACCESS_KEY={settings.minio_access_key!r}: set "
                "MINIO_ACCESS_KEY and MINIO_SECRET_KEY to credentials of that server (.env)"
            )
        if exc.code == "SignatureDoesNotMatch":
            return ConfigError(
                f"{where} rejected MINIO_SECRET_KEY for MINIO_ACCESS_KEY={settings.minio_access_key!r}: "
                "set the matching secret in .env"
            )
        if exc.code == "AccessDenied":
            return ConfigError(
                f"{where} denied {exc.resource or 'the request'} to MINIO_ACCESS_KEY="
                f"{settings.minio_access_key!r}: use keys whose policy allows it"
            )
        return StoreError(f"{where} refused {exc.resource or 'a request'}: {exc.code}: {exc.message}")
    if isinstance(exc, (InvalidResponseError, ServerError)):
        return StoreError(f"{where} did not answer like an S3 server ({str(exc).splitlines()[0]})")
    if isinstance(exc, urllib3.exceptions.SSLError) or "SSL" in type(getattr(exc, "reason", None)).__name__:
        return ConfigError(
            f"TLS with {where} failed: set MINIO_SECURE=false for a plain-HTTP server, or give its CA "
            "in SSL_CERT_FILE"
        )
    if isinstance(exc, urllib3.exceptions.HTTPError):
        reason = getattr(exc, "reason", None) or exc
        text = str(reason).split(": ", 1)[-1]
        return StoreError(f"cannot reach {where}: {text}; is it running? (make up)")
    return StoreError(f"request to {where} failed: {exc}")


@contextlib.contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """Translate SDK and HTTP failures raised inside the block into :class:`LabError`."""
    try:
        yield
    except LabError:
        raise
    except (S3Error, InvalidResponseError, ServerError, urllib3.exceptions.HTTPError) as exc:
        raise describe_failure(exc, settings) from None


def check_access(client: Minio, settings: Settings) -> None:
    """Fail fast, with a one-line reason, when MinIO is unreachable or refuses the credentials.

    ``list_buckets`` is a GET, so bad keys come back as InvalidAccessKeyId or
    SignatureDoesNotMatch; a HEAD request would only say 403.
    """
    with store_errors(settings):
        client.list_buckets()
