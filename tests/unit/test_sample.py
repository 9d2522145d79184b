"""A sample is a named record made once, where an object's bytes are decoded; a batch is named too.

The label comes from planning, which parses each listed key once; a key no plan labelled is parsed
as it is decoded. A sample pickles, so it crosses from a DataLoader worker to the main process.
"""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import torch
from torch.utils.data import DataLoader

from labcore.png import encode_png
from labcore.settings import load_settings
from trainer.planning import plan_split
from trainer.sample import UNLISTED, Batch, Sample
from trainer.transforms import collate_samples, decode_sample

PNG = encode_png(bytes(range(28)) * 28, 28, 28)
KEY = "mnist/train/7/00042.png"


def test_a_decoded_object_is_a_named_sample_with_its_label_from_the_key():
    sample = decode_sample(KEY, PNG)
    assert isinstance(sample, Sample) and sample.usable
    assert sample.image.shape == (1, 28, 28)
    assert (sample.label, sample.key, sample.worker, sample.problem) == (7, KEY, -1, "")
    assert sample.index == UNLISTED and sample.raw is None, "no position, and no bytes kept by default"


def test_a_label_planning_parsed_is_taken_as_is_and_an_index_travels_with_the_sample():
    sample = decode_sample(KEY, PNG, label=3, index=12)
    assert (sample.label, sample.index) == (3, 12), "the key is not parsed again"


def test_raw_bytes_are_kept_only_when_asked():
    assert decode_sample(KEY, PNG, keep_raw=True).raw == PNG


def test_unusable_objects_say_why():
    outside = decode_sample("mnist/train/readme.txt", b"hello")
    assert (outside.image, outside.label, outside.problem) == (
        None,
        -1,
        "outside the <label>/<index>.png layout",
    )
    assert decode_sample(KEY, b"").problem == "empty object"
    assert decode_sample(KEY, b"not a png").problem.startswith("not a readable PNG")
    assert decode_sample(KEY, encode_png(bytes(4), 2, 2)).problem == "2x2 image, not 28x28"
    member = decode_sample("mnist-shards/train/shard-000000.tar/00042.5.png", PNG)
    assert member.label == 5, "a shard member's label is in its name"


def test_a_sample_pickles():
    sample = decode_sample(KEY, PNG, index=4, keep_raw=True)
    back = pickle.loads(pickle.dumps(sample))
    assert (back.label, back.key, back.index, back.raw) == (7, KEY, 4, PNG)
    assert torch.equal(back.image, sample.image)


def test_a_batch_names_its_parts_and_lists_every_key_usable_first():
    samples = [decode_sample("mnist/train/x.png", b"?"), decode_sample(KEY, PNG)]
    batch = collate_samples(samples)
    assert isinstance(batch, Batch)
    assert batch.images.shape == (1, 1, 28, 28) and batch.labels.tolist() == [7]
    assert batch.keys == [KEY, "mnist/train/x.png"] and batch.workers.tolist() == [-1, -1]
    assert batch.problems == [("mnist/train/x.png", "outside the <label>/<index>.png layout")]
    images, labels, keys, workers, problems, nbytes = batch  # still unpacks, in this order
    assert keys == batch.keys and nbytes == 1 + len(PNG), "the bytes of every object, usable or not"


class Pngs:
    """A map-style dataset of one PNG per index, decoded in the worker."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> Sample:
        return decode_sample(f"mnist/train/{i}/{i:05d}.png", PNG, index=i)


def test_samples_cross_from_a_dataloader_worker():
    (batch,) = DataLoader(Pngs(), batch_size=4, num_workers=1, collate_fn=collate_samples)
    assert batch.labels.tolist() == [0, 1, 2, 3]
    assert batch.workers.tolist() == [0, 0, 0, 0], "decoded in worker 0, not in the main process"


def test_planning_parses_each_key_once_and_keeps_its_label():
    keys = ["mnist/train/3/00001.png", "mnist/train/8/00002.png", "mnist/train/notes.txt"]
    client = SimpleNamespace(list_objects=lambda *a, **k: [SimpleNamespace(object_name=key) for key in keys])
    settings = load_settings(environ={"BUCKET": "lab-data", "DATA_PREFIX": "mnist"})
    plan = plan_split(client, settings, "train", shards=False)
    assert plan.keys == set(keys)
    assert plan.labels == {"mnist/train/3/00001.png": 3, "mnist/train/8/00002.png": 8}, (
        "outside: not labelled"
    )


def test_bin_objects_go_on_undecoded_and_a_batch_joins_their_bytes():
    """Synthetic datasets (.bin) are read, not decoded: the bench measures loading alone."""
    first = decode_sample("synth/train/12/00000.bin", b"\x01\x02\x03")
    member = decode_sample("synth-shards/train/shard-000000-0123456789ab.tar/00001.999.bin", b"\xff" * 5)
    assert first.usable and first.label == 12 and first.image.dtype == torch.uint8
    assert first.image.tolist() == [1, 2, 3] and member.label == 999
    batch = collate_samples([first, member])
    assert batch.images.tolist() == [1, 2, 3] + [255] * 5 and batch.labels.tolist() == [12, 999]
    assert batch.problems == []
