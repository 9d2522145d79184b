"""The trainer: streams MNIST from MinIO through the S3 Connector for PyTorch and trains a CNN."""

# First, so that its fork handler runs after the connector's (see the module).
from trainer import crt_fork  # noqa: F401
