"""Any JSON feed, its addresses picked by a selector: ``json:LOCATION#SELECTOR``.

Selector grammar
----------------
A selector is one or more steps separated by ``.``; each step applies to every value the
previous steps reached, starting from the document itself:

- ``name``: the value under the key ``name`` of an object;
- ``name[]``: each element of the array under the key ``name``;
- ``[]``: each element of the current array;
- ``*``: each value of the current object, or each element of the current array.

A key name is any text without ``.``, ``[`` or ``]`` other than ``*``, so a key such as
``zscaler.net`` can only be reached with ``*``. The values finally reached must be strings,
or arrays of strings (flattened: each string is an item). Anything else, a key missing on the
way, or a step that does not fit the value it meets (a key on an array, ``[]`` on an object)
is an error naming the path where it happened: a selector that matches the feed only in part
would silently allow too little. Each item keeps its path, e.g. ``prefixes[12].ip_prefix``.

Examples::

    prefixes[].ip_prefix                    AWS ip-ranges.json (IPv4 part)
    hooks                                   GitHub meta, the webhook sources
    values[].properties.addressPrefixes     Azure Service Tags, every tag
    *.ip_ranges                             Okta, every cell
    []                                      a top-level array of strings

The generic feed has no tags, so no filters, and no version.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, NoReturn

from auditor.errors import UsageError
from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedError,
    FeedParser,
    json_type,
    load_json,
)
from auditor.sources.feeds._common import key_path


class Step(NamedTuple):
    kind: Literal["key", "each", "any"]
    """``key``: descend into ``name``; ``each``: every element of an array; ``any``: every
    value of an object or element of an array."""
    name: str = ""


def parse_selector(selector: str) -> tuple[Step, ...]:
    """The steps of a selector, or a UsageError saying which step is malformed."""
    steps: list[Step] = []
    for part in selector.split("."):
        if part == "*":
            steps.append(Step("any"))
        elif part == "[]":
            steps.append(Step("each"))
        else:
            name = part.removesuffix("[]")
            if not name or "[" in name or "]" in name:
                shown = repr(part) if part else "an empty step"
                raise UsageError(
                    f"JSON selector {selector!r}: {shown} is not a step",
                    hint="steps are NAME, NAME[], [] or *, separated by '.', "
                    "e.g. prefixes[].ip_prefix",
                )
            steps.append(Step("key", name))
            if part.endswith("[]"):
                steps.append(Step("each"))
    return tuple(steps)


Node = tuple[Any, str]


class JsonParser(FeedParser):
    name = "json"
    description = "any JSON feed; the items are picked by a selector (json:LOCATION#SELECTOR)"

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        if ctx.selector is None:
            raise FeedError(
                f"{ctx.provider}: a JSON feed needs a selector",
                source=ctx.name,
                hint="write json:LOCATION#SELECTOR, e.g. json:feed.json#prefixes[].ip_prefix",
            )
        steps = parse_selector(ctx.selector)
        nodes: list[Node] = [(load_json(data, ctx), "")]
        for step in steps:
            nodes = _apply(step, nodes, ctx)
        out = FeedBuilder(self.name)
        for value, path in nodes:
            if isinstance(value, str):
                out.add(value, path)
            elif isinstance(value, list):
                for j, item in enumerate(value):
                    if not isinstance(item, str):
                        _wrong(ctx, f"{path}[{j}]", item, "a string")
                    out.add(item, f"{path}[{j}]")
            else:
                _wrong(ctx, path, value, "a string or an array of strings")
        return out.feed(ctx)


def _apply(step: Step, nodes: list[Node], ctx: FeedContext) -> list[Node]:
    out: list[Node] = []
    if step.kind == "key":
        for value, path in nodes:
            if not isinstance(value, dict):
                _wrong(ctx, path, value, f"an object with the key {step.name!r}")
            if step.name not in value:
                raise FeedError(
                    f"{ctx.provider}: missing key {key_path(path, step.name)!r}",
                    source=ctx.name,
                    hint="check the selector against the feed; the feed's format may have changed",
                )
            out.append((value[step.name], key_path(path, step.name)))
    elif step.kind == "each":
        for value, path in nodes:
            if not isinstance(value, list):
                _wrong(ctx, path, value, "an array (use * for every value of an object)")
            out.extend((item, f"{path}[{j}]") for j, item in enumerate(value))
    else:
        for value, path in nodes:
            if isinstance(value, dict):
                out.extend((item, key_path(path, key)) for key, item in value.items())
            elif isinstance(value, list):
                out.extend((item, f"{path}[{j}]") for j, item in enumerate(value))
            else:
                _wrong(ctx, path, value, "an object or an array")
    return out


def _wrong(ctx: FeedContext, path: str, value: Any, expected: str) -> NoReturn:
    hint = None
    if isinstance(value, list) and expected.startswith("an object"):
        hint = "add [] to the step before to go through the array's elements"
    raise FeedError(
        f"{ctx.provider}: {path or 'the top level'} is {json_type(value)}, expected {expected}",
        source=ctx.name,
        hint=hint,
    )
