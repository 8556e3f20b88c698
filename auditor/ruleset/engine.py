"""The one evaluator of the ruleset intermediate form (:mod:`auditor.ruleset.ir`).

The question is the one an admin asks: which source addresses can open a connection to this
service? The engine answers it for every source address at once:

- **Probes.** A service with several ports (``tcp/25,465,587``, ``tcp/1000-2000``) is tried
  once per port class: ports no rule tells apart share a verdict, so a range is probed at its
  ends and wherever a rule's port range starts or ends inside it. An address is allowed only
  when every probe is accepted (:func:`~auditor.ruleset.sweep.combine`). ``--service any`` is
  one probe for every connection: a rule that matches only some connections can deny an
  address (part of its traffic is refused) but never grant it all.
- **Chains.** Each rule becomes *claims*: the sources it surely matches with its outcome, and
  those it may match (a condition the export does not show) as ``conditional``. First match
  over the claims (:func:`~auditor.ruleset.sweep.first_claims`) gives each address the rule that
  decides it. A jump evaluates the target chain and keeps what it decides (what it returns
  goes on); a goto keeps its returns too; a base chain's returns and end meet its policy.
- **Settling.** A conditional claim does not matter where its outcome, had it matched, is the
  one the rest of the chain gives anyway (``limit rate 5/second drop`` above ``policy drop``
  drops either way): an address is decided when every way the uncertain rules could go ends
  in the same outcome, and shown with the rule that decides when they do not match.
- **Gates.** The base chains a packet crosses, in order: a drop anywhere stops it, else a
  conditional leaves it open (unless an earlier rule may rewrite the destination, after which
  the later chains may never see the packet), else it is accepted by the audited chain's rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from auditor import ipspace
from auditor.model import Outcome, RuleRef, Segment, Verdicts
from auditor.ruleset.ir import Chain, Gate, Rule, Ruleset, RulesetError, Traffic
from auditor.ruleset.sweep import (
    Claim,
    Interval,
    client_ports,
    clip,
    combine,
    first_claims,
    full,
    merge,
    union,
)
from auditor.service import Service

SOURCE_PORT_WHY = "the client's source port"


@dataclass(frozen=True)
class Probe:
    """One protocol and destination port a connection is tried with; ``any`` (port 0) stands
    for every connection at once."""

    protocol: str
    port: int


DEFAULT_PROBE = Probe("tcp", 25)


def probes(service: Service | None, rulesets: Iterable[Ruleset]) -> list[Probe]:
    """One probe per port class of the service (None: tcp/25)."""
    if service is None:
        return [DEFAULT_PROBE]
    if service.protocol == "any":
        return [Probe("any", 0)]
    edges: set[int] = set()
    if any(a != b for a, b in service.ports):
        for rs in rulesets:
            for chain in rs.chains.values():
                for rule in chain.rules:
                    for ports in (*rule.traffic.dports, *rule.traffic.either):
                        for a, b in ports.ranges:
                            edges.update((a, b + 1))
    out: list[Probe] = []
    for a, b in service.ports:
        points = {a, b} | {p for p in edges if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(points))
    return out


def traffic_match(traffic: Traffic, probe: Probe) -> tuple[bool, str, bool]:
    """Whether a rule's traffic match can hold for the probe, what it then still depends on
    ("" when nothing), and (``--service any``) whether it holds for only some connections."""
    if probe.protocol == "any":
        for ports in traffic.sports:
            if client_ports(ports.ranges, ports.negated) is False:
                return False, "", False
        return True, "", traffic.narrow
    if traffic.protocols is not None and (probe.protocol in traffic.protocols) == traffic.negated:
        return False, "", False
    port = probe.port
    for ports in traffic.dports:
        if not ports.holds(port):
            return False, "", False
    whys = list(traffic.whys)
    for ports in traffic.either:
        inside = any(a <= port <= b for a, b in ports.ranges)
        if inside:
            if ports.negated:
                return False, "", False  # ! --ports: neither port may be in the list
            continue
        # the destination port is not listed: the client's source port decides (``!``:
        # it must not be listed either)
        got = client_ports(ports.ranges, ports.negated)
        if got is False:
            return False, "", False
        if got is None:
            whys.append(SOURCE_PORT_WHY)
    for ports in traffic.sports:
        got = client_ports(ports.ranges, ports.negated)
        if got is False:
            return False, "", False
        if got is None:
            whys.append(SOURCE_PORT_WHY)
    return True, "; ".join(dict.fromkeys(whys)), False


@dataclass
class Refs:
    """One RuleRef per (rule, reason), so segments of one rule merge and reasons dedupe."""

    cache: dict[tuple[RuleRef, str], RuleRef] = field(default_factory=dict)

    def why(self, ref: RuleRef, why: str) -> RuleRef:
        if not why:
            return ref
        key = (ref, why)
        got = self.cache.get(key)
        if got is None:
            text = f"{ref.why}; {why}" if ref.why else why
            got = self.cache[key] = RuleRef(ref.origin, ref.text, text)
        return got


_ENDS = frozenset({"accept", "drop", "return"})

_SOME_BACK = "only some protocols or ports go back to the calling chain (--service any)"


class _Chains:
    """Chains of one ruleset for one probe and one gate context, memoised."""

    def __init__(
        self,
        rs: Ruleset,
        probe: Probe,
        context: tuple[tuple[str, str], ...],
        refs: Refs,
        bypass: list[Interval],
    ) -> None:
        self.rs = rs
        self.probe = probe
        self.context = dict(context)
        self.refs = refs
        self.bits = ipspace.BITS[rs.family]
        self.full = full(self.bits)
        self.memo: dict[str, list[Segment]] = {}
        self.stack: list[str] = []
        self.bypass = bypass
        self.traffic: dict[int, tuple[Traffic, tuple[bool, str, bool]]] = {}
        """traffic_match per Traffic object (readers share one for rules alike)."""

    def chain(self, name: str, caller: Rule | None = None) -> list[Segment]:
        """Every source's outcome in the chain (the whole space is covered: the end of a base
        chain is its policy, the end of another chain a ``return``)."""
        got = self.memo.get(name)
        if got is not None:
            return got
        chain = self.rs.chains.get(name)
        if chain is None:
            where = f" (from {caller.ref.describe()})" if caller else ""
            raise RulesetError(
                f"chain {name} does not exist{where}",
                caller.ref if caller else None,
                "a jump or goto must name a chain of the same table",
            )
        if name in self.stack:
            # named from the chain the walk started in
            loop = " -> ".join((self.rs.chains[n].label or n) for n in self.stack)
            raise RulesetError(
                f"chain loop: {loop} -> {chain.label or name}", caller.ref if caller else None
            )
        self.stack.append(name)
        claims: list[Claim] = []
        lean: dict[int, Outcome | None] = {}
        """Conditional claims (by index in claims): the outcome they have when they match
        (None: even a match does not settle it)."""
        for order, rule in enumerate(chain.rules):
            self.rule_claims(chain, rule, float(order), claims, lean)
        end: Outcome = chain.policy if chain.policy is not None else "return"
        if chain.policy is not None:
            # a return in a base chain, or falling off a chain it went to: the policy decides
            for k, c in enumerate(claims):
                if c.outcome == "return":
                    claims[k] = Claim(c.order, c.intervals, end, chain.end_ref)
            for k, v in lean.items():
                if v == "return":
                    lean[k] = end
        claims.append(Claim(float(len(chain.rules)), self.full, end, chain.end_ref))
        segments = settle(claims, lean)
        self.stack.pop()
        self.memo[name] = segments
        return segments

    def match(self, rule: Rule) -> tuple[Sequence[Interval], Sequence[Interval], str, bool] | None:
        """Where the rule holds for the probe: surely, maybe; why maybe; whether it holds for
        only some connections (``--service any``). None: it never holds."""
        traffic = rule.traffic
        cached = self.traffic.get(id(traffic))
        if cached is None or cached[0] is not traffic:
            cached = self.traffic[id(traffic)] = (traffic, traffic_match(traffic, self.probe))
        holds, why, narrow = cached[1]
        if not holds:
            return None
        if not (why or rule.whys or rule.when or rule.maybe):
            # the common case: a rule that surely matches its sources
            yes = rule.sources if rule.sources is not None else self.full
            return (yes, [], "", narrow) if yes else None
        whys = list(rule.whys)
        if why:
            whys.append(why)
        for w in rule.when:
            value = self.context.get(w.key)
            if value is None:
                whys.append(w.why or w.key)
            elif (value in w.values) == w.negated:
                return None
        yes = list(rule.sources) if rule.sources is not None else self.full
        maybe = list(rule.maybe)
        if whys:
            yes, maybe = [], union(yes, maybe)
        if not yes and not maybe:
            return None
        return yes, maybe, "; ".join(dict.fromkeys(whys)), narrow

    def rule_claims(
        self,
        chain: Chain,
        rule: Rule,
        order: float,
        claims: list[Claim],
        lean: dict[int, Outcome | None],
    ) -> None:
        got = self.match(rule)
        if got is None:
            return
        yes, maybe, why, narrow = got
        action = rule.action
        ref = rule.ref
        if not (maybe or narrow or action.bypass or action.unsure) and action.kind in _ENDS:
            claims.append(Claim(order, yes, action.kind, ref))  # type: ignore[arg-type]
            return
        cref = self.refs.why(ref, why or "not settled by the export")

        def maybe_claim(intervals: Sequence[Interval], outcome: Outcome | None, r: RuleRef) -> None:
            if intervals:
                lean[len(claims)] = outcome
                claims.append(Claim(order, intervals, "conditional", r))

        if action.bypass and not narrow:
            # (a rewrite of some connections only leaves the later gates to decide the rest)
            self.bypass.extend(union(yes, maybe))
        if narrow:
            # a rule that may refuse is named with its conditions, then why it may
            uref = self.refs.why(ref, "; ".join(x for x in (why, action.unsure) if x))
            refs = (ref, cref, uref)
            self.some_claims(chain, rule, order, yes, maybe, refs, claims, maybe_claim)
            return
        kind = action.kind
        if kind == "opaque" or action.unsure:
            reason = "; ".join(x for x in (why, action.unsure) if x)
            maybe_claim(union(yes, maybe), None, self.refs.why(ref, reason))
            return
        if kind in ("accept", "drop", "return"):
            if yes:
                claims.append(Claim(order, yes, kind, ref))
            maybe_claim(maybe, kind, cref)
            return
        sub = self.chain(action.target, rule)
        for s in clip(sub, yes):
            if kind == "goto" or s.outcome != "return":
                claims.append(Claim(order, [(s.first, s.last)], s.outcome, s.rule))
        if kind == "goto":
            maybe_claim(maybe, None, cref)
            return
        for s in clip(sub, maybe):
            if s.outcome != "return":
                outcome = None if s.outcome == "conditional" else s.outcome
                maybe_claim([(s.first, s.last)], outcome, cref)

    def some_claims(
        self,
        chain: Chain,
        rule: Rule,
        order: float,
        yes: Sequence[Interval],
        maybe: Sequence[Interval],
        refs: tuple[RuleRef, RuleRef, RuleRef],
        claims: list[Claim],
        maybe_claim: _MaybeClaim,
    ) -> None:
        """``--service any``, a rule that holds for only some connections of an address: a
        drop (or a jump to a chain that drops) refuses part of them and denies; an accept is
        not all of them and is passed over, the address going on to the next rule (unless the
        accept itself may refuse: a rate limit); what goes back for those connections only
        (``return``, the end of a ``goto``) leaves the rest behind."""
        ref, cref, uref = refs
        action = rule.action
        kind = action.kind
        back: Outcome | None
        if chain.policy is None:
            back, back_ref = "conditional", self.refs.why(ref, _SOME_BACK)
        else:
            # in a base chain a return meets the policy: a drop denies, an accept grants nothing
            back, back_ref = ("return" if chain.policy != "accept" else None), ref
        if kind == "opaque":
            maybe_claim(union(yes, maybe), None, uref)
            return
        if kind == "accept":
            if action.unsure:
                maybe_claim(union(yes, maybe), "drop", uref)
            return
        if kind in ("drop", "return"):
            outcome: Outcome = "drop"
            outcome_ref = ref
            if kind == "return":
                if back is None:
                    return
                outcome, outcome_ref = back, back_ref
            if action.unsure:
                maybe_claim(union(yes, maybe), None, uref)
                return
            if yes:
                claims.append(Claim(order, yes, outcome, outcome_ref))
            maybe_claim(maybe, None if outcome == "conditional" else outcome, cref)
            return
        sub = self.chain(action.target, rule)
        for surely, intervals in ((True, yes), (False, maybe)):
            for s in clip(sub, intervals):
                got, got_ref = s.outcome, s.rule
                if got == "accept":
                    continue  # accepted for some connections only: grants nothing
                if got == "return":
                    if kind == "jump" or back is None:
                        continue  # back to the next rule, like the rest of the traffic
                    got, got_ref = back, back_ref
                if surely:
                    claims.append(Claim(order, [(s.first, s.last)], got, got_ref))
                else:
                    maybe_claim([(s.first, s.last)], None if got == "conditional" else got, cref)


class Describe(Protocol):  # names a disagreement of the alternatives in agree()
    def __call__(self, said: Sequence[tuple[str, Segment]]) -> RuleRef: ...


class _MaybeClaim(Protocol):  # the shape of rule_claims' local helper
    def __call__(
        self, intervals: Sequence[Interval], outcome: Outcome | None, r: RuleRef
    ) -> None: ...


def settle(claims: Sequence[Claim], lean: dict[int, Outcome | None]) -> list[Segment]:
    """First match over the claims, where a conditional claim decides nothing when its outcome
    (``lean``) is the one the definite claims give the address anyway.

    The definite claims alone give each address an outcome (they cover the whole space: the
    chain's end is one). For each outcome the conditional claims may have, the first match
    over the definite claims and the conditional ones with that outcome shows where such a
    claim comes first; where its outcome differs from the definite one (or is unknown), the
    address is conditional, named by the first uncertain rule it meets (whichever its
    outcome). One sweep per distinct outcome.
    """
    if not lean:
        return first_claims(claims)
    definite = [c for k, c in enumerate(claims) if k not in lean]
    base = first_claims(definite)
    groups: dict[Outcome | None, list[Claim]] = {}
    for k, outcome in lean.items():
        groups.setdefault(outcome, []).append(claims[k])
    order: dict[int, float] = {}  # a rule's rank: its first conditional claim
    for k in lean:
        c = claims[k]
        order[id(c.rule)] = min(c.order, order.get(id(c.rule), c.order))
    # (the definite claims last: the chain's end, last of them, then only fills the gaps)
    layers = [(outcome, first_claims(group + definite)) for outcome, group in groups.items()]
    out: list[Segment] = []
    for first, last, decided, over in _overlay(base, [segs for _, segs in layers]):
        seg = Segment(first, last, decided.outcome, decided.rule)
        best: float | None = None
        differs = False
        named = decided.rule
        for (outcome, _), s in zip(layers, over, strict=True):
            if s.outcome != "conditional":
                continue
            # conditional where some uncertain rule would decide otherwise; named by the first
            # uncertain rule the address meets
            differs = differs or outcome != decided.outcome
            rank = order.get(id(s.rule), 0.0)
            if best is None or rank < best:
                best = rank
                named = s.rule
        if differs:
            seg = Segment(first, last, "conditional", named)
        _push(out, seg)
    return out


def _overlay(
    base: Sequence[Segment], layers: Sequence[Sequence[Segment]]
) -> Iterable[tuple[int, int, Segment, list[Segment]]]:
    """Pieces of the address space with the segment of the base and of every layer (each
    covers the whole space)."""
    idx = [0] * len(layers)
    b = 0
    pos = base[0].first
    top = base[-1].last
    while pos <= top:
        while base[b].last < pos:
            b += 1
        for k, layer in enumerate(layers):
            while layer[idx[k]].last < pos:
                idx[k] += 1
        segs = [layer[i] for layer, i in zip(layers, idx, strict=True)]
        end = min([base[b].last, *(s.last for s in segs)])
        yield pos, end, base[b], segs
        pos = end + 1


def _push(out: list[Segment], seg: Segment) -> None:
    if out and out[-1].last == seg.first - 1:
        last = out[-1]
        if last.outcome == seg.outcome and last.rule is seg.rule:
            out[-1] = Segment(last.first, seg.last, seg.outcome, seg.rule)
            return
    out.append(seg)


def sequence(
    stages: Sequence[Sequence[Segment]],
    main: Sequence[Segment],
    bits: int,
    bypass: Sequence[Interval] = (),
) -> list[Segment]:
    """Gates one after the other, each covering every address: per address the first drop
    decides; else the first conditional (a later drop still wins, unless a rule that rewrites
    the destination may match the address: the later gates may then never see it); else the
    main gate's accepting rule."""
    if len(stages) == 1:
        return list(main)
    redirected = merge(list(bypass))
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
            _push(out, piece)
    return out


def _gate_segments(gate: Gate, segs: list[Segment], refs: Refs) -> list[Segment]:
    if gate.alone is not None:
        end, end_ref = gate.alone
        segs = [
            Segment(s.first, s.last, end, end_ref or s.rule) if s.outcome == "return" else s
            for s in segs
        ]
    if gate.only_some:
        segs = [
            Segment(s.first, s.last, "conditional", refs.why(s.rule, gate.only_some))
            if s.outcome == "drop"
            else s
            for s in segs
        ]
    return segs


def evaluate(
    rs: Ruleset, service: Service | None, points: Sequence[Probe] | None = None
) -> Verdicts:
    """The ruleset's verdicts for the service: per address, allowed, denied or conditional,
    with the deciding rule, and each gate's own verdicts (for rule placement)."""
    if not rs.gates:
        raise RulesetError("the ruleset has no chain a packet passes")
    bits = ipspace.BITS[rs.family]
    refs = Refs()
    per_probe: list[list[Segment]] = []
    per_gate: list[list[list[Segment]]] = [[] for _ in rs.gates]
    for probe in points if points is not None else probes(service, [rs]):
        bypass: list[Interval] = []
        evaluators: dict[tuple[tuple[str, str], ...], _Chains] = {}
        stages: list[list[Segment]] = []
        main: list[Segment] | None = None
        for k, gate in enumerate(rs.gates):
            ev = evaluators.get(gate.context)
            if ev is None:
                ev = evaluators[gate.context] = _Chains(rs, probe, gate.context, refs, bypass)
            segs = _gate_segments(gate, ev.chain(gate.chain), refs)
            stages.append(segs)
            per_gate[k].append(segs)
            if gate.main:
                main = segs
        if main is None:
            main = stages[0]
        per_probe.append(sequence(stages, main, bits, bypass))
    placed = tuple(
        replace(gate.place, segments=tuple(combine(segs, bits)))
        for gate, segs in zip(rs.gates, per_gate, strict=True)
        if gate.place is not None
    )
    return Verdicts(rs.family, tuple(combine(per_probe, bits)), placed)


def first_match(
    rules: Sequence[Rule], family: int, end: Outcome, end_ref: RuleRef, service: Service | None
) -> Verdicts:
    """One ordered list of rules (an ACL, a security group's rules in priority order) with a
    default: the common case of a ruleset with one chain."""
    chain = Chain("rules", tuple(rules), end_ref, policy=end)
    rs = Ruleset(family, {"rules": chain}, (Gate("rules", main=True),))
    return evaluate(rs, service)


def agree(
    named: Sequence[tuple[str, Sequence[Segment]]],
    what: str,
    choose: str,
    describe: Describe | None = None,
) -> list[Segment]:
    """Several alternatives of which one applies, the export does not say which (two
    security groups, server blocks): an address is decided where they all decide alike,
    conditional elsewhere, with the reason naming what each says (``describe``: the rule
    shown for a disagreement, from each alternative's name and segment; equal rules it
    makes are one, so the addresses they cover form one segment)."""
    if len(named) == 1:
        return list(named[0][1])
    made: dict[tuple[RuleRef, ...], RuleRef] = {}
    out: list[Segment] = []
    first = named[0][1]
    for a, b, head, rest in _overlay(first, [segs for _, segs in named[1:]]):
        segs = [head, *rest]
        if all(s.outcome == head.outcome for s in segs):
            _push(out, Segment(a, b, head.outcome, head.rule))
            continue
        if describe is not None:
            shown = describe([(name, s) for (name, _), s in zip(named, segs, strict=True)])
            _push(out, Segment(a, b, "conditional", made.setdefault((shown,), shown)))
            continue
        key = tuple(s.rule for s in segs)
        ref = made.get(key)
        if ref is None:
            said = "; ".join(
                f"{name}: {s.outcome} ({s.rule.text})"
                for (name, _), s in zip(named, segs, strict=True)
            )
            ref = made[key] = RuleRef(
                head.rule.origin, head.rule.text, f"the {what}s disagree ({said}); {choose}"
            )
        _push(out, Segment(a, b, "conditional", ref))
    return out


__all__ = [
    "DEFAULT_PROBE",
    "Describe",
    "Probe",
    "agree",
    "evaluate",
    "first_match",
    "probes",
    "sequence",
    "settle",
    "traffic_match",
]
