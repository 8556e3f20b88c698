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
