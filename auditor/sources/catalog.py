"""The provider catalog: a name such as ``aws`` mapped to where its feed lives and how to read it.

The built-in catalog is ``data/providers.yaml`` (shipped in the package as ``auditor.data``);
``--catalog FILE`` adds providers or overrides fields of built-in ones, with the same schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.yamlutil import load_yaml

NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
"""A provider name: also the first word of a source spec, so it can never look like a path."""

_FIELDS = ("description", "url", "parser", "filters", "docs", "refresh", "notes")
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
    providers: dict[str, Provider] = {}
    _merge(providers, load_yaml(_builtin_bytes(), "providers.yaml"), "built-in", None)
    for path in extra:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read the catalog: {e.strerror}", source=str(path)) from None
        _merge(providers, load_yaml(data, str(path)), str(path), path.resolve().parent)
    return Catalog(providers)


def _merge(providers: dict[str, Provider], doc: Any, source: str, base: Path | None) -> None:
    from auditor.sources.base import PARSERS

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
    for name, fields in doc["providers"].items():
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
            raise InputError(
                f"{where}: unknown field(s) {', '.join(map(str, unknown))}",
                source=source,
                hint="fields: " + ", ".join(_FIELDS),
            )
        old = providers.get(name)
        if old is None:
            for required in ("parser", "description"):
                if required not in fields:
                    raise InputError(f"{where}: missing field {required!r}", source=source)
            old = Provider(name, "", (), "")
        new = replace(old, defined_in=source)
        if "description" in fields:
            new = replace(new, description=_string(fields["description"], where, source))
        if "docs" in fields:
            new = replace(new, docs=_string(fields["docs"], where, source))
        if "notes" in fields:
            new = replace(new, notes=_string(fields["notes"], where, source))
        if "url" in fields:
            new = replace(new, urls=_urls(fields["url"], where, source, base))
        if "parser" in fields:
            parser = _string(fields["parser"], where, source)
            if parser not in PARSERS:
                raise InputError(
                    f"{where}: unknown parser {parser!r}",
                    source=source,
                    hint="parsers: " + ", ".join(PARSERS.names()),
                )
            new = replace(new, parser=parser)
        if "filters" in fields:
            filters = fields["filters"]
            if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
                raise InputError(f"{where}.filters must be a list of names", source=source)
            new = replace(new, filters=tuple(filters))
        if "refresh" in fields:
            refresh = fields["refresh"]
            if isinstance(refresh, bool) or not isinstance(refresh, int) or refresh < 0:
                raise InputError(f"{where}.refresh must be seconds (0 or more)", source=source)
            new = replace(new, refresh=float(refresh))
        offered = PARSERS[new.parser].filters
        if not set(new.filters) <= set(offered):
            bad = ", ".join(sorted(set(new.filters) - set(offered)))
            raise InputError(
                f"{where}: filter(s) {bad} not offered by parser {new.parser}",
                source=source,
                hint="parser filters: " + (", ".join(offered) or "none"),
            )
        providers[name] = new


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
