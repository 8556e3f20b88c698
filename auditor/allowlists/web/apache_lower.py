"""Apache access rules lowered to the ruleset intermediate form (:mod:`auditor.ruleset.ir`).

``Require`` (mod_authz_core) is not a first-match list: each directive and container has a
result, GRANTED, DENIED or NEUTRAL (here also *unknown*, for what the file does not settle:
``Require valid-user``, a ``<Limit>``), and containers combine their children's results:

- ``<RequireAny>`` (and the directives outside a container): GRANTED if a child grants, else
  unknown if a child is, else DENIED if a child denies, else NEUTRAL;
- ``<RequireAll>``: DENIED if a child denies, else unknown if a child is, else GRANTED if a
  child grants, else NEUTRAL;
- a negation (``Require not``, ``<RequireNone>``): GRANTED becomes DENIED, DENIED becomes
  NEUTRAL (a negated directive can never grant); unknown stays unknown;
- ``<Limit>``, ``<LimitExcept>``, ``<If>``: unknown where a child decides anything, else
  NEUTRAL (whether they apply depends on the request).

The lowering passes *continuations*: a node is compiled knowing the chain each of its four
results goes on to. A container is one chain of passes over its children, strongest result
first: ``<RequireAny>`` first sends a granting child to its GRANTED continuation, then
(a second pass) an unknown child to its unknown one, then a denying child to DENIED, and
ends in NEUTRAL. A directive's rules jump straight to the continuations (its address match
as the rule's sources); a nested container is a chain of its own. At the top the four
results jump to four chains that show the deciding directive: GRANTED accepts and DENIED
drops, each naming the first directive that by itself grants (denies) the address, NEUTRAL
drops ("no Require directive grants it") and unknown is conditional, named by the first
directive that is not evaluated.

The old ``Order``/``Allow``/``Deny`` (mod_access_compat) is one ordered list. Per address an
Allow (Deny) list matches surely (an address), maybe (the list has a host name or an
``env=``, which may match any client) or not. ``Order Deny,Allow``: an Allow match wins,
then a Deny match denies, else the client is let in; ``Order Allow,Deny``: a Deny match
wins, then an Allow match lets in, else the client is denied. A sure match of the winning
side decides; where the other side may match, the outcome depends on the host name or the
variable, named by the first such item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from auditor.model import Origin, Outcome, RuleRef
from auditor.ruleset.ir import ACCEPT, DROP, Action, Chain, Gate, Interval, Rule, Ruleset

Result = Literal["G", "D", "N", "C"]
"""mod_authz_core results: GRANTED, DENIED, NEUTRAL; C: not known from the file."""

Sources = tuple[Interval, ...] | None
"""The sources of a rule: None for every address."""

Own = tuple[tuple[Result, Sources], ...]
"""A directive's own result per address, for one family (every address is in exactly one)."""

_RESULTS: tuple[Result, ...] = ("G", "D", "N", "C")
_NEGATED: dict[Result, Result] = {"G": "D", "D": "N", "N": "N", "C": "C"}

Next = tuple[str, str, str, str]
"""The chain each result (in the order of ``_RESULTS``) goes on to."""

Partial = tuple[str | None, str | None, str | None, str | None]
"""Like :data:`Next`; None: go on with the rule after the node's rules."""


@dataclass
class AuthzNode:
    """An authorization directive or container."""

    kind: str  # "require", "all", "any", "none", "limit"
    line: int
    text: str
    negated: bool = False
    children: list[AuthzNode] = field(default_factory=list)
    provider: str = ""
    args: list[str] = field(default_factory=list)


def negate(own: Own) -> Own:
    """A negated directive's result: GRANTED is DENIED, DENIED is NEUTRAL."""
    return tuple((_NEGATED[result], sources) for result, sources in own)


def leaves(node: AuthzNode) -> list[AuthzNode]:
    """The directives of a tree, in the file's order."""
    if node.kind == "require":
        return [node]
    return [leaf for k in node.children for leaf in leaves(k)]


@dataclass(frozen=True)
class SectionRefs:
    """What the user is shown for a section's addresses that no single directive decides."""

    denied: RuleRef
    neutral: RuleRef
    unknown: RuleRef
    """Unknown because of a ``<Limit>``, ``<LimitExcept>`` or ``<If>``."""


