"""Postfix mynetworks pattern files: a ``/file/name`` pattern file as ``mynetworks =
/etc/postfix/mynetworks`` reads it, given directly.

The same patterns and references as in a main.cf's ``mynetworks`` (see
:mod:`auditor.allowlists.mail.postfix_lists`), one or more per line.
"""

from __future__ import annotations

from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text
from auditor.allowlists.mail.postfix_common import Step
from auditor.allowlists.mail.postfix_lists import (
    ReadFile,
    Token,
    _Lists,
    _result,
    read_referenced,
    source_directory,
    split_list,
)
from auditor.model import RangeSet


class PostfixMynetworksReader(Reader):
    name = "postfix-mynetworks"
    description = "Postfix mynetworks pattern file (/file/name): ! exclusions, [IPv6], cidr:"

    def __init__(self, read_file: ReadFile = read_referenced) -> None:
        self.read_file = read_file

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        lists = _Lists(ctx.name, source_directory(ctx.name), self.read_file)
        steps: list[Step] = []
        for lineno, raw in enumerate(text.split("\n"), 1):
            if raw.startswith("#"):
                continue
            tokens = [Token(t, n) for t, n in split_list([(lineno, raw)])]
            steps.extend(lists.steps(tokens, ctx.name))
        if not steps:
            raise ReaderError(
                "no pattern",
                source=ctx.name,
                hint="a mynetworks file lists networks such as 192.0.2.0/24 and [2001:db8::]/32",
            )
        return _result(data, ctx, self.name, steps, lists.findings, lists)
