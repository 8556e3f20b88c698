"""Stripe's address lists: ``https://stripe.com/files/ips/ips_webhooks.json`` is
``{"WEBHOOKS": [...]}``, ``ips_api.json`` is ``{"API": [...]}``; a document may hold both,
and mirrors spell the keys in lower case. Every top-level key must map to a list of addresses;
it becomes the ``section`` tag in lower case (``section=webhooks``), whatever its spelling.
No version.

See https://docs.stripe.com/ips
"""

from __future__ import annotations

from typing import Any

from auditor.sources.base import FeedBuilder, FeedContext
from auditor.sources.feeds._common import ObjectFeedParser, add_strings, key_path


class StripeParser(ObjectFeedParser):
    name = "stripe"
    description = "Stripe ips_webhooks.json / ips_api.json"
    filters = ("section",)

    def read(self, doc: dict[str, Any], out: FeedBuilder, ctx: FeedContext) -> None:
        for key, value in doc.items():
            add_strings(out, value, ctx, key_path("", key), out.tags([("section", key.lower())]))
