"""Fastly's ``https://api.fastly.com/public-ip-list``: ``addresses`` (IPv4) and
``ipv6_addresses``, both required; no tags and no version.

See https://www.fastly.com/documentation/reference/api/utils/public-ip-list/
"""

from __future__ import annotations

from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedParser,
    load_json,
    require,
)
from auditor.sources.feeds._common import object_at, strings

_KEYS = ("addresses", "ipv6_addresses")


class FastlyParser(FeedParser):
    name = "fastly"
    description = "Fastly public-ip-list JSON"

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        doc = object_at(load_json(data, ctx), ctx, "")
        out = FeedBuilder(self.name)
        for key in _KEYS:
            for j, text in enumerate(strings(require(doc, key, list, ctx, ""), ctx, key)):
                out.add(text, f"{key}[{j}]")
        return out.feed(ctx)
