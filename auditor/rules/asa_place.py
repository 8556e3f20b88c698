"""Where ASA rules go when the declared source is the ASA configuration itself: the access list
bound to the ``--chain`` interface, the position of the entry that denies the missing
addresses today, and whether the object-group a ``--scope`` names is permitted ahead of it.

The configuration is read again (:func:`auditor.rules.base.audited_bytes`, only when it is
the file that was audited) and evaluated as the reader does; the verdicts of the audit name
the deciding entry by its line.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor.model import MissingBlock, RangeSet, RuleRef
from auditor.rules.base import RuleOptions, audited_bytes

if TYPE_CHECKING:
    from auditor.allowlists.appliances.asa_config import Acl, Config


@dataclass
class AsaTarget:
    """The access list the entries go into and where."""

    source: str
    acl: str
    label: str
    """What the access list is bound to (``interface outside``)."""
    line: int | None = None
    """``access-list ACL line N``: ahead of the entry that denies the addresses (None: at
    the end of the list, ahead of what comes after it: the global list, the implicit deny)."""
    ahead_of: RuleRef | None = None
    bind: str = ""
    """An ``access-group`` line to write: the interface has no access list of its own."""
    deciders: list[RuleRef] = field(default_factory=list)
    unfixed: list[str] = field(default_factory=list)


def _deciders(rs: RangeSet, block: MissingBlock) -> list[RuleRef]:
    """The rules that keep the block out today (those that do not accept it)."""
    first, last = block.network, block.network + block.size - 1
    out: list[RuleRef] = []
    for v in rs.verdicts:
        if v.family != block.family:
            continue
        starts = [s.first for s in v.segments]
        i = max(bisect.bisect_right(starts, first) - 1, 0)
        while i < len(v.segments) and v.segments[i].first <= last:
            seg = v.segments[i]
            if seg.last >= first and seg.outcome != "accept" and seg.rule not in out:
                out.append(seg.rule)
            i += 1
    return out


def target(
    blocks: Sequence[MissingBlock], options: RuleOptions, scope: str | None
) -> AsaTarget | None:
    """The target in the declared ASA configuration; None without one (rules from a report,
    another declared format, a file changed since the audit)."""
    from auditor.allowlists.appliances.asa_config import parse_config
    from auditor.allowlists.appliances.asa_lower import select
    from auditor.allowlists.base import ReadContext, ReaderError, decode_text

    for rs in options.declared:
        if rs.info.format != "asa":
            continue
        data = audited_bytes(rs)
        if data is None:
            continue
        ctx = ReadContext(rs.info.name, "declared", service=options.service, chain=options.chain)
        try:
            cfg = parse_config(decode_text(data, ctx), ctx)
            sel = select(cfg, ctx)
        except ReaderError:
            continue
        named = cfg.groups.get(scope) if scope else None
        if named is not None and named.kind != "network":
            from auditor.errors import UsageError

            raise UsageError(
                f"--scope {scope}: {rs.info.name}:{named.line} defines {scope} as"
                f" {'an object' if named.kind.startswith('object ') else 'an object-group'}"
                f" {named.kind.removeprefix('object ')}, not an object-group network",
                hint="name an object-group network that a permit uses (the ASA keeps objects"
                " and object-groups in one namespace, so the rules cannot make a group of that"
                " name)",
            )
        iface = sel.ingress.nameif if sel.ingress is not None else ""
        bind = ""
        if iface and iface in cfg.bound_in:
            acl = cfg.bound_in[iface].acl
        elif sel.acls:
            acl = sel.acls[0].name
        else:
            acl = f"{iface or 'outside'}_access_in"
            bind = f"access-group {acl} in interface {iface or 'outside'}"
        found = AsaTarget(rs.info.name, acl, sel.label, bind=bind)
        aces = {e.line: e for a in cfg.acls.values() for e in a.entries}
        chain_lines = [e.line for a in sel.acls for e in a.entries]
        rank = {line: k for k, line in enumerate(chain_lines)}
        permit = _scope_permit(cfg, sel.acls, scope) if scope else None
        for block in blocks:
            for ref in _deciders(rs, block):
                if ref not in found.deciders:
                    found.deciders.append(ref)
                ace = aces.get(ref.origin.line or -1)
                if ace is None or ref.origin.source != rs.info.name:
                    continue
                if scope is not None:
                    if permit is None:
                        found.unfixed.append(
                            f"{block.cidr}: no entry of {sel.label} permits object-group"
                            f" {scope}; adding to it lets nothing in (denied by"
                            f" {ref.describe()})"
                        )
                    elif rank.get(ace.line, -1) < rank.get(permit, -1):
                        found.unfixed.append(
                            f"{block.cidr}: {ref.describe()} denies it ahead of the entry that"
                            f" permits object-group {scope} (line {permit})"
                        )
                    continue
                if ace.acl == acl and (found.line is None or ace.position < found.line):
                    found.line = ace.position
                    found.ahead_of = ref
        if scope is not None and permit is None and not found.unfixed and blocks:
            found.unfixed.append(
                f"no entry of {sel.label} permits object-group {scope}; adding to it lets"
                " nothing in"
            )
        return found
    return None


def _scope_permit(cfg: Config, acls: Sequence[Acl], scope: str) -> int | None:
    """The line of the first permit whose source is the scope's group or a group holding it."""
    holders = {scope}
    changed = True
    while changed:
        changed = False
        for name, group in cfg.groups.items():
            if name in holders or not group.network:
                continue
            for m in group.members:
                w = m.words
                nested = w[1] if w[:1] == ("group-object",) and len(w) == 2 else None
                if w[:2] == ("network-object", "object") and len(w) == 3:
                    nested = w[2]
                if nested in holders:
                    holders.add(name)
                    changed = True
                    break
    for acl in acls:
        for ace in acl.entries:
            w = ace.words
            if len(w) < 4 or w[1] != "permit" or "inactive" in w:
                continue
            i = 4 if w[2] in ("object", "object-group") else 3
            if i + 1 < len(w) and w[i] in ("object-group", "object") and w[i + 1] in holders:
                return ace.line
    return None
