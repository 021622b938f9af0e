"""SPDY/3.1 framing, the part kubectl's port-forward uses (SYN_STREAM, SYN_REPLY, DATA,
RST_STREAM, PING, GOAWAY), over a byte stream that arrives in arbitrary pieces.

Header blocks are zlib streams primed with the dictionary of the SPDY/3 draft (section
2.6.10.1): one stream per direction for the whole connection. Flow control (WINDOW_UPDATE) and
SETTINGS are read and ignored: kubectl's client sends them but does not enforce windows.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

# The control frames kubectl's port-forward sends or needs; others are read and ignored.
SYN_STREAM, SYN_REPLY, RST_STREAM, PING, GOAWAY = 1, 2, 3, 6, 7
FLAG_FIN = 0x01
VERSION = 3

# Names (and a few values) the draft's dictionary lists one by one, each length-prefixed.
_DICTIONARY_WORDS = [
    *(  # noqa: SIM905 (sixty words, one per line, would hide the shape of the thing)
        "options head post put delete trace accept accept-charset accept-encoding "
        "accept-language accept-ranges age allow authorization cache-control connection "
        "content-base content-encoding content-language content-length content-location "
        "content-md5 content-range content-type date etag expect expires from host if-match "
        "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
        "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
        "server te trailer transfer-encoding upgrade user-agent vary via warning "
        "www-authenticate method get status"
    ).split(),
    "200 OK",
    *"version HTTP/1.1 url public set-cookie keep-alive origin".split(),  # noqa: SIM905
]
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
# The draft's dictionary: those words, then common values run together (1,423 bytes).
DICTIONARY = (
    b"".join(struct.pack(">I", len(name)) + name.encode() for name in _DICTIONARY_WORDS)
    + _DICTIONARY_TAIL.encode()
)


class SpdyError(Exception):
    """The peer broke the protocol; the connection cannot go on."""


@dataclass(frozen=True)
class ControlFrame:
    kind: int
    flags: int
    payload: bytes


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    flags: int
    data: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


Frame = ControlFrame | DataFrame


class FrameReader:
    """Frames out of the bytes fed to it, however the transport split them."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buffer += data
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                return
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = second >> 24
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise SpdyError(f"SPDY version {version}, not {VERSION}")
                yield ControlFrame(first & 0xFFFF, flags, payload)
            else:
                yield DataFrame(first & 0x7FFFFFFF, flags, payload)


class HeaderCodec:
    """The two zlib streams of one connection's header blocks."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)

    def decode(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as error:
            raise SpdyError(f"bad header block: {error}") from error
        (count,) = struct.unpack_from(">I", raw)
        offset, headers = 4, {}
        for _ in range(count):
            values = []
            for _ in range(2):
                (size,) = struct.unpack_from(">I", raw, offset)
                values.append(raw[offset + 4 : offset + 4 + size].decode())
                offset += 4 + size
            headers[values[0].lower()] = values[1]
        return headers

    def encode(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers)) + b"".join(
            struct.pack(">I", len(part)) + part
            for name, value in headers.items()
            for part in (name.lower().encode(), value.encode())
        )
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def control(kind: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload


def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, flags << 24 | len(payload)) + payload


def syn_stream_of(frame: ControlFrame, codec: HeaderCodec) -> tuple[int, dict[str, str]]:
    """The stream id and headers of a SYN_STREAM."""
    (stream_id,) = struct.unpack_from(">I", frame.payload)
    return stream_id & 0x7FFFFFFF, codec.decode(frame.payload[10:])


def syn_reply(stream_id: int, codec: HeaderCodec) -> bytes:
    return control(SYN_REPLY, struct.pack(">I", stream_id) + codec.encode({}))


def stream_id_of(frame: ControlFrame) -> int:
    """The stream a RST_STREAM is about."""
    return struct.unpack_from(">I", frame.payload)[0] & 0x7FFFFFFF
