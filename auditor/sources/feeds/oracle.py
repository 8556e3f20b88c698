"""Oracle Cloud Infrastructure's ``public_ip_ranges.json``: ``regions[]`` of ``{region,
cidrs[]: {cidr, tags[]}}``, versioned by ``last_updated_timestamp`` (an ISO time).

Every range is tagged with its region and with each of its tags (``OCI``, ``OSN``,
``OBJECT_STORAGE``), so ``tag=OBJECT_STORAGE`` selects the Object Storage ranges, which Oracle
also lists under ``OSN``.

See https://docs.oracle.com/iaas/Content/General/Concepts/addressranges.htm
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, FeedVersion, require
from auditor.sources.feeds._common import ObjectFeedParser, strings


class OracleParser(ObjectFeedParser):
    name = "oracle"
    description = "Oracle Cloud public_ip_ranges.json"
    filters = ("region", "tag")

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> FeedVersion:
        stamp = require(doc, "last_updated_timestamp", str, ctx, "")
        for i, entry in enumerate(require(doc, "regions", list, ctx, "")):
            rpath = f"regions[{i}]"
            region = require(entry, "region", str, ctx, rpath)
            for j, item in enumerate(require(entry, "cidrs", list, ctx, rpath)):
                path = f"{rpath}.cidrs[{j}]"
                text = require(item, "cidr", str, ctx, path)
                tags = strings(require(item, "tags", list, ctx, path), ctx, f"{path}.tags")
                pairs = [("region", region)] + [("tag", t) for t in tags]
                out.add(text, f"{path}.cidr", out.tags(pairs))
        return FeedVersion("last_updated_timestamp", stamp)
