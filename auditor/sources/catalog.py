"""The provider catalog: a name such as ``aws`` mapped to where its feed lives and how to read it.

The built-in catalog is ``data/providers.yaml`` (shipped in the package as ``auditor.data``);
``--catalog FILE`` adds providers or overrides fields of built-in ones, with the same schema.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from auditor.errors import InputError
from auditor.yamlutil import key_line, load_yaml

NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
"""A provider name: also the first word of a source spec, so it can never look like a path."""

_FIELDS = ("description", "url", "parser", "spf", "filters", "docs", "refresh", "notes")
_FEED_FIELDS = ("url", "parser", "filters", "refresh")
"""Fields of a provider read from a feed; an SPF-backed provider (``spf:``) has none of them."""
_DNS_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})+")
"""An SPF record's name: two labels or more of letters, digits, '-' and '_' (_spf, _netblocks)."""
_RESERVED = frozenset({"file", "text", "json", "spf", "http", "https"})
"""Spec prefixes that are not providers."""


@dataclass(frozen=True)
class Provider:
    name: str
    description: str
    urls: tuple[str, ...]
    """https URLs or absolute local paths; empty when the feed has no stable address."""
    parser: str
    filters: tuple[str, ...] = ()
    docs: str | None = None
    refresh: float = 0.0
    """Seconds during which a cached copy is reused without asking (rate-limited feeds)."""
    notes: str | None = None
    defined_in: str = "built-in"
    spf: tuple[str, ...] = ()
    """SPF record names whose expansion (the union) is the provider's set; when given, the
    provider has no feed: no urls, parser, filters or refresh."""


@dataclass(frozen=True)
class Catalog:
    providers: Mapping[str, Provider]

    def __contains__(self, name: object) -> bool:
        return name in self.providers

    def get(self, name: str) -> Provider:
        return self.providers[name]

    def names(self) -> list[str]:
        return sorted(self.providers)


def _builtin_bytes() -> bytes:
    return resources.files("auditor.data").joinpath("providers.yaml").read_bytes()


def load_catalog(extra: Sequence[str | Path] = ()) -> Catalog:
    """The built-in catalog, then each user catalog in order (later files win field by field)."""
    files = []
    for path in extra:
        path = Path(path)
        try:
            files.append((path, path.read_bytes()))
        except OSError as e:
            raise InputError(f"cannot read the catalog: {e.strerror}", source=str(path)) from None
    return _catalog(tuple(files))


@functools.lru_cache(maxsize=8)
def _catalog(files: tuple[tuple[Path, bytes], ...]) -> Catalog:
    """The catalog of these files' contents, parsed once a process (``auditor check`` reads
    it for every audit; a Catalog is immutable)."""
    providers: dict[str, Provider] = {}
    builtin = _builtin_bytes()
    _merge(providers, load_yaml(builtin, "providers.yaml"), "built-in", None, builtin)
    for path, data in files:
        _merge(providers, load_yaml(data, str(path)), str(path), path.resolve().parent, data)
    return Catalog(MappingProxyType(providers))


def _merge(
    providers: dict[str, Provider], doc: Any, source: str, base: Path | None, data: bytes
) -> None:
    """Add or override the providers of one catalog document; an error names the line of
    the field at fault (or of its provider)."""
    for name, fields in _providers(doc, source).items():

        def line(key: str | None, name: Any = name) -> int | None:
            return key_line(data, ("providers", name, key))

        try:
            providers[name] = _provider(providers.get(name), name, fields, source, base, line)
        except InputError as e:
            if e.line is None and e.source == source:
                e.line = line(None)
            raise


def _providers(doc: Any, source: str) -> dict[Any, Any]:
    if (
        not isinstance(doc, dict)
        or set(doc) != {"providers"}
        or not isinstance(doc["providers"], dict)
    ):
        raise InputError(
            "a catalog is a mapping with one key, providers:, mapping names to fields",
            source=source,
            hint="see the catalog schema in the README",
        )
    providers: dict[Any, Any] = doc["providers"]
    return providers


