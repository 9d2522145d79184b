"""Shared core of minio-torch-lab: settings, clients, key layout and dataset sources.

The seeder and the trainer both import from here so that the two sides agree on where every
sample lives and how configuration is read.
"""