class RequireLowering:
    """One section's ``Require`` tree, for one family, as chains."""

    def __init__(
        self,
        source: str,
        family: int,
        own: dict[int, tuple[RuleRef, str, Own]],
        refs: SectionRefs,
    ) -> None:
        """``own``: per directive (by ``id``) its rule, the reason it is not evaluated
        (unknown result) and its own result per address (its ``not`` included)."""
        self.source = source
        self.family = family
        self.own = own
        self.refs = refs
        self.chains: dict[str, Chain] = {}
        self.memo: dict[tuple[int, Next], str] = {}

    def ruleset(self, root: AuthzNode) -> Ruleset:
        top: Next = ("=G", "=D", "=N", "=C")
        self.shown(leaves(root))
        entry = self.chain_for(root, top)
        return Ruleset(self.family, self.chains, (Gate(entry, main=True),))

    def shown(self, directives: Sequence[AuthzNode]) -> None:
        """The four chains of the top results: each names the first directive whose own
        result is the section's result for the address."""
        rules: dict[Result, list[Rule]] = {r: [] for r in _RESULTS}
        for leaf in directives:
            ref, why, own = self.own[id(leaf)]
            for result, sources in own:
                if result == "C":
                    rules["C"].append(Rule(ref, Action("opaque", unsure=why), sources))
                elif result != "N":
                    rules[result].append(Rule(ref, ACCEPT if result == "G" else DROP, sources))
        ends: dict[Result, tuple[Outcome, RuleRef]] = {
            "G": ("accept", self.refs.denied),  # never reached: a grant comes from a directive
            "D": ("drop", self.refs.denied),
            "N": ("drop", self.refs.neutral),
            "C": ("conditional", self.refs.unknown),
        }
        for result, (policy, end_ref) in ends.items():
            name = "=" + result
            self.chains[name] = Chain(name, tuple(rules[result]), end_ref, policy)

    def chain_for(self, node: AuthzNode, nxt: Next) -> str:
        """The chain that sends each address on to the continuation of its result."""
        if len(set(nxt)) == 1:
            return nxt[0]
        key = (id(node), nxt)
        got = self.memo.get(key)
        if got is not None:
            return got
        steps, end = self.passes(node, nxt)
        backwards = [self.jump(node, end)]  # the chain's rules, last first
        for kid, partial in reversed(steps):
            if kid.kind == "require":
                backwards.extend(reversed(self.directive(kid, partial)))
                continue
            here = self.seal(node, backwards)
            g, d, n, c = (here if k is None else k for k in partial)
            backwards = [self.jump(kid, self.chain_for(kid, (g, d, n, c)))]
        name = self.memo[key] = self.seal(node, backwards)
        return name

    @staticmethod
    def passes(node: AuthzNode, nxt: Next) -> tuple[list[tuple[AuthzNode, Partial]], str]:
        """A container as passes over its children (each child with where its results go,
        None: on to the next child) and where the last pass ends."""
        g, d, n, c = nxt
        if node.negated:
            g, d, n, c = d, n, n, c
        kids = node.children
        steps: list[tuple[AuthzNode, Partial]] = []

        def each(**to: str) -> None:
            partial: Partial = (to.get("G"), to.get("D"), to.get("N"), to.get("C"))
            steps.extend((kid, partial) for kid in kids)

        if node.kind == "limit":
            each(G=c, D=c, C=c)
            return steps, n
        # the strongest result first (a grant in <RequireAny>, a denial in <RequireAll>),
        # then unknown, then the weaker one
        strong, weak = ("D", "G") if node.kind == "all" else ("G", "D")
        target = {"G": g, "D": d}
        w = target[weak]
        each(**{strong: target[strong]})
        if c == w != n:
            each(**{weak: c, "C": c})
        elif not c == w == n:
            each(C=c)
            if w != n:
                each(**{weak: w})
        return steps, n

    def directive(self, leaf: AuthzNode, partial: Partial) -> list[Rule]:
        """A directive's rules: each part of the space jumps to its result's continuation
        (None: no rule, the next one decides)."""
        ref, _, own = self.own[id(leaf)]
        out = []
        for result, sources in own:
            target = partial[_RESULTS.index(result)]
            if target is not None:
                out.append(Rule(ref, Action("jump", target), sources))
        return out

    def jump(self, node: AuthzNode, target: str) -> Rule:
        return Rule(RuleRef(Origin(self.source, node.line), node.text), Action("jump", target))

    def seal(self, node: AuthzNode, backwards: list[Rule]) -> str:
        """The rules as a chain (one rule that jumps for every address: its target)."""
        if len(backwards) == 1 and backwards[0].sources is None:
            return backwards[0].action.target
        name = f"{node.kind}@{node.line}#{len(self.chains)}"
        rules = tuple(reversed(backwards))
        self.chains[name] = Chain(name, rules, self.refs.neutral, "drop", label=node.text)
        return name


@dataclass(frozen=True)
class CompatItem:
    """One item of an ``Allow from`` or ``Deny from`` line, for one family."""

    ref: RuleRef
    """The line."""
    entry: int
    """The line's place among the Allow (Deny) lines."""
    sources: Sources = None
    """An address, or None: ``all``, or (``why``) any client."""
    why: str = ""
    """Non-empty: a host name or an ``env=`` that may match any client, and why."""


def order_rules(
    allow_wins: bool, allow: Sequence[CompatItem], deny: Sequence[CompatItem], drop: Action
) -> list[Rule]:
    """Allow and Deny lines as one ordered list, before the Order's default (accept for
    ``Deny,Allow``, where an Allow match wins; drop for ``Allow,Deny``, where a Deny match
    wins). A sure match of the winning side decides; one of the other side decides only
    where the winning side has no host name or variable that might match; where a host name
    or a variable of the other side might match, the outcome depends on it. Both are named by
    the first host name or variable of the two lists."""
    maybe = [((it.entry, 0, i), it) for i, it in enumerate(allow) if it.why]
    maybe += [((it.entry, 1, i), it) for i, it in enumerate(deny) if it.why]
    first = min(maybe, key=lambda m: m[0])[1] if maybe else None
    winner, loser = (allow, deny) if allow_wins else (deny, allow)
    won, lost = (ACCEPT, drop) if allow_wins else (drop, ACCEPT)
    rules = [Rule(it.ref, won, it.sources) for it in winner if not it.why]
    winner_may = first is not None and any(it.why for it in winner)
    for it in loser:
        if it.why:
            continue
        if first is not None and winner_may:
            rules.append(Rule(first.ref, Action("opaque", unsure=first.why), it.sources))
        else:
            rules.append(Rule(it.ref, lost, it.sources))
    if first is not None and any(it.why for it in loser):
        rules.append(Rule(first.ref, Action("opaque", unsure=first.why)))
    return rules