def _provider(
    old: Provider | None,
    name: Any,
    fields: Any,
    source: str,
    base: Path | None,
    line: Callable[[str | None], int | None],
) -> Provider:
    """One catalog entry over what earlier catalogs said of the same name (None: a new one)."""
    where = f"providers.{name}"
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in _RESERVED:
        raise InputError(
            f"invalid provider name {name!r}",
            source=source,
            hint="lower-case letters, digits and dashes, starting with a letter; not "
            + ", ".join(sorted(_RESERVED)),
        )
    if not isinstance(fields, dict):
        raise InputError(f"{where} must be a mapping of fields", source=source)
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise _at(
            InputError(
                f"{where}: unknown field(s) {', '.join(map(str, unknown))}",
                source=source,
                hint="fields: " + ", ".join(_FIELDS),
            ),
            line(str(unknown[0])),
        )
    _check_spf_fields(fields, where, source, line)
    if old is None:
        if "description" not in fields:
            raise InputError(f"{where}: missing field 'description'", source=source)
        if "parser" not in fields and "spf" not in fields:
            raise InputError(
                f"{where}: missing field 'parser'",
                source=source,
                hint="a provider is read from a feed (url: and parser:) or expanded from SPF"
                " records (spf: [NAME, ...])",
            )
        old = Provider(name, "", (), "")
    new = replace(old, defined_in=source)
    if "spf" in fields:
        # an SPF-backed entry replaces a feed an earlier catalog gave this name
        new = replace(new, urls=(), parser="", filters=(), refresh=0.0)
    elif any(key in fields for key in ("url", "parser")) and new.spf:
        # and a feed replaces SPF records
        if "parser" not in fields:
            raise _at(
                InputError(
                    f"{where}: {name} is expanded from SPF records; a feed needs a parser too",
                    source=source,
                    hint="give parser: with url:, or change spf: instead",
                ),
                line("url"),
            )
        new = replace(new, spf=())
    for key in _FIELDS:
        if key in fields:
            try:
                new = _field(new, key, fields[key], where, source, base)
            except InputError as e:
                raise _at(e, line(key)) from None
    if new.spf:
        return new
    from auditor.sources.base import PARSERS

    offered = PARSERS[new.parser].filters
    if not set(new.filters) <= set(offered):
        bad = ", ".join(sorted(set(new.filters) - set(offered)))
        raise _at(
            InputError(
                f"{where}: filter(s) {bad} not offered by parser {new.parser}",
                source=source,
                hint="parser filters: " + (", ".join(offered) or "none"),
            ),
            line("filters"),
        )
    return new


def _check_spf_fields(
    fields: dict[Any, Any], where: str, source: str, line: Callable[[str | None], int | None]
) -> None:
    """An SPF-backed entry has no feed: none of url, parser, filters (no filter is defined on
    SPF records: the provider is every record, whole) or refresh (DNS is asked every run)."""
    if "spf" not in fields:
        return
    clash = [key for key in _FEED_FIELDS if key in fields]
    if key_given := next((k for k in clash if k != "filters" or fields[k] != []), None):
        why = {
            "url": "a provider is read either from a feed or from SPF records, not both",
            "parser": "SPF records are read from DNS, with no feed parser",
            "filters": "no filter is defined on SPF records: the provider is the union of"
            " every record, whole; list fewer records, or add a provider of your own",
            "refresh": "SPF records are read from DNS on every run and never cached",
        }[key_given]
        raise _at(
            InputError(
                f"{where}: spf and {key_given} cannot be given together",
                source=source,
                hint=why,
            ),
            line(key_given),
        )


def _field(
    new: Provider, key: str, value: Any, where: str, source: str, base: Path | None
) -> Provider:
    from auditor.sources.base import PARSERS

    if key == "description":
        return replace(new, description=_string(value, where, source))
    if key == "docs":
        return replace(new, docs=_string(value, where, source))
    if key == "notes":
        return replace(new, notes=_string(value, where, source))
    if key == "url":
        return replace(new, urls=_urls(value, where, source, base))
    if key == "spf":
        return replace(new, spf=_spf_names(value, where, source))
    if key == "parser":
        parser = _string(value, where, source)
        if parser not in PARSERS:
            raise InputError(
                f"{where}: unknown parser {parser!r}",
                source=source,
                hint="parsers: " + ", ".join(PARSERS.names()),
            )
        return replace(new, parser=parser)
    if key == "filters":
        if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
            raise InputError(f"{where}.filters must be a list of names", source=source)
        return replace(new, filters=tuple(value))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:  # refresh
        raise InputError(f"{where}.refresh must be seconds (0 or more)", source=source)
    return replace(new, refresh=float(value))


def _spf_names(value: Any, where: str, source: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise InputError(
            f"{where}.spf lists no record",
            source=source,
            hint="give the record names the provider documents, e.g. spf: [_spf.example.com]",
        )
    out: list[str] = []
    for item in items:
        text = _string(item, f"{where}.spf", source).strip().rstrip(".").lower()
        if not _DNS_NAME.fullmatch(text):
            raise InputError(
                f"{where}.spf: {item!r} is not a DNS name",
                source=source,
                hint="a fully qualified name of letters, digits, '-' and '_' such as"
                " _spf.example.com, without spf: or a scheme",
            )
        if text not in out:
            out.append(text)
    return tuple(out)


def _at(error: InputError, line: int | None) -> InputError:
    """The error with the line of the field it is about."""
    error.line = line
    return error


def _string(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: expected a non-empty string, got {value!r}", source=source)
    return value


def _urls(value: Any, where: str, source: str, base: Path | None) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        text = _string(item, f"{where}.url", source)
        lower = text.lower()
        if lower.startswith("https://"):
            out.append(text)
        elif "://" in text:
            raise InputError(
                f"{where}.url {text!r} is not https",
                source=source,
                hint="feeds are fetched over verified HTTPS only; download the file and give"
                " its path instead",
            )
        else:
            path = Path(text).expanduser()
            if not path.is_absolute():
                path = (base or Path.cwd()) / path
            out.append(str(path))
    return tuple(out)
