"""Byte ranges by RFC 9110 for downloads, and upload chunk ranges."""

from __future__ import annotations

import pytest

from dockyard.api.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    parse_content_range,
    parse_range,
    upload_range,
)
from dockyard.errors import RangeInvalid


def test_no_range_header_means_whole_content() -> None:
    assert parse_range(None, 10) is None


def test_closed_range() -> None:
    assert parse_range("bytes=2-5", 10) == ByteRange(2, 5, 10)


def test_open_ended_range_runs_to_the_end() -> None:
    assert parse_range("bytes=4-", 10) == ByteRange(4, 9, 10)


def test_suffix_range_takes_the_last_bytes() -> None:
    assert parse_range("bytes=-3", 10) == ByteRange(7, 9, 10)


def test_suffix_longer_than_content_takes_all() -> None:
    assert parse_range("bytes=-30", 10) == ByteRange(0, 9, 10)


def test_end_past_the_content_is_clamped() -> None:
    assert parse_range("bytes=5-100", 10) == ByteRange(5, 9, 10)


def test_start_past_the_content_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=10-", 10)


def test_zero_suffix_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-0", 10)


@pytest.mark.parametrize(
    "header", ["bytes=5-2", "items=0-1", "bytes=a-b", "bytes=0-1,3-4", "bytes=-", "0-5", ""]
)
def test_malformed_or_multiple_ranges_are_ignored(header: str) -> None:
    assert parse_range(header, 10) is None


def test_content_range_as_the_spec_writes_it() -> None:
    assert parse_content_range("0-99") == (0, 99)


@pytest.mark.parametrize("header", ["bytes=0-99", "bytes 0-99/100", "bytes 0-99/*"])
def test_content_range_forms_clients_send(header: str) -> None:
    assert parse_content_range(header) == (0, 99)


@pytest.mark.parametrize("header", ["", "abc", "5-2", "-5", "0-", "1-2-3"])
def test_malformed_content_range_is_invalid(header: str) -> None:
    with pytest.raises(RangeInvalid):
        parse_content_range(header)


def test_upload_range_of_empty_upload() -> None:
    assert upload_range(0) == "0-0"


def test_upload_range_is_inclusive() -> None:
    assert upload_range(100) == "0-99"


def test_byte_range_content_range_header() -> None:
    assert ByteRange(2, 5, 10).content_range == "bytes 2-5/10"
