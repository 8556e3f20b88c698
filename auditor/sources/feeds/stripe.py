"""Stripe's address lists: ``https://stripe.com/files/ips/ips_webhooks.json`` is
``{"WEBHOOKS": [...]}``, ``ips_api.json`` is ``{"API": [...]}``; a document may hold both,
and mirrors spell the keys in lower case. Every top-level key must map to a list of addresses;
it becomes the ``section`` tag in lower case (``section=webhooks``), whatever its spelling.
No version.

See https://docs.stripe.com/ips
"""

from __future__ import annotations

from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedParser,
    load_json,
)
from auditor.sources.feeds._common import key_path, object_at, strings


class StripeParser(FeedParser):
    name = "stripe"
    description = "Stripe ips_webhooks.json / ips_api.json"
    filters = ("section",)

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        doc = object_at(load_json(data, ctx), ctx, "")
        out = FeedBuilder(self.name, self.filters)
        for key, value in doc.items():
            path = key_path("", key)
            tid = out.tags([("section", key.lower())])
            for j, text in enumerate(strings(value, ctx, path)):
                out.add(text, f"{path}[{j}]", tid)
        return out.feed(ctx)
