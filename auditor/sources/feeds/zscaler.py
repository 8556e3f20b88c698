"""Zscaler's published ranges, in either of its two shapes, told apart by content:

- the hub list (``https://api.config.zscaler.com/<cloud>/hubs/cidr/json/recommended``):
  ``{"cloudName": ..., "hubPrefixes": [...]}``. It has no tags, so the parsed feed offers no
  filter and any filter on it is refused with the selection's unknown-filter message;
- the cloud enforcement node ranges (``https://api.config.zscaler.com/<cloud>/cenr/json``):
  ``{"<cloud>": {"continent : EMEA": {"city : Abu Dhabi II": [{"range": ...}, ...]}}}``. Each
  range is tagged ``continent`` and ``city``, the text after ``continent :`` and ``city :``.
  Its ``svpnIPs`` list holds single service VPN addresses; they lie inside the node ranges
  and are not read.

Neither shape has a version.

See https://config.zscaler.com/zscaler.net/hubs and https://config.zscaler.com/zscaler.net/cenr
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedError,
    FeedParser,
    load_json,
    require,
)
from auditor.sources.feeds._common import add_strings, array_at, key_path, object_at

_CENR_FILTERS = ("continent", "city")


def _label(key: str, kind: str, ctx: FeedContext, path: str) -> str:
    """``Abu Dhabi II`` from ``city : Abu Dhabi II``."""
    head, sep, rest = key.partition(":")
    if not sep or head.strip() != kind or not rest.strip():
        raise FeedError(
            f"{ctx.provider}: {key_path(path, key)} is not a '{kind} : NAME' key",
            source=ctx.name,
            hint="the node range feed's format may have changed",
        )
    return rest.strip()


def _is_cenr_cloud(value: Any) -> bool:
    return isinstance(value, dict) and any(
        isinstance(k, str) and k.partition(":")[0].strip() == "continent" for k in value
    )


class ZscalerParser(FeedParser):
    name = "zscaler"
    description = "Zscaler hub prefixes or cloud enforcement node ranges (CENR) JSON"
    filters = _CENR_FILTERS
    """The CENR shape's filters; a hub list offers none."""

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        doc = object_at(load_json(data, ctx), ctx, "")
        if "hubPrefixes" in doc:
            return self._hubs(doc, ctx)
        clouds = [k for k, v in doc.items() if _is_cenr_cloud(v)]
        if not clouds:
            raise FeedError(
                f"{ctx.provider}: neither a hub list (hubPrefixes) nor node ranges "
                "(CLOUD.'continent : ...'.'city : ...')",
                source=ctx.name,
                hint="the feed's format may have changed, or this is not the feed",
            )
        return self._cenr(doc, clouds, ctx)

    def _hubs(self, doc: dict[str, Any], ctx: FeedContext) -> Feed:
        out = FeedBuilder(self.name)
        add_strings(out, require(doc, "hubPrefixes", list, ctx, ""), ctx, "hubPrefixes")
        return out.feed(ctx)

    def _cenr(self, doc: dict[str, Any], clouds: list[str], ctx: FeedContext) -> Feed:
        out = FeedBuilder(self.name, _CENR_FILTERS)
        for cloud in clouds:
            cpath = key_path("", cloud)
            for ckey, cities in doc[cloud].items():
                continent = _label(ckey, "continent", ctx, cpath)
                kpath = key_path(cpath, ckey)
                for city_key, nodes in object_at(cities, ctx, kpath).items():
                    city = _label(city_key, "city", ctx, kpath)
                    npath = key_path(kpath, city_key)
                    tid = out.tags([("continent", continent), ("city", city)])
                    for j, node in enumerate(array_at(nodes, ctx, npath)):
                        path = f"{npath}[{j}]"
                        text = require(node, "range", str, ctx, path)
                        out.add(text, f"{path}.range", tid)
        return out.feed(ctx)
