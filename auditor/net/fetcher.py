"""The fetcher: conditional requests, redirects followed by hand, retries, and the body read
under one deadline and a size cap; the rules are those of the :mod:`auditor.net` package."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin

import requests
import urllib3.exceptions

from auditor.fsutil import atomic_write, default_cache_dir
from auditor.net.cache import CacheEntry, Response, _from_cache, _parse_entry, _render_entry
from auditor.net.decode import CHUNK, _GzipDecoder
from auditor.net.errors import CacheError, FetchError
from auditor.net.helpers import (
    _content_length,
    _host,
    _rate_limit_until,
    _reason,
    _require_https,
    _retry_after_seconds,
    _socket_of,
    _status_hint,
    _tls_error,
    _too_large,
)
from auditor.net.options import NetOptions
from auditor.net.session import make_session

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Worth another attempt (the ``status_forcelist`` of RELIABILITY.md section 4)."""

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0


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
