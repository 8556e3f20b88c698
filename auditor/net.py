"""The one HTTP session factory and the feed cache.

Every feed download in the project goes through :class:`Fetcher`, so the rules of
RELIABILITY.md section 4 hold in one place:

- Only ``https://``; certificate verification is always on (``ca_bundle`` only adds trust).
  Redirects are followed by hand so an https->http hop can be refused: requests would follow
  it and has no option against it.
- One monotonic deadline per :meth:`Fetcher.get` covers connecting, every retry and backoff,
  and streaming the body. requests' read timeout bounds the wait *between* bytes only, so a
  server dripping one byte at a time would otherwise keep the run alive indefinitely.
- The body is read raw, with at most one socket read per call (``read1``), and gzip is decoded
  here, incrementally, with ``max_length``: the size cap counts *decoded* bytes, so a gzip bomb
  stops at the cap instead of filling memory. Content-Length is not trusted.
- Retries (429/500/502/503/504 and connection failures) are ours, not urllib3's: urllib3 sleeps
  the full ``Retry-After`` even when it is a day, and would sleep past the deadline.
- Not under the deadline: DNS resolution (``getaddrinfo`` takes no timeout) and a server that
  trickles its *headers*; each of those reads still waits at most ``min(read_timeout, time
  left)``. The run's overall ``--max-runtime`` is the backstop for both.
- :meth:`Fetcher.get` never writes the cache. The caller validates the body (a captive portal
  answers 200 with HTML) and only then calls :meth:`Fetcher.commit`, so the last good copy is
  never replaced by junk.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

import auditor
from auditor import fsutil
from auditor.errors import InputError
from auditor.fsutil import atomic_write, default_cache_dir

__all__ = [
    "CacheEntry",
    "CacheError",
    "FetchError",
    "Fetcher",
    "NetOptions",
    "Response",
    "default_cache_dir",
    "make_session",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Worth another attempt (the ``status_forcelist`` of RELIABILITY.md section 4)."""

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
CHUNK = 64 * 1024
"""Largest raw read and largest decoded piece: memory above the body itself stays this small."""

_CACHE_FORMAT = 1
_DIGITS = re.compile(r"[0-9]+")


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


USER_AGENT = f"allowlist-auditor/{auditor.__version__} python-requests/{requests.__version__}"


@dataclass(frozen=True)
class NetOptions:
    """How feeds are fetched. There is deliberately no switch that disables TLS verification."""

    timeout: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_bytes: int = 256 * 1024 * 1024
    ca_bundle: str | None = None
    cache_dir: Path | None = None
    offline: bool = False
    retries: int = 3
    max_retry_after: float = 30.0
    user_agent: str = USER_AGENT


class _NoRedirectSession(requests.Session):
    """A session that never follows a redirect and never reads a 3xx body.

    With ``allow_redirects=False`` requests still computes the next hop for ``Response.next``,
    and that reads the whole 3xx body first, with no size cap and no deadline
    (``Session.resolve_redirects``). With no redirect target there is nothing to compute.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def make_session(options: NetOptions) -> requests.Session:
    """The one session factory: User-Agent, verification, proxies from the environment.

    ``trust_env`` stays on so ``HTTPS_PROXY``/``NO_PROXY`` work as in every other tool on the
    host. The session never follows redirects (a 3xx comes back as it is): :class:`Fetcher`
    follows them itself so it can refuse an https->http hop, which requests would take. The
    adapters do no retries of their own (``Fetcher`` does, within its deadline).
    """
    session = _NoRedirectSession()
    session.headers["User-Agent"] = options.user_agent
    session.headers["Accept-Encoding"] = "gzip"
    session.verify = options.ca_bundle or True
    session.trust_env = True
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


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


@dataclass(frozen=True)
class _Answer:
    """One exchange's useful result: a 200 body, a 304, or a redirect."""

    status: int
    url: str
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    location: str | None = None


