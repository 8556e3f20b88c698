"""Helpers of :class:`~auditor.net.fetcher.Fetcher`: URL checks, the reading of response
headers, and the messages and hints of its errors."""

from __future__ import annotations

import email.utils
import math
import re
import socket
import ssl
from datetime import datetime, timezone
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from auditor.net.errors import FetchError

_DIGITS = re.compile(r"[0-9]+")


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
