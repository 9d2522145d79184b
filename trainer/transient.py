"""Reading and writing one object through the connector, again when the server drops the request.

When a MinIO node stops (a restart, a node lost from the cluster), the requests it is serving
end with HTTP 499 ("client disconnected", MinIO's answer to its own shutdown), and the connector's
CRT client retries 5xx answers but not that one. One such answer would end a run that the rest of
the cluster could carry on; a GET, or a PUT of a whole object, can simply be sent again, so it
is, a few times, with a short backoff. Anything else (a missing key, denied access) fails at once.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable

from s3torchconnector.s3reader import RangedS3Reader
from s3torchconnectorclient import S3Exception

ATTEMPTS = 4  # the first GET and three more, 1.75 s of backoff in all
# A dropped request (MinIO's 499 on shutdown, a 5xx the CRT client gave up on) or a connection
# closed under it: worth one more try, on whichever node the endpoint sends it to.
_TRANSIENT = re.compile(
    r"response_status: (499|500|502|503|504)\b|AWS_IO_SOCKET_CLOSED|AWS_ERROR_HTTP_CONNECTION_CLOSED"
)


# A multipart upload the server no longer knows: a node of the cluster stopped while the PUT's
# parts were going up, and MinIO answered the next part or the completion with NoSuchUpload
# (tests/e2e/test_cluster.py saw it once). Only a write can have it, and a write sent again whole
# starts an upload of its own.
_LOST_UPLOAD = re.compile(r"<Code>NoSuchUpload</Code>")


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure another GET of the same object may not have."""
    return isinstance(exc, S3Exception) and bool(_TRANSIENT.search(str(exc)))


def retry_after(exc: S3Exception, retry: int, *, write: bool = False) -> None:
    """Wait out the backoff before retry number ``retry`` (1 for the first) when ``exc`` is
    transient (for a ``write``, also a lost upload) and the ``ATTEMPTS`` are not used up;
    otherwise raise ``exc``.

    The one rule for every GET and PUT sent again: 0.25 s, then 0.5 s, then 1 s.
    """
    again = transient(exc) or (write and bool(_LOST_UPLOAD.search(str(exc))))
    if not again or retry >= ATTEMPTS:
        raise exc
    time.sleep(0.25 * 2 ** (retry - 1))


def read_object(reader) -> bytes:
    """Every byte of the object behind the connector's ``reader``, with up to ``ATTEMPTS`` GETs.

    A retry is a new GET from the reader's own stream factory, read to the end: nothing read
    before the failure is kept, so the bytes are the object's or an error is raised.
    """
    again = _another_get(reader)
    for attempt in itertools.count():
        try:
            return reader.read() if attempt == 0 else again()
        except S3Exception as exc:
            if again is None:
                raise
            retry_after(exc, attempt + 1)
    raise AssertionError("unreachable")


def _another_get(reader) -> Callable[[], bytes] | None:
    """A function reading the whole object anew with a GET of its own, ``None`` where there is none.

    The connector's readers (s3torchconnector 1.5) make each GET through a stream factory: the
    sequential one takes no arguments; the range-based one (``CONNECTOR_READER=range``) takes the
    byte range, so the whole object is asked for from its first byte to its size.
    """
    get_stream = getattr(reader, "_get_stream", None)
    if get_stream is None:
        return None
    if isinstance(reader, RangedS3Reader):
        return lambda: b"".join(get_stream(0, reader._get_size()))
    return lambda: b"".join(get_stream())


def write_object(writer: Callable, uri: str, data: bytes) -> None:
    """PUT ``data`` at ``uri`` through ``writer`` (``S3Checkpoint.writer``), up to ``ATTEMPTS`` times.

    Each attempt writes the whole object anew; an object is only there once a write completes.
    """
    for attempt in itertools.count():
        try:
            with writer(uri) as stream:
                stream.write(data)
            return
        except S3Exception as exc:
            retry_after(exc, attempt + 1, write=True)


class ResumingStream:
    """The object behind the connector's ``reader`` as a stream read front to back (a tar shard),
    where a dropped GET is sent again, up to ``ATTEMPTS`` times in all, and resumed where the
    reading stopped: the new GET's first bytes, up to what was already read, are skipped.

    The bytes are the object's or an error is raised; a shard changed between two GETs fails the
    SHA-256 check its reader makes at the end.
    """

    def __init__(self, reader):
        self.key = reader.key
        self._reader = reader
        self._again = getattr(reader, "_get_stream", None)
        self._chunks = None  # after a dropped GET: the chunks of the one sent again
        self._pending = b""
        self._skip = 0
        self._position = 0
        self._retries = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative), as ``io.RawIOBase.read``."""
        while True:
            try:
                data = self._read(size)
            except S3Exception as exc:
                if self._again is None:
                    raise
                self._retries += 1
                retry_after(exc, self._retries)
                self._chunks, self._pending, self._skip = iter(self._again()), b"", self._position
                continue
            self._position += len(data)
            return data

    def _read(self, size: int) -> bytes:
        if self._chunks is None:
            return self._reader.read(size if size >= 0 else None)
        out = bytearray()
        while size < 0 or len(out) < size:
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                drop = min(self._skip, len(chunk))
                self._skip -= drop
                self._pending = bytes(chunk[drop:])
                continue
            take = len(self._pending) if size < 0 else min(size - len(out), len(self._pending))
            out += self._pending[:take]
            self._pending = self._pending[take:]
        return bytes(out)
