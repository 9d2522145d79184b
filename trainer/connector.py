"""The S3 Connector for PyTorch, set up in one place: its arguments, credentials and errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from labcore.cli import root_message
from labcore.errors import StoreError
from labcore.settings import Settings

# The CRT client's attempts per request, with its exponential backoff: enough to ride out a MinIO
# restart of a few seconds (3 were not, in tests/integration/test_faults.py), few enough that an
# outage still ends in a clear error, not a silent wait.
MAX_ATTEMPTS = 10


def connector_args(settings: Settings) -> dict:
    """``region``, ``endpoint``, ``s3client_config`` and ``reader_constructor`` for every connector
    dataset (a checkpoint takes the first three): ``CONNECTOR_READER`` and ``CONNECTOR_PART_SIZE``.

    Path-style addressing because the connector defaults to virtual-hosted style
    (``bucket.host``), which a Compose hostname such as ``minio`` cannot resolve.
    """
    from s3torchconnector import S3ClientConfig, S3ReaderConstructor

    reader = {"sequential": S3ReaderConstructor.sequential, "range": S3ReaderConstructor.range_based}
    config = S3ClientConfig(
        force_path_style=True, max_attempts=MAX_ATTEMPTS, part_size=settings.connector_part_size
    )
    return {
        "region": settings.aws_region,
        "endpoint": settings.aws_endpoint_url,
        "s3client_config": config,
        "reader_constructor": reader[settings.connector_reader](),
    }


def checkpoint_store(settings: Settings):
    """An ``S3Checkpoint`` for the lab's endpoint (checkpoints and run outputs)."""
    from s3torchconnector import S3Checkpoint

    args = connector_args(settings)
    return S3Checkpoint(args["region"], endpoint=args["endpoint"], s3client_config=args["s3client_config"])


def export_credentials(settings: Settings) -> None:
    """The connector's CRT client reads credentials from the environment, not from arguments."""
    os.environ["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key
    os.environ["AWS_REGION"] = settings.aws_region
    os.environ.pop("AWS_SESSION_TOKEN", None)


@contextlib.contextmanager
def connector_errors(what: str, hint: str = "") -> Iterator[None]:
    """Turn the connector's ``S3Exception`` inside the block into one line: ``<what> (<reason>); <hint>``.

    ``what`` says what failed (``saving the run to s3://... failed``); ``hint`` what to do next.
    """
    from s3torchconnectorclient import S3Exception

    try:
        yield
    except S3Exception as exc:
        raise StoreError(f"{what} ({root_message(exc)}){'; ' + hint if hint else ''}") from None
    except StoreError as exc:
        # Already one line (the MinIO SDK's failures, e.g. in the manual loader): add what to do next.
        message = root_message(exc)
        if not hint or hint in message:
            raise
        raise StoreError(f"{message}; {hint}") from None
