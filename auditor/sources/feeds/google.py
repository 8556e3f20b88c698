"""Google's range lists: ``cloud.json`` (Google Cloud external ranges, tagged with ``service``
and ``scope``), ``goog.json`` (every Google range, untagged), ``googlebot.json`` and
``user-triggered-fetchers.json`` (crawler and fetcher ranges, untagged).

Each is ``prefixes[]`` of objects holding exactly one of ``ipv4Prefix`` and ``ipv6Prefix``.
``cloud.json`` and ``goog.json`` carry a ``syncToken`` (epoch milliseconds) and a
``creationTime``; the crawler lists carry only ``creationTime``, which then stands as the
version (an ISO time, so later ones sort later). ``service`` and ``scope`` are optional: an
item without them has no tags, so no filter selects it.

See https://cloud.google.com/vpc/docs/configure-private-google-access#ip-addr-defaults,
https://support.google.com/a/answer/10026322 and
https://developers.google.com/search/docs/crawling-indexing/verifying-googlebot
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, FeedError, FeedVersion, require
from auditor.sources.feeds._common import ObjectFeedParser, digits, object_at, optional

_FIELDS = ("ipv4Prefix", "ipv6Prefix")
_TAGS = ("service", "scope")


class GoogleParser(ObjectFeedParser):
    name = "google"
    description = "Google cloud.json, goog.json, googlebot.json and user-triggered-fetchers.json"
    filters = _TAGS

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> FeedVersion:
        created = require(doc, "creationTime", str, ctx, "")
        token = optional(doc, "syncToken", str, ctx, "")
        if token is not None:
            version = FeedVersion("syncToken", digits(token, ctx, "syncToken"), created)
        else:
            version = FeedVersion("creationTime", created)
        for i, item in enumerate(require(doc, "prefixes", list, ctx, "")):
            path = f"prefixes[{i}]"
            item = object_at(item, ctx, path)
            present = [f for f in _FIELDS if f in item]
            if len(present) != 1:
                problem = "both" if present else "neither"
                raise FeedError(
                    f"{ctx.provider}: {path} has {problem} of ipv4Prefix and ipv6Prefix",
                    source=ctx.name,
                    hint="each prefix object holds exactly one of them",
                )
            key = present[0]
            text = require(item, key, str, ctx, path)
            tags = []
            for tag in _TAGS:
                value = optional(item, tag, str, ctx, path)
                if value:
                    tags.append((tag, value))
            out.add(text, f"{path}.{key}", out.tags(tags) if tags else -1)
        return version
