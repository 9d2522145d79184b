"""The epoch reaches every stage of a loader by one path: ``set_epoch`` down the chain of sources."""

from __future__ import annotations

from trainer.datasets import ShuffleDecode
from trainer.readahead import ConnectorReadAhead
from trainer.stages import SameEveryEpoch, Stage


class Listing(Stage):
    """A first stage that remembers the epoch it was told."""

    def __iter__(self):
        return iter([])


def test_set_epoch_reaches_the_first_stage_through_every_stage_on_top():
    first = Listing()
    top = ShuffleDecode(ConnectorReadAhead(first, depth=4), buffer_size=8, seed=0)
    top.set_epoch(3)
    assert (first.epoch, top.source.epoch, top.epoch) == (3, 3, 3)


def test_a_dataset_that_ignores_the_epoch_joins_a_chain_as_it_is():
    same = SameEveryEpoch([("a", b"1"), ("b", b"2")])
    same.set_epoch(5)
    assert list(same) == [("a", b"1"), ("b", b"2")]
