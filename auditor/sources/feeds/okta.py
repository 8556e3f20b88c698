"""Okta's ``https://s3.amazonaws.com/okta-ip-ranges/ip_ranges.json``: one key per cell
(``us_cell_1``, ``emea_cell_2``, ...) mapping to ``{"ip_ranges": [...]}``. Filter by ``cell``:
an org lives in one cell, and allowing every cell is far broader than it needs. No version.

See https://help.okta.com/en-us/content/topics/security/ip-address-allow-listing.htm
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, require
from auditor.sources.feeds._common import ObjectFeedParser, add_strings, key_path, object_at


class OktaParser(ObjectFeedParser):
    name = "okta"
    description = "Okta ip_ranges.json (cell -> ip_ranges)"
    filters = ("cell",)

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> None:
        for cell, entry in doc.items():
            cpath = key_path("", cell)
            ranges = require(object_at(entry, ctx, cpath), "ip_ranges", list, ctx, cpath)
            add_strings(out, ranges, ctx, f"{cpath}.ip_ranges", out.tags([("cell", cell)]))
