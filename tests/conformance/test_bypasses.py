"""MinIO's 2026 write bypasses (CVE-2026-41145, CVE-2026-40344), probed on every store.

Each probe first sends its correctly signed twin (the positive control): only a store that accepts
the signed request can show that it refuses the forged one, since a 400 for a body it cannot parse
is no refusal. The result goes into the matrix for every store; only MinIO (the lab's patched
build) is held to it, the others are recorded as they answer.
"""

from __future__ import annotations

import pytest
from minio.error import S3Error

from tests.s3probes import (
    HEADER_FORGED,
    HEADER_SIGNED,
    QUERY_FORGED,
    Target,
    one_file_tar,
    send,
    snowball_put,
    unsigned_trailer_put,
)

PAYLOAD = b"conformance probe"


def targets(store) -> tuple[Target, Target]:
    """The admin keys with their secret (control) and without it (attack)."""
    url = f"http://{store.endpoint}"
    return Target(url, "us-east-1", store.access_key, store.secret_key), Target(
        url, "us-east-1", store.access_key
    )


def exists(store, bucket: str, key: str) -> bool:
    try:
        store.client().stat_object(bucket, key)
    except S3Error:
        return False
    return True


def refused_or_recorded(store, what: str, accepted: list[str]) -> None:
    """Hold MinIO to refusing; record another store that accepts as the known gap it is."""
    if not accepted:
        return
    if store.name == "minio":
        pytest.fail(f"{what} accepted: {'; '.join(accepted)}")
    pytest.xfail(f"accepted: {what} ({'; '.join(accepted)})")


@pytest.mark.capability("refuses unsigned-trailer PUT, unsigned query credentials (CVE-2026-41145)")
def test_unsigned_trailer_put_with_forged_query_credentials(store, bucket):
    signed, forged = targets(store)
    # The same body and headers, correctly signed in the header: the store takes this shape.
    control = unsigned_trailer_put(signed, bucket, "control.txt", PAYLOAD, HEADER_SIGNED)
    if control.status != 200 or not exists(store, bucket, "control.txt"):
        pytest.xfail(f"not offered: the correctly signed unsigned-trailer PUT got {control}")

    attack = unsigned_trailer_put(forged, bucket, "forged.txt", PAYLOAD, QUERY_FORGED)
    written = exists(store, bucket, "forged.txt")

    assert attack.status >= 400 or written, f"an answer of {attack} with no object is neither"
    refused_or_recorded(
        store, "a PUT with zero-signature query credentials", [f"{attack}"] if written else []
    )


@pytest.mark.capability("refuses snowball with a forged signature (CVE-2026-40344)")
def test_snowball_with_a_forged_signature(store, bucket):
    signed, forged = targets(store)
    # The control is the plain signed-payload shape every snowball client sends (the SDK's).
    tar = one_file_tar("control/one.txt", PAYLOAD)
    headers = {"X-Amz-Meta-Snowball-Auto-Extract": "true"}
    control = send(signed, "PUT", bucket, "control.tar", body=tar, headers=headers, auth=HEADER_SIGNED)
    if control.status != 200 or not exists(store, bucket, "control/one.txt"):
        pytest.xfail(
            f"not offered: the correctly signed auto-extract upload got {control} and extracted nothing"
        )

    accepted = []
    for auth in (HEADER_FORGED, QUERY_FORGED):
        member = f"forged-{auth}/one.txt"
        answer = snowball_put(forged, bucket, member, PAYLOAD, auth)
        if exists(store, bucket, member):
            accepted.append(f"{auth}: {answer}, extracted")
    refused_or_recorded(store, "a snowball tar with a forged signature", accepted)
