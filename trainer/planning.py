"""What a split holds, listed and checked before any training: the plan the trainer and bench share."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field

from labcore.clients import read_json, store_errors
from labcore.errors import DataError
from labcore.layout import parse_key, split_prefix
from labcore.manifest import parse_manifest
from labcore.settings import Settings
from labcore.shards import manifest_key, shards_prefix


@dataclass
class SplitPlan:
    """One split as listed: every object key, or (shard layout) every shard and its sample count.

    A sample is identified by its object key; a shard sample by its shard key and member name
    (:func:`labcore.shards.member_key`), so the exactly-once check never needs to parse a key.
    ``labels`` holds the label of every listed key inside the layout: each key is parsed once,
    here, and the loaders take the label from the plan (a key outside the layout is not in it).
    """

    split: str
    keys: set[str] = field(default_factory=set)
    shards: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # shard key -> SHA-256 from the manifest
    labels: dict[str, int] = field(default_factory=dict)  # object key -> label, parsed once here
    # What the samples' bytes are (labcore.layout.EXTENSIONS): png for the lab's images.
    extension: str = "png"

    @property
    def sharded(self) -> bool:
        return bool(self.shards)

    @property
    def shard_keys(self) -> list[str]:
        return sorted(self.shards)

    @property
    def noun(self) -> str:
        return "samples" if self.sharded else "objects"

    def __len__(self) -> int:
        return sum(self.shards.values()) if self.sharded else len(self.keys)

    def check_trainable(self, where: str) -> None:
        """``DataError`` unless the samples are the 28x28 PNGs the trainer trains on."""
        if self.extension != "png":
            raise DataError(
                f"{where} holds .{self.extension} samples, not the 28x28 PNGs the trainer trains on: a "
                "synthetic dataset is for the bench (make bench-sizes); point DATA_PREFIX at an MNIST-style one"
            )

    def fingerprint(self) -> str:
        """A short hash of what was listed: a checkpoint records it, a resume must see the same.

        Shards count with their SHA-256 from the manifest: another dataset seeded with the same
        limit has the same keys and counts, not the same bytes.
        """
        if self.sharded:
            items = [f"{k}:{n}:{self.digests.get(k, '')}" for k, n in sorted(self.shards.items())]
        else:
            items = sorted(self.keys)
        return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def plan_split(client, settings: Settings, split: str, *, shards: bool, strict: bool = False) -> SplitPlan:
    """List one split (per-object or shard layout) and check it before any training starts."""
    if shards:
        return _plan_shards(client, settings, split)
    return _plan_objects(client, settings, split, strict=strict)


def _plan_shards(client, settings: Settings, split: str) -> SplitPlan:
    prefix = shards_prefix(settings.data_prefix)
    where = f"s3://{settings.bucket}/{prefix}/"
    with store_errors(settings, "s3"):
        manifest = read_json(client, settings.bucket, manifest_key(prefix))
        if manifest is None:
            raise DataError(
                f"no shard manifest at {where}manifest.json: seed shards first "
                "(make seed ARGS='--format shards'), or check BUCKET and DATA_PREFIX"
            )
        listed = {
            o.object_name
            for o in client.list_objects(settings.bucket, split_prefix(prefix, split), recursive=True)
        }
    entry = parse_manifest(manifest, f"{where}manifest.json").get(split)
    if not entry:
        raise DataError(f"the shard manifest at {where} has no {split} split: re-seed with --format shards")
    counts = {s.key: s.samples for s in entry.shards}
    digests = {s.key: s.sha256 for s in entry.shards if s.sha256}
    # Shards of an older generation may sit beside these until --prune: the manifest decides.
    missing = sorted(set(counts) - listed)
    if missing:
        raise DataError(
            f"{len(missing)} of the {len(counts)} {split} shards the manifest at {where} lists are missing "
            f"(e.g. {missing[0]}): re-seed with --format shards"
        )
    if sum(counts.values()) != entry.samples:
        raise DataError(
            f"the shard manifest at {where} counts {entry.samples} {split} samples but its shards hold "
            f"{sum(counts.values())}: re-seed with --format shards --prune"
        )
    member = manifest.get("member")
    extension = member.rsplit(".", 1)[-1] if isinstance(member, str) else "png"
    return SplitPlan(split, shards=counts, digests=digests, extension=extension)


def _plan_objects(client, settings: Settings, split: str, *, strict: bool = False) -> SplitPlan:
    """Every key of one split with its label, each key parsed once and checked against the layout.

    Keys outside the layout are data problems: reported here and skipped when they arrive, or,
    with ``strict``, an error before any work.
    """
    prefix = split_prefix(settings.data_prefix, split)
    where = f"s3://{settings.bucket}/{prefix}"
    with store_errors(settings, "s3"):
        keys = {o.object_name for o in client.list_objects(settings.bucket, prefix=prefix, recursive=True)}
    if not keys:
        raise DataError(
            f"no objects under {where}: seed the bucket first (make up), or check BUCKET and DATA_PREFIX"
        )
    bad = []
    labels: dict[str, int] = {}
    by_index: dict[int, str] = {}
    for key in sorted(keys):
        try:
            parsed = parse_key(key)
        except ValueError:
            bad.append(key)
            continue
        if parsed.index in by_index:
            # Each index has one label in one dataset: two of them mean two datasets in one prefix.
            raise DataError(
                f"{where} holds two datasets: sample {parsed.index} is both {by_index[parsed.index]} and {key}; "
                "re-seed one dataset with --prune (make seed ARGS=--prune), or seed each into its own DATA_PREFIX"
            )
        by_index[parsed.index] = key
        labels[key] = parsed.label
    if bad and strict:
        raise DataError(
            f"{len(bad)} objects under {where} are outside the <label>/<index>.png layout, e.g. "
            f"{sorted(bad)[0]}: remove them, or seed into a clean DATA_PREFIX (--strict)"
        )
    if bad:
        print(
            f"warning: {len(bad)} objects under {where} are outside the <label>/<index>.png layout and "
            f"will be skipped, e.g. {sorted(bad)[0]} (--strict makes this an error)",
            file=sys.stderr,
            flush=True,
        )
    # One dataset per prefix (the seeder's rule, and by_index's above): one extension.
    extension = parse_key(min(labels)).extension if labels else "png"
    return SplitPlan(split, keys=keys, labels=labels, extension=extension)
