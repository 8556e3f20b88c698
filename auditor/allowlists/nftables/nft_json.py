"""nftables rulesets as ``nft -j list ruleset`` JSON: the base chains a NEW connection to the
service passes, first match (semantics in :mod:`auditor.allowlists.nftables.ruleset`).

The JSON reader takes ``nft -j list ruleset`` output (and ``add``/``insert``/``flush`` command
objects); nft 1.0 writes an anonymous chain (``jump { ... }``) in JSON as its text, which is read
with the text parser.
"""

from __future__ import annotations

import re

from auditor.allowlists.base import ReadContext, Reader
from auditor.allowlists.nftables.ruleset import evaluate, read_ruleset
from auditor.model import RangeSet


def sniff_json(data: bytes) -> bool:
    """nft JSON: an object whose first key is ``"nftables"``."""
    return re.match(rb'\s*\{\s*"nftables"\s*:', data[:4096].lstrip(b"\xef\xbb\xbf")) is not None


class NftablesJsonReader(Reader):
    name = "nftables-json"
    description = "nft -j list ruleset (JSON): the base chains on the input (or forward) hook"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_json(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return evaluate(read_ruleset(data, ctx, self.name), ctx, data, self.name)
