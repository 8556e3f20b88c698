"""Source specs: one string names where a set of ranges comes from and which part of it.

Grammar (checked in this order, so every string has exactly one reading)::

    -                              standard input
    https://HOST/PATH              a text list at a URL (plain http is refused)
    file:PATH                      a local file, whatever its name looks like
    file+FORMAT:PATH               the same, read in FORMAT (auditor formats) whatever --format
                                   says; file+FORMAT:- is standard input in FORMAT
    text:URL-OR-PATH               a text list, read with the feed's text parser
    json:URL-OR-PATH#SELECTOR      any JSON feed, items picked by SELECTOR
    spf:DOMAIN                     the addresses a domain's SPF record authorises
    NAME, NAME:                    a provider of the catalog (auditor providers)
    NAME:KEY=VALUE[,KEY=VALUE...]  the same, filtered; VALUE may list alternatives a|b;
                                   the reserved key from=URL-OR-PATH reads the feed from there
    anything else                  a local file path

A provider name is letters (in any case: ``AWS`` is ``aws``), digits and dashes, so
``file+FORMAT:`` (with its ``+``) is never one, and a URL's scheme has no ``+FORMAT`` either;
``./aws`` or ``file:aws`` reads a file called ``aws``, and ``./file+x:y`` a file of that name.
A bare word that is both a provider and an existing file is refused as ambiguous (``aws:`` is
the provider), and one that is neither is an error that lists the providers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from auditor.errors import UsageError

Kind = Literal["stdin", "url", "file", "text", "json", "spf", "provider"]

_PROVIDER = re.compile(r"([a-z][a-z0-9-]{0,31})(?::(.*))?", re.DOTALL)
_FORMAT = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_STDIN_IN_FORMAT = re.compile(r"file\+[^:]*:-")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class ProviderNames(Protocol):
    """What a spec is read against: the names of the catalog's providers
    (:class:`auditor.sources.catalog.Catalog`, or a loader's catalog that is read only when a
    spec may name a provider)."""

    def __contains__(self, name: object) -> bool: ...

    def names(self) -> list[str]: ...


@dataclass(frozen=True)
class SourceSpec:
    text: str
    """The spec as given: the source's name in reports."""
    kind: Kind
    location: str | None = None
    """URL or path (for providers: the from= override, else None)."""
    provider: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    selector: str | None = None
    fmt: str | None = None
    """For files and stdin: the format named in the spec (file+FORMAT:PATH)."""

    @property
    def filter_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.filters)


def reads_stdin(text: str) -> bool:
    """The spec reads standard input: ``-`` or ``file+FORMAT:-``."""
    return text == "-" or _STDIN_IN_FORMAT.fullmatch(text) is not None


def is_url(text: str) -> bool:
    return "://" in text and text.split("://", 1)[0].isalpha()


def _check_url(text: str, spec: str) -> str:
    if not text.lower().startswith("https://"):
        raise UsageError(
            f"{spec}: only https:// URLs are fetched",
            hint="feeds are fetched over verified HTTPS; download the file and give its path",
        )
    try:
        host = urlsplit(text).hostname
    except ValueError as e:
        raise UsageError(f"{spec}: invalid URL: {e}") from None
    if not host:
        raise UsageError(f"{spec}: the URL has no host")
    return text


def _location(text: str, spec: str) -> str:
    if not text:
        raise UsageError(f"{spec}: a URL or a path is missing after the prefix")
    if text == "-":
        raise UsageError(
            f"{spec}: standard input is read as a plain '-' only",
            hint="pipe the list and give - as the source",
        )
    return _check_url(text, spec) if is_url(text) else text


def parse_spec(text: str, catalog: ProviderNames) -> SourceSpec:
    """Read one spec; UsageError with the valid choices when it cannot be read."""
    if text == "-":
        return SourceSpec(text, "stdin")
    prefix, sep, rest = text.partition(":")
    fmt = None
    if sep and prefix.startswith("file+"):
        fmt = prefix[len("file+") :]
        if _FORMAT.fullmatch(fmt.lower()):
            fmt = fmt.lower()  # format names are read in any case, as --format reads them
        else:
            raise UsageError(
                f"{text}: cannot read the format name {fmt!r}",
                hint="write file+FORMAT:PATH with a name from auditor formats,"
                " e.g. file+postfix-cidr:client_access.cidr",
            )
        if rest == "-":
            return SourceSpec(text, "stdin", fmt=fmt)
        prefix = "file"
    if sep and prefix == "file":
        path = rest[2:] if rest.startswith("///") else rest  # file:///etc/x is /etc/x
        if not path or path.startswith("//"):
            where = text.partition(":")[0]
            raise UsageError(f"{text}: a local path is expected after {where}:")
        return SourceSpec(text, "file", path, fmt=fmt)
    if is_url(text):
        return SourceSpec(text, "url", _check_url(text, text))
    if sep and prefix == "text":
        return SourceSpec(text, "text", _location(rest, text))
    if sep and prefix == "json":
        location, hashmark, selector = rest.rpartition("#")
        if not hashmark or not selector.strip():
            raise UsageError(
                f"{text}: a JSON feed needs a selector",
                hint="write json:URL-OR-PATH#SELECTOR, e.g. json:feed.json#prefixes[].ip_prefix",
            )
        return SourceSpec(text, "json", _location(location, text), selector=selector.strip())
    if sep and prefix == "spf":
        if not rest:
            raise UsageError(f"{text}: a domain is missing after spf:")
        return SourceSpec(text, "spf", rest)
    m = _PROVIDER.fullmatch(text)
    # provider names are case-insensitive: AWS and Aws: are aws
    named = _PROVIDER.fullmatch(prefix.lower() + text[len(prefix) :])
    if named and named.group(1) in catalog:
        name, filters_text = named.group(1), named.group(2)
        if filters_text is None and Path(text).exists():
            raise UsageError(
                f"{text!r} is both a provider and a file here",
                hint=f"write ./{text} for the file, or {text}: for the provider",
            )
        override, filters = _filters(filters_text, text) if filters_text else (None, ())
        return SourceSpec(text, "provider", override, name, filters)
    if m and not Path(text).exists():
        raise UsageError(
            f"{text!r} is neither a provider nor an existing file",
            hint="providers: " + ", ".join(catalog.names()) + "; for a file write ./NAME",
        )
    return SourceSpec(text, "file", text)


def _filters(text: str, spec: str) -> tuple[str | None, tuple[tuple[str, tuple[str, ...]], ...]]:
    """``key=a|b,key2=c`` into ((key, (a, b)), (key2, (c,))); a repeated key adds values."""
    merged: dict[str, list[str]] = {}
    location = None
    for part in text.split(","):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key.lower() == "from":
            key = "from"
        if not eq or not _KEY.fullmatch(key) or not value:
            raise UsageError(
                f"{spec}: cannot read the filter {part!r}",
                hint="filters are KEY=VALUE separated by commas; alternatives as VALUE|VALUE",
            )
        if key == "from":
            if location is not None:
                raise UsageError(f"{spec}: from= given twice")
            location = _location(value, spec)
            continue
        values = [v.strip() for v in value.split("|")]
        if not all(values):
            raise UsageError(f"{spec}: empty alternative in {part!r}")
        merged.setdefault(key, [])
        merged[key].extend(v for v in values if v not in merged[key])
    return location, tuple((k, tuple(v)) for k, v in merged.items())
