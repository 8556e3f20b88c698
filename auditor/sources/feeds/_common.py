"""Helpers the JSON feed parsers share: the parse of a feed whose top level is an object, how a
path is spelt, and typed reads that name the path of whatever is wrong."""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from typing import Any

from auditor.model import Finding, Origin, Severity
from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedError,
    FeedParser,
    FeedVersion,
    json_type,
    load_json,
    require,
)

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def key_path(parent: str, key: str) -> str:
    """The path of ``parent[key]``: ``a.b`` for a plain name, ``a["zscaler.net"]`` otherwise.

    Quoting keeps every path readable back to one place, and keeps a key with a newline or a
    quote in it (feeds are third-party text) on the line it is shown on.
    """
    if _PLAIN_KEY.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key)}]"


def strings(value: Any, ctx: FeedContext, path: str) -> list[str]:
    """A JSON array of strings, or a FeedError naming the first element that is not one."""
    items = array_at(value, ctx, path)
    if not all(type(item) is str for item in items):
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise FeedError(
                    f"{ctx.provider}: {path}[{i}] is {json_type(item)}, expected a string",
                    source=ctx.name,
                )
    return items


def optional(obj: Any, key: str, kind: type, ctx: FeedContext, path: str) -> Any:
    """``obj[key]`` of the given type, None when the key is absent; a wrong type is an error."""
    if isinstance(obj, dict) and key not in obj:
        return None
    return require(obj, key, kind, ctx, path)


def list_tags(
    obj: Any, key: str, ctx: FeedContext, path: str, required: bool = True
) -> list[tuple[str, str]]:
    """One ``(key, value)`` tag pair per string of the array ``obj[key]``."""
    if not required and isinstance(obj, dict) and key not in obj:
        return []
    values = strings(require(obj, key, list, ctx, path), ctx, key_path(path, key))
    return [(key, value) for value in values]


def object_at(value: Any, ctx: FeedContext, path: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, or a FeedError naming the path."""
    if not isinstance(value, dict):
        raise FeedError(
            f"{ctx.provider}: {path or 'the top level'} is {json_type(value)}, expected an object",
            source=ctx.name,
        )
    return value


def array_at(value: Any, ctx: FeedContext, path: str) -> list[Any]:
    """``value`` if it is a JSON array, or a FeedError naming the path."""
    if not isinstance(value, list):
        raise FeedError(
            f"{ctx.provider}: {path or 'the top level'} is {json_type(value)}, expected an array",
            source=ctx.name,
        )
    return value


def digits(value: Any, ctx: FeedContext, where: str) -> str:
    """A version counter published as a number or as a string of digits, as text."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    shown = json.dumps(value)[:40] if isinstance(value, str) else json_type(value)
    raise FeedError(f"{ctx.provider}: {where} is {shown}, expected a number", source=ctx.name)


class ObjectFeedParser(FeedParser):
    """A JSON feed whose top level is an object: the document is checked and a builder made
    here; :meth:`read` adds the items."""

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        doc = object_at(load_json(data, ctx), ctx, "")
        out = FeedBuilder(self.name, self.filters)
        version = self.read(doc, out, ctx)
        return out.feed(ctx, version)

    @abstractmethod
    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> FeedVersion | None:
        """Adds every item of the document to ``out``; returns the feed's version, if any."""


def add_strings(
    out: FeedBuilder, value: Any, ctx: FeedContext, path: str, tag_id: int = -1
) -> None:
    """Each string of the JSON array ``value`` as an item at ``path[j]``; a FeedError names the
    first element that is not a string."""
    add = out.add
    for j, text in enumerate(strings(value, ctx, path)):
        add(text, f"{path}[{j}]", tag_id)


def info(out: FeedBuilder, kind: str, message: str, ctx: FeedContext) -> None:
    """An info finding about the feed as a whole."""
    out.findings.append(Finding(kind, Severity.INFO, message, Origin(ctx.name)))
