"""Where the MikroTik rules go when the declared source is a RouterOS export (``--rules auto``).

The export is read again (unchanged since the audit: its SHA-256 is checked) and evaluated with
the change made, as RouterOS would hold it, by the reader that audited it:

- without ``--scope``: the accepting rule goes right before the rule that decides the addresses
  today (a drop, or the jump to a chain that drops them), found as the last position in the
  filter where the rule lets every missing CIDR in; that rule is named (``file:line``) and the
  position given to ``place-before`` as its number among the static rules, which is its place
  in the export;
- with ``--scope LIST``: the entries go into that address list; a note says so when, with them
  in it, the export would still not let them in.

When the export cannot be used (changed since, evaluated otherwise, the addresses not let in at
any position), the rule goes first in the filter, as without a declared export, and a note says
why.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.model import MissingBlock, RangeSet, Verdicts
from auditor.rules import sanitize
from auditor.rules.base import RuleOptions, audited_bytes

if TYPE_CHECKING:
    from auditor.allowlists.appliances.mikrotik_export import Export
    from auditor.allowlists.base import ReadContext

PREFIX = {4: "ip", 6: "ipv6"}


@dataclass(frozen=True)
class Placement:
    index: int | None
    """The rule's number among the static filter rules (``place-before``); None: the top."""
    before: str = ""
    """The rule it goes before, ``file:line: text``, cleaned; "" when none is known."""
    notes: tuple[str, ...] = ()


def _accepts(verdicts: Verdicts | None, block: MissingBlock) -> bool:
    if verdicts is None:
        return False
    first, last = block.network, block.network + block.size - 1
    for seg in verdicts.segments:
        if seg.last >= first and seg.first <= last and seg.outcome != "accept":
            return False
    return True


def _source(options: RuleOptions) -> RangeSet | None:
    found = [rs for rs in options.declared if rs.info.format == "mikrotik"]
    return found[0] if len(found) == 1 else None


def _export(
    rs: RangeSet, options: RuleOptions, notes: list[str]
) -> tuple[Export, ReadContext] | None:
    """The export as audited, and the context it is evaluated in; None when it cannot be."""
    from auditor.allowlists.appliances.mikrotik import verdicts_of
    from auditor.allowlists.appliances.mikrotik_export import parse_export
    from auditor.allowlists.base import ReadContext, ReaderError, decode_text

    name = sanitize.clean(rs.info.name)
    data = audited_bytes(rs)
    if data is None:
        notes.append(f"{name} changed since it was read: the rule goes first in the filter")
        return None
    ctx = ReadContext(
        rs.info.name, "declared", service=options.service, chain=options.chain, to=options.to
    )
    try:
        export = parse_export(decode_text(data, ctx), ctx.name)
        now = verdicts_of(export, ctx)
    except ReaderError:
        return None
    for v in rs.verdicts:
        got = now.get(v.family)
        if got is None or [(s.first, s.last, s.outcome) for s in got.segments] != [
            (s.first, s.last, s.outcome) for s in v.segments
        ]:
            notes.append(
                f"{name} evaluates otherwise than in the audit (--to?): the rule goes first"
                " in the filter"
            )
            return None
    return export, ctx


def _entries(export: Export, family: int, name: str, blocks: Sequence[MissingBlock]) -> None:
    from auditor.allowlists.appliances.mikrotik_export import Item

    menu = (PREFIX[family], "firewall", "address-list")
    rows = export.items.setdefault(menu, [])
    export.menus.setdefault(menu, 0)
    rows += [Item(menu, 0, "", {"list": name, "address": sanitize.cidr(b)}) for b in blocks]


def place(
    blocks: Sequence[MissingBlock], family: int, options: RuleOptions, name: str, args: str
) -> Placement:
    """Where the rule ``args`` (accepting the list ``name`` of ``blocks``) goes."""
    from auditor.allowlists.appliances.mikrotik import verdicts_of
    from auditor.allowlists.appliances.mikrotik_export import Item, words

    rs = _source(options)
    if rs is None or not blocks:
        return Placement(None)
    notes: list[str] = []
    got = _export(rs, options, notes)
    if got is None:
        return Placement(None, notes=tuple(notes))
    export, ctx = got
    menu = (PREFIX[family], "firewall", "filter")
    rules = export.items.get(menu, [])
    attrs = dict(w.partition("=")[::2] for w in words(args, ctx.name, 0))
    attrs.pop("comment", None)

    def works(k: int) -> bool:
        trial = copy.deepcopy(export)
        _entries(trial, family, name, blocks)
        trial.items.setdefault(menu, []).insert(k, Item(menu, 0, "(the new rule)", attrs))
        trial.menus.setdefault(menu, 0)
        return all(_accepts(verdicts_of(trial, ctx).get(family), b) for b in blocks)

    # The last position that works, found by halving: a position that works leaves every
    # earlier one working (the rules ahead of the new one are fewer, and those that decided an
    # address before decide it the same way), so a few evaluations do, not one per rule.
    if works(len(rules)):
        return Placement(len(rules), "", tuple(notes))
    if not works(0):
        notes.append(
            f"no place in {sanitize.clean(rs.info.name)}'s filter lets the IPv{family} CIDRs in"
            " (a raw or nat rule decides them?): the rule goes first"
        )
        return Placement(None, notes=tuple(notes))
    good, bad = 0, len(rules)
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if works(mid) else (good, mid)
    shown = sanitize.clean(f"{rs.info.name}:{rules[good].line}: {rules[good].text}")[:200]
    return Placement(good, shown, tuple(notes))


def into_list(
    blocks: Sequence[MissingBlock], family: int, options: RuleOptions, name: str
) -> list[str]:
    """Notes when the scoped list, with the entries in it, would not let them in."""
    from auditor.allowlists.appliances.mikrotik import verdicts_of

    rs = _source(options)
    if rs is None or not blocks:
        return []
    notes: list[str] = []
    got = _export(rs, options, notes)
    if got is None:
        return notes
    export, ctx = got
    _entries(export, family, name, blocks)
    now = verdicts_of(export, ctx).get(family)
    bad = [b for b in blocks if not _accepts(now, b)]
    if bad:
        notes.append(
            f"with them in address-list {name}, {sanitize.clean(rs.info.name)} would still not"
            f" let {len(bad)} of the IPv{family} CIDRs in, such as {bad[0].cidr}: review the"
            " rules that use it"
        )
    return notes
