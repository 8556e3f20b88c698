"""Incremental, bounded gzip decoding of a response body."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from auditor.net.errors import FetchError

CHUNK = 64 * 1024
"""Largest raw read and largest decoded piece: memory above the body itself stays this small."""


class _GzipDecoder:
    """Incremental gzip (RFC 1952) decoding with bounded output per call.

    ``zlib``'s ``max_length`` keeps each piece at most :data:`CHUNK` bytes whatever the
    compression ratio (about 1000:1 for zeros), so the caller can stop at its cap without ever
    holding more. Concatenated members are decoded as one stream and garbage after a complete
    member is ignored, as gzip(1) does.
    """

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._members = 0
        self._in_member = False
        self._trailing_garbage = False

    def feed(self, url: str, data: bytes) -> Iterator[bytes]:
        while data and not self._trailing_garbage:
            self._in_member = True
            try:
                out = self._zlib.decompress(data, CHUNK)
            except zlib.error as e:
                if self._members:
                    self._trailing_garbage = True
                    return
                raise FetchError(
                    f"{url}: the gzip-encoded body is corrupt ({e})",
                    url=url,
                    hint="the transfer was damaged or a proxy rewrote it; try again later",
                ) from e
            if out:
                yield out
            if self._zlib.eof:
                self._members += 1
                self._in_member = False
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = self._zlib.unconsumed_tail

    def finish(self, url: str) -> None:
        """A gzip stream that stops before a member's trailer is a truncated body."""
        if self._members == 0 or (self._in_member and not self._trailing_garbage):
            raise FetchError(
                f"{url}: the gzip-encoded body ends early (truncated transfer)",
                url=url,
                hint="the transfer was cut short; try again later",
            )
