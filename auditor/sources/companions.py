"""Companion files and provider sets: sources that resolve a reader's references instead of being
lists of their own. A reader declares what it needs (``companions_needed``, ``provider_sets``);
the sources that provide it are found here by what they are, never by a reader's name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from auditor.errors import InputError
from auditor.model import RangeSet, sha256
from auditor.sources import files
from auditor.sources.spec import ProviderNames, parse_spec

Sets = dict[str, list[tuple[int, int, int]]]
"""Named sets: (family, first, last) members by name."""


def split(
    specs: Sequence[str],
    catalog: ProviderNames,
    fmt: str | None,
    read: Callable[[str, bool], bytes],
    load_provider: Callable[[str], RangeSet],
    used: list[tuple[str, str]],
) -> tuple[Sets, list[str]]:
    """Split companion files (ipset saves, AWS prefix lists) from the other sources when a
    reader among them needs what they provide: their sets resolve the readers' references
    (``-m set``, PrefixListIds) instead of being lists of their own; and so is a catalog
    provider whose feed a reader takes for its references (Azure service tags next to an
    NSG). ``fmt`` is the format forced for every file; ``read(path, again)`` reads a file
    (``again``: it is loaded later, and read once for both); ``load_provider`` loads a
    provider's feed; ``used`` gets each companion file read, with its SHA-256. Returns (sets
    by name, the remaining specs)."""
    from auditor.allowlists.base import READERS

    kinds: dict[str, str] = {}
    for text in specs:
        spec = parse_spec(text, catalog)
        if spec.kind == "file" and spec.fmt is not None:
            kinds[text] = READERS.key(spec.fmt)  # file+FORMAT:PATH
            continue
        if spec.kind != "file" or fmt is not None:
            continue
        try:
            data = read(spec.location or text, True)
        except InputError:
            continue  # reported when it is loaded
        kinds[text] = files.detect_format(spec.location or text, data)
    readers = {t: READERS[k] for t, k in kinds.items() if k in READERS}
    needed = {need for cls in readers.values() for need in cls.companions_needed()}
    companions = [t for t, cls in readers.items() if cls.provides in needed]
    tag_prefixes = {p: key for cls in readers.values() for p, key in cls.provider_sets.items()}
    providers = {
        t: tag_prefixes[s.provider]
        for t in specs
        if tag_prefixes
        and (s := parse_spec(t, catalog)).kind == "provider"
        and s.provider in tag_prefixes
    }
    if not (companions or providers):
        return {}, list(specs)
    sets: Sets = {}
    for text, prefix in providers.items():
        provider_sets(load_provider(text), prefix, sets)
    for text in companions:
        path = parse_spec(text, catalog).location or text
        data = read(path, False)
        used.append((text, sha256(data)))
        for name, members in readers[text]().companion(data, text).items():
            sets.setdefault(name, []).extend(members)
    return sets, [t for t in specs if t not in companions and t not in providers]


def provider_sets(feed: RangeSet, prefix: str, sets: Sets) -> None:
    """Every tag of a provider's feed (Azure service tags), by lower-case name after the
    reader's key prefix."""
    names: dict[str, list[str]] = {
        label: [v for k, v in tags if k == "tag"] for label, tags in feed.tags.items()
    }
    for entry in feed.entries:
        for name in names.get(entry.group or "", []):
            key = prefix + name.lower()
            sets.setdefault(key, []).append((entry.family, entry.first, entry.last))
