"""Where FortiOS rules take effect, read from the declared FortiGate configuration itself.

With a declared ``fortios`` source (``--rules auto``, or ``--rules fortios`` beside one), the
configuration is read again (only when it is the file that was audited: same SHA-256) and the
audit's verdicts say, per missing address, which policy decides it today:

- when an ``accept`` policy that lets the service in today (its accepted addresses are in the
  verdicts) comes before every such policy and takes its sources from an address group
  (``addrgrp``/``addrgrp6``, without exclusions, named by no earlier policy), the new address
  objects are appended to that group: nothing else changes;
- otherwise a new accept policy goes before the first policy that decides them (named with
  its file:line), for the interface pair of ``--chain``; FortiOS appends a new policy at the
  end of the list, so the script moves it (``move NEW before ID``). ``edit 0`` takes the next
  free id, the highest id of the list plus one in the file as audited; the script says which
  id that is, and the move names it. When the implicit deny decides, no move is needed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.base import RuleOptions, audited_bytes, source_path

FORMAT = "fortios"
WRITABLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9 _.+@()-]{0,78}")
"""The names of the configuration (interfaces, VDOM, address group) the script may write: a
quote, a backslash or a line break would end the quoted value and start a command of its own.
A configuration whose names are not of these characters gets rules that do not name them."""


@dataclass(frozen=True)
class Placed:
    """What the declared configuration says about one family's missing addresses."""

    source: str
    vdom: str | None
    srcintf: str
    dstintf: str
    group: str | None = None
    """The address group the accepting policy uses: the new objects go into it."""
    group_policy: str = ""
    """That policy, as ``policy 3 (file:line)``."""
    blocker: str = ""
    """The policy that decides the addresses today, as ``policy 7 (file:line)``; empty for
    the implicit deny."""
    blocker_id: str = ""
    new_id: int = 0
    """The id ``edit 0`` gives a new policy in the file as audited."""


def declared_config(options: RuleOptions) -> RangeSet | None:
    found = [rs for rs in options.declared if rs.info.format == FORMAT]
    return found[0] if len(found) == 1 else None


def place(options: RuleOptions, family: int, blocks: Sequence[MissingBlock]) -> Placed | None:
    """Where the rules for ``blocks`` go in the declared configuration (None: no declared
    FortiGate configuration, or not the file that was audited)."""
    from auditor.allowlists.appliances.fortios import choose
    from auditor.allowlists.appliances.fortios_lower import GROUP, policies, source_keys
    from auditor.allowlists.appliances.fortios_tree import parse_tree
    from auditor.allowlists.base import ReadContext, ReaderError

    rs = declared_config(options)
    data = audited_bytes(rs) if rs is not None else None
    if rs is None or data is None:
        return None
    name = rs.info.name
    shown = sanitize.clean(source_path(rs))
    try:
        root, _ = parse_tree(data.decode("utf-8-sig"), name)
        choice = choose(root, ReadContext(name, "declared", chain=options.chain))
    except (ReaderError, UnicodeDecodeError):
        return None
    vdom = choice.vdom
    pair = choice.pair
    written = [vdom.name or "root", *((pair.src, pair.dst) if pair is not None else ())]
    if not all(WRITABLE.fullmatch(n) for n in written):
        return None
    listed = policies(vdom)
    by_line = {p.entry.line: p for p in listed}
    verdicts = next((v for v in rs.verdicts if v.family == family), None)
    if verdicts is None:
        return None
    # the first policy that decides a missing address today (the list's length: the implicit
    # deny)
    first = len(listed)
    for block in blocks:
        lo, hi = block.network, block.network + block.size - 1
        for seg in verdicts.segments:
            if seg.last >= lo and seg.first <= hi and seg.outcome != "accept":
                p = by_line.get(seg.rule.origin.line or -1)
                if p is not None:
                    first = min(first, p.position)
    table = vdom.node.table("firewall policy")
    ids = [int(i) for i in (table.entries if table is not None else ()) if i.isdigit()]
    base = Placed(
        shown,
        vdom.name,
        pair.src if pair is not None else "any",
        pair.dst if pair is not None else "any",
        new_id=max(ids, default=0) + 1,
    )
    if first < len(listed):
        p = listed[first]
        if not p.id.isdigit():  # a FortiOS policy id is a number: the move could not name it
            return None
        base = Placed(**{**base.__dict__, "blocker": f"policy {p.id} ({shown}:{p.entry.line})",
                         "blocker_id": p.id})  # fmt: skip
    accepting = {s.rule.origin.line for s in verdicts.segments if s.outcome == "accept"}
    groups = vdom.node.table(GROUP[family])
    named_before: set[str] = set()
    for p in listed[:first]:
        keys = source_keys(p, family)
        if keys is None:
            continue
        names = p.entry.get(keys[0])
        negated = p.entry.word(f"{keys[0]}-negate") == "enable"
        if p.entry.line in accepting and not negated and groups is not None:
            for n in names:
                g = groups.entries.get(n)
                usable = g is not None and g.word("exclude") != "enable"
                if usable and n not in named_before and WRITABLE.fullmatch(n):
                    where = f"policy {sanitize.clean(p.id)} ({shown}:{p.entry.line})"
                    return Placed(**{**base.__dict__, "group": n, "group_policy": where})
        named_before.update(names)
    return base


def in_vdom(lines: list[str], vdom: str | None) -> list[str]:
    """Commands for a VDOM's own configuration: inside ``config vdom`` / ``edit NAME``."""
    if vdom is None:
        return lines
    return ["config vdom", f'edit "{vdom}"', *lines, "end"]
