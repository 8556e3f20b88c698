"""nftables chains lowered into the ruleset intermediate form (:mod:`auditor.ruleset.ir`), one
address family at a time, for the engine to evaluate (semantics in
:mod:`auditor.allowlists.nftables.ruleset`).

A rule is a conjunction of matches; each match holds in one or more *alternatives* (:class:`Alt`:
source addresses, surely or depending on what the export does not show, and what the
connection must be: protocols, destination ports, the gate's context). A set of concatenations
(``ip saddr . tcp dport @allowed``) holds in one alternative per kind of element, a verdict
map in one per element; each alternative becomes one rule of the intermediate form, in order,
so that first match over them is first match over the elements. A big set of addresses stays
one rule with many intervals.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from auditor import ipspace
from auditor.allowlists.base import ReaderError
from auditor.allowlists.nftables.ast import (
    AnonSet,
    Cat,
    Chain,
    Concat,
    Elem,
    Masked,
    Masking,
    Match,
    Maybe,
    NotUnderstood,
    Opaque,
    Ref,
    Rule,
    Table,
    Value,
    Verdict,
    VMap,
    _Problem,
)
from auditor.allowlists.nftables.render import _render_value
from auditor.allowlists.nftables.selectors import (
    Field,
    and_protocols,
    at_context,
    check_parts,
    compare_const,
    const_match,
    field,
    port_match,
    port_protocol,
    port_range,
    protocols_in,
)
from auditor.allowlists.nftables.values import (
    _CT_STATE,
    _PROTOCOLS,
    _TCP_FLAGS,
    _addresses,
    _bits,
    _numbers,
)
from auditor.model import Origin, RuleRef
from auditor.ruleset import ir
from auditor.ruleset.sweep import client_ports, complement, intersect, merge, minus, union

Interval = tuple[int, int]
HOOKS = ("ingress", "prerouting", "input", "forward", "output", "postrouting", "egress")
_PROBE_KINDS = frozenset({"proto", "dport", "psrc", "free"})
"""Selectors of the connection's protocol or port: for ``--service any`` they take every
value, and a rule that has one holds for only some connections."""
_ANY_PORT = ir.Ports(((0, 65535),))
"""Holds for every port: marks a rule as holding for some connections only (``--service
any``) where nothing else does."""
_NO_PORT = ir.Ports(())
_COMPARE = ("<", ">", "<=", ">=")
_MAX_CLASSES = 4096
"""Classes of connections a negated concatenation is lowered into at most."""
_UNSETTLED = ("not settled by the export",)
_ACTIONS = {"accept": "accept", "drop": "drop", "reject": "drop", "return": "return"}

_Holds = Callable[[Field], "bool | None"]
"""Whether a match holds for a known value (None: it depends on what the export does not
show)."""


@dataclass(frozen=True)
class Alt:
    """One way a rule's matches hold: every field must (a conjunction)."""

    sources: tuple[Interval, ...] | None = None
    """None: every source."""
    sure: bool = True
    """False: it holds or not depending on what the export does not show."""
    protocols: frozenset[str] | None = None
    dports: tuple[ir.Ports, ...] = ()
    when: tuple[ir.When, ...] = ()
    whys: tuple[str, ...] = ()
    """Conditional for a port, some connections for ``--service any`` (``Traffic.whys``)."""


def _and(x: Alt, y: Alt) -> Alt | None:
    if x.sources is None:
        sources = y.sources
    elif y.sources is None:
        sources = x.sources
    else:
        sources = tuple(intersect(x.sources, y.sources))
        if not sources:
            return None
    if x.protocols is None:
        protocols = y.protocols
    else:
        protocols = x.protocols if y.protocols is None else x.protocols & y.protocols
    return Alt(
        sources,
        x.sure and y.sure,
        protocols,
        x.dports + y.dports,
        x.when + y.when,
        x.whys + y.whys,
    )


def _conj(xs: Sequence[Alt], ys: Sequence[Alt]) -> list[Alt]:
    return [z for x in xs for y in ys if (z := _and(x, y)) is not None]


