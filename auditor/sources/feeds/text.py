"""Plain text range lists (Cloudflare ``ips-v4`` / ``ips-v6``, Akamai's lists, any URL serving
one address or CIDR per line).

``#`` and ``;`` start a comment, whole-line or trailing; blank lines, CRLF line ends, a UTF-8
BOM, surrounding spaces and tabs (Akamai ends its lines with a tab) and a missing final newline
are accepted. Each item keeps its line number; there are no paths, tags or versions. A body
that is HTML (a portal answering 200), JSON (the wrong parser), not UTF-8 or holding NUL bytes
is refused as a whole rather than read as a list of invalid lines. The items themselves are
judged in the selection, where an unreadable line becomes a finding.

See https://www.cloudflare.com/ips/
"""

from __future__ import annotations

from auditor.sources.base import (
    Feed,
    FeedBuilder,
    FeedContext,
    FeedError,
    FeedParser,
    refuse_markup,
)

_COMMENT_MARKS = ("#", ";")
_JSON_OPENERS = ("{", '["', "[\n", "[\r", "[ ", "[\t", "[]")


def decode(data: bytes, ctx: FeedContext) -> str:
    """The body as text: UTF-8 with an optional BOM, no NUL bytes, not HTML or XML."""
    refuse_markup(data, ctx, "a list of ranges", "a list of ranges")
    if b"\x00" in data:
        raise FeedError(
            f"{ctx.provider}: the feed is not text (it contains NUL bytes)", source=ctx.name
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FeedError(
            f"{ctx.provider}: the feed is not UTF-8 (byte {e.start})",
            source=ctx.name,
            line=data[: e.start].count(b"\n") + 1,
        ) from None
    return text.removeprefix("\ufeff")


class TextParser(FeedParser):
    name = "text"
    description = "plain text, one address or CIDR per line; # and ; comments"

    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        text = decode(data, ctx)
        if text.lstrip().startswith(_JSON_OPENERS):
            raise FeedError(
                f"{ctx.provider}: this is JSON, not a text list",
                source=ctx.name,
                hint="read it with a JSON parser, e.g. json:LOCATION#SELECTOR",
            )
        out = FeedBuilder(self.name)
        # split on LF only: str.splitlines also breaks on U+2028, form feeds and others, which
        # would shift every later line number
        for lineno, raw in enumerate(text.split("\n"), 1):
            item = raw
            for mark in _COMMENT_MARKS:
                cut = item.find(mark)
                if cut >= 0:
                    item = item[:cut]
            item = item.strip()
            if item:
                out.add(item, line=lineno)
        return out.feed(ctx)
