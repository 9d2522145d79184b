"""Several GETs in flight per DataLoader worker, with the output order fixed by the input order.

``S3IterableDataset`` and a plain SDK loop both hold one request in flight per worker, so a worker
spends most of its time waiting on a round trip for a 300-byte object. :func:`read_ahead` keeps up
to ``depth`` fetches running in a small thread pool and hands results back strictly in input order,
never in completion order: two runs give the same batches whatever the network does. At most
``depth`` objects are held at once.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from trainer.stages import Stage
from trainer.transient import read_object

T = TypeVar("T")


def read_ahead(items: Iterable[T], fetch: Callable[[T], bytes], depth: int) -> Iterator[tuple[T, bytes]]:
    """``(item, fetch(item))`` for every item, in input order, with up to ``depth`` fetches in flight.

    A fetch that fails raises here, at its item's turn, in the caller's thread, so the caller's
    error translation applies. Leaving early cancels what has not started.
    """
    if depth <= 1:
        for item in items:
            yield item, fetch(item)
        return
    pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="read-ahead")
    pending: collections.deque[tuple[T, Future]] = collections.deque()
    try:
        for item in items:
            pending.append((item, pool.submit(fetch, item)))
            if len(pending) >= depth:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def keep_reader(reader):
    """Connector transform: hand the ``S3Reader`` on unread, for :class:`ConnectorReadAhead` to read."""
    return reader


class ConnectorReadAhead(Stage):
    """``(key, bytes)`` from an ``S3IterableDataset`` (transform :func:`keep_reader`), ``depth`` at once.

    The connector still lists or takes the objects and deals them over ranks and workers
    (``enable_sharding=True``); only the reading overlaps. Each worker reads ``depth`` of its
    readers concurrently, each one a GET of its own through the connector's client.
    """

    def __init__(self, source: Stage, depth: int):
        super().__init__(source)
        self.depth = depth

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        for reader, data in read_ahead(iter(self.source), read_object, self.depth):
            yield reader.key, data
