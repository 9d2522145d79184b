"""Building the MinIO SDK client, and turning its failures into one-line messages."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioAdminException, S3Error, ServerError

from labcore.errors import ConfigError, DataError, LabError, StoreError
from labcore.settings import Settings
from labcore.stores import STORES

# minio-py's default pool waits 300 s and retries 5 times, which turns a typo in the endpoint
# into minutes of silence; a lab wants the error in seconds.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


Convention = Literal["minio", "s3"]


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom the SDK connects, and which variables said so (for messages)."""

    host_port: str
    secure: bool
    access_key: str
    secret_key: str
    endpoint_var: str
    key_var: str
    secret_var: str
    server: str = "MinIO"  # the store's name, for messages (labcore.stores)

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host_port}"


def sdk_endpoint(settings: Settings, convention: Convention = "minio") -> Endpoint:
    """The SDK endpoint from the ``MINIO_*`` variables (seeder) or the ``AWS_*`` ones (trainer).

    The trainer lists and writes with the SDK under the same credentials the S3 connector uses,
    so one set of keys, with one policy, covers everything it does.
    """
    if convention == "minio":
        return Endpoint(
            settings.minio_endpoint,
            settings.minio_secure,
            settings.minio_access_key,
            settings.minio_secret_key,
            "MINIO_ENDPOINT",
            *settings.admin_key_vars,
            STORES[settings.store].title,
        )
    parts = urlsplit(settings.aws_endpoint_url)
    return Endpoint(
        parts.netloc,
        parts.scheme == "https",
        settings.aws_access_key_id,
        settings.aws_secret_access_key,
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        STORES[settings.store].title,
    )


def trusted_cas() -> str:
    """The CA file for HTTPS: ``SSL_CERT_FILE`` when set, else certifi's.

    An extra CA (a corporate proxy, the lab's own for ``TLS=1``) reaches both the SDK and the S3
    Connector for PyTorch through ``SSL_CERT_FILE``: the connector has no TLS option, but its CRT
    client reads that variable. A path that is not a file is refused here, in one line, rather
    than as a TLS failure later.
    """
    path = os.environ.get("SSL_CERT_FILE")
    if not path:
        return certifi.where()
    if not os.path.isfile(path):
        raise ConfigError(
            f"SSL_CERT_FILE={path} is not a file: give a PEM file of CA certificates, or unset it"
        )
    return path


