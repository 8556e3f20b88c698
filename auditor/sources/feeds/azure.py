"""Azure Service Tags (``ServiceTags_Public_YYYYMMDD.json`` and the sovereign clouds' files, or
the Service Tag Discovery API): ``values[]`` of ``{name, id, properties: {changeNumber, region,
systemService, addressPrefixes, ...}}``.

Each value is tagged with its name (``tag=AzureCloud.westeurope``), its ``region`` and its
``systemService``; Azure leaves region or systemService empty on global and composite tags,
which then have no tag for that key. A value may list no prefix at all (a tag with no public
range yet); the feed as a whole listing none is an error. The version is the top-level
``changeNumber``, which Azure increments on every change to the cloud's file, so the cloud's
name is part of the version key: the Public and the Government numbers are unrelated.

The Public file holds about 93 000 prefixes: the loop does per item no more than an append.

See https://learn.microsoft.com/azure/virtual-network/service-tags-overview#discover-service-tags-by-using-downloadable-json-files
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, FeedVersion, require
from auditor.sources.feeds._common import ObjectFeedParser, add_strings, digits


class AzureParser(ObjectFeedParser):
    name = "azure"
    description = "Azure Service Tags JSON (ServiceTags_*.json or the discovery API)"
    filters = ("tag", "region", "systemService")

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> FeedVersion:
        change = digits(require(doc, "changeNumber", int, ctx, ""), ctx, "changeNumber")
        cloud = require(doc, "cloud", str, ctx, "")
        for i, value in enumerate(require(doc, "values", list, ctx, "")):
            path = f"values[{i}]"
            tag = require(value, "name", str, ctx, path)
            props = require(value, "properties", dict, ctx, path)
            ppath = f"{path}.properties"
            region = require(props, "region", str, ctx, ppath)
            service = require(props, "systemService", str, ctx, ppath)
            prefixes = require(props, "addressPrefixes", list, ctx, ppath)
            pairs = [("tag", tag)]
            if region:
                pairs.append(("region", region))
            if service:
                pairs.append(("systemService", service))
            add_strings(out, prefixes, ctx, f"{ppath}.addressPrefixes", out.tags(pairs))
        return FeedVersion(f"changeNumber ({cloud})", change)
