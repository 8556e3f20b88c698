"""Microsoft 365 endpoints (``https://endpoints.office.com/endpoints/worldwide?clientrequestid=
GUID``): a top-level array of endpoint sets ``{id, serviceArea, category, required, ips?, urls?,
tcpPorts?, udpPorts?, ...}``.

Each set's ``ips`` are tagged with ``serviceArea`` (Exchange, SharePoint, Skype, Common),
``category`` (Optimize, Allow, Default), ``required`` (``true``/``false``), the set's ``id``,
each of its TCP ports (``port``) and, for the Exchange sets on TCP 25 where mail flows in,
``use=mail-flow``.
A set without ``ips`` lists only URLs, which an IP allowlist cannot express: the web service
documents that ``ips`` is omitted for such sets, so they are counted in one info finding, not
treated as an error; the count is over the sets that the filters select. The endpoints
document has no version of its own (the service publishes it at ``/version``, which is not
read yet), so no rollback check applies to this feed.

See https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-ip-web-service
"""

from __future__ import annotations

from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedError,
    FeedParser,
    Unlisted,
    json_type,
    load_json,
    require,
)
from auditor.sources.feeds._common import add_strings

MAIL_FLOW = "mail-flow"
"""``use=mail-flow``: the Exchange Online sets on TCP 25, where mail flows into Microsoft 365
(endpoint set 10, ``*.mail.protection.outlook.com``, in Microsoft's table)."""


def _ports(value: object, ctx: FeedContext, path: str) -> list[str]:
    """The TCP ports of a set (``"25"``, ``"80,443"``, ``"8000-8999"``), each as written."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise FeedError(
            f"{ctx.provider}: {path}.tcpPorts is {json_type(value)}, expected a string such as"
            ' "80,443"',
            source=ctx.name,
        )
    return [port.strip() for port in value.split(",") if port.strip()]


class M365Parser(FeedParser):
    name = "m365"
    description = "Microsoft 365 endpoints web service JSON (/endpoints/worldwide)"
    filters = ("serviceArea", "category", "required", "id", "port", "use")

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        doc = load_json(data, ctx)
        if not isinstance(doc, list):
            raise FeedError(
                f"{ctx.provider}: the top level is {json_type(doc)}, expected an array of "
                "endpoint sets",
                source=ctx.name,
            )
        out = FeedBuilder(self.name, self.filters)
        parts: list[int] = []
        url_only: list[int] = []
        for i, item in enumerate(doc):
            path = f"[{i}]"
            ident = require(item, "id", int, ctx, path)
            area = require(item, "serviceArea", str, ctx, path)
            category = require(item, "category", str, ctx, path)
            required = require(item, "required", bool, ctx, path)
            ports = _ports(item.get("tcpPorts"), ctx, path)
            pairs = [
                ("id", str(ident)),
                ("serviceArea", area),
                ("category", category),
                ("required", "true" if required else "false"),
                *(("port", port) for port in ports),
            ]
            if area == "Exchange" and "25" in ports:
                pairs.append(("use", MAIL_FLOW))
            tid = out.tags(pairs)
            parts.append(tid)
            if "ips" not in item:
                url_only.append(tid)
                continue
            ips = require(item, "ips", list, ctx, path)
            add_strings(out, ips, ctx, f"{path}.ips", tid)
        out.unlisted = Unlisted(
            "url-only",
            "endpoint sets",
            "list only URLs, no IP ranges; skipped as URL-only",
            tuple(parts),
            tuple(url_only),
        )
        return out.feed(ctx)
