"""Atlassian's ``https://ip-ranges.atlassian.com/``: ``items[]`` of ``{cidr, network, mask,
mask_len, product[], direction[], region[], perimeter}``, versioned by ``syncToken`` (epoch
seconds, published as a number) and ``creationDate``.

``product``, ``direction`` and ``region`` are lists: an item gets one tag per value, so
``product=jira`` selects every range Jira uses, shared or not. ``perimeter`` (``commercial``,
``fedramp-moderate``) is a string. Older copies of the feed predate these fields, so each may
be absent (the item then has no tag for it); present with the wrong type, it is an error.
Only ``cidr`` is read as the address: ``network`` and ``mask`` restate it.

See https://support.atlassian.com/organization-administration/docs/ip-addresses-and-domains-for-atlassian-cloud-products/
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, FeedVersion, require
from auditor.sources.feeds._common import ObjectFeedParser, digits, list_tags, optional

_LIST_TAGS = ("product", "direction", "region")


class AtlassianParser(ObjectFeedParser):
    name = "atlassian"
    description = "Atlassian ip-ranges JSON (ip-ranges.atlassian.com)"
    filters = ("product", "direction", "region", "perimeter")

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> FeedVersion:
        token = digits(require(doc, "syncToken", (int, str), ctx, ""), ctx, "syncToken")
        created = require(doc, "creationDate", str, ctx, "")
        for i, item in enumerate(require(doc, "items", list, ctx, "")):
            path = f"items[{i}]"
            text = require(item, "cidr", str, ctx, path)
            pairs = []
            for key in _LIST_TAGS:
                pairs.extend(list_tags(item, key, ctx, path, required=False))
            perimeter = optional(item, "perimeter", str, ctx, path)
            if perimeter:
                pairs.append(("perimeter", perimeter))
            out.add(text, f"{path}.cidr", out.tags(pairs) if pairs else -1)
        return FeedVersion("syncToken", token, created)
