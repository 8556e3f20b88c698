"""The errors of fetching a feed."""

from __future__ import annotations

from auditor.errors import InputError


class FetchError(InputError):
    """A feed could not be fetched (or served from the cache); ``url`` is the URL asked for.

    An :class:`InputError` (a stream that could not be read), so a source can treat a failed
    fetch and a rejected body alike, e.g. by falling back to the cached copy.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        source: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, source=source, line=line, hint=hint)
        self.url = url
        self.status = status


class CacheError(FetchError):
    """The cache could not be written (a full disk, a read-only or foreign ``cache_dir``)."""
