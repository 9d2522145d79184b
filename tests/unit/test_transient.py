"""trainer.transient: a GET the server dropped is asked for again; anything else fails at once.

The reader is the connector's own ``SequentialS3Reader``; only its stream factory is ours, so
the failure can come at a chosen moment (MinIO's 499 happens when a node stops mid-request).
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from s3torchconnector.s3reader import RangedS3Reader
from s3torchconnector.s3reader.sequential import SequentialS3Reader
from s3torchconnectorclient import S3Exception

from labcore.shards import member_key, member_name, write_shard
from trainer import transient
from trainer.datasets import OpenShard

DROPPED = S3Exception(
    "Client error: Unknown response error: MetaRequestResult { response_status: 499, crt_error: "
    'Error(14343, "aws-c-s3: AWS_ERROR_S3_INVALID_RESPONSE_STATUS, Invalid response status from request") }'
)
MISSING = S3Exception("Service error: The key does not exist")


def reader_failing(failures: list[Exception]) -> tuple[SequentialS3Reader, list[int]]:
    """A reader whose GETs fail with ``failures`` in turn (after one chunk), then succeed."""
    gets = []

    def stream():
        gets.append(1)
        yield b"\x89PNG"
        if len(gets) <= len(failures):
            raise failures[len(gets) - 1]
        yield b"-rest"

    return SequentialS3Reader("lab-data", "mnist/train/3/00001.png", lambda: None, stream), gets


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(transient.time, "sleep", lambda seconds: None)


def test_a_dropped_get_is_asked_again_and_only_whole_objects_come_back():
    reader, gets = reader_failing([DROPPED, DROPPED])
    assert transient.read_object(reader) == b"\x89PNG-rest"  # the chunk before the failure is not kept twice
    assert len(gets) == 3


def test_a_range_reader_asks_again_for_the_whole_object():
    """CONNECTOR_READER=range: the connector's range-based reader GETs byte ranges; a dropped one is
    asked for again from the first byte to the object's size."""
    body, asked = b"\x89PNG-rest", []

    def stream(start, end):
        asked.append((start, end))
        yield body[start : start + 4]
        if len(asked) == 1:
            raise DROPPED
        yield body[start + 4 : end]

    info = SimpleNamespace(size=len(body))
    reader = RangedS3Reader("lab-data", "mnist/train/3/00001.png", lambda: info, stream, buffer_size=0)
    assert transient.read_object(reader) == body
    assert asked == [(0, len(body)), (0, len(body))]


def test_the_attempts_are_bounded():
    reader, gets = reader_failing([DROPPED] * 10)
    with pytest.raises(S3Exception, match="response_status: 499"):
        transient.read_object(reader)
    assert len(gets) == transient.ATTEMPTS


def test_a_failure_another_get_would_repeat_is_raised_at_once():
    reader, gets = reader_failing([MISSING])
    with pytest.raises(S3Exception, match="does not exist"):
        transient.read_object(reader)
    assert len(gets) == 1
    assert not transient.transient(MISSING) and transient.transient(DROPPED)


class Writer:
    """``S3Checkpoint.writer``'s shape: a context manager per URI; its close fails as told."""

    def __init__(self, failures: list[Exception]):
        self.failures = failures
        self.written: list[tuple[str, bytes]] = []

    def __call__(self, uri: str):
        import contextlib
        import io

        @contextlib.contextmanager
        def stream():
            buffer = io.BytesIO()
            yield buffer
            if self.failures:
                raise self.failures.pop(0)
            self.written.append((uri, buffer.getvalue()))

        return stream()


def test_a_dropped_write_is_sent_again_whole():
    writer = Writer([DROPPED])
    transient.write_object(writer, "s3://lab-data/checkpoints/r/latest.json", b"{}")
    assert writer.written == [("s3://lab-data/checkpoints/r/latest.json", b"{}")]


# What the connector raised in tests/e2e/test_cluster.py when a node stopped under a checkpoint's
# multipart upload (trimmed).
LOST_UPLOAD = S3Exception(
    "Client error: Unknown response error: MetaRequestResult { response_status: 404, crt_error: "
    'Error(14343, "aws-c-s3: AWS_ERROR_S3_INVALID_RESPONSE_STATUS, Invalid response status from request"), '
    'error_response_body: Some("<?xml version=\\"1.0\\" encoding=\\"UTF-8\\"?>\\n<Error><Code>NoSuchUpload</Code>'
    '<Message>The specified multipart upload does not exist.</Message></Error>") }'
)


def test_a_write_whose_upload_a_lost_node_took_with_it_is_sent_again_whole():
    writer = Writer([LOST_UPLOAD, LOST_UPLOAD])
    transient.write_object(writer, "s3://lab-data/checkpoints/r/epoch-001-step-000012.pt", b"weights")
    assert writer.written == [("s3://lab-data/checkpoints/r/epoch-001-step-000012.pt", b"weights")]


def test_a_lost_upload_is_no_reason_to_get_again():
    # Only a write has an upload; a GET failing with it is not sent again.
    reader, gets = reader_failing([LOST_UPLOAD])
    with pytest.raises(S3Exception, match="NoSuchUpload"):
        transient.read_object(reader)
    assert len(gets) == 1


def test_a_refused_write_is_not_sent_again():
    writer = Writer([S3Exception("Service error: Access Denied")])
    with pytest.raises(S3Exception, match="Access Denied"):
        transient.write_object(writer, "s3://lab-data/elsewhere/x", b"x")
    assert writer.written == []


def shard_reader_failing(body: bytes, failures: list[Exception], cut: int) -> tuple[SequentialS3Reader, list]:
    """A reader of a tar shard whose GETs send the first ``cut`` bytes, then fail with
    ``failures`` in turn; the GET after them sends it whole. In 100-byte chunks, as a stream."""
    gets = []

    def stream():
        gets.append(1)
        end = cut if len(gets) <= len(failures) else len(body)
        for start in range(0, end, 100):
            yield body[start : min(start + 100, end)]
        if len(gets) <= len(failures):
            raise failures[len(gets) - 1]

    return SequentialS3Reader("lab-data", "mnist-shards/train/shard-000000.tar", lambda: None, stream), gets


def a_shard() -> tuple[bytes, list[tuple[str, bytes]]]:
    samples = [(index, index % 10, bytes([index]) * (300 + index)) for index in range(12)]
    body = write_shard(samples)
    key = "mnist-shards/train/shard-000000.tar"
    return body, [(member_key(key, member_name(i, label)), data) for i, label, data in samples]


def test_a_shard_stream_a_node_drops_is_resumed_where_it_stopped():
    body, members = a_shard()
    # Dropped twice: mid-member, then at another point; every member arrives once, the hash holds.
    reader, gets = shard_reader_failing(body, [DROPPED, DROPPED], cut=len(body) // 3 + 7)
    opened = OpenShard({reader.key: hashlib.sha256(body).hexdigest()})
    assert list(opened(reader)) == members
    assert len(gets) == 3


def test_a_shard_stream_gives_up_after_the_attempts_or_at_once_on_a_lasting_failure():
    body, _ = a_shard()
    reader, gets = shard_reader_failing(body, [DROPPED] * 10, cut=len(body) // 2)
    with pytest.raises(S3Exception, match="response_status: 499"):
        list(OpenShard()(reader))
    assert len(gets) == transient.ATTEMPTS
    reader, gets = shard_reader_failing(body, [MISSING], cut=len(body) // 2)
    with pytest.raises(S3Exception, match="does not exist"):
        list(OpenShard()(reader))
    assert len(gets) == 1
