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

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, FeedVersion, require
from auditor.sources.feeds._common import ObjectFeedParser, add_strings, digits, key_path

_LISTS = ("prefixes_ipv4", "prefixes_ipv6")


class DatadogParser(ObjectFeedParser):
    name = "datadog"
    description = "Datadog ip-ranges JSON (ip-ranges.datadoghq.com)"
    filters = ("section",)

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> FeedVersion:
        version = digits(require(doc, "version", int, ctx, ""), ctx, "version")
        modified = require(doc, "modified", str, ctx, "")
        for section, entry in doc.items():
            if not isinstance(entry, dict):
                continue
            spath = key_path("", section)
            tid = out.tags([("section", section)])
            for key in _LISTS:
                add_strings(out, require(entry, key, list, ctx, spath), ctx, f"{spath}.{key}", tid)
        return FeedVersion("version", version, modified)
