"""Where an accept must go to take effect: the chains of the declared ruleset that decide.

A firewall reader hands back, with its verdicts, every chain a packet crosses on its path
(:class:`auditor.model.Stage`): an iptables table's built-in chain (raw
PREROUTING, mangle PREROUTING, ..., filter INPUT) or an nftables base chain (ingress,
prerouting, input, in priority order). An accept ends only the chain it is in; the packet then
meets the next one, where a drop is still final. So an address comes in only when every stage
on its path accepts it, and a rule for a missing address goes into each stage that does not:
``-t raw -I PREROUTING`` and ``-I INPUT`` when both drop it; ``insert rule`` into every nftables
base chain that drops it, named by its real table (``ip filter``, ``ip6 f6``).

Some stages cannot be fixed with an accept, and the rules then say so instead of pretending:

- a nat chain (an accept there would skip the rewrite, and a rewritten destination may never
  reach the audited chain);
- a ruleset of the other platform (nftables rules are evaluated besides iptables' chains, and
  the reverse, and cannot undo a drop there);
- a chain whose name the generator cannot write.

A declared source that is not a ruleset (a list, a security group, a Postfix table) has no
stages: its missing addresses get the generator's usual, generic target (``-I INPUT``,
``inet filter input``), as the rules for ``auditor rules`` do.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize

if TYPE_CHECKING:
    from auditor.ipspace import IPSpace
    from auditor.model import RuleRef, Segment, Stage


@dataclass(frozen=True, order=True)
class Target:
    """A chain to insert accepts into."""

    table: str
    chain: str
    table_family: str = ""
    """nftables: ``ip``, ``ip6``, ``inet``, ``netdev``, ``bridge``."""
    hook: str = field(default="", compare=False)
    priority: int = field(default=0, compare=False)

    @property
    def label(self) -> str:
        return " ".join(w for w in (self.table_family, self.table, self.chain) if w)


@dataclass
class Placed:
    """One target for one family: the blocks that need an accept there, and why."""

    family: int
    target: Target
    rank: tuple[int, str]
    blocks: list[MissingBlock] = field(default_factory=list)
    rules: list[RuleRef] = field(default_factory=list)
    """The rules that decide the blocks there (drops, policies, conditional rules)."""


@dataclass(frozen=True)
class Unfixed:
    """A block the rules cannot let in, and why."""

    block: MissingBlock
    why: str

    def describe(self) -> str:
        return f"{self.block.cidr}: {self.why}"


@dataclass(frozen=True)
class Placement:
    placed: tuple[Placed, ...]
    unfixed: tuple[Unfixed, ...]
    default: Target

    @property
    def plain(self) -> bool:
        """Only the generic target and nothing unfixed: the output of a list source."""
        return not self.unfixed and all(p.target == self.default for p in self.placed)

    def family(self, family: int) -> list[Placed]:
        return [p for p in self.placed if p.family == family]


def _not_accepted(
    segments: Sequence[Segment], starts: Sequence[int], first: int, last: int
) -> list[Segment]:
    """The segments over ``first..last`` whose outcome is not accept (``starts``: their firsts)."""
    i = max(bisect.bisect_right(starts, first) - 1, 0)
    out = []
    while i < len(segments) and segments[i].first <= last:
        seg = segments[i]
        if seg.last >= first and seg.outcome != "accept":
            out.append(seg)
        i += 1
    return out


def place(
    blocks: Sequence[MissingBlock],
    declared: Sequence[RangeSet],
    platform: str,
    default: Target,
    target_of: Callable[[Stage], Target | str],
) -> Placement:
    """The targets of every block; ``target_of`` turns a stage into this platform's target,
    or says why it cannot be written."""
    placed: dict[tuple[int, Target], Placed] = {}
    unfixed: list[Unfixed] = []
    starts: dict[int, list[int]] = {}  # per stage, its segments' firsts (looked up per block)

    def add(
        block: MissingBlock, target: Target, rank: tuple[int, str], rule: RuleRef | None
    ) -> None:
        key = (block.family, target)
        entry = placed.get(key)
        if entry is None:
            entry = placed[key] = Placed(block.family, target, rank)
        if not entry.blocks or entry.blocks[-1] is not block:
            entry.blocks.append(block)
        if rule is not None and rule not in entry.rules:
            entry.rules.append(rule)

    for block in sanitize.sorted_blocks(blocks):
        first = block.network
        last = block.network + block.size - 1
        staged = [
            (rs, v) for rs in declared for v in rs.verdicts if v.family == block.family and v.stages
        ]
        if not staged:
            add(block, default, (1 << 30, ""), None)
            continue
        done = False
        for rs, verdicts in staged:
            for index, stage in enumerate(verdicts.stages):
                firsts = starts.get(id(stage))
                if firsts is None:
                    firsts = starts[id(stage)] = [s.first for s in stage.segments]
                deciding = _not_accepted(stage.segments, firsts, first, last)
                if not deciding:
                    continue
                rule = deciding[0].rule
                done = True
                if stage.platform != platform:
                    unfixed.append(
                        Unfixed(
                            block,
                            f"the {stage.platform} ruleset {rs.info.name} does not accept it in"
                            f" {stage.label} ({rule.describe()}), and {platform} rules are"
                            f" evaluated besides it and cannot undo that (use --rules"
                            f" {stage.platform})",
                        )
                    )
                    break
                if stage.kind == "nat":
                    unfixed.append(
                        Unfixed(
                            block,
                            f"{stage.label} in {rs.info.name} is a nat chain that may give the"
                            f" connection another destination ({rule.describe()}): an accept"
                            " there would skip the rewrite, and no rule can make the rewritten"
                            " connection reach the audited chain",
                        )
                    )
                    continue
                target = target_of(stage)
                if isinstance(target, str):
                    unfixed.append(Unfixed(block, f"{stage.label} in {rs.info.name}: {target}"))
                    continue
                add(block, target, (index, target.label), rule)
        if not done:
            add(block, default, (1 << 30, ""), None)
    ordered = sorted(placed.values(), key=lambda p: (p.family, p.rank, p.target))
    return Placement(tuple(ordered), tuple(unfixed), default)


def summary(placed: Placed, limit: int = 2) -> str:
    """``filter INPUT: 2 CIDRs; decided by fw.rules:9: policy DROP of INPUT`` (comment text)."""
    count = len(placed.blocks)
    text = f"{placed.target.label}: {count} CIDR{'s' if count != 1 else ''}"
    if placed.rules:
        shown = [sanitize.cut(sanitize.clean(r.describe()), 120) for r in placed.rules[:limit]]
        more = len(placed.rules) - limit
        text += "; decided by " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return text


MAX_SHOWN = 10


def warning_lines(unfixed: Sequence[Unfixed], limit: int = MAX_SHOWN) -> list[str]:
    """Comment lines naming the blocks the rules cannot let in."""
    if not unfixed:
        return []
    blocks = len({u.block.cidr for u in unfixed})
    lines = [
        f"# WARNING: {blocks} missing CIDR{'s stay' if blocks != 1 else ' stays'} blocked even"
        " with these rules, which cannot fix that:"
    ]
    for u in unfixed[:limit]:
        lines.append("#   " + sanitize.cut(sanitize.clean(u.describe()), 400))
    if len(unfixed) > limit:
        lines.append(f"#   and {len(unfixed) - limit} more")
    return lines


def admitted(
    space: IPSpace, blocks: Sequence[MissingBlock], what: str, notes: list[str]
) -> tuple[MissingBlock, ...]:
    """The blocks an evaluation lets in wholly (``space``: what a ruleset allows with them
    added to one of its sets); a note on ``what`` names how many it still would not."""
    ok = tuple(
        b for b in blocks if space.covered(b.family, b.network, b.network + b.size - 1) == b.size
    )
    if len(ok) < len(blocks):
        family = blocks[0].family
        notes.append(
            f"{what}: with them in it, the ruleset would still not let"
            f" {len(blocks) - len(ok)} of the IPv{family} CIDRs in; they get rules of their own"
        )
    return ok
