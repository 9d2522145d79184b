"""The shard manifest's shape, checked where it is read: damage is one line naming it."""

import pytest

from labcore.errors import DataError
from labcore.manifest import ManifestSplit, ShardEntry, parse_manifest

WHERE = "s3://lab-data/mnist-shards/manifest.json"
SHA = "ab" * 32
GOOD = {"splits": {"train": {"samples": 3, "shards": [{"key": "k0", "samples": 3, "sha256": SHA}]}}}


def test_a_manifest_as_the_seeder_writes_it():
    assert parse_manifest(GOOD, WHERE) == {"train": ManifestSplit(3, (ShardEntry("k0", 3, SHA),))}
    # Manifests from before the SHA-256s were recorded have none.
    older = {"splits": {"test": {"samples": 1, "shards": [{"key": "k1", "samples": 1}]}}}
    assert parse_manifest(older, WHERE)["test"].shards == (ShardEntry("k1", 1, None),)


@pytest.mark.parametrize(
    "manifest, what",
    [
        ({}, 'no "splits" object'),
        ({"splits": []}, 'no "splits" object'),
        ({"splits": {"train": {"samples": 3}}}, "split 'train' has no \"shards\" list"),
        ({"splits": {"train": {"shards": []}}}, "split 'train' has no \"samples\" count"),
        ({"splits": {"train": {"samples": "3", "shards": []}}}, "split 'train' has no \"samples\" count"),
        ({"splits": {"train": {"samples": 3, "shards": [{"key": "k0"}]}}}, "shard 0 of split 'train' lacks"),
        ({"splits": {"train": {"samples": 3, "shards": [{"key": "k0", "samples": True}]}}}, "shard 0"),
        (
            {"splits": {"train": {"samples": 3, "shards": [{"key": "k", "samples": 3, "sha256": "x"}]}}},
            "SHA-256",
        ),
        ({"splits": {"train": {"samples": 3, "shards": ["k0"]}}}, "shard 0 of split 'train'"),
    ],
)
def test_a_damaged_manifest_is_one_line_naming_it_and_the_fix(manifest, what):
    with pytest.raises(DataError) as caught:
        parse_manifest(manifest, WHERE)
    message = str(caught.value)
    assert message.startswith(f"the shard manifest {WHERE} is damaged (") and what in message, message
    assert message.endswith("re-seed with --format shards --prune") and "\n" not in message