def chain_key(table: Table, name: str) -> str:
    return f"{table.family}/{table.name}/{name}"


class Lowering:
    """The chains of a ruleset for one family, lowered as the gates reach them."""

    def __init__(
        self,
        family: int,
        name: str,
        to: tuple[int, int] | None,
        dynamic: frozenset[tuple[str, str, str]],
        hooks: Sequence[str],
    ) -> None:
        self.family = family
        self.name = name
        self.to = to
        self.dynamic = dynamic
        self.hooks = tuple(dict.fromkeys((*HOOKS, *hooks)))
        self.bits = ipspace.BITS[family]
        self.full: tuple[Interval, ...] = ((0, (1 << self.bits) - 1),)
        self.chains: dict[str, ir.Chain] = {}
        self.sets: dict[tuple[str, str, str], list[Alt]] = {}
        self.queue: list[tuple[Table, str]] = []

    def error(self, rule: Rule, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=rule.line, hint=hint)

    def reach(self, table: Table, chain: Chain) -> str:
        """Lower the chain and every chain it jumps to; its key."""
        self.queue.append((table, chain.name))
        while self.queue:
            t, name = self.queue.pop()
            key = chain_key(t, name)
            if key not in self.chains:
                self.chains[key] = self.chain(t, t.chains[name])
        return chain_key(table, chain.name)

    def chain(self, table: Table, chain: Chain) -> ir.Chain:
        rules: list[ir.Rule] = []
        for rule in chain.rules:
            try:
                rules.extend(self.rule(table, rule))
            except _Problem as e:
                raise self.error(rule, str(e)) from None
        origin = Origin(self.name, chain.line, chain.path)
        label = f"{table.label} {chain.name}"
        if chain.hook is None:
            end = RuleRef(origin, f"end of chain {label}")
            return ir.Chain(chain_key(table, chain.name), tuple(rules), end, label=label)
        policy: ir.Outcome = "accept" if chain.policy == "accept" else "drop"
        end = RuleRef(origin, f"policy {chain.policy} of chain {label}")
        return ir.Chain(chain_key(table, chain.name), tuple(rules), end, policy, label)

    # rules

    def rule(self, table: Table, rule: Rule) -> list[ir.Rule]:
        whys: list[str] = []
        branches = self.branches(table, rule, whys)
        if not branches:
            return []
        ref = RuleRef(Origin(self.name, rule.line, rule.path), rule.text)
        why = tuple(dict.fromkeys(w for w in whys if w))
        out: list[ir.Rule] = []
        for alts, verdict in branches:
            if isinstance(verdict, Opaque):
                text = "; ".join(x for x in ("; ".join(why), verdict.why) if x)
                action = ir.Action("opaque", unsure=text)
                out.extend(self.ir_rule(ref, action, alt, ()) for alt in alts)
                continue
            action = self.action(table, rule, verdict)
            out.extend(self.ir_rule(ref, action, alt, why) for alt in alts if alt.sure)
            out.extend(self.ir_rule(ref, action, alt, why) for alt in alts if not alt.sure)
        return out

    def ir_rule(self, ref: RuleRef, action: ir.Action, alt: Alt, whys: tuple[str, ...]) -> ir.Rule:
        traffic = ir.Traffic(alt.protocols, dports=alt.dports, whys=alt.whys)
        if alt.sure or action.kind == "opaque":
            return ir.Rule(ref, action, alt.sources, traffic=traffic, when=alt.when)
        maybe = alt.sources if alt.sources is not None else self.full
        return ir.Rule(ref, action, (), maybe, traffic, alt.when, whys)

    def action(self, table: Table, rule: Rule, verdict: Verdict) -> ir.Action:
        kind = verdict.kind
        if kind in _ACTIONS:
            return ir.Action(_ACTIONS[kind])  # type: ignore[arg-type]
        if kind not in ("jump", "goto") or verdict.target is None:
            raise self.error(rule, f"verdict {kind} is not understood")
        if verdict.target not in table.chains:
            raise self.error(
                rule,
                f"chain {verdict.target} does not exist in table {table.label}",
                hint="a jump or goto must name a chain of the same table",
            )
        self.queue.append((table, verdict.target))
        return ir.Action(kind, chain_key(table, verdict.target))  # type: ignore[arg-type]

    def branches(
        self, table: Table, rule: Rule, whys: list[str]
    ) -> list[tuple[list[Alt], Verdict | Opaque]]:
        """The rule as (where it holds, what it does) pairs; more than one for a verdict map."""
        cond = [Alt()]
        out: list[tuple[list[Alt], Verdict | Opaque]] = []
        understood = True
        for item in rule.items:
            if isinstance(item, Match):
                cond = _conj(cond, self.match(table, item, whys))
            elif isinstance(item, Maybe):
                cond = _conj(cond, [Alt(sure=False)])
                whys.append(item.why)
            elif isinstance(item, NotUnderstood):
                understood = False
                whys.append(f"not understood: {item.what}")
            elif isinstance(item, Verdict):
                if item.kind != "continue":
                    out.append((cond, item))
                break
            elif isinstance(item, Opaque):
                out.append((cond, item))
                break
            else:  # VMap
                for elem, verdict in self.vmap_elements(table, rule, item):
                    key = self.match(table, Match(item.key, "==", elem), whys)
                    if verdict.kind != "continue":
                        out.append((_conj(cond, key), verdict))
                break
            if not cond:
                return []
        if not understood:
            # what was not understood could be a match, a verdict or anything: the addresses
            # the rest of the rule reaches are undecided
            if not out:
                out = [(cond, Opaque(""))]
            return [(alts, Opaque("")) for alts, _ in out]
        return out

    def vmap_elements(self, table: Table, rule: Rule, item: VMap) -> list[tuple[Value, Verdict]]:
        data = item.data
        if isinstance(data, Ref):
            nset = table.sets.get(data.name)
            if nset is None:
                raise self.error(rule, f"map @{data.name} does not exist in {table.label}")
            elems: Sequence[Elem] = nset.elems
        elif isinstance(data, AnonSet):
            elems = data.elems
        else:
            raise self.error(rule, f"vmap needs {{ key : verdict, ... }} or @map, not {data}")
        out: list[tuple[Value, Verdict]] = []
        for e in elems:
            if not isinstance(e.data, Verdict):
                raise self.error(rule, f"the map element {_render_value(e.key)} has no verdict")
            out.append((e.key, e.data))
        return out

    # matches

    def match(self, table: Table, m: Match, whys: list[str]) -> list[Alt]:
        """Where the match holds, as alternatives (none: never)."""
        left, op, right = m.left, m.op, m.right
        if isinstance(right, Masked):
            left, right = Masking(left, "&", right.mask), right.value
        parts = left.parts if isinstance(left, Concat) else (left,)
        fields = [field(p, self.family, self.to) for p in parts]
        if any(f.kind == "absent" for f in fields):
            return []
        implied: frozenset[str] | None = None
        for f in fields:
            if f.implies is not None:
                implied = f.implies if implied is None else implied & f.implies
        narrow = (_ANY_PORT,) if any(f.kind in _PROBE_KINDS for f in fields) else ()
        unsure = [Alt(sure=False, protocols=implied, dports=narrow)]
        if op in ("exists", "missing"):
            if all(f.kind in _PROBE_KINDS for f in fields):
                # --service any: the header of some connections; a port: not settled
                port_whys = tuple(f.why for f in fields if f.kind == "psrc")
                return [Alt(protocols=implied, dports=(_ANY_PORT,), whys=port_whys or _UNSETTLED)]
            whys.extend(f.why for f in fields if f.why and f.kind not in _PROBE_KINDS)
            return unsure
        if op in _COMPARE:
            return self.compare(fields[0], op, right, whys, implied)
        if isinstance(right, Ref) and (table.family, table.name, right.name) in self.dynamic:
            whys.append(f"set @{right.name} is filled at run time")
            return unsure
        if len(fields) == 1:
            return self.single(table, fields[0], op, right, whys, implied)
        if sum(f.kind == "src" for f in fields) > 1:
            whys.append("a concatenation of two source fields")
            return unsure
        if op not in ("==", "in", "!="):
            raise _Problem(f"operator {op!r} is not understood")
        alts = self.members(fields, self.atoms(table, right), whys, implied)
        if op != "!=":
            return alts
        got = self.negated(alts, implied)
        if got is None:
            whys.append("a negated concatenation")
            return unsure
        return got

    def negated(self, alts: list[Alt], implied: frozenset[str] | None) -> list[Alt] | None:
        """``!=`` on a concatenation: where no element holds, for each class of connections
        the elements tell apart (protocols, port ranges, context values); None: too many."""
        if any(a.whys for a in alts):
            return None
        kinds: dict[tuple[bool, ...], set[str]] = {}
        for name in _PROTOCOLS:
            sig = tuple(a.protocols is None or name in a.protocols for a in alts)
            kinds.setdefault(sig, set()).add(name)
        protocols: list[frozenset[str] | None] = [None]
        if any(a.protocols != implied for a in alts):
            protocols = [and_protocols(frozenset(names), implied) for names in kinds.values()]
        edges = sorted(
            {0, 65536}
            | {e for a in alts for p in a.dports for r in p.ranges for e in (r[0], r[1] + 1)}
        )
        ports = [(lo, hi - 1) for lo, hi in zip(edges, edges[1:], strict=False) if lo < 65536]
        keys = sorted({w.key for a in alts for w in a.when})
        contexts = [
            tuple(zip(keys, values, strict=True))
            for values in itertools.product(
                *(list(_CT_STATE) if k == "ct_state" else self.hooks for k in keys)
            )
        ]
        if len(protocols) * len(ports) * len(contexts) > _MAX_CLASSES:
            return None
        out: list[Alt] = []
        for names, (lo, hi), context in itertools.product(protocols, ports, contexts):
            values = dict(context)
            yes: list[Interval] = []
            maybe: list[Interval] = []
            for a in alts:
                if names is not None and a.protocols is not None and not names & a.protocols:
                    continue
                if not all(p.holds(lo) for p in a.dports):
                    continue
                if not all((values[w.key] in w.values) != w.negated for w in a.when):
                    continue
                (yes if a.sure else maybe).extend(a.sources or self.full)
            sure, unsure = merge(yes), merge(maybe)
            cls = Alt(
                protocols=names if names is not None else implied,
                dports=(ir.Ports(((lo, hi),)),) if len(ports) > 1 else (),
                when=tuple(ir.When(k, frozenset({v})) for k, v in context),
            )
            for alt in self.cond(
                complement(union(sure, unsure), self.bits), minus(unsure, sure), None
            ):
                out.append(replace(cls, sources=alt.sources, sure=alt.sure))
        return out

    def cond(
        self, yes: Sequence[Interval], maybe: Sequence[Interval], implied: frozenset[str] | None
    ) -> list[Alt]:
        out = []
        if yes:
            out.append(Alt(tuple(yes), protocols=implied))
        if maybe:
            out.append(Alt(tuple(maybe), False, protocols=implied))
        return out

    def single(
        self,
        table: Table,
        f: Field,
        op: str,
        right: Value,
        whys: list[str],
        implied: frozenset[str] | None,
    ) -> list[Alt]:
        """A match on one selector."""
        kind = f.kind
        if kind == "free":
            return [Alt(protocols=implied)]
        if kind == "unknown":
            whys.append(f.why)
            return [Alt(sure=False, protocols=implied)]
        if kind in ("ctx", "const"):
            return self.by_context(
                f, implied, lambda g: self.const_single(table, g, op, right, whys)
            )
        if op not in ("==", "in", "!="):
            raise _Problem(f"operator {op!r} is not understood")
        negated = op == "!="
        atoms = self.atoms(table, right)
        if kind == "src":
            if isinstance(right, Ref):
                key = (table.family, table.name, right.name)
                got = self.sets.get(key)
                if got is None:
                    got = self.sets[key] = self.sources(atoms)
            else:
                got = self.sources(atoms)
            if not negated:
                return got
            (alt,) = got or [Alt(())]
            return self.cond(complement(alt.sources or (), self.bits), (), implied)
        if kind == "proto":
            ranges = [_numbers(a, "proto", "tcp") for a in check_parts(atoms, 1)]
            return [Alt(protocols=and_protocols(protocols_in(ranges, negated), implied))]
        proto = port_protocol(implied)
        ranges = [_numbers(a, "port", proto) for a in check_parts(atoms, 1)]
        if kind == "dport":
            return [Alt(protocols=implied, dports=(port_match(ranges, negated, f.mask),))]
        return self.source_port(f, client_ports(ranges, negated), whys, implied)

    def sources(self, atoms: Sequence[Value]) -> list[Alt]:
        ivs = merge([iv for a in check_parts(atoms, 1) for iv in _addresses(a, self.family)])
        return [Alt(tuple(ivs))] if ivs else []

    def source_port(
        self, f: Field, hit: bool | None, whys: list[str], implied: frozenset[str] | None
    ) -> list[Alt]:
        """A match on the client's source port: always, never or depending on the port. For
        ``ct original proto-src`` (``psrc``), ``--service any`` reads it as a port that takes
        every value."""
        if f.kind == "psrc":
            if hit is None:
                return [Alt(protocols=implied, dports=(_ANY_PORT,), whys=(f.why,))]
            return [Alt(protocols=implied, dports=(_ANY_PORT if hit else _NO_PORT,))]
        if hit is False:
            return []
        if hit is None:
            whys.append(f.why)
        return [Alt(sure=hit is True, protocols=implied)]

    def by_context(
        self,
        f: Field,
        implied: frozenset[str] | None,
        holds: _Holds,
    ) -> list[Alt]:
        """A match on a known value, or on one the gate's context gives (``ct state``, the
        hook): a :class:`~auditor.ruleset.ir.When` on the values it holds for."""
        if f.kind == "const":
            hit = holds(f)
            return [] if hit is False else [Alt(sure=hit is True, protocols=implied)]
        domain = list(_CT_STATE) if f.type == "ct_state" else self.hooks
        got = {v: holds(at_context(f, v)) for v in domain}
        out = []
        for sure in (True, False):
            values = frozenset(v for v, hit in got.items() if hit is (True if sure else None))
            if values:
                when = () if len(values) == len(domain) else (ir.When(f.type, values),)
                out.append(Alt(sure=sure, protocols=implied, when=when))
        return out

    def const_single(
        self, table: Table, f: Field, op: str, right: Value, whys: list[str]
    ) -> bool | None:
        """A match of one known value (``f``: const or unknown), as one element matches."""
        if f.kind != "const":
            whys.append(f.why)
            return None
        if f.type in ("ctstate", "tcpflags"):
            if op == "in" and not isinstance(right, AnonSet | Ref):
                names = _CT_STATE if f.type == "ctstate" else _TCP_FLAGS
                return bool(f.value & _bits(right, names))
            op = "==" if op == "in" else op
        if op not in ("==", "in", "!="):
            raise _Problem(f"operator {op!r} is not understood")
        hits = [const_match(f, a, self.family) for a in check_parts(self.atoms(table, right), 1)]
        hit = True if True in hits else None if None in hits else False
        whys.extend(f.why for h in hits if h is None)
        if op == "!=":
            return None if hit is None else not hit
        return hit

    def compare(
        self, f: Field, op: str, right: Value, whys: list[str], implied: frozenset[str] | None
    ) -> list[Alt]:
        kind = f.kind
        if kind == "free":
            return [Alt(protocols=implied)]  # some protocol or port is on that side
        if kind == "unknown":
            whys.append(f.why)
            return [Alt(sure=False, protocols=implied)]
        if kind == "src":
            (lo, hi) = _addresses(right, self.family)[0]
            top = (1 << self.bits) - 1
            iv = {"<": (0, lo - 1), "<=": (0, hi), ">": (hi + 1, top), ">=": (lo, top)}[op]
            return [Alt((iv,))] if iv[0] <= iv[1] else []
        if kind in ("ctx", "const"):

            def holds(g: Field) -> bool | None:
                if g.kind == "const":
                    return compare_const(g, op, right)
                whys.append(g.why)
                return None

            return self.by_context(f, implied, holds)
        if kind == "proto":
            n, _ = _numbers(right, "proto", "tcp")
            lo, hi = port_range(op, n)
            return [Alt(protocols=and_protocols(protocols_in([(lo, hi)], False), implied))]
        n, _ = _numbers(right, "port", port_protocol(implied))
        lo, hi = port_range(op, n)
        ranges = [(lo, hi)] if lo <= hi else []
        if kind == "dport":
            return [Alt(protocols=implied, dports=(port_match(ranges, False, f.mask),))]
        return self.source_port(f, client_ports(ranges, False), whys, implied)

    def atoms(self, table: Table, right: Value) -> Sequence[Value]:
        if isinstance(right, AnonSet):
            return [e.key for e in right.elems]
        if isinstance(right, Ref):
            nset = table.sets.get(right.name)
            if nset is None:
                raise _Problem(f"set @{right.name} does not exist in table {table.label}")
            return [e.key for e in nset.elems]
        return [right]

    def members(
        self,
        fields: list[Field],
        atoms: Sequence[Value],
        whys: list[str],
        implied: frozenset[str] | None,
    ) -> list[Alt]:
        """Where one of the elements of a concatenation matches: one alternative per kind of
        element (the same protocols, ports and context), its sources merged."""
        whys.extend(f.why for f in fields if f.kind == "unknown")
        groups: dict[Alt, list[Interval]] = {}
        src = [k for k, f in enumerate(fields) if f.kind == "src"]
        rest = [k for k, f in enumerate(fields) if f.kind != "src"]
        kinds: dict[tuple[Value, ...], Alt | None] = {}
        """What the parts other than the source ask, per distinct parts (they repeat)."""
        for atom in check_parts(atoms, len(fields)):
            parts = atom.parts if isinstance(atom, Cat) else (atom,)
            key = tuple(parts[k] for k in rest)
            if key in kinds:
                alt = kinds[key]
            else:
                alt = Alt(protocols=implied)
                for k in rest:
                    got = self.element(fields[k], parts[k], whys)
                    alt = _and(alt, got) if got is not None else None
                    if alt is None:
                        break
                kinds[key] = alt
            if alt is not None:
                where = _addresses(parts[src[0]], self.family) if src else self.full
                groups.setdefault(alt, []).extend(where)
        return [replace(alt, sources=tuple(merge(ivs))) for alt, ivs in groups.items()]

    def element(self, f: Field, part: Value, whys: list[str]) -> Alt | None:
        """What one part of an element of a concatenation asks of the connection (None: it
        never matches)."""
        kind = f.kind
        if kind == "free":
            return Alt()
        if kind == "unknown":
            return Alt(sure=False)
        if kind == "proto":
            return Alt(protocols=protocols_in([_numbers(part, "proto", "tcp")], False))
        if kind == "dport":
            rng = _numbers(part, "port", port_protocol(f.implies))
            return Alt(dports=(port_match([rng], False, f.mask),))
        if kind in ("sport", "psrc"):
            hit = client_ports([_numbers(part, "port", port_protocol(f.implies))], False)
            got = self.source_port(f, hit, whys, None)
            return got[0] if got else None

        def holds(g: Field) -> bool | None:
            if g.kind != "const":
                whys.append(g.why)
                return None
            hit = const_match(g, part, self.family)
            if hit is None:
                whys.append(g.why)
            return hit

        alts = self.by_context(f, None, holds)
        if not alts:
            return None
        if len(alts) == 1:
            return alts[0]
        values = frozenset(v for a in alts for w in a.when for v in w.values)
        return Alt(sure=False, when=(ir.When(f.type, values),))
