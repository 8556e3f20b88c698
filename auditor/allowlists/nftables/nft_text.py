"""nftables rulesets as ``nft list ruleset`` text, or a file for ``nft -f``: the base chains a
NEW connection to the service passes, first match (semantics in
:mod:`auditor.allowlists.nftables.ruleset`).

A file for ``nft -f`` is read in order: ``define``/``$name``, ``flush ruleset``, ``table``/``chain``
blocks, ``add``/``insert``/``create`` commands, ``add element``, ``flush``/``delete`` of tables and
chains.
"""

from __future__ import annotations

import re

from auditor.allowlists.base import ReadContext, Reader
from auditor.allowlists.nftables.ruleset import evaluate, read_ruleset
from auditor.model import RangeSet

_TEXT_HEAD = re.compile(
    rb"(table\s+((ip|ip6|inet|arp|bridge|netdev)\s+)?[\w.-]+\s*(\{.*)?"
    rb"|flush\s+ruleset\b.*|define\s+\w+\s*=.*|include\s+\".*"
    rb"|(add|create|insert|delete|flush)\s+(table|chain|rule|set|map|element)\s.*)"
)


def sniff_text(data: bytes) -> bool:
    """nft text: a ``table ... {``, ``flush ruleset``, ``define``, ``include`` or ``add ...``
    command first, or an ``#!/usr/sbin/nft`` interpreter line."""
    for raw in data[:4096].lstrip(b"\xef\xbb\xbf").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b"#!"):
            if b"nft" in line:
                return True
            continue
        if line.startswith(b"#"):
            continue
        return _TEXT_HEAD.fullmatch(line) is not None
    return False


class NftablesReader(Reader):
    name = "nftables"
    description = "nft list ruleset / nft -f file: the base chains on the input (or forward) hook"
    suffixes = (".nft", ".nftables")
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_text(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return evaluate(read_ruleset(data, ctx, self.name), ctx, data, self.name)
