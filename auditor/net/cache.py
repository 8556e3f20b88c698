"""The feed cache: one file per URL holding the body and what the origin said about it,
and the :class:`Response` a fetch (or the cache) gives."""

from __future__ import annotations

from dataclasses import dataclass

from auditor import fsutil

_CACHE_FORMAT = 1


@dataclass(frozen=True)
class CacheEntry:
    """A cached body and what the origin said about it.

    ``retrieved_at`` is when the origin last vouched for this body: a 200, or a 304 revalidation.
    """

    url: str
    body: bytes
    etag: str | None
    last_modified: str | None
    retrieved_at: float


@dataclass(frozen=True)
class Response:
    """The outcome of :meth:`Fetcher.get`.

    ``state`` is ``"fresh"`` (a 200 with a new body), ``"revalidated"`` (a 304: ``body`` is the
    cached one) or ``"cached"`` (no network: offline, or younger than ``refresh``; ``final_url``
    is then ``url``). ``previous`` is the valid cache entry that existed before the call.
    """

    url: str
    final_url: str
    body: bytes
    state: str
    retrieved_at: float
    etag: str | None
    last_modified: str | None
    previous: CacheEntry | None


def _from_cache(entry: CacheEntry) -> Response:
    return Response(
        url=entry.url,
        final_url=entry.url,
        body=entry.body,
        state="cached",
        retrieved_at=entry.retrieved_at,
        etag=entry.etag,
        last_modified=entry.last_modified,
        previous=entry,
    )


def _render_entry(entry: CacheEntry) -> bytes:
    header: dict[str, object] = {
        "format": _CACHE_FORMAT,
        "url": entry.url,
        "etag": entry.etag,
        "last_modified": entry.last_modified,
        "retrieved_at": entry.retrieved_at,
    }
    return fsutil.headed(header, entry.body)


def _parse_entry(url: str, data: bytes) -> CacheEntry | None:
    read = fsutil.read_headed(data, _CACHE_FORMAT)
    if read is None:
        return None
    header, body = read
    etag = header.get("etag")
    last_modified = header.get("last_modified")
    retrieved_at = fsutil.finite_time(header.get("retrieved_at"))
    if (
        header.get("url") != url
        or not isinstance(etag, (str, type(None)))
        or not isinstance(last_modified, (str, type(None)))
        or retrieved_at is None
    ):
        return None
    return CacheEntry(url, body, etag, last_modified, retrieved_at)
