"""The evaluation of an ``iptables-save`` ruleset (read by
:mod:`auditor.allowlists.firewalls.iptables_parser`): one table's chains for one probe, first
match (jumps, gotos, RETURN, the policy of a built-in chain, conditional rules settled where
they do not matter), the probes a service needs, the tables a packet crosses in sequence, and
the objects ``--scope`` can name.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from auditor import ipspace
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.allowlists.firewall import (
    Claim,
    Outcome,
    RuleRef,
    Segment,
    clip,
    fill_gaps,
    first_claims,
    merge,
)
from auditor.allowlists.firewalls.iptables_model import Probe, Rule, Ruleset
from auditor.allowlists.firewalls.iptables_parser import _tokens
from auditor.model import Entry, Origin

_BUILTIN_CHAINS = frozenset({"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"})
_TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", "RETURN": "return"}
_PASS_OVER = frozenset(
    {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "CT", "AUDIT", "SET",
     "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "TCPMSS", "CHECKSUM", "SECMARK", "CONNSECMARK",
     "IDLETIMER", "LED", "RATEEST", "TEE"}
)  # fmt: skip
# nat targets: SNAT-like ones end the nat chain like ACCEPT (the packet goes on); the others
# rewrite the destination, so the connection may never reach the audited service.
_NAT_ACCEPT = frozenset({"SNAT", "MASQUERADE"})
_BYPASS = frozenset({"DNAT", "REDIRECT", "NETMAP"})
"""A new destination: the chains after it, written for the old one, may never see the packet."""
_REDIRECTS = {
    "DNAT": "the destination is rewritten (DNAT)",
    "REDIRECT": "the destination is rewritten (REDIRECT)",
    "NETMAP": "the destination is rewritten (NETMAP)",
    "TPROXY": "the packet is diverted to a local socket (TPROXY)",
    "NOTRACK": "the connection is not tracked (NOTRACK), so state matches see UNTRACKED",
}
_SETTLE_BUDGET = 200_000
"""Claims looked at, per chain, to settle conditional rules that do not matter."""


def _minus(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ia = ipspace.Intervals([x for x, _ in a], [y for _, y in a])
    ib = ipspace.Intervals([x for x, _ in b], [y for _, y in b])
    starts, ends = ipspace.as_lists(ipspace.difference(ia, ib))
    return list(zip(starts, ends, strict=True))


class _Evaluator:
    """One table's chains for one probe."""

    def __init__(
        self,
        ruleset: Ruleset,
        table: str,
        ctx: ReadContext,
        probe: Probe,
        bypass: list[tuple[int, int]] | None = None,
    ) -> None:
        self.table_name = table
        self.table = ruleset.tables[table]
        self.ctx = ctx
        self.probe = probe
        self.bits = 128 if ruleset.family == 6 else 32
        self.memo: dict[str, list[Segment]] = {}
        self.stack: list[str] = []
        self.refs: dict[tuple[int, str], RuleRef] = {}
        self.bypass = bypass if bypass is not None else []
        """Sources of rules that give the packet a new destination (DNAT): when such a rule
        may match, the tables after this one may never see the packet."""

    def ref(self, rule: Rule, why: str = "") -> RuleRef:
        key = (id(rule), why)
        ref = self.refs.get(key)
        if ref is None:
            ref = self.refs[key] = RuleRef(Origin(self.ctx.name, rule.line), rule.text, why)
        return ref

    def partial_traffic(
        self,
        rule: Rule,
        order: int,
        sources: Sequence[tuple[int, int]],
        why: str,
        claims: list[Claim],
    ) -> None:
        """A rule for some protocols or ports, under --service any: a drop denies the
        service; an accept or a RETURN grants nothing (the address goes on); a jump sends part
        of the traffic elsewhere, which is not followed: conditional."""
        target = rule.target
        if target is not None and target not in _TERMINAL and target in self.table.chains:
            text = f"part of the traffic (its protocol or ports) goes to chain {target}"
            claims.append(Claim(order, sources, "conditional", self.ref(rule, text)))
            return
        outcome, reason = self.verdict(rule)
        if outcome in ("drop", "conditional"):
            text = "; ".join(w for w in (why, reason) if w)
            if outcome == "drop" and not text:
                claims.append(Claim(order, sources, "drop", self.ref(rule)))
            else:
                claims.append(Claim(order, sources, "conditional", self.ref(rule, text)))

    def verdict(self, rule: Rule) -> tuple[Outcome | None, str]:
        """What the rule's target does to a packet it matches here: an outcome and, for a
        conditional one, why; None for targets that go on to the next rule."""
        target = rule.target
        if target is None:
            return None, ""
        if target in _TERMINAL:
            return _TERMINAL[target], ""  # type: ignore[return-value]
        if self.table_name == "nat" and target in _NAT_ACCEPT:
            return "accept", ""
        if target in _REDIRECTS:
            return "conditional", _REDIRECTS[target]
        if target == "CT" and "--notrack" in rule.target_args:
            return "conditional", _REDIRECTS["NOTRACK"]
        if target in _PASS_OVER:
            return None, ""
        return "conditional", f"target {target} is not evaluated"

    def chain(self, name: str) -> list[Segment]:
        """The chain's outcome per source address; unclaimed addresses are left out (they
        fall off the end of the chain)."""
        if name in self.memo:
            return self.memo[name]
        if name in self.stack:
            raise ReaderError(
                f"chain loop: {' -> '.join((*self.stack, name))}", source=self.ctx.name
            )
        self.stack.append(name)
        claims: list[Claim] = []
        maybe: list[tuple[int, Rule, Outcome]] = []
        """Conditional claims (index in claims) with the outcome they have when they match."""
        full = [(0, (1 << self.bits) - 1)]
        chains = self.table.chains
        for order, rule in enumerate(chains.get(name, ())):
            can, depends = rule.applies(self.probe)
            if not can:
                continue
            sources = rule.sources if rule.sources is not None else full
            if not sources:
                continue
            why = "; ".join([*rule.why, depends] if depends else rule.why)
            target = rule.target
            if self.probe.protocol == "any" and rule.restricted:
                # --service any: only part of the traffic matches this rule, so it can deny
                # the service but never grant all of it
                self.partial_traffic(rule, order, sources, why, claims)
                continue
            if target is not None and target not in _TERMINAL and target in chains:
                sub = clip(self.chain(target), sources)
                if why and not rule.goto:
                    # the jump may or may not happen: what the chain decides becomes
                    # conditional; what it RETURNs or leaves undecided goes on here either way
                    for s in sub:
                        if s.outcome != "return":
                            if s.outcome != "conditional":
                                maybe.append((len(claims), rule, s.outcome))
                            claims.append(
                                Claim(
                                    order, [(s.first, s.last)], "conditional", self.ref(rule, why)
                                )
                            )
                elif why:
                    claims.append(Claim(order, sources, "conditional", self.ref(rule, why)))
                elif rule.goto:
                    # the goto'ed chain decides first; what falls off its end, or RETURNs
                    # there, returns from this chain too
                    claims.extend(Claim(order, [(s.first, s.last)], s.outcome, s.rule) for s in sub)
                    claims.append(Claim(order + 0.5, sources, "return", self.ref(rule)))
                else:
                    claims.extend(
                        Claim(order, [(s.first, s.last)], s.outcome, s.rule)
                        for s in sub
                        if s.outcome != "return"
                    )
                continue
            outcome, reason = self.verdict(rule)
            if outcome is None:
                continue  # a rule that goes on decides nothing, whether it matches or not
            if why or reason:
                if not reason:
                    maybe.append((len(claims), rule, outcome))
                text = "; ".join(w for w in (why, reason) if w)
                claims.append(Claim(order, sources, "conditional", self.ref(rule, text)))
                if target in _BYPASS:
                    self.bypass.extend(sources)
            else:
                claims.append(Claim(order, sources, outcome, self.ref(rule)))
        self.stack.pop()
        if maybe:
            claims = self.settle(name, claims, maybe)
        result = first_claims(claims)
        self.memo[name] = result
        return result

    def settle(
        self, name: str, claims: list[Claim], maybe: list[tuple[int, Rule, Outcome]]
    ) -> list[Claim]:
        """Conditional claims that do not matter: where the rest of the chain gives the same
        outcome as the rule when it matches (a conditional RETURN above the chain's end, a
        conditional ACCEPT above an ACCEPT policy), the address is decided either way.

        From the last such claim up, each is compared with the first match among the claims
        below it; the work is capped (:data:`_SETTLE_BUDGET` claims looked at), past which
        the remaining ones simply stay conditional.
        """
        policy = self.table.policies.get(name)
        # falling off the end (or RETURN) goes back to the caller, or in a built-in chain to
        # its policy
        end: Outcome = "return"
        if policy is not None:
            end = "accept" if policy[0] == "ACCEPT" else "drop"

        def same(a: Outcome, b: Outcome) -> bool:
            return (end if a == "return" else a) == (end if b == "return" else b)

        out = list(claims)  # in rule order, as they were made
        orders = [c.order for c in claims]
        left_over: list[Claim] = []
        budget = _SETTLE_BUDGET
        for index, _, outcome in reversed(maybe):
            claim = out[index]
            budget -= len(out) - index
            if budget < 0:
                break
            later = out[bisect.bisect_right(orders, claim.order) :]
            later.extend(c for c in left_over if c.order > claim.order)
            rest = fill_gaps(first_claims(later), self.bits, "return", claim.rule)
            agree = [s for s in clip(rest, claim.intervals) if same(s.outcome, outcome)]
            if not agree:
                continue
            # decided either way, and by the rule below (or the chain's end): it decides
            # whether or not this one matches, so it is the rule named
            settled = merge([(s.first, s.last) for s in agree])
            out[index] = Claim(claim.order, [], outcome, claim.rule)
            left_over.extend(
                Claim(claim.order, [(s.first, s.last)], s.outcome, s.rule) for s in agree
            )
            left = _minus(list(claim.intervals), settled)
            if left:
                left_over.append(Claim(claim.order, left, "conditional", claim.rule))
        return out + left_over

    def builtin(self, name: str) -> list[Segment]:
        """The built-in chain with its policy filling what no rule decided."""
        where = f"{self.table_name} " if self.table_name != "filter" else ""
        decided = [s for s in self.chain(name) if s.outcome != "return"]
        if name not in _BUILTIN_CHAINS and name not in self.table.policies:
            # a user chain audited on its own (ufw's user.rules: --chain ufw-user-input) has no
            # policy: what falls off its end is decided by the chains that call it, not shown
            ref = RuleRef(
                Origin(self.ctx.name),
                f"end of {where}{name}",
                "the calling chain decides (a user chain has no policy)",
            )
            return fill_gaps(decided, self.bits, "conditional", ref)
        policy, line, _ = self.table.policies.get(name, ("ACCEPT", 0, ""))
        outcome: Outcome = "accept" if policy == "ACCEPT" else "drop"
        ref = RuleRef(Origin(self.ctx.name, line or None), f"policy {policy} of {where}{name}")
        return fill_gaps(decided, self.bits, outcome, ref)


