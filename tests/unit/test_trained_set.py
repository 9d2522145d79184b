"""The record of an epoch's trained samples: a bitmap over the sorted listing, small and exact."""

import pytest

from trainer.trained_set import Listing, decode, encode, union

KEYS = [f"mnist/train/{i % 10}/{i:05d}.png" for i in range(1003)]


def test_a_set_of_keys_goes_through_bits_and_text_unchanged():
    listing = Listing(reversed(KEYS))
    chosen = frozenset(KEYS[::7])
    bits = listing.bits(chosen)
    assert len(bits) == (1003 + 7) // 8
    assert listing.keys_of(decode(encode(bits))) == chosen
    assert listing.keys_of(listing.bits([])) == frozenset()


def test_ranks_shares_are_joined_and_a_key_outside_the_listing_has_no_bit():
    listing = Listing(KEYS)
    parts = [listing.bits(KEYS[r::3]) for r in range(3)]
    assert listing.keys_of(union(parts)) == frozenset(KEYS)
    assert listing.keys_of(listing.bits(["mnist/train/3/99999.png", KEYS[5]])) == {KEYS[5]}


def test_a_full_epoch_of_60000_is_a_few_hundred_bytes_of_text():
    listing = Listing(f"mnist/train/{i % 10}/{i:05d}.png" for i in range(60_000))
    assert len(encode(listing.bits(listing.keys[:30_000]))) < 200


def test_positions_are_the_sorted_listings():
    listing = Listing(["b", "c", "a"])
    assert listing.positions(["a", "c", "z"]) == {0, 2}


@pytest.mark.parametrize("text", ["not base64!", "aGVsbG8="])
def test_text_that_is_no_bitmap_is_a_value_error(text):
    with pytest.raises(ValueError, match="not a bitmap of trained samples"):
        decode(text)
