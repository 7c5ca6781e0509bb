"""Byte ranges: ``Range`` on blob downloads and ``Content-Range`` on upload chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from dockyard.errors import RangeInvalid

# RFC 9110 §14.1.2: one byte range of the "bytes" unit; whitespace around it is allowed.
_RANGE: Final = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)
# Upload chunks: "start-end" as the spec writes it, and the forms clients send in
# practice ("bytes=start-end", "bytes start-end/total").
_CONTENT_RANGE: Final = re.compile(r"(?:bytes[ =])?\s*(\d{1,19})-(\d{1,19})(?:/(?:\d{1,19}|\*))?")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A satisfiable range ``[start, end]`` (inclusive) of content of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(RangeInvalid):
    """No byte of the requested range lies inside the content."""

    def __init__(self, size: int) -> None:
        super().__init__(f"requested range is not satisfiable for content of {size} bytes")
        self.size = size


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a ``Range`` header asks of content of ``size`` bytes.

    Returns None when the whole content should be sent: no header, or one that is
    malformed, not in bytes, or asks for several ranges (RFC 9110 lets a server ignore
    those). Raises ``RangeNotSatisfiable`` when the range lies outside the content.
    """
    if header is None or len(header) > 200:
        return None
    match = _RANGE.fullmatch(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None  # syntactically invalid: ignored, per RFC 9110
        if start >= size:
            raise RangeNotSatisfiable(size)
        return ByteRange(start, min(end, size - 1), size)
    if not last:
        return None
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable(size)
    return ByteRange(max(size - suffix, 0), size - 1, size)


def parse_content_range(header: str) -> tuple[int, int]:
    """The inclusive ``(start, end)`` of an upload chunk; ``RangeInvalid`` if malformed."""
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise RangeInvalid("Content-Range must be <start>-<end>")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise RangeInvalid("Content-Range ends before it starts")
    return start, end


def upload_range(offset: int) -> str:
    """The ``Range`` header value reporting an upload holding ``offset`` bytes.

    Inclusive end, as the spec and the reference registry write it ("0-0" when empty).
    """
    return f"0-{offset - 1 if offset > 0 else 0}"