def http_pool(pool_size: int = 16) -> urllib3.PoolManager:
    """The HTTP pool every SDK client (S3 and admin) uses: short timeouts, a few quick retries."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        maxsize=pool_size,
        cert_reqs="CERT_REQUIRED",
        ca_certs=trusted_cas(),
        # 499: what a MinIO node answers to the requests it is serving when it shuts down (a node
        # lost from the cluster); another node, or the same one restarted, can serve them.
        # Retry-After is not honoured: MinIO sends 120 s with SlowDown and quorum errors, and three
        # such sleeps (6 minutes) would outlast every deadline of the lab. The backoff bounds a
        # call at 1.4 s of sleep plus its timeouts.
        retries=urllib3.Retry(
            total=3,
            connect=2,
            read=2,
            backoff_factor=0.2,
            status_forcelist=(499, 500, 502, 503, 504),
            respect_retry_after_header=False,
        ),
    )


def minio_client(settings: Settings, *, convention: Convention = "minio", pool_size: int = 16) -> Minio:
    """A MinIO SDK client with short timeouts and a few quick retries."""
    endpoint = sdk_endpoint(settings, convention)
    return Minio(
        endpoint.host_port,
        access_key=endpoint.access_key,
        secret_key=endpoint.secret_key,
        secure=endpoint.secure,
        # A fixed region skips the GetBucketLocation round trip before the first request.
        region=settings.aws_region,
        http_client=http_pool(pool_size),
    )


def describe_failure(exc: BaseException, endpoint: Endpoint) -> LabError:
    """The one-line explanation of a failed request to the store through the SDK."""
    where = f"{endpoint.server} at {endpoint.url} ({endpoint.endpoint_var})"
    key = f"{endpoint.key_var}={endpoint.access_key!r}"
    if isinstance(exc, S3Error):
        if exc.code == "InvalidAccessKeyId":
            return ConfigError(
                f"{where} does not know {key}: set {endpoint.key_var} and {endpoint.secret_var} to "
                "credentials of that server (.env)"
            )
        if exc.code == "SignatureDoesNotMatch":
            return ConfigError(
                f"{where} rejected {endpoint.secret_var} for {key}: set the matching secret in .env"
            )
        if exc.code == "AccessDenied":
            return ConfigError(
                f"{where} denied {exc.resource or 'the request'} to {key}: use keys whose policy allows it"
            )
        if exc.code == "AuthorizationHeaderMalformed" or "region" in (exc.message or "").lower():
            return ConfigError(
                f"{where} refused the region: {exc.message} Set AWS_REGION to the server's region"
            )
        if exc.code == "NoSuchBucket":
            return ConfigError(
                f"bucket {exc.bucket_name!r} does not exist at {where}: check BUCKET, or seed it first (make up)"
            )
        return StoreError(f"{where} refused {exc.resource or 'a request'}: {exc.code}: {exc.message}")
    if isinstance(exc, MinioAdminException):
        return StoreError(f"the admin API of {where} refused a request for {key}: {exc}")
    if isinstance(exc, (InvalidResponseError, ServerError)):
        return StoreError(f"{where} did not answer like an S3 server ({str(exc).splitlines()[0]})")
    if isinstance(exc, urllib3.exceptions.SSLError) or "SSL" in type(getattr(exc, "reason", None)).__name__:
        plain = (
            "MINIO_SECURE=false"
            if endpoint.endpoint_var == "MINIO_ENDPOINT"
            else f"an http:// {endpoint.endpoint_var}"
        )
        return ConfigError(
            f"TLS with {where} failed: use {plain} for a plain-HTTP server, or give the CA that signed "
            "its certificate in SSL_CERT_FILE (TLS=1 does: docs/configuration.md#https)"
        )
    if isinstance(getattr(exc, "reason", None), urllib3.exceptions.ResponseError):
        # The pool's retries ran out on 5xx answers: the server is up but will not serve.
        return StoreError(
            f"{where} answered every attempt with an error ({exc.reason}): it is overloaded, "
            "starting, or has lost quorum; try again when it answers"
        )
    if isinstance(exc, urllib3.exceptions.HTTPError):
        reason = getattr(exc, "reason", None) or exc
        text = str(reason).split(": ", 1)[-1]
        return StoreError(f"cannot reach {where}: {text}; is it running? (make up)")
    return StoreError(f"request to {where} failed: {exc}")


@contextlib.contextmanager
def store_errors(settings: Settings, convention: Convention = "minio") -> Iterator[None]:
    """Translate SDK and HTTP failures raised inside the block into :class:`LabError`."""
    try:
        yield
    except LabError:
        raise
    except (
        S3Error,
        InvalidResponseError,
        ServerError,
        MinioAdminException,
        urllib3.exceptions.HTTPError,
    ) as exc:
        raise describe_failure(exc, sdk_endpoint(settings, convention)) from None


def check_access(client: Minio, settings: Settings) -> None:
    """Fail fast, with a one-line reason, when MinIO is unreachable or refuses the credentials.

    ``list_buckets`` is a GET, so bad keys come back as InvalidAccessKeyId or
    SignatureDoesNotMatch; a HEAD request would only say 403.
    """
    with store_errors(settings):
        client.list_buckets()


@contextlib.contextmanager
def opened(client: Minio, bucket: str, key: str) -> Iterator[urllib3.BaseHTTPResponse]:
    """The SDK's response to a GET of ``key``, closed and its connection given back to the pool
    afterwards (minio-py leaves both to the caller; a connection not given back is lost to it)."""
    response = client.get_object(bucket, key)
    try:
        yield response
    finally:
        response.close()
        response.release_conn()


def read_json(client: Minio, bucket: str, key: str) -> dict | None:
    """The JSON object at ``key``, or ``None`` when there is no such object.

    ``DataError`` when the object is not a JSON object (truncated, edited by hand, something else).
    """
    try:
        with opened(client, bucket, key) as response:
            body = response.read()
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            return None
        raise
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise DataError(f"s3://{bucket}/{key} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise DataError(f"s3://{bucket}/{key} is not a JSON object")
    return value
