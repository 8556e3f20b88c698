"""AWS managed prefix lists exported as JSON.

``aws-prefix-list`` (``aws ec2 describe-prefix-lists``)
    ``{"PrefixLists": [{"PrefixListId", "PrefixListName", "Cidrs": [...]}]}``; an entry may
    carry ``Entries: [{"Cidr": ...}]`` (the output of ``get-managed-prefix-list-entries``
    placed under its list) instead of ``Cidrs``. Given with ``--declared`` next to security
    groups it resolves their ``PrefixListIds`` (see ``SourceLoader.companions``); read on its
    own it is a list, one group per prefix list.
"""

from __future__ import annotations

from auditor import ipspace
from auditor.allowlists.base import Collector, ReadContext, Reader
from auditor.allowlists.cloud.document import Doc, _head, load_document
from auditor.model import Entry, Origin, RangeSet


def prefix_lists(data: bytes, name: str) -> dict[str, list[tuple[int, int, int]]]:
    """The members of every prefix list of a describe-prefix-lists export, by id."""
    ctx = ReadContext(name, "declared")
    doc = Doc(ctx, "an aws ec2 describe-prefix-lists export")
    top = load_document(data, ctx, "a JSON export")
    out: dict[str, list[tuple[int, int, int]]] = {}
    for path, pl in doc.items(top, "PrefixLists", ""):
        pid = doc.get(pl, "PrefixListId", str, path)
        members = out.setdefault(pid, [])
        cidrs = [(f"{p}", c) for p, c in doc.items(pl, "Cidrs", path)]
        cidrs += [
            (f"{p}.Cidr", doc.get(e, "Cidr", str, p)) for p, e in doc.items(pl, "Entries", path)
        ]
        for cpath, cidr in cidrs:
            fam, (a, b) = doc.cidr(cidr, cpath)
            members.append((fam, a, b))
    if not out:
        raise doc.error("no prefix list", "PrefixLists")
    return out


class AwsPrefixListReader(Reader):
    name = "aws-prefix-list"
    description = "AWS EC2 describe-prefix-lists JSON (resolves security groups' PrefixListIds)"
    provides = "sets"  # keyed by their pl- id, they resolve aws-security-group PrefixListIds

    def companion(self, data: bytes, name: str) -> dict[str, list[tuple[int, int, int]]]:
        return prefix_lists(data, name)

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = _head(data)
        return head.startswith(b"{") and b'"PrefixLists"' in head and b'"PrefixListId"' in head

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        lists = prefix_lists(data, ctx.name)
        col = Collector(ctx, self.name)
        for pid, members in lists.items():
            col.group(pid)
            for fam, a, b in members:
                text = ipspace.format_interval(fam, a, b)
                col.entries.append(Entry(fam, a, b, Origin(ctx.name, None, f"{pid}: {text}"), pid))
        return col.result(data, explicit_empty=True)
