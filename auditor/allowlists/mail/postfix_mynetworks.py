"""Postfix mynetworks pattern files: a ``/file/name`` pattern file as ``mynetworks =
/etc/postfix/mynetworks`` reads it, given directly.

The same patterns and references as in a main.cf's ``mynetworks`` (see
:mod:`auditor.allowlists.mail.postfix_lists`), one or more per line.
"""

from __future__ import annotations

from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.mail.postfix_common import MatchRule
from auditor.allowlists.mail.postfix_lists import MatchListReader, Token, split_list
from auditor.model import RangeSet


class PostfixMynetworksReader(MatchListReader):
    name = "postfix-mynetworks"
    description = "Postfix mynetworks pattern file (/file/name): ! exclusions, [IPv6], cidr:"

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        lists = self.lists(ctx)
        rules: list[MatchRule] = []
        for lineno, raw in enumerate(text.split("\n"), 1):
            if raw.startswith("#"):
                continue
            tokens = [Token(t, n) for t, n in split_list([(lineno, raw)])]
            rules.extend(lists.rules(tokens, ctx.name))
        if not lists.patterns:
            raise ReaderError(
                "no pattern",
                source=ctx.name,
                hint="a mynetworks file lists networks such as 192.0.2.0/24 and [2001:db8::]/32",
            )
        return lists.result(data, ctx, self.name, rules, lists.findings)
