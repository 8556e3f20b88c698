"""``--scope TABLE/SET`` for nftables: the missing addresses go into the named set the ruleset
already accepts from, instead of a set and a rule of this tool's own, when the one evaluator
says that they are then let in.

The declared ruleset is read again (unchanged since the audit: its SHA-256 is checked), the
addresses are added to the set in what was read, and the ruleset is evaluated again for the
service, as the audit did. The set is used only when:

- evaluating the ruleset as it is gives what the audit saw (the same allowed addresses);
- the set is a set of addresses of the family (``ipv4_addr``, ``ipv6_addr``), with ``flags
  interval`` when a CIDR is wider than one address (nft refuses it otherwise);
- every rule that uses it matches it as an accepted source (``saddr @set ... accept``, read
  from the ruleset's text): in a set used by a drop, or as ``saddr != @set``, an address is one
  kept out;
- with the addresses in it, the evaluation lets them in (those it does not get this tool's
  own set and rule).

Otherwise the addresses of that family get this tool's own set and rule, and a note says why.
The rules that use the set are named in the output, so that what else it grants is seen.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.base import RuleOptions, audited_bytes
from auditor.rules.nft_prune import allow_only_sets
from auditor.rules.placement import admitted

SET_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_FAMILIES = frozenset({"ip", "ip6", "inet", "netdev", "bridge"})


@dataclass(frozen=True)
class IntoSet:
    """The blocks of one family that go into a set of the declared ruleset."""

    family: int
    table: str
    """``inet filter``: the set's table as nft names it."""
    name: str
    blocks: tuple[MissingBlock, ...]
    users: tuple[str, ...]
    """The rules that use the set, ``file:line rule``, cleaned."""


def _matches(scope: Sequence[str], table: str, name: str) -> bool:
    return any(s in (name, f"{table}/{name}") for s in scope)


def into_sets(
    blocks: Sequence[MissingBlock], options: RuleOptions
) -> tuple[list[IntoSet], list[str]]:
    """The sets the scope names that take the missing blocks, and notes for those that
    cannot (each says why)."""
    if not options.scope or not blocks:
        return [], []
    found: list[IntoSet] = []
    notes: list[str] = []
    for rs in options.declared:
        if rs.info.format == "nftables-json":
            notes.append(
                f"{sanitize.clean(rs.info.name)}: a scoped set is used from the text of nft list"
                " ruleset, not from its JSON"
            )
        if rs.info.format != "nftables":
            continue
        found += _one_ruleset(rs, blocks, options, notes)
    return found, notes


def _one_ruleset(
    rs: RangeSet, blocks: Sequence[MissingBlock], options: RuleOptions, notes: list[str]
) -> list[IntoSet]:
    from auditor.allowlists.base import ReadContext
    from auditor.allowlists.nftables.ast import Elem, Val
    from auditor.allowlists.nftables.ruleset import evaluate, read_ruleset

    name = sanitize.clean(rs.info.name)
    data = audited_bytes(rs)
    allowing = allow_only_sets(rs)
    if data is None or allowing is None:
        notes.append(f"{name} changed since it was read: the scoped set is not used")
        return []
    ctx = ReadContext(rs.info.name, "declared", service=options.service, chain=options.chain)
    ast = read_ruleset(data, ctx, rs.info.format)
    if evaluate(ast, ctx, data, rs.info.format).space != rs.space:
        notes.append(
            f"{name} evaluates otherwise than in the audit (--to?): the scoped set is not used"
        )
        return []
    out: list[IntoSet] = []
    for (table_family, table_name), table in ast.tables.items():
        for set_name, nset in table.sets.items():
            if nset.kind != "set" or not _matches(options.scope, table_name, set_name):
                continue
            label = sanitize.clean(f"{table_family} {table_name} {set_name}")
            if not (
                table_family in _FAMILIES
                and _NAME.fullmatch(table_name)
                and _NAME.fullmatch(set_name)
            ):
                notes.append(f"set {label}: its name cannot be written by this tool")
                continue
            if set_name not in allowing:
                notes.append(
                    f"set {label} is not used only as an accepted source (saddr @set accept):"
                    " the addresses get a set of their own"
                )
                continue
            for family in (4, 6):
                mine = tuple(b for b in blocks if b.family == family)
                if not mine or nset.type != SET_TYPE[family]:
                    continue
                wide = any(b.size > 1 for b in mine)
                if wide and "interval" not in nset.flags:
                    notes.append(
                        f"set {label} has no flags interval and cannot hold CIDRs: the IPv{family}"
                        " addresses get a set of their own"
                    )
                    continue
                trial = copy.deepcopy(ast)
                trial.tables[(table_family, table_name)].sets[set_name].elems.extend(
                    Elem(Val(sanitize.cidr(b))) for b in mine
                )
                space = evaluate(trial, ctx, data, rs.info.format).space
                ok = admitted(space, mine, f"set {label}", notes)
                if ok:
                    users = _users(data, set_name, name)
                    table_label = f"{table_family} {table_name}"
                    out.append(IntoSet(family, table_label, set_name, ok, users))
    return out


def _users(data: bytes, set_name: str, name: str) -> tuple[str, ...]:
    """The lines of the ruleset's text that use the set, as ``file:line text``."""
    pattern = re.compile(r"@" + re.escape(set_name) + r"(?![A-Za-z0-9_.-])")
    out = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if pattern.search(line):
            out.append(sanitize.clean(f"{name}:{number}: {line.strip()}")[:160])
    return tuple(out)
