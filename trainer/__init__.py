"""The trainer: streams MNIST from MinIO through the S3 Connector for PyTorch and trains a CNN."""
