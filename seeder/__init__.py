"""The seeder: uploads MNIST-style datasets to MinIO as one PNG object per sample."""
