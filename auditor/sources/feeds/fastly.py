"""Fastly's ``https://api.fastly.com/public-ip-list``: ``addresses`` (IPv4) and
``ipv6_addresses``, both required; no tags and no version.

See https://www.fastly.com/documentation/reference/api/utils/public-ip-list/
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, require
from auditor.sources.feeds._common import ObjectFeedParser, add_strings

_KEYS = ("addresses", "ipv6_addresses")


class FastlyParser(ObjectFeedParser):
    name = "fastly"
    description = "Fastly public-ip-list JSON"

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> None:
        for key in _KEYS:
            add_strings(out, require(doc, key, list, ctx, ""), ctx, key)
