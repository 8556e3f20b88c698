"""auditor.net against real HTTPS servers on 127.0.0.1 (tests/httpd.py); no internet, no mocks.

Each case is a line of RELIABILITY.md section 4. Retry tests inject ``sleep`` and assert the
delays asked for, so they take no real time; the deadline tests use real time on purpose.
"""

from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import json
import os
import socket
import stat
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from httpd import FeedServer, Reply, connect_proxy, serve

import auditor
from auditor.errors import AuditorError, ExitCode
from auditor.fsutil import default_cache_dir
from auditor.net.cache import CacheEntry, Response
from auditor.net.errors import CacheError, FetchError
from auditor.net.fetcher import Fetcher
from auditor.net.options import NetOptions
from auditor.net.session import make_session

FEED = b'{"syncToken": "1700000000", "prefixes": [{"ip_prefix": "192.0.2.0/24"}]}\n'
LAST_MODIFIED = "Tue, 07 Jan 2025 10:00:00 GMT"
RESET = 1767225600  # 2026-01-01T00:00:00Z


class Sleeps(list[float]):
    """An injected ``sleep`` that records the delay instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    """An injected wall clock the test moves by hand."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


MakeFetcher = Callable[..., Fetcher]


@pytest.fixture(autouse=True)
def _no_ambient_network_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy or CA bundle set on the host must not change what these tests exercise."""
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def make_fetcher(
    https_server: FeedServer, cache_dir: Path, sleeps: Sleeps
) -> Iterator[MakeFetcher]:
    """make_fetcher(clock=..., progress=..., **NetOptions fields) -> a Fetcher trusting
    ``https_server``'s CA, caching under ``cache_dir``, sleeping into ``sleeps``; closed after
    the test."""
    made: list[Fetcher] = []

    def _make(
        *,
        clock: Callable[[], float] = time.time,
        progress: Callable[[str, int, int | None], None] | None = None,
        **fields: Any,
    ) -> Fetcher:
        fields.setdefault("ca_bundle", https_server.ca_bundle)
        fields.setdefault("cache_dir", cache_dir)
        fetcher = Fetcher(NetOptions(**fields), clock=clock, sleep=sleeps, progress=progress)
        made.append(fetcher)
        return fetcher

    yield _make
    for fetcher in made:
        fetcher.close()


def cache_file(cache_dir: Path, url: str) -> Path:
    return cache_dir / "feeds" / hashlib.sha256(url.encode("utf-8")).hexdigest()


@functools.cache
def gzip_bomb(decoded_size: int) -> bytes:
    """``decoded_size`` zero bytes gzip-compressed: 100 MiB becomes about 100 KB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_size >> 20)]
    return b"".join(parts) + compressor.flush()


