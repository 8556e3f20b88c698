"""The evaluation of nftables chains: the verdict of chains for one family, one probe and one
hook, every source at once, with the semantics described in
:mod:`auditor.allowlists.nftables.ruleset`."""

from __future__ import annotations

from collections.abc import Sequence

from auditor import ipspace
from auditor.allowlists.base import ReaderError
from auditor.allowlists.firewall import (
    Claim,
    Outcome,
    RuleRef,
    Segment,
    client_ports,
    clip,
    first_claims,
    merge,
)
from auditor.allowlists.nftables.ast import (
    _IP6_EXTHDRS,
    _OTHER_L4,
    AnonSet,
    Cat,
    Chain,
    Concat,
    Elem,
    Expr,
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
from auditor.allowlists.nftables.probes import (
    _ABSENT,
    _REMOTE,
    _SPORT,
    _UNKNOWN_WHY,
    NEVER,
    Cond,
    Term,
    _and,
    _Env,
    _minus,
    _not,
    _Shared,
    _union,
)
from auditor.allowlists.nftables.render import _render_expr, _render_value
from auditor.allowlists.nftables.values import (
    _CT_STATE,
    _ETHERTYPE,
    _NFPROTO,
    _PORT_PROTOCOLS,
    _PROTOCOLS,
    _TCP_FLAGS,
    IV,
    _addresses,
    _bitop,
    _bits,
    _numbers,
    _text,
)
from auditor.model import Origin

_OUTCOMES: dict[str, Outcome] = {
    "accept": "accept",
    "drop": "drop",
    "reject": "drop",
    "return": "return",
}
_ROUTING_INFO = frozenset({"classid", "nexthop", "mtu", "ipsec"})
"""``rt`` keys of routing information [nft(8), ROUTING EXPRESSIONS]; other ``rt`` fields are
the IPv6 routing header's."""
_MAX_SETTLED = 256
"""Conditional rules per chain checked against the rest of the chain; past that, left open."""


class _Evaluator:
    """The verdict of chains for one family, one probe and one hook, every source at once."""

    def __init__(self, shared: _Shared, env: _Env) -> None:
        self.rs = shared.rs
        self.name = shared.name
        self.env = env
        self.bits = ipspace.BITS[env.family]
        self.full: IV = [(0, (1 << self.bits) - 1)]
        self.memo: dict[tuple[str, str, str], list[Segment]] = {}
        self.stack: list[tuple[str, str, str]] = []
        self.dynamic = shared.dynamic
        self.sources = shared.sources
        self.narrowed = False
        """Set when a match of the rule being read is on a protocol or port (``--service any``)."""

    def error(self, rule: Rule | None, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=rule.line if rule else None, hint=hint)

    def origin(self, line: int | None, path: str | None) -> Origin:
        return Origin(self.name, line, path)

    # chains

    def chain(self, table: Table, name: str, caller: Rule | None = None) -> list[Segment]:
        """Every source's outcome in the chain; the whole space is covered: the end of a base
        chain is its policy, the end of another chain a ``return``."""
        key = (table.family, table.name, name)
        if key in self.memo:
            return self.memo[key]
        if key in self.stack:
            loop = " -> ".join(k[2] for k in (*self.stack, key))
            raise self.error(caller, f"chain loop in {table.label}: {loop}")
        chain = table.chains.get(name)
        if chain is None:
            raise self.error(
                caller,
                f"chain {name} does not exist in table {table.label}",
                hint="a jump or goto must name a chain of the same table",
            )
        self.stack.append(key)
        claims: list[Claim] = []
        lean: dict[int, tuple[float, Outcome]] = {}
        for order, rule in enumerate(chain.rules):
            self.rule_claims(table, chain, rule, float(order), claims, lean)
        end_ref: RuleRef
        end: Outcome
        if chain.hook is not None:
            end = "accept" if chain.policy == "accept" else "drop"
            end_ref = RuleRef(
                self.origin(chain.line, chain.path),
                f"policy {chain.policy} of chain {table.label} {name}",
            )
        else:
            end = "return"
            end_ref = RuleRef(
                self.origin(chain.line, chain.path), f"end of chain {table.label} {name}"
            )
        if chain.hook is not None:
            # a return in a base chain, or falling off a chain it went to: the policy decides
            claims = [
                Claim(c.order, c.intervals, end, end_ref) if c.outcome == "return" else c
                for c in claims
            ]
            lean = {k: (o, end if v == "return" else v) for k, (o, v) in lean.items()}
        claims.append(Claim(float(len(chain.rules)), self.full, end, end_ref))
        segments = self.settle(first_claims(claims), claims, lean)
        self.stack.pop()
        self.memo[key] = segments
        return segments

    def settle(
        self, segments: list[Segment], claims: list[Claim], lean: dict[int, tuple[float, Outcome]]
    ) -> list[Segment]:
        """A conditional rule whose verdict is what the rest of the chain decides anyway decides
        nothing: ``limit rate 5/second reject`` before ``policy drop`` drops either way. The
        rest of the chain is settled the same way first, from its end backwards."""
        orders = sorted({order for order, _ in lean.values()}, reverse=True)
        if not orders or len(orders) > _MAX_SETTLED:
            return segments
        later: dict[float, list[Segment]] = {}

        def resolve(segs: list[Segment]) -> list[Segment]:
            out: list[Segment] = []
            for s in segs:
                info = lean.get(id(s.rule)) if s.outcome == "conditional" else None
                if info is None:
                    out.append(s)
                    continue
                order, outcome = info
                part = clip(later[order], [(s.first, s.last)])
                if part and all(p.outcome == outcome for p in part):
                    out.extend(part)
                else:
                    out.append(s)
            return out

        for order in orders:  # the last first: resolve() only looks at later ones
            later[order] = resolve(first_claims(c for c in claims if c.order > order))
        return resolve(segments)

    def rule_claims(
        self,
        table: Table,
        chain: Chain,
        rule: Rule,
        order: float,
        claims: list[Claim],
        lean: dict[int, tuple[float, Outcome]],
    ) -> None:
        whys: list[str] = []
        self.narrowed = False
        branches = self.branches(table, rule, whys)
        narrowed = self.narrowed
        if not branches:
            return
        origin = self.origin(rule.line, rule.path)
        ref = RuleRef(origin, rule.text)
        why = "; ".join(dict.fromkeys(whys))
        for cond, verdict in branches:
            if not cond.yes and not cond.maybe:
                continue
            if isinstance(verdict, Opaque):
                reason = "; ".join(x for x in (why, verdict.why) if x)
                iv = _union(cond.yes, cond.maybe)
                claims.append(Claim(order, iv, "conditional", RuleRef(origin, rule.text, reason)))
                continue
            cref = RuleRef(origin, rule.text, why or "not settled by the export")
            kind = verdict.kind
            if narrowed:
                refs = (ref, cref)
                self.some_claims(table, chain, rule, refs, order, cond, verdict, claims, lean)
                continue
            if kind in _OUTCOMES:
                outcome = _OUTCOMES[kind]
                if cond.yes:
                    claims.append(Claim(order, cond.yes, outcome, ref))
                if cond.maybe:
                    claims.append(Claim(order, cond.maybe, "conditional", cref))
                    lean[id(cref)] = (order, outcome)
            elif kind in ("jump", "goto"):
                assert verdict.target is not None  # noqa: S101 (parsers always set it)
                sub = self.chain(table, verdict.target, rule)
                for s in clip(sub, cond.yes):
                    if kind == "goto" or s.outcome != "return":
                        claims.append(Claim(order, [(s.first, s.last)], s.outcome, s.rule))
                if kind == "goto" and cond.maybe:
                    claims.append(Claim(order, cond.maybe, "conditional", cref))
                else:
                    for s in clip(sub, cond.maybe):
                        if s.outcome != "return":
                            claims.append(Claim(order, [(s.first, s.last)], "conditional", cref))

    def some_claims(
        self,
        table: Table,
        chain: Chain,
        rule: Rule,
        refs: tuple[RuleRef, RuleRef],
        order: float,
        cond: Cond,
        verdict: Verdict,
        claims: list[Claim],
        lean: dict[int, tuple[float, Outcome]],
    ) -> None:
        """``--service any``, a rule that holds for some protocols or ports only (``cond``: the
        sources for which it holds for some): a drop (or a jump to a chain that drops) refuses
        part of every connection and denies; an accept is not every connection and is passed
        over, the source going on to the next rule; what goes back from the chain for those
        protocols only (``return``, or the end of a ``goto``) leaves the rest behind."""
        ref, cref = refs
        back: Outcome | None
        if chain.hook is None:
            back = "conditional"
            back_ref = RuleRef(
                ref.origin,
                ref.text,
                "only some protocols or ports go back to the calling chain (--service any)",
            )
        else:
            # in a base chain a return meets the policy: a drop denies, an accept grants nothing
            back = "return" if chain.policy != "accept" else None
            back_ref = ref
        kind = verdict.kind
        if kind in _OUTCOMES:
            outcome = _OUTCOMES[kind]
            if outcome == "accept" or (outcome == "return" and back is None):
                return
            if outcome == "return":
                assert back is not None  # noqa: S101 (checked above)
                if cond.yes:
                    claims.append(Claim(order, cond.yes, back, back_ref))
                if cond.maybe:
                    claims.append(Claim(order, cond.maybe, "conditional", cref))
                return
            if cond.yes:
                claims.append(Claim(order, cond.yes, outcome, ref))
            if cond.maybe:
                claims.append(Claim(order, cond.maybe, "conditional", cref))
                lean[id(cref)] = (order, outcome)
            return
        if kind not in ("jump", "goto"):
            return
        assert verdict.target is not None  # noqa: S101 (parsers always set it)
        sub = self.chain(table, verdict.target, rule)
        for surely, ivs in ((True, cond.yes), (False, cond.maybe)):
            for s in clip(sub, ivs):
                got, got_ref = s.outcome, s.rule
                if got == "accept":
                    continue  # accepted for some protocols only: grants nothing
                if got == "return":
                    if kind == "jump" or back is None:
                        continue  # back to the next rule, like the rest of the traffic
                    got, got_ref = back, back_ref
                if not surely:
                    got, got_ref = "conditional", cref
                claims.append(Claim(order, [(s.first, s.last)], got, got_ref))

    def branches(
        self, table: Table, rule: Rule, whys: list[str]
    ) -> list[tuple[Cond, Verdict | Opaque]]:
        """The rule as (where it holds, what it does) pairs; more than one for a verdict map."""
        cond = Cond(self.full, [])
        out: list[tuple[Cond, Verdict | Opaque]] = []
        understood = True
        for item in rule.items:
            if isinstance(item, Match):
                cond = _and(cond, self.match(table, rule, item, whys))
            elif isinstance(item, Maybe):
                cond = _and(cond, Cond([], self.full))
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
                    key_cond = self.match(table, rule, Match(item.key, "==", elem), whys)
                    if verdict.kind != "continue":
                        out.append((_and(cond, key_cond), verdict))
                break
            if not cond.yes and not cond.maybe:
                return []
        if not understood:
            # what was not understood could be a match, a verdict or anything: the addresses
            # the rest of the rule reaches are undecided
            if not out:
                out = [(cond, Opaque(""))]
            return [(Cond([], _union(c.yes, c.maybe)), Opaque("")) for c, _ in out]
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

    def match(self, table: Table, rule: Rule, m: Match, whys: list[str]) -> Cond:
        try:
            return self.match_cond(table, m, whys)
        except _Problem as e:
            raise self.error(rule, str(e)) from None

    def match_cond(self, table: Table, m: Match, whys: list[str]) -> Cond:
        left, op, right = m.left, m.op, m.right
        if isinstance(right, Masked):
            left, right = Masking(left, "&", right.mask), right.value
        parts = left.parts if isinstance(left, Concat) else (left,)
        terms = [self.term(p) for p in parts]
        if any(t.kind == "absent" for t in terms):
            return NEVER
        if op in ("exists", "missing"):
            if all(t.kind == "some" for t in terms):
                return Cond(self.full, [])  # the header of some connections
            whys.extend(t.why for t in terms if t.why and t.kind != "some")
            return Cond([], self.full)
        if (
            len(terms) == 1
            and terms[0].kind == "const"
            and terms[0].type in ("ctstate", "tcpflags")
        ):
            if op == "in" and not isinstance(right, AnonSet | Ref):
                names = _CT_STATE if terms[0].type == "ctstate" else _TCP_FLAGS
                hit = bool(terms[0].value & _bits(right, names))
                return Cond(self.full, []) if hit else NEVER
            op = "==" if op == "in" else op
        if op in ("<", ">", "<=", ">="):
            return self.compare(terms[0], op, right, whys)
        if isinstance(right, Ref) and (table.family, table.name, right.name) in self.dynamic:
            whys.append(f"set @{right.name} is filled at run time")
            return Cond([], self.full)
        if len(terms) == 1 and terms[0].type == "sport" and op in ("==", "in", "!="):
            # the elements together, so that ranges that only together hold every port do
            proto = self.env.probe.protocol
            ranges = [_numbers(a, "port", proto) for a in self.atoms(table, right)]
            return self.client_port(terms[0], ranges, op == "!=", whys)
        if len(terms) > 1 and sum(t.kind == "src" for t in terms) > 1:
            whys.append("a concatenation of two source fields")
            return Cond([], self.full)
        if op == "!=" and any(t.kind == "some" for t in terms):
            # a protocol or port outside the values: some connection of every source has one
            return Cond(self.full, [])
        if len(terms) == 1 and terms[0].kind == "src":
            key: tuple[object, ...] = (
                ("set", table.family, table.name, right.name)
                if isinstance(right, Ref)
                else ("value", id(right))
            )
            key = (*key, self.env.family)
            if key not in self.sources:
                self.sources[key] = self.members(table, terms, self.atoms(table, right), whys)
            result = self.sources[key]
        else:
            result = self.members(table, terms, self.atoms(table, right), whys)
        if op == "!=":
            return _not(result, self.bits)
        if op not in ("==", "in"):
            raise _Problem(f"operator {op!r} is not understood")
        return result

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
        self, table: Table, terms: list[Term], atoms: Sequence[Value], whys: list[str]
    ) -> Cond:
        """Where one of the elements matches; each element is a value or a concatenation."""
        unknown = [t for t in terms if t.kind == "unknown"]
        whys.extend(t.why for t in unknown)
        yes: IV = []
        maybe: IV = []
        for atom in atoms:
            parts = atom.parts if isinstance(atom, Cat) else (atom,)
            if len(parts) != len(terms):
                raise _Problem(
                    f"the element {_render_value(atom)} has {len(parts)} parts for"
                    f" {len(terms)} fields"
                )
            sure = True
            where = self.full
            for term, part in zip(terms, parts, strict=True):
                if term.kind == "src":
                    where = _addresses(part, self.env.family)
                elif term.kind == "some":
                    continue  # every protocol or port: some connection has this one
                elif term.kind == "unknown":
                    sure = False
                else:
                    hit = self.const_match(term, part)
                    if hit is False:
                        break
                    if hit is None:
                        sure = False
                        whys.append(term.why)
            else:
                if sure:
                    yes.extend(where)
                else:
                    maybe.extend(where)
        y = merge(yes)
        return Cond(y, _minus(merge(maybe), y))

    def compare(self, term: Term, op: str, right: Value, whys: list[str]) -> Cond:
        if term.kind == "some":
            return Cond(self.full, [])  # some protocol or port is on that side
        if term.kind == "unknown":
            whys.append(term.why)
            return Cond([], self.full)
        if term.kind == "src":
            (lo, hi) = _addresses(right, self.env.family)[0]
            top = (1 << self.bits) - 1
            iv = {"<": (0, lo - 1), "<=": (0, hi), ">": (hi + 1, top), ">=": (lo, top)}[op]
            return Cond([iv] if iv[0] <= iv[1] else [], [])
        if term.type == "sport":
            n, _ = _numbers(right, "port", self.env.probe.protocol)
            rng = {"<": (0, n - 1), "<=": (0, n), ">": (n + 1, 65535), ">=": (n, 65535)}[op]
            return self.client_port(term, [rng], False, whys)
        if term.type not in ("port", "proto", "int"):
            raise _Problem(f"{op} needs a number")
        n, _ = _numbers(right, term.type, self.env.probe.protocol)
        v = term.value
        hit = {"<": v < n, "<=": v <= n, ">": v > n, ">=": v >= n}[op]
        return Cond(self.full, []) if hit else NEVER

    def client_port(
        self, term: Term, ranges: Sequence[tuple[int, int]], negated: bool, whys: list[str]
    ) -> Cond:
        hit = client_ports(ranges, negated)
        if hit is None:
            whys.append(term.why)
            return Cond([], self.full)
        return Cond(self.full, []) if hit else NEVER

    def const_match(self, term: Term, part: Value) -> bool | None:
        t, v = term.type, term.value
        if t == "sport":
            return client_ports([_numbers(part, "port", self.env.probe.protocol)], False)
        if t in ("port", "proto", "int"):
            lo, hi = _numbers(part, t, self.env.probe.protocol)
            return bool(lo <= v <= hi)
        if t == "ctstate":
            return bool(v == _bits(part, _CT_STATE))
        if t == "tcpflags":
            return bool(v == _bits(part, _TCP_FLAGS))
        if t == "addr":
            return any(a <= v <= b for a, b in _addresses(part, self.env.family))
        if t == "iface":
            name = _text(part)
            if v == "none":
                return False  # no output interface on the input hook
            if name == "lo":
                return False  # a connection from another host never arrives on lo
            return None
        if t == "iftype":
            return False if _text(part) == "loopback" else None
        if t == "nfproto":
            return bool(_NFPROTO.get(_text(part).lower()) == v)
        if t == "ethertype":
            return bool(_ETHERTYPE.get(_text(part).lower()) == v)
        return bool(_text(part).lower() == v)

    def term(self, e: Expr) -> Term:
        env = self.env
        if isinstance(e, Concat):
            raise _Problem("a concatenation inside a concatenation")
        if isinstance(e, Masking):
            inner = self.term(e.left)
            if inner.kind != "const" or inner.type not in ("tcpflags", "ctstate", "int", "port"):
                if inner.kind in ("absent", "some"):
                    return inner
                return Term("unknown", why=f"a masked value ({_render_expr(e)})")
            names = _TCP_FLAGS if inner.type == "tcpflags" else _CT_STATE
            return Term("const", inner.type, _bitop(e.op, inner.value, _bits(e.right, names)))
        words = e.name.split()
        head = words[0]
        field_ = " ".join(words[1:])
        proto = env.probe.protocol
        if head == "literal":
            return Term("const", "str", field_.lower())
        if head in ("ip", "ip6"):
            if env.family != (4 if head == "ip" else 6):
                return _ABSENT
            if field_ == "saddr":
                return Term("src")
            if field_ == "daddr":
                return self.destination()
            if field_ in ("protocol", "nexthdr"):
                if proto == "any":
                    return self.some(e.name)
                return Term("const", "proto", _PROTOCOLS.get(proto, 0))
            if field_ == "version":
                return Term("const", "int", env.family)
            return Term("unknown", why=f"the {e.name} field")
        if proto == "any" and (head in _PORT_PROTOCOLS or head == "th"):
            # --service any: the header of some connections; a SYN opens those of TCP
            self.narrowed = True
            if e.name == "tcp flags":
                return Term("const", "tcpflags", _TCP_FLAGS["syn"])
            if field_ == "dport":
                return self.some(e.name)
            if field_ == "sport":
                return _SPORT._replace(why=f"the client's source port ({e.name})")
            return Term("unknown", why=f"the {e.name} field")
        if head in _PORT_PROTOCOLS or head == "th":
            if (head == "th" and proto not in _PORT_PROTOCOLS) or (head != "th" and proto != head):
                return _ABSENT
            if field_ == "dport":
                return Term("const", "port", env.probe.port)
            if field_ == "sport":
                return _SPORT._replace(why=f"the client's source port ({e.name})")
            if e.name == "tcp flags":
                return Term("const", "tcpflags", _TCP_FLAGS["syn"])
            return Term("unknown", why=f"the {e.name} field")
        if head in _OTHER_L4 or e.name.startswith("sctp chunk"):
            # icmp implies IPv4 and icmpv6 IPv6, as nft adds ``meta nfproto`` for them
            other = {"icmp": 6, "igmp": 6, "icmpv6": 4}.get(head)
            if proto != "any" or head == "arp" or other == env.family:
                return _ABSENT
            return self.some(e.name)
        if head in _IP6_EXTHDRS or (head == "rt" and field_ not in _ROUTING_INFO):
            # an IPv6 extension header (``rt type 0`` is the routing header, not routing info)
            if env.family == 4:
                return _ABSENT
            return Term("unknown", why=f"an IPv6 extension header ({e.name})")
        if head == "meta":
            return self.meta(field_)
        if head == "ct":
            return self.ct(words[1:])
        if head == "fib":
            if words[-1] == "type" and "saddr" not in words[1]:
                return Term("const", "str", "unicast" if env.hook == "forward" else "local")
            return Term("unknown", why=f"a routing lookup ({e.name})")
        if head in ("ether", "vlan"):
            return Term("unknown", why=f"the link layer ({e.name})")
        return Term("unknown", why=f"{e.name}")

    def destination(self) -> Term:
        to = self.env.to
        if to is None:
            return Term("unknown", why="the destination address (give --to to evaluate it)")
        if to[0] != self.env.family:
            return Term(
                "unknown", why=f"the IPv{self.env.family} destination address (--to is another)"
            )
        return Term("const", "addr", to[1])

    def meta(self, key: str) -> Term:
        env = self.env
        if key == "l4proto":
            if env.probe.protocol == "any":
                return self.some("meta l4proto")
            return Term("const", "proto", _PROTOCOLS.get(env.probe.protocol, 0))
        if key == "nfproto":
            return Term("const", "nfproto", "ipv4" if env.family == 4 else "ipv6")
        if key == "protocol":
            return Term("const", "ethertype", "ip" if env.family == 4 else "ip6")
        if key in ("iif", "iifname"):
            return Term("const", "iface", _REMOTE, f"the input interface ({key})")
        if key in ("oif", "oifname"):
            if env.hook in ("input", "prerouting", "ingress"):
                return Term("const", "iface", "none")
            return Term("unknown", why=f"the output interface ({key})")
        if key == "iiftype":
            return Term("const", "iftype", _REMOTE, "the input interface type")
        if key == "pkttype":
            return Term("const", "str", "host")
        return Term("unknown", why=_UNKNOWN_WHY.get(key, f"meta {key}"))

    def ct(self, words: list[str]) -> Term:
        env = self.env
        if words and words[0] in ("original", "reply"):
            if words[0] == "reply":
                return Term("unknown", why=f"ct {' '.join(words)}")
            rest = words[1:]
            if rest and rest[0] in ("ip", "ip6"):
                if env.family != (4 if rest[0] == "ip" else 6):
                    return _ABSENT
                rest = rest[1:]
            key = rest[0] if rest else ""
            if key == "saddr":
                return Term("src")
            if key == "daddr":
                return self.destination()
            if key in ("proto-dst", "proto-src", "protocol") and env.probe.protocol == "any":
                return self.some(f"ct {' '.join(words)}")
            if key == "proto-dst":
                return Term("const", "port", env.probe.port)
            if key == "proto-src":
                return _SPORT._replace(why=f"the client's source port (ct {' '.join(words)})")
            return Term("unknown", why=f"ct {' '.join(words)}")
        key = words[0] if words else ""
        if key == "state":
            return Term("const", "ctstate", _CT_STATE[self.env.ct_state])
        if key == "direction":
            return Term("const", "str", "original")
        if key == "l3proto":
            return Term("const", "nfproto", "ipv4" if env.family == 4 else "ipv6")
        if key == "protocol":
            if env.probe.protocol == "any":
                return self.some("ct protocol")
            return Term("const", "proto", _PROTOCOLS.get(env.probe.protocol, 0))
        return Term("unknown", why=f"the connection's {key} (ct {key})")

    def some(self, what: str) -> Term:
        """``--service any``: a protocol or port, which takes every value; the rule is narrowed
        to some connections."""
        self.narrowed = True
        return Term("some", why=what)
