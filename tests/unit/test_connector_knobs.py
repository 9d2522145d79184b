"""CONNECTOR_READER and CONNECTOR_PART_SIZE: validated once, and handed to every connector dataset."""

from __future__ import annotations

import pytest
from s3torchconnector.s3reader import RangedS3Reader, SequentialS3Reader

from labcore.errors import ConfigError
from labcore.settings import load_settings
from trainer.connector import connector_args

ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}


def test_the_defaults_are_the_connectors_own():
    settings = load_settings(environ=ENV)
    assert (settings.connector_reader, settings.connector_part_size) == ("sequential", 8 << 20)
    args = connector_args(settings)
    assert args["s3client_config"].part_size == 8 << 20 and args["s3client_config"].force_path_style
    reader = args["reader_constructor"]("lab-data", "k", lambda: None, lambda: iter(()))
    assert isinstance(reader, SequentialS3Reader)


def test_the_range_reader_and_another_part_size_reach_the_connector():
    settings = load_settings(environ={**ENV, "CONNECTOR_READER": "range", "CONNECTOR_PART_SIZE": "16MB"})
    args = connector_args(settings)
    assert args["s3client_config"].part_size == 16 << 20
    assert isinstance(
        args["reader_constructor"]("lab-data", "k", lambda: None, lambda s, e: iter(())), RangedS3Reader
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CONNECTOR_READER", "mmap", r"^CONNECTOR_READER='mmap' is not one of sequential, range"),
        (
            "CONNECTOR_PART_SIZE",
            "1MB",
            r"^CONNECTOR_PART_SIZE='1MB' is too small: it must be at least 5242880",
        ),
        ("CONNECTOR_PART_SIZE", "6GB", r"^CONNECTOR_PART_SIZE='6GB': '6GB' is not a size"),
        ("CONNECTOR_PART_SIZE", "6000MB", r"^CONNECTOR_PART_SIZE=6291456000 is too large: at most 5 GiB"),
    ],
)
def test_a_knob_out_of_range_is_one_line(variable, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={**ENV, variable: value})