def probes(ctx: ReadContext, ruleset: Ruleset | None = None) -> list[Probe]:
    """One probe per port class of the service: ports no rule tells apart share a verdict, so
    a range is probed at its ends and wherever a rule's port range starts or ends inside it."""
    service = ctx.service
    if service is None:
        return [Probe("tcp", 25)]
    if service.protocol == "any":
        return [Probe("any", 0)]
    edges: set[int] = set()
    if ruleset is not None and any(a != b for a, b in service.ports):
        for table in ruleset.tables.values():
            for rules in table.chains.values():
                for rule in rules:
                    for test in rule.ports:
                        for a, b in test.ranges:
                            edges.update((a, b + 1))
    out: list[Probe] = []
    for a, b in service.ports:
        ports = {a, b} | {p for p in edges if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(ports))
    return out


def _sequence(
    stages: Sequence[list[Segment]], main: list[Segment], bits: int, bypass: list[tuple[int, int]]
) -> list[Segment]:
    """Tables one after the other, each covering every address: per address the first drop
    decides; else the first conditional (a later drop still wins, unless a rule that rewrites
    the destination may match the address: the later tables may then never see it); else the
    audited chain's accepting rule."""
    if len(stages) == 1:
        return main
    redirected = merge(bypass)
    points = sorted(
        {0, 1 << bits}
        | {p for segs in stages for s in segs for p in (s.first, s.last + 1)}
        | {p for a, b in redirected for p in (a, b + 1)}
    )
    index = [0] * len(stages)
    r = 0
    out: list[Segment] = []
    for a, nxt in zip(points, points[1:], strict=False):
        while r < len(redirected) and redirected[r][1] < a:
            r += 1
        may_redirect = r < len(redirected) and redirected[r][0] <= a
        decided: Segment | None = None
        for k, segs in enumerate(stages):
            while segs[index[k]].last < a:
                index[k] += 1
            seg = segs[index[k]]
            if seg.outcome == "drop":
                decided = seg
                break
            if seg.outcome == "conditional":
                decided = decided or seg
                if may_redirect:
                    break
        pieces = (
            clip(main, [(a, nxt - 1)])
            if decided is None
            else [Segment(a, nxt - 1, decided.outcome, decided.rule)]
        )
        for piece in pieces:
            last = out[-1] if out else None
            if (
                last
                and last.last == piece.first - 1
                and last.rule is piece.rule
                and last.outcome == piece.outcome
            ):
                out[-1] = Segment(last.first, piece.last, piece.outcome, piece.rule)
            else:
                out.append(piece)
    return out


