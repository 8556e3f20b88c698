"""Okta's ``https://s3.amazonaws.com/okta-ip-ranges/ip_ranges.json``: one key per cell
(``us_cell_1``, ``emea_cell_2``, ...) mapping to ``{"ip_ranges": [...]}``. Filter by ``cell``:
an org lives in one cell, and allowing every cell is far broader than it needs. No version.

See https://help.okta.com/en-us/content/topics/security/ip-address-allow-listing.htm
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
from auditor.sources.feeds._common import key_path, object_at, strings


class OktaParser(FeedParser):
    name = "okta"
    description = "Okta ip_ranges.json (cell -> ip_ranges)"
    filters = ("cell",)

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        doc = object_at(load_json(data, ctx), ctx, "")
        out = FeedBuilder(self.name, self.filters)
        for cell, entry in doc.items():
            cpath = key_path("", cell)
            ranges = require(object_at(entry, ctx, cpath), "ip_ranges", list, ctx, cpath)
            path = f"{cpath}.ip_ranges"
            tid = out.tags([("cell", cell)])
            for j, text in enumerate(strings(ranges, ctx, path)):
                out.add(text, f"{path}[{j}]", tid)
        return out.feed(ctx)
