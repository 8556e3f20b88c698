"""Datadog's ``https://ip-ranges.datadoghq.com/`` (one per site: ``.eu``, ``us3.``, ...):
``{"version": N, "modified": "...", SECTION: {"prefixes_ipv4": [...], "prefixes_ipv6": [...]},
...}`` with a section per product (``agents``, ``api``, ``logs``, ``webhooks``,
``synthetics``, ...).

Every top-level object is a section and must hold both lists; other top-level values are
metadata. ``synthetics`` also has ``prefixes_ipv4_by_location`` and
``prefixes_ipv6_by_location``, which split the same ranges by location and are not read. The
version is ``version`` (a counter) with ``modified``.

See https://docs.datadoghq.com/api/latest/ip-ranges/
"""

from __future__ import annotations

from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedParser,
    FeedVersion,
    load_json,
    require,
)
from auditor.sources.feeds._common import digits, key_path, object_at, strings

_LISTS = ("prefixes_ipv4", "prefixes_ipv6")


class DatadogParser(FeedParser):
    name = "datadog"
    description = "Datadog ip-ranges JSON (ip-ranges.datadoghq.com)"
    filters = ("section",)

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        doc = object_at(load_json(data, ctx), ctx, "")
        version = digits(require(doc, "version", int, ctx, ""), ctx, "version")
        modified = require(doc, "modified", str, ctx, "")
        out = FeedBuilder(self.name, self.filters)
        for section, entry in doc.items():
            if not isinstance(entry, dict):
                continue
            spath = key_path("", section)
            tid = out.tags([("section", section)])
            for key in _LISTS:
                path = f"{spath}.{key}"
                for j, text in enumerate(strings(require(entry, key, list, ctx, spath), ctx, path)):
                    out.add(text, f"{path}[{j}]", tid)
        return out.feed(ctx, FeedVersion("version", version, modified))