def scope_objects(ruleset: Ruleset, ctx: ReadContext) -> tuple[list[Entry], list[str]]:
    """The objects ``--scope`` can name: every chain of the filter table (the sources of its
    ACCEPT rules that can match the service) and every ipset a rule matches on the source
    address (its members, from the ``ipset save`` given alongside), by name."""
    entries: list[Entry] = []
    names: list[str] = []
    tests = probes(ctx, ruleset)
    for chain, rules in ruleset.chains.items():
        names.append(chain)
        for rule in rules:
            if rule.target != "ACCEPT" or rule.sources is None:
                continue
            if not any(rule.applies(probe)[0] for probe in tests):
                continue
            origin = Origin(ctx.name, rule.line, rule.text)
            entries.extend(Entry(ruleset.family, a, b, origin, chain) for a, b in rule.sources)
    seen: set[str] = set()
    for table in ruleset.tables.values():
        for rules in table.chains.values():
            for rule in rules:
                words = _tokens(rule.text) or []
                for k, word in enumerate(words[:-2]):
                    if word not in ("--match-set", "--set") or words[k + 1] in seen:
                        continue
                    name, flags = words[k + 1], words[k + 2]
                    members = ctx.sets.get(name)
                    if flags.split(",")[0] != "src" or members is None:
                        continue
                    seen.add(name)
                    names.append(name)
                    origin = Origin(ctx.name, rule.line, f"ipset {name}")
                    entries.extend(
                        Entry(f, a, b, origin, name) for f, a, b in members if f == ruleset.family
                    )
    return entries, names
