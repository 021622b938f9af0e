"""The protobuf wire format, read field by field (no generated code, no schema)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def varint(data: bytes, position: int) -> tuple[int, int]:
    """Decode one varint at ``position``; returns (value, next position)."""
    value = shift = 0
    while True:
        if position >= len(data):
            raise WireError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field of a message.

    Varints and fixed-width numbers come as unsigned ints, length-delimited fields as bytes.
    """
    position = 0
    while position < len(data):
        key, position = varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == VARINT:
            value, position = varint(data, position)
        elif wire_type == FIXED64:
            value = struct.unpack_from("<Q", data, position)[0]
            position += 8
        elif wire_type == FIXED32:
            value = struct.unpack_from("<I", data, position)[0]
            position += 4
        elif wire_type == LENGTH:
            length, position = varint(data, position)
            if position + length > len(data):
                raise WireError("truncated length-delimited field")
            value = data[position : position + length]
            position += length
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value


def signed(value: int, bits: int = 64) -> int:
    """A two's complement reading of an unsigned varint (int32/int64 fields)."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value