class _Transient(Exception):
    """A failure another attempt may cure; :meth:`Fetcher._fetch` retries or gives up with it."""

    def __init__(
        self,
        what: str,
        hint: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint
        self.status = status
        self.retry_after = retry_after


class Fetcher:
    """Fetches feeds with the rules above, and keeps one cache file per URL.

    The session, both clocks and ``sleep`` are injectable (tests run retries without waiting).
    ``progress(url, decoded_bytes_so_far, content_length_or_None)`` is called while a body
    streams; Content-Length is of the encoded body when the server compresses it.
    A ``Fetcher`` that made its own session closes it in :meth:`close` (or ``with Fetcher(...)``).
    """

    def __init__(
        self,
        options: NetOptions,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str, int, int | None], None] | None = None,
    ) -> None:
        self.options = options
        self._owns_session = session is None
        self._session = make_session(options) if session is None else session
        self._verify: str | bool = options.ca_bundle or True
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._progress = progress
        self.cache_dir = options.cache_dir if options.cache_dir is not None else default_cache_dir()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the public operations ------------------------------------------------------------------

    def get(self, url: str, *, refresh: float = 0.0) -> Response:
        """Fetch ``url`` (conditionally, when a valid cache entry exists); never writes the cache.

        With ``refresh > 0`` an entry younger than ``refresh`` seconds is served without any
        request, which keeps within limits such as Microsoft 365's 30 calls an hour to
        ``/endpoints``. An entry dated in the future (clock skew) is never considered young.
        """
        _require_https(url, url)
        previous = self.cached(url)
        if self.options.offline:
            if previous is None:
                where = self.cache_dir
                raise FetchError(
                    f"{url} is not in the cache and the run is offline",
                    url=url,
                    hint=f"run once online to fill the cache, or check --cache-dir: {where}",
                )
            return _from_cache(previous)
        if previous is not None and refresh > 0:
            age = self._clock() - previous.retrieved_at
            if 0 <= age < refresh:
                return _from_cache(previous)

        headers = {"Accept-Encoding": "gzip"}
        if previous is not None and previous.etag is not None:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified is not None:
            headers["If-Modified-Since"] = previous.last_modified
        answer = self._fetch(url, headers)

        if answer.status == 304:
            if previous is None:
                raise FetchError(
                    f"{url} answered 304 Not Modified, but there is no cached copy to reuse",
                    url=url,
                    status=304,
                    hint="the server or a proxy on the way is misbehaving; try again later",
                )
            return Response(
                url=url,
                final_url=answer.url,
                body=previous.body,
                state="revalidated",
                retrieved_at=self._clock(),
                etag=answer.etag if answer.etag is not None else previous.etag,
                last_modified=(
                    answer.last_modified
                    if answer.last_modified is not None
                    else previous.last_modified
                ),
                previous=previous,
            )
        return Response(
            url=url,
            final_url=answer.url,
            body=answer.body,
            state="fresh",
            retrieved_at=self._clock(),
            etag=answer.etag,
            last_modified=answer.last_modified,
            previous=previous,
        )

    def cached(self, url: str) -> CacheEntry | None:
        """The valid cache entry for ``url``, or None when it is missing or fails any check.

        A corrupt entry counts as absent, never as an empty body (RELIABILITY.md section 4).
        """
        try:
            data = self._cache_path(url).read_bytes()
        except OSError:
            return None
        return _parse_entry(url, data)

    def commit(self, response: Response) -> None:
        """Store a response the caller has validated; ``"cached"`` responses need nothing.

        The header and body share one file, so a single atomic replace updates both, and a crash
        before the rename leaves the previous file intact.
        """
        if response.state == "cached":
            return
        if response.state not in ("fresh", "revalidated"):
            raise ValueError(f"unknown response state {response.state!r}")
        entry = CacheEntry(
            url=response.url,
            body=response.body,
            etag=response.etag,
            last_modified=response.last_modified,
            retrieved_at=response.retrieved_at,
        )
        path = self._cache_path(response.url)
        try:
            self.cache_dir.parent.mkdir(parents=True, exist_ok=True)
            self.cache_dir.mkdir(mode=0o700, exist_ok=True)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            atomic_write(path, _render_entry(entry), mode=0o600)
        except OSError as e:
            raise CacheError(
                f"cannot write the cache for {response.url}: {e.strerror or e}",
                url=response.url,
                hint=f"check that --cache-dir ({self.cache_dir}) is writable and not full",
            ) from e

    # -- the network ----------------------------------------------------------------------------

    def _fetch(self, url: str, headers: dict[str, str]) -> _Answer:
        """Redirect hops and retries, all within one deadline."""
        deadline = self._monotonic() + self.options.timeout
        current = url
        hops = 0
        failures = 0
        while True:
            try:
                answer = self._exchange(url, current, headers, deadline)
            except _Transient as t:
                failures += 1
                self._before_retry(url, t, failures, deadline)
                continue
            if answer.location is None:
                return answer
            hops += 1
            if hops > MAX_REDIRECTS:
                raise FetchError(
                    f"{url} redirected more than {MAX_REDIRECTS} times (last to {answer.location})",
                    url=url,
                    hint="the server is in a redirect loop; check the URL",
                )
            _require_https(url, answer.location)
            current = answer.location

    def _before_retry(self, url: str, failure: _Transient, failures: int, deadline: float) -> None:
        """Sleep before the next attempt, or raise when retrying is not allowed or not possible.

        ``Retry-After`` (RFC 9110 section 10.2.3, seconds or an HTTP-date) replaces the
        exponential backoff; one longer than ``max_retry_after`` or past the deadline aborts,
        naming what the server asked for, rather than sleeping for it as urllib3 would.
        """
        cause = failure.__cause__ if failure.__cause__ is not None else failure
        attempts = f"{failures} attempt" + ("s" if failures != 1 else "")
        if failures > self.options.retries:
            raise FetchError(
                f"{url}: {failure.what}; gave up after {attempts}",
                url=url,
                status=failure.status,
                hint=failure.hint,
            ) from cause
        remaining = deadline - self._monotonic()
        delay = _retry_after_seconds(failure.retry_after, self._clock())
        if delay is not None:
            asked = f"Retry-After: {failure.retry_after}"
            if delay > self.options.max_retry_after:
                raise FetchError(
                    f"{url}: {failure.what}; the server asks to retry after {delay:.0f} s "
                    f"[{asked}], more than the {self.options.max_retry_after:g} s allowed",
                    url=url,
                    status=failure.status,
                    hint="the provider is rate-limiting or down; run again later",
                ) from cause
            if delay >= remaining:
                raise FetchError(
                    f"{url}: {failure.what}; the server asks to retry after {delay:.0f} s "
                    f"[{asked}], past the {self.options.timeout:g} s deadline",
                    url=url,
                    status=failure.status,
                    hint="the provider is rate-limiting or down; run again later",
                ) from cause
        else:
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1))
            if delay >= remaining:
                raise FetchError(
                    f"{url}: {failure.what}; no time left for another attempt within the "
                    f"{self.options.timeout:g} s deadline after {attempts}",
                    url=url,
                    status=failure.status,
                    hint=failure.hint,
                ) from cause
        self._sleep(delay)

    def _exchange(
        self, url: str, current: str, headers: dict[str, str], deadline: float
    ) -> _Answer:
        """One request and its answer: a 200 with its body, a 304, or a redirect to follow."""
        remaining = self._time_left(url, deadline, 0)
        timeout = (
            min(self.options.connect_timeout, remaining),
            min(self.options.read_timeout, remaining),
        )
        try:
            resp = self._send(current, headers, timeout)
        except requests.exceptions.SSLError as e:
            raise _tls_error(url, current, e) from e
        except requests.exceptions.ProxyError as e:
            raise _Transient(
                f"the proxy failed: {_reason(e)}",
                "check HTTPS_PROXY and NO_PROXY in the environment",
            ) from e
        except requests.exceptions.ConnectTimeout as e:
            raise _Transient(
                f"connecting to {_host(current)} timed out after {timeout[0]:.3g} s",
                "check the network, DNS, and the proxy settings in HTTPS_PROXY",
            ) from e
        except requests.exceptions.ReadTimeout as e:
            raise _Transient(
                f"{_host(current)} sent no answer within {timeout[1]:.3g} s",
                "the server is slow or overloaded; try again later",
            ) from e
        except requests.exceptions.ConnectionError as e:
            raise _Transient(
                f"cannot connect to {_host(current)}: {_reason(e)}",
                "check the network, DNS, and the proxy settings in HTTPS_PROXY",
            ) from e
        except requests.exceptions.RequestException as e:
            raise FetchError(
                f"{url}: the request failed: {_reason(e)}",
                url=url,
                hint="check the URL",
            ) from e
        except OSError as e:
            raise FetchError(
                f"{url}: cannot set up TLS: {e}",
                url=url,
                hint="check that --ca-bundle names a readable PEM file",
            ) from e
        with resp:
            return self._answer(url, current, resp, deadline)

    def _send(
        self, url: str, headers: dict[str, str], timeout: tuple[float, float]
    ) -> requests.Response:
        """Send through the session's adapter, skipping ``Session.send``'s redirect handling.

        Any session gets the same treatment as one from :func:`make_session`: no redirect is
        followed and no 3xx body is read (see :class:`_NoRedirectSession`). Headers, proxies
        from the environment and ``verify`` are merged as ``Session.request`` merges them.
        """
        session = self._session
        prepared = session.prepare_request(requests.Request("GET", url, headers=headers))
        settings = session.merge_environment_settings(url, {}, True, self._verify, None)
        return session.get_adapter(url).send(
            prepared,
            stream=True,
            timeout=timeout,
            verify=settings["verify"] or True,
            cert=settings["cert"],
            proxies=settings["proxies"],
        )

    def _answer(self, url: str, current: str, resp: requests.Response, deadline: float) -> _Answer:
        status = resp.status_code
        etag = resp.headers.get("ETag")
        last_modified = resp.headers.get("Last-Modified")
        if status == 200:
            body = self._read_body(url, resp, deadline)
            return _Answer(200, current, body, etag, last_modified)
        if status == 304:
            return _Answer(304, current, b"", etag, last_modified)
        if status in REDIRECT_STATUSES:
            location = resp.headers.get("Location")
            if not location:
                raise FetchError(
                    f"{url}: HTTP {status} redirect from {current} without a Location",
                    url=url,
                    status=status,
                    hint="the server is misconfigured; report it to the provider",
                )
            return _Answer(status, current, location=urljoin(current, location.strip()))
        what = f"HTTP {status} {resp.reason or ''}".rstrip()
        if status in (403, 429) and resp.headers.get("X-RateLimit-Remaining") == "0":
            raise FetchError(
                f"{url}: {what}: rate-limited{_rate_limit_until(resp, self._clock())}",
                url=url,
                status=status,
                hint="wait for the reset, or authenticate for a higher limit",
            )
        if status in RETRY_STATUSES:
            raise _Transient(
                what,
                "the provider is overloaded or rate-limiting; run again later",
                status=status,
                retry_after=resp.headers.get("Retry-After"),
            )
        raise FetchError(f"{url}: {what}", url=url, status=status, hint=_status_hint(status))

    def _read_body(self, url: str, resp: requests.Response, deadline: float) -> bytes:
        """Stream the body under the deadline and the decoded-size cap.

        Each ``read1`` makes at most one socket read, and the socket timeout is set before it to
        the smaller of ``read_timeout`` and the time left, so no read outlives the deadline.
        (``read(n)`` would block until ``n`` bytes arrive, however slowly they drip.)
        """
        cap = self.options.max_bytes
        coding = resp.headers.get("Content-Encoding", "").strip().lower()
        decoder: _GzipDecoder | None
        if coding in ("", "identity"):
            decoder = None
        elif coding in ("gzip", "x-gzip"):
            decoder = _GzipDecoder()
        else:
            raise FetchError(
                f"{url}: unsupported Content-Encoding {coding!r}; only gzip was asked for",
                url=url,
                hint="the server or a proxy rewrote the response; report it to the provider",
            )
        length = _content_length(resp.headers.get("Content-Length"))
        if decoder is None and length is not None and length > cap:
            raise _too_large(url, cap, f"Content-Length {length}")
        raw = resp.raw
        sock = _socket_of(raw)
        body = bytearray()
        received = 0
        self._report(url, 0, length)
        while True:
            remaining = self._time_left(url, deadline, received)
            if sock is not None:
                sock.settimeout(min(self.options.read_timeout, remaining))
            try:
                chunk = raw.read1(CHUNK, decode_content=False)
            except urllib3.exceptions.ReadTimeoutError as e:
                self._time_left(url, deadline, received)
                raise _Transient(
                    f"the transfer stalled for {self.options.read_timeout:g} s "
                    f"after {received} bytes",
                    "the server or network is slow; try again later",
                ) from e
            except urllib3.exceptions.SSLError as e:
                raise _Transient(
                    f"the TLS connection broke after {received} bytes: {_reason(e)}",
                    "the connection is unreliable; try again later",
                ) from e
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise _Transient(
                    f"the connection broke after {received} bytes of the body: {_reason(e)}",
                    "the transfer was cut short; try again later",
                ) from e
            if not chunk:
                break
            received += len(chunk)
            for piece in decoder.feed(url, chunk) if decoder is not None else (chunk,):
                body += piece
                if len(body) > cap:
                    raise _too_large(url, cap, "the decoded body")
            self._report(url, len(body), length)
        if decoder is not None:
            decoder.finish(url)
        return bytes(body)

    def _time_left(self, url: str, deadline: float, received: int) -> float:
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            raise FetchError(
                f"{url}: no complete answer within the {self.options.timeout:g} s deadline "
                f"with {received} bytes of the body received",
                url=url,
                hint="the server or network is too slow; raise the timeout or try later",
            )
        return remaining

    def _report(self, url: str, done: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress(url, done, total)

    def _cache_path(self, url: str) -> Path:
        return self.cache_dir / "feeds" / hashlib.sha256(url.encode("utf-8")).hexdigest()


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


# -- helpers --------------------------------------------------------------------------------------


def _require_https(url: str, target: str) -> None:
    try:
        parts = urlsplit(target)
        host = parts.hostname
    except ValueError as e:  # an unbalanced [ in an IPv6 host, a bad port
        raise FetchError(f"{url}: invalid URL {target!r}: {e}", url=url) from None
    if parts.scheme.lower() != "https" or not host:
        if target == url:
            raise FetchError(
                f"{url}: only https:// URLs are fetched",
                url=url,
                hint="use the provider's https URL; plain http can be altered on the way",
            )
        raise FetchError(
            f"{url}: refused a redirect to {target} (not https)",
            url=url,
            hint="a redirect off https can be altered on the way; report it to the provider",
        )


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


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds asked for by ``Retry-After`` (delay-seconds or HTTP-date), or None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def _rate_limit_until(resp: requests.Response, now: float) -> str:
    """' until <UTC time>, in N min' from GitHub's ``X-RateLimit-Reset`` (epoch seconds)."""
    reset = resp.headers.get("X-RateLimit-Reset", "").strip()
    if not _DIGITS.fullmatch(reset):
        return ""
    when = int(reset)
    try:
        text = datetime.fromtimestamp(when, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return ""
    minutes = max(0, math.ceil((when - now) / 60))
    return f" until {text}, in {minutes} min"


def _status_hint(status: int) -> str:
    if status in (404, 410):
        return "check the URL; the provider may have moved the feed"
    if status in (401, 403, 407):
        return "the server refused access; check the URL, credentials and proxy"
    if 400 <= status < 500:
        return "the server rejected the request; check the URL"
    return "the provider has a problem; run again later"


def _tls_error(url: str, current: str, e: Exception) -> FetchError:
    reason = _reason(e)
    if "mismatch" in reason or "doesn't match" in reason:
        hint = (
            f"the certificate is not valid for {_host(current)}: check the URL; "
            "a TLS-intercepting proxy also causes this"
        )
    else:
        hint = "if the server uses a private CA, pass its PEM bundle with --ca-bundle"
    return FetchError(f"{url}: TLS verification failed: {reason}", url=url, hint=hint)


def _reason(e: BaseException) -> str:
    """The innermost, most specific message behind requests' and urllib3's wrappers."""
    current: BaseException = e
    for _ in range(12):
        if isinstance(current, urllib3.exceptions.MaxRetryError) and current.reason is not None:
            inner: BaseException | None = current.reason
        elif current.__cause__ is not None:
            inner = current.__cause__
        else:
            inner = next((a for a in reversed(current.args) if isinstance(a, BaseException)), None)
        if inner is None or inner is current:
            break
        current = inner
    if isinstance(current, ssl.SSLCertVerificationError) and current.verify_message:
        return str(current.verify_message)
    return str(current) or type(current).__name__


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _content_length(value: str | None) -> int | None:
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


def _socket_of(raw: object) -> socket.socket | None:
    """The socket under a streaming urllib3 response, to bound each read by the deadline."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _too_large(url: str, cap: int, what: str) -> FetchError:
    return FetchError(
        f"{url}: {what} is larger than the {cap}-byte limit",
        url=url,
        hint="a compressed or oversized answer; raise the size limit only if the feed is this big",
    )
