"""Which dataset a prefix holds, beside its samples: ``<prefix>/dataset.json``.

The seeder writes it (name and what each label means); the notebooks read it, so that
Fashion-MNIST seeded under ``mnist/`` is called by its name. It sits beside the split prefixes,
never inside them, like ``checksums.json``.
"""

from __future__ import annotations

import io
import json

from minio import Minio

from labcore.clients import read_json
from labcore.sources import CLASSES


def dataset_key(prefix: str) -> str:
    """The record's key for the dataset under ``prefix``."""
    return f"{prefix.strip('/')}/dataset.json"


def write_dataset_record(client: Minio, bucket: str, prefix: str, name: str) -> None:
    """Record ``name`` (and its classes, where known) for ``prefix``; no write when it is there."""
    record = {"name": name, "classes": list(CLASSES.get(name, ()))}
    if read_json(client, bucket, dataset_key(prefix)) == record:
        return
    body = json.dumps(record, indent=1).encode()
    client.put_object(
        bucket, dataset_key(prefix), io.BytesIO(body), len(body), content_type="application/json"
    )


def read_dataset_record(client: Minio, bucket: str, prefix: str) -> dict:
    """``{"name": ..., "classes": [...]}`` for ``prefix``; a dataset seeded before the record is
    "an MNIST-style dataset" with no class names."""
    return read_json(client, bucket, dataset_key(prefix)) or {"name": "an MNIST-style dataset", "classes": []}