def fetch_error(fetcher: Fetcher, url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetcher.get(url, **kwargs)
    return caught.value


# -- success, conditional GET, headers -------------------------------------------------------------


def test_200_is_fresh_and_leaves_the_cache_alone(
    https_server: FeedServer, make_fetcher: MakeFetcher, cache_dir: Path
) -> None:
    https_server.route("/feed.json", Reply(body=FEED, etag='"v1"', last_modified=LAST_MODIFIED))
    url = https_server.url("/feed.json")
    fetcher = make_fetcher()

    response = fetcher.get(url)

    assert (response.state, response.body, response.url, response.final_url) == (
        "fresh",
        FEED,
        url,
        url,
    )
    assert (response.etag, response.last_modified, response.previous) == (
        '"v1"',
        LAST_MODIFIED,
        None,
    )
    # get() never writes: the caller validates the body first (a captive portal answers 200)
    assert fetcher.cached(url) is None
    assert not cache_file(cache_dir, url).exists()


def test_user_agent_and_accept_encoding_are_sent(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    https_server.route("/feed", Reply(body=FEED))
    make_fetcher().get(https_server.url("/feed"))

    headers = https_server.requests[0].headers
    assert headers["User-Agent"].startswith(f"allowlist-auditor/{auditor.__version__} ")
    assert headers["Accept-Encoding"] == "gzip"
    assert headers["If-None-Match"] is None


def test_304_with_a_cache_revalidates_and_commit_refreshes_the_date(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    https_server.route("/feed", Reply(body=FEED, etag='"v1"', last_modified=LAST_MODIFIED))
    url = https_server.url("/feed")
    clock = Clock()
    fetcher = make_fetcher(clock=clock)
    first = fetcher.get(url)
    fetcher.commit(first)
    clock.now += 3600

    second = fetcher.get(url)

    request = https_server.requests[1].headers
    assert (request["If-None-Match"], request["If-Modified-Since"]) == ('"v1"', LAST_MODIFIED)
    assert (second.state, second.body, second.etag) == ("revalidated", FEED, '"v1"')
    assert second.previous == CacheEntry(url, FEED, '"v1"', LAST_MODIFIED, clock.now - 3600)
    assert second.retrieved_at == clock.now
    fetcher.commit(second)
    assert fetcher.cached(url) == CacheEntry(url, FEED, '"v1"', LAST_MODIFIED, clock.now)


def test_304_on_last_modified_alone(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    https_server.route("/feed", Reply(body=FEED, last_modified=LAST_MODIFIED))
    url = https_server.url("/feed")
    fetcher = make_fetcher()
    fetcher.commit(fetcher.get(url))

    assert fetcher.get(url).state == "revalidated"
    assert https_server.requests[1].headers["If-None-Match"] is None


def test_304_without_a_cache_fails(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    https_server.route("/feed", Reply(status=304))
    error = fetch_error(make_fetcher(), https_server.url("/feed"))
    assert "304" in error.message and "no cached copy" in error.message
    assert error.status == 304


def test_progress_is_reported_while_streaming(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    body = bytes(200_000)
    https_server.route("/big", Reply(body=body))
    calls: list[tuple[str, int, int | None]] = []
    url = https_server.url("/big")
    make_fetcher(progress=lambda *args: calls.append(args)).get(url)

    assert calls[0] == (url, 0, len(body))
    assert calls[-1] == (url, len(body), len(body))
    assert len(calls) >= 3
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)


# -- retries and rate limits ----------------------------------------------------------------------


def test_503_503_200_succeeds_with_exponential_backoff(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    https_server.route("/feed", [Reply(status=503), Reply(status=503), Reply(body=FEED)])
    response = make_fetcher().get(https_server.url("/feed"))
    assert response.body == FEED
    assert sleeps == [0.5, 1.0]
    assert len(https_server.requests) == 3


def test_429_then_200_obeys_retry_after_seconds(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    https_server.route("/feed", [Reply(status=429, headers={"Retry-After": "7"}), Reply(body=FEED)])
    assert make_fetcher().get(https_server.url("/feed")).body == FEED
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    clock = Clock(1_750_000_000.0)
    when = "Sun, 15 Jun 2025 15:06:52 GMT"  # 12 s after the clock's now (1750000000)
    https_server.route(
        "/feed", [Reply(status=503, headers={"Retry-After": when}), Reply(body=FEED)]
    )
    assert make_fetcher(clock=clock).get(https_server.url("/feed")).body == FEED
    assert sleeps == [12.0]


def test_retry_after_of_a_day_fails_at_once(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    """urllib3 would sleep the whole day (RELIABILITY.md section 4); this must not."""
    https_server.route("/feed", [Reply(status=429, headers={"Retry-After": "86400"})])
    started = time.monotonic()
    error = fetch_error(make_fetcher(), https_server.url("/feed"))
    elapsed = time.monotonic() - started

    assert elapsed < 5.0
    assert sleeps == []
    assert "86400" in error.message and "429" in error.message
    assert error.status == 429
    assert len(https_server.requests) == 1


def test_retry_after_past_the_deadline_fails(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    https_server.route("/feed", [Reply(status=503, headers={"Retry-After": "20"})])
    error = fetch_error(make_fetcher(timeout=10.0), https_server.url("/feed"))
    assert "Retry-After: 20" in error.message and "deadline" in error.message
    assert sleeps == []


def test_retries_run_out(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    https_server.route("/feed", Reply(status=502))
    error = fetch_error(make_fetcher(retries=2), https_server.url("/feed"))
    assert "HTTP 502" in error.message and "3 attempts" in error.message
    assert error.status == 502
    assert sleeps == [0.5, 1.0]
    assert len(https_server.requests) == 3


def test_connection_refused_is_retried_then_fails(
    make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    error = fetch_error(make_fetcher(retries=1), f"https://127.0.0.1:{port}/feed")
    assert "cannot connect" in error.message and "2 attempts" in error.message
    assert error.hint is not None and "proxy" in error.hint
    assert sleeps == [0.5]
    assert isinstance(error.__cause__, requests.ConnectionError)


def test_github_style_rate_limit_fails_without_retrying(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(RESET)}
    https_server.route("/meta", Reply(status=403, headers=headers))
    error = fetch_error(make_fetcher(clock=Clock(RESET - 600)), https_server.url("/meta"))
    assert "rate-limited until 2026-01-01T00:00:00Z, in 10 min" in error.message
    assert error.status == 403
    assert sleeps == []
    assert len(https_server.requests) == 1


def test_other_statuses_fail_with_the_status(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    error = fetch_error(make_fetcher(), https_server.url("/moved-away"))
    assert "HTTP 404 Not Found" in error.message
    assert error.hint is not None and "check the URL" in error.hint
    assert error.exit_code == ExitCode.TROUBLE and isinstance(error, AuditorError)


# -- the deadline and the size cap ----------------------------------------------------------------


def test_a_dripping_server_fails_at_the_deadline(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    """One byte every 0.2 s never trips a 20 s read timeout; the overall deadline stops it."""
    https_server.route("/drip", Reply(body=FEED, drip=0.2))
    started = time.monotonic()
    error = fetch_error(make_fetcher(timeout=1.0), https_server.url("/drip"))
    elapsed = time.monotonic() - started

    assert 0.9 < elapsed < 2.0
    assert "1 s deadline" in error.message


def test_waiting_for_the_answer_counts_against_the_deadline(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    https_server.route("/slow", Reply(body=FEED, delay=5.0))
    started = time.monotonic()
    error = fetch_error(make_fetcher(timeout=1.0), https_server.url("/slow"))
    elapsed = time.monotonic() - started

    assert 0.9 < elapsed < 2.0
    assert "no answer within 1 s" in error.message and "deadline" in error.message
    assert sleeps == []


def test_a_silent_server_trips_the_read_timeout_and_is_retried(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    https_server.route("/slow", [Reply(body=FEED, delay=5.0), Reply(body=FEED)])
    assert make_fetcher(read_timeout=0.3).get(https_server.url("/slow")).body == FEED
    assert sleeps == [0.5]


def test_a_truncated_body_fails(
    https_server: FeedServer, make_fetcher: MakeFetcher, sleeps: Sleeps
) -> None:
    """Content-Length 30, 12 bytes, close: urllib3 2 raises IncompleteRead (#2514)."""
    https_server.route("/cut", Reply(body=b"x" * 30, truncate_to=12))
    error = fetch_error(make_fetcher(retries=1), https_server.url("/cut"))
    assert "broke after 12 bytes" in error.message and "IncompleteRead" in error.message
    assert sleeps == [0.5]
    assert len(https_server.requests) == 2


def test_a_truncated_gzip_body_fails(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    """A gzip stream cut before its trailer, with a Content-Length that matches the cut."""
    whole = gzip_bomb(4 << 20)
    headers = {"Content-Encoding": "gzip"}
    https_server.route("/cut.gz", Reply(body=whole[: len(whole) // 2], headers=headers))
    error = fetch_error(make_fetcher(retries=0), https_server.url("/cut.gz"))
    assert "ends early" in error.message


def test_gzip_is_decoded(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    https_server.route("/feed", Reply(body=FEED * 100, gzip=True))
    assert make_fetcher().get(https_server.url("/feed")).body == FEED * 100


def test_gzip_members_are_decoded_as_one_stream(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    members = gzip.compress(b"192.0.2.0/24\n") + gzip.compress(b"198.51.100.0/24\n")
    https_server.route("/feed", Reply(body=members, headers={"Content-Encoding": "gzip"}))
    body = make_fetcher().get(https_server.url("/feed")).body
    assert body == b"192.0.2.0/24\n198.51.100.0/24\n"


def test_a_body_that_is_not_gzip_fails(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    https_server.route("/feed", Reply(body=b"<html>", headers={"Content-Encoding": "gzip"}))
    error = fetch_error(make_fetcher(), https_server.url("/feed"))
    assert "gzip-encoded body is corrupt" in error.message


def test_a_gzip_bomb_stops_at_the_decoded_cap_in_little_memory(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    bomb = gzip_bomb(100 << 20)
    https_server.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    fetcher = make_fetcher(max_bytes=1 << 20)
    tracemalloc.start()
    try:
        error = fetch_error(fetcher, https_server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "larger than the 1048576-byte limit" in error.message
    assert peak < 8 << 20


def test_a_declared_length_over_the_cap_fails_before_reading(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    https_server.route("/big", Reply(body=bytes(4096)))
    error = fetch_error(make_fetcher(max_bytes=1024), https_server.url("/big"))
    assert "Content-Length 4096 is larger than the 1024-byte limit" in error.message


# -- https only, redirects, TLS -------------------------------------------------------------------


def test_plain_http_urls_are_refused(http_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    http_server.route("/feed", Reply(body=FEED))
    error = fetch_error(make_fetcher(), http_server.url("/feed"))
    assert "only https://" in error.message
    assert http_server.requests == []


def test_a_redirect_to_http_is_refused(
    https_server: FeedServer, http_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    http_server.route("/feed", Reply(body=FEED))
    https_server.route("/feed", Reply(status=302, headers={"Location": http_server.url("/feed")}))
    error = fetch_error(make_fetcher(), https_server.url("/feed"))
    assert "refused a redirect to http://" in error.message
    assert http_server.requests == []


def test_https_redirects_are_followed(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    https_server.route("/old", Reply(status=301, headers={"Location": "/moved"}))
    https_server.route("/moved", Reply(status=307, headers={"Location": https_server.url("/new")}))
    https_server.route("/new", Reply(body=FEED))
    response = make_fetcher().get(https_server.url("/old"))
    assert (response.body, response.url) == (FEED, https_server.url("/old"))
    assert response.final_url == https_server.url("/new")


def test_a_redirect_body_is_not_read(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    """requests reads a 3xx body even with allow_redirects=False, without cap or deadline."""
    location = {"Location": "/new"}
    https_server.route("/old", Reply(status=302, headers=location, body=bytes(100), drip=0.2))
    https_server.route("/new", Reply(body=FEED))
    started = time.monotonic()
    assert make_fetcher(timeout=10.0).get(https_server.url("/old")).body == FEED
    assert time.monotonic() - started < 2.0


def test_redirects_are_not_followed_by_the_session(https_server: FeedServer) -> None:
    https_server.route("/old", Reply(status=302, headers={"Location": "/new"}, body=b"moved"))
    with make_session(NetOptions()) as session:
        response = session.get(https_server.url("/old"), verify=https_server.ca_bundle, timeout=5)
    assert (response.status_code, response.content) == (302, b"moved")
    assert [r.path for r in https_server.requests] == ["/old"]


def test_a_redirect_loop_fails(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    https_server.route("/loop", Reply(status=302, headers={"Location": "/loop"}))
    error = fetch_error(make_fetcher(), https_server.url("/loop"))
    assert "redirected more than 5 times" in error.message
    assert len(https_server.requests) == 6


def test_an_untrusted_ca_fails(https_server: FeedServer, make_fetcher: MakeFetcher) -> None:
    https_server.route("/feed", Reply(body=FEED))
    error = fetch_error(make_fetcher(ca_bundle=None), https_server.url("/feed"))
    assert "TLS verification failed" in error.message
    assert error.hint is not None and "--ca-bundle" in error.hint
    assert https_server.requests == []


def test_a_certificate_for_another_name_fails(
    tls_ca: trustme.CA, make_fetcher: MakeFetcher
) -> None:
    with serve(tls_ca, names=["feeds.example.net"]) as other:
        other.route("/feed", Reply(body=FEED))
        error = fetch_error(make_fetcher(ca_bundle=other.ca_bundle), other.url("/feed"))
    assert "TLS verification failed" in error.message and "mismatch" in error.message
    assert error.hint is not None and "not valid for 127.0.0.1" in error.hint


def test_an_injected_session_cannot_turn_verification_off(
    https_server: FeedServer, cache_dir: Path
) -> None:
    https_server.route("/feed", Reply(body=FEED))
    with requests.Session() as session:
        session.verify = False
        fetcher = Fetcher(NetOptions(cache_dir=cache_dir), session=session)
        error = fetch_error(fetcher, https_server.url("/feed"))
        fetcher.close()
        assert "TLS verification failed" in error.message


def test_a_missing_ca_bundle_file_fails(
    https_server: FeedServer, make_fetcher: MakeFetcher, tmp_path: Path
) -> None:
    error = fetch_error(
        make_fetcher(ca_bundle=str(tmp_path / "absent.pem")), https_server.url("/feed")
    )
    assert error.hint is not None and "--ca-bundle" in error.hint


def test_proxies_come_from_the_environment(
    https_server: FeedServer, make_fetcher: MakeFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    https_server.route("/feed", Reply(body=FEED))
    with connect_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        response = make_fetcher().get(https_server.url("/feed"))
    assert response.body == FEED
    assert proxy.connects == [f"127.0.0.1:{https_server.port}"]


# -- offline, refresh and the cache ---------------------------------------------------------------


def test_offline_without_a_cache_fails(
    https_server: FeedServer, make_fetcher: MakeFetcher, cache_dir: Path
) -> None:
    https_server.route("/feed", Reply(body=FEED))
    error = fetch_error(make_fetcher(offline=True), https_server.url("/feed"))
    assert "not in the cache" in error.message
    assert error.hint is not None and "--cache-dir" in error.hint and str(cache_dir) in error.hint
    assert https_server.requests == []


def test_offline_with_a_cache_serves_it(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    https_server.route("/feed", Reply(body=FEED, etag='"v1"'))
    url = https_server.url("/feed")
    online = make_fetcher()
    online.commit(online.get(url))

    response = make_fetcher(offline=True).get(url)

    assert (response.state, response.body, response.etag) == ("cached", FEED, '"v1"')
    assert response.previous == online.cached(url)
    assert len(https_server.requests) == 1


def test_refresh_serves_a_young_entry_without_any_request(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    """Microsoft 365 allows 30 calls an hour: a run within the hour must not call at all."""
    https_server.route("/endpoints", Reply(body=FEED, etag='"v1"'))
    url = https_server.url("/endpoints")
    clock = Clock()
    fetcher = make_fetcher(clock=clock)
    fetcher.commit(fetcher.get(url))
    clock.now += 1800

    cached = fetcher.get(url, refresh=3600)
    assert (cached.state, cached.body) == ("cached", FEED)
    assert len(https_server.requests) == 1
    fetcher.commit(cached)
    assert fetcher.cached(url) == cached.previous

    clock.now += 1801
    assert fetcher.get(url, refresh=3600).state == "revalidated"
    assert len(https_server.requests) == 2


def test_an_entry_from_the_future_is_not_young(
    https_server: FeedServer, make_fetcher: MakeFetcher
) -> None:
    https_server.route("/feed", Reply(body=FEED))
    url = https_server.url("/feed")
    clock = Clock()
    fetcher = make_fetcher(clock=clock)
    fetcher.commit(fetcher.get(url))
    clock.now -= 600
    assert fetcher.get(url, refresh=3600).state == "fresh"


def test_commit_writes_one_private_file_that_a_second_fetcher_reads(
    https_server: FeedServer, make_fetcher: MakeFetcher, cache_dir: Path
) -> None:
    https_server.route("/feed", Reply(body=FEED, etag='"v1"', last_modified=LAST_MODIFIED))
    url = https_server.url("/feed")
    clock = Clock()
    make_fetcher(clock=clock).commit(make_fetcher(clock=clock).get(url))

    entry = make_fetcher().cached(url)
    assert entry == CacheEntry(url, FEED, '"v1"', LAST_MODIFIED, clock.now)
    path = cache_file(cache_dir, url)
    assert os.listdir(path.parent) == [path.name]
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    header, body = path.read_bytes().split(b"\n", 1)
    assert body == FEED
    assert json.loads(header) == {
        "format": 1,
        "url": url,
        "etag": '"v1"',
        "last_modified": LAST_MODIFIED,
        "retrieved_at": clock.now,
        "sha256": hashlib.sha256(FEED).hexdigest(),
        "length": len(FEED),
    }


def test_a_failed_replace_leaves_the_old_file(
    https_server: FeedServer,
    make_fetcher: MakeFetcher,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As if the process died between writing the temp file and renaming it."""
    https_server.route("/feed", [Reply(body=b"old\n"), Reply(body=b"new\n")])
    url = https_server.url("/feed")
    fetcher = make_fetcher()
    fetcher.commit(fetcher.get(url))
    newer = fetcher.get(url)

    def no_space(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(CacheError) as caught:
        fetcher.commit(newer)
    monkeypatch.undo()

    assert "No space left on device" in caught.value.message
    assert isinstance(caught.value, FetchError)
    entry = fetcher.cached(url)
    assert entry is not None and entry.body == b"old\n"
    assert os.listdir(cache_dir / "feeds") == [cache_file(cache_dir, url).name]


def _garbage(data: bytes, url: str) -> bytes:
    return b"\x00\xff not a cache file"


def _truncated(data: bytes, url: str) -> bytes:
    return data[:-5]


def _header_only(data: bytes, url: str) -> bytes:
    return data.split(b"\n", 1)[0]


def _wrong_hash(data: bytes, url: str) -> bytes:
    return data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]


def _empty(data: bytes, url: str) -> bytes:
    return b""


def _wrong_url(data: bytes, url: str) -> bytes:
    header, body = data.split(b"\n", 1)
    fields = json.loads(header)
    fields["url"] = url + "?elsewhere"
    return json.dumps(fields).encode() + b"\n" + body


def _string_length(data: bytes, url: str) -> bytes:
    header, body = data.split(b"\n", 1)
    fields = json.loads(header)
    fields["length"] = str(fields["length"])
    return json.dumps(fields).encode() + b"\n" + body


@pytest.mark.parametrize(
    "corrupt",
    [_garbage, _truncated, _header_only, _wrong_hash, _empty, _wrong_url, _string_length],
)
def test_a_corrupt_cache_file_counts_as_absent(
    https_server: FeedServer,
    make_fetcher: MakeFetcher,
    cache_dir: Path,
    corrupt: Callable[[bytes, str], bytes],
) -> None:
    https_server.route("/feed", Reply(body=FEED, etag='"v1"'))
    url = https_server.url("/feed")
    fetcher = make_fetcher()
    fetcher.commit(fetcher.get(url))
    path = cache_file(cache_dir, url)
    path.write_bytes(corrupt(path.read_bytes(), url))

    assert fetcher.cached(url) is None
    response = fetcher.get(url)
    assert (response.state, response.body, response.previous) == ("fresh", FEED, None)
    assert https_server.requests[-1].headers["If-None-Match"] is None
    with pytest.raises(FetchError, match="not in the cache"):
        make_fetcher(offline=True).get(url)


def test_another_urls_file_under_this_name_counts_as_absent(
    https_server: FeedServer, make_fetcher: MakeFetcher, cache_dir: Path
) -> None:
    https_server.route("/a", Reply(body=b"a\n", etag='"a"'))
    https_server.route("/b", Reply(body=b"b\n", etag='"b"'))
    url_a, url_b = https_server.url("/a"), https_server.url("/b")
    fetcher = make_fetcher()
    fetcher.commit(fetcher.get(url_a))
    cache_file(cache_dir, url_b).write_bytes(cache_file(cache_dir, url_a).read_bytes())

    assert fetcher.cached(url_b) is None
    assert fetcher.get(url_b).body == b"b\n"


def test_committing_a_cached_response_writes_nothing(
    make_fetcher: MakeFetcher, cache_dir: Path
) -> None:
    url = "https://feeds.example.net/x"
    entry = CacheEntry(url, FEED, None, None, 1.0)
    cached = Response(url, url, FEED, "cached", 1.0, None, None, entry)
    make_fetcher().commit(cached)
    assert not cache_dir.exists()


# -- the session factory and defaults -------------------------------------------------------------


def test_make_session_verifies_sends_the_user_agent_and_never_follows_redirects(
    tmp_path: Path,
) -> None:
    with make_session(NetOptions()) as session:
        assert session.verify is True
        assert session.trust_env is True
        assert str(session.headers["User-Agent"]).startswith("allowlist-auditor/")
    with make_session(NetOptions(ca_bundle=str(tmp_path / "ca.pem"))) as session:
        assert session.verify == str(tmp_path / "ca.pem")


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "allowlist-auditor"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "allowlist-auditor"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "allowlist-auditor"
