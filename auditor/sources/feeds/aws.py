"""AWS ``ip-ranges.json``: ``prefixes[].ip_prefix`` and ``ipv6_prefixes[].ipv6_prefix``, each
with ``region``, ``service`` and ``network_border_group``; versioned by ``syncToken`` (epoch
seconds) and ``createDate`` (``YYYY-MM-DD-hh-mm-ss``).

See https://docs.aws.amazon.com/vpc/latest/userguide/aws-ip-syntax.html
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext, FeedError, FeedVersion, require
from auditor.sources.feeds._common import ObjectFeedParser

_TAGS = ("service", "region", "network_border_group")


class AwsParser(ObjectFeedParser):
    name = "aws"
    description = "AWS ip-ranges.json"
    filters = _TAGS

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> FeedVersion:
        token = require(doc, "syncToken", str, ctx, "")
        if not token.isdigit():
            raise FeedError(
                f"{ctx.provider}: syncToken {token[:40]!r} is not a number", source=ctx.name
            )
        created = require(doc, "createDate", str, ctx, "")
        for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
            items = require(doc, key, list, ctx, "")
            for i, item in enumerate(items):
                path = f"{key}[{i}]"
                text = require(item, field, str, ctx, path)
                tags = [(tag, require(item, tag, str, ctx, path)) for tag in _TAGS]
                out.add(text, f"{path}.{field}", out.tags(tags))
        return FeedVersion("syncToken", token, created)
