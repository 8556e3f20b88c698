"""JunOS firewall filters and SRX security policies lowered to the ruleset form.

Firewall filters (Junos "Firewall Filter Match Conditions", "Firewall Filter Terminating
Actions"): terms in order; a term without ``from`` matches every packet; the values of one
match condition are alternatives, different conditions must all hold; an address list is
read by longest match, ``except`` entries not matching, with an implicit ``0/0 except``
("Specifying Address Filter Match Conditions"); a term that matches with no terminating
action accepts; ``next term`` goes on; every filter ends in an implicit discard. A filter
list (``input-list``) goes on to the next filter when a filter has no matching term, and the
discard is at the end of the last one.

SRX security policies (Junos "Security Policies Overview"): the zone pair's policies in
order, then the global policies whose zones fit, then the default policy (``deny-all``
unless ``default-policy permit-all``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditor import ipspace
from auditor.allowlists.appliances.junos_objects import (
    ICMP,
    Applications,
    Interval,
    Named,
    Resolver,
    masked,
    port_range,
    protocol_name,
)
from auditor.allowlists.appliances.junos_parse import Node
from auditor.allowlists.base import ReaderError
from auditor.errors import AddressError
from auditor.model import Origin, RuleRef
from auditor.ruleset import ir
from auditor.ruleset.sweep import complement, intersect, merge, minus, union

FAMILY_NAMES = {4: "inet", 6: "inet6"}
IMPLICIT = "implicit discard at the end of the filter"
HOST_ZONE = "junos-host"
"""The zone of the device itself: host-inbound-traffic also decides what reaches it."""
HOST_WHY = f"to-zone {HOST_ZONE}: the zone's host-inbound-traffic also decides (not read)"
FIRST_PACKET = (("tcp", "initial"),)
"""The context of every gate: the packet that opens a connection (a TCP SYN)."""

_ADDRESS_KEYS = {
    "source-address": "source",
    "ip-source-address": "source",
    "source-prefix-list": "source",
    "destination-address": "destination",
    "ip-destination-address": "destination",
    "destination-prefix-list": "destination",
    "address": "either",
    "ip-address": "either",
    "prefix-list": "either",
}
_PROTOCOL_KEYS = ("protocol", "next-header", "payload-protocol", "ip-protocol")
_PORT_KEYS = {"destination-port": "dports", "source-port": "sports", "port": "either"}
_NON_TERMINATING = frozenset(
    {
        "count", "log", "syslog", "sample", "port-mirror", "port-mirror-instance",
        "forwarding-class", "loss-priority", "dscp", "traffic-class", "service-accounting",
        "service-filter-hit", "packet-mode", "prefix-action", "virtual-channel",
        "policy-map", "analyzer",
    }
)  # fmt: skip


@dataclass
class Lowering:
    """What the lowering needs from the reader: where it reads, the destination, notes."""

    source: str
    to: tuple[int, int] | None
    """(family, address) of --to."""
    prefix_lists: dict[str, Named]
    unsupported: list[str]

    def ref(self, line: int, text: str, why: str = "") -> RuleRef:
        return RuleRef(Origin(self.source, line), text, why)

    def note(self, text: str) -> None:
        if text not in self.unsupported:
            self.unsupported.append(text)

    def destination(self, family: int, inside: Sequence[Interval], shown: str) -> str | None:
        """None when the destination match excludes --to (the rule never matches), "" when it
        holds --to, else why it is conditional."""
        if inside == full(family):
            return ""
        if self.to is None:
            return f"{shown} (give --to)"
        fam, value = self.to
        if fam != family:
            return f"{shown} (--to gives an IPv{fam} address)"
        return "" if any(a <= value <= b for a, b in inside) else None


def full(family: int) -> list[Interval]:
    return [(0, ipspace.MAX[family])]


def longest(entries: Sequence[tuple[Interval, bool]]) -> list[Interval]:
    """The addresses a prefix list with ``except`` entries matches: the longest prefix
    holding an address decides, every other address does not match."""
    out: list[Interval] = []
    for (a, b), exc in sorted(entries, key=lambda e: e[0][0] - e[0][1]):
        out = minus(out, [(a, b)]) if exc else union(out, [(a, b)])
    return out


def summary(node: Node, limit: int = 6) -> str:
    """A term's or policy's statements, as the configuration says them."""
    parts: list[str] = []
    for words, _ in node.paths():
        parts.append(" ".join(words))
        if len(parts) > limit:
            parts[-1] = "..."
            break
    return "; ".join(parts)


# --- firewall filters ----------------------------------------------------------------------


def filter_nodes(root: Node) -> dict[tuple[int, str], Node]:
    """Every filter of family inet and inet6 (``firewall filter F`` is family inet)."""
    out: dict[tuple[int, str], Node] = {}
    fw = root.get("firewall")
    if fw is None:
        return out
    for name, node in (fw.get("filter") or Node("", 0)).children.items():
        out[4, name] = node
    for fam, word in FAMILY_NAMES.items():
        for name, node in (fw.get("family", word, "filter") or Node("", 0)).children.items():
            out[fam, name] = node
    return out


@dataclass
class _Match:
    sources: list[Interval] | None = None
    maybe: list[Interval] | None = None
    whys: list[str] | None = None


class FilterLowering:
    def __init__(self, low: Lowering, family: int) -> None:
        self.low = low
        self.family = family

    def chain(self, name: str, node: Node) -> ir.Chain:
        rules: list[ir.Rule] = []
        for tname, tnode in (node.get("term") or Node("", 0)).children.items():
            rules += self.term(name, tname, tnode)
        end = self.low.ref(node.line, f"filter {name}: no term matched")
        return ir.Chain(name, tuple(rules), end, None, f"filter {name}")

    def term(self, fname: str, tname: str, node: Node) -> list[ir.Rule]:
        text = f"filter {fname} term {tname}: {summary(node)}"
        ref = self.low.ref(node.line, text)
        action = self.action(node, f"line {node.line}: filter {fname} term {tname}")
        if action is None:
            return []
        frm = node.get("from")
        conditions: dict[str, list[tuple[list[str], int]]] = {}
        for words, line in frm.paths() if frm else []:
            conditions.setdefault(words[0], []).append((words[1:], line))
        whys: list[str] = []
        traffic = self.traffic(conditions, whys)
        if traffic is None:
            return []
        when: tuple[ir.When, ...] = ()
        if "tcp-established" in conditions:
            when = (ir.When("tcp", frozenset({"initial"}), True, "tcp-established"),)
        elif "tcp-initial" in conditions:
            when = (ir.When("tcp", frozenset({"initial"}), False, "tcp-initial"),)
        got = self.addresses(conditions, whys)
        if got is None:
            return []
        yes, maybe, maybe_why = got
        out = []
        if yes is None or yes:
            out.append(ir.Rule(ref, action, yes, traffic=traffic, when=when, whys=tuple(whys)))
        if maybe:
            mwhys = (*whys, maybe_why)
            out.append(ir.Rule(ref, action, tuple(maybe), traffic=traffic, when=when, whys=mwhys))
        return out

    def action(self, node: Node, text: str) -> ir.Action | None:
        """The term's action; None for a term that goes on (``next term``)."""
        if node.get("filter") is not None:
            nested = " ".join(node.get("filter").keys())  # type: ignore[union-attr]
            self.low.note(f"{text}: nested filter {nested} (not evaluated)")
            return ir.Action("opaque", unsure=f"refers to filter {nested} (not evaluated here)")
        then = node.get("then")
        unsure = ""
        kind = "accept"
        for words, _ in then.paths() if then else []:
            key = words[0]
            if key == "accept":
                kind = "accept"
            elif key in ("discard", "reject"):
                kind = "drop"
            elif key == "next" and words[1:2] == ["term"]:
                return None
            elif key == "next" and words[1:2] == ["filter"]:
                kind = "return"
            elif key in ("policer", "three-color-policer", "hierarchical-policer"):
                unsure = f"{key} {' '.join(words[1:2])}: rate-limited"
            elif key in _NON_TERMINATING:
                continue
            else:
                self.low.note(f"{text}: then {' '.join(words)}")
                return ir.Action("opaque", unsure=f"then {' '.join(words)}")
        if kind == "accept" and unsure:
            return ir.Action("accept", unsure=unsure)
        return {"accept": ir.ACCEPT, "drop": ir.DROP, "return": ir.RETURN}[kind]

    def traffic(
        self, conds: dict[str, list[tuple[list[str], int]]], whys: list[str]
    ) -> ir.Traffic | None:
        protocols: frozenset[str] | None = None
        negated = False
        dports: list[ir.Ports] = []
        sports: list[ir.Ports] = []
        either: list[ir.Ports] = []
        narrow: list[str] = []
        for key, values in conds.items():
            base = key.removesuffix("-except")
            neg = key.endswith("-except")
            if base in _PROTOCOL_KEYS:
                names = frozenset(protocol_name(v[0]) for v, _ in values if v)
                protocols, negated = names, neg
            elif base in _PORT_KEYS:
                ranges = []
                for v, _ in values:
                    got = port_range(v[0]) if v else None
                    if got is None:
                        narrow.append(f"from {key} {' '.join(v)} (a port name not known here)")
                    else:
                        ranges.append(got)
                if ranges:
                    ports = ir.Ports(tuple(merge(ranges)), neg)
                    {"dports": dports, "sports": sports, "either": either}[_PORT_KEYS[base]].append(
                        ports
                    )
            elif base in ("icmp-type", "icmp-code"):
                protocols = (protocols or ICMP) & ICMP if not negated else ICMP
                negated = False
            elif key in ("tcp-established", "tcp-initial"):
                protocols = (protocols or frozenset({"tcp"})) & frozenset({"tcp"})
                if negated:
                    protocols, negated = frozenset({"tcp"}) - protocols, False
            elif key in _ADDRESS_KEYS or key.removesuffix("-except") in _ADDRESS_KEYS:
                continue
            else:
                shown = " ".join([key, *(values[0][0] if values else [])])
                whys.append(f"from {shown} (not settled by the configuration)")
        if protocols is not None and not protocols and not negated:
            return None
        return ir.Traffic(
            protocols, negated, tuple(dports), tuple(sports), tuple(either), tuple(narrow)
        )

    def addresses(
        self, conds: dict[str, list[tuple[list[str], int]]], whys: list[str]
    ) -> tuple[tuple[Interval, ...] | None, list[Interval], str] | None:
        """The sources the term surely matches (None: all), those it may match and why;
        None when it never matches (the destination is not --to)."""
        fam = self.family
        sides: dict[str, dict[str, tuple[list[Interval], list[str]]]] = {}
        for key, values in conds.items():
            side = _ADDRESS_KEYS.get(key)
            if side is None:
                continue
            entries: list[tuple[Interval, bool]] = []
            unknown: list[str] = []
            unsure_except = False
            for v, line in values:
                if not v:
                    continue
                exc = v[1:2] == ["except"]
                if key.endswith("prefix-list"):
                    pl = self.low.prefix_lists.get(v[0])
                    if pl is None:
                        raise ReaderError(
                            f"prefix-list {v[0]} is not defined",
                            source=self.low.source,
                            line=line,
                            hint="define it under policy-options prefix-list, or fix the name",
                        )
                    entries += [(iv, exc) for f, iv in pl.pairs if f == fam]
                    unknown += pl.whys
                    unsure_except = unsure_except or (exc and bool(pl.whys))
                    continue
                got = masked(v[0], self.low.source, line)
                if isinstance(got, str):
                    unknown.append(f"from {key} {got}")
                    unsure_except = unsure_except or exc
                    continue
                if got[0] != fam:
                    self.low.note(
                        f"line {line}: {v[0]} in a family {FAMILY_NAMES[fam]} filter (ignored)"
                    )
                    continue
                entries.append((got[1], exc))
            # an entry not known here that is an exception may take any address out
            inside = [] if unsure_except else longest(entries)
            sides.setdefault(side, {})[key] = (inside, unknown)
        yes: list[Interval] = full(fam)
        maybe_whys: list[str] = []
        for inside, unknown in sides.get("source", {}).values():
            yes = intersect(yes, inside)
            maybe_whys += unknown
        for key, (inside, unknown) in sides.get("destination", {}).items():
            shown = f"from {key} {' '.join(v[0][0] for v in conds[key][:3])}"
            why = self.low.destination(fam, inside, shown)
            if why is None and not unknown:
                return None
            if why or unknown:
                whys.append(why or "; ".join(unknown))
        either_maybe: list[Interval] = []
        for key, (inside, unknown) in sides.get("either", {}).items():
            shown = f"from {key} {' '.join(v[0][0] for v in conds[key][:3])}"
            why = self.low.destination(fam, inside, shown)
            if why == "":
                continue  # the destination matches: every source does
            yes_side = intersect(yes, inside)
            if why is not None:
                either_maybe = union(either_maybe, minus(yes, inside))
                maybe_whys.append(f"{shown}: the destination may match (give --to)")
            yes = yes_side
            maybe_whys += unknown
        maybe: list[Interval] = either_maybe
        if maybe_whys:
            # a prefix list filled by the device may hold any further source
            maybe = union(maybe, complement(yes, ipspace.BITS[fam]))
        sure: tuple[Interval, ...] | None = None if yes == full(fam) else tuple(yes)
        return sure, maybe, "; ".join(dict.fromkeys(maybe_whys))


def filter_ruleset(
    low: Lowering, family: int, filters: Sequence[tuple[str, Node]], head: RuleRef
) -> ir.Ruleset:
    """A filter list (one filter or an input-list) as one ruleset: each filter a chain jumped
    to in order, the implicit discard at the end of the last one."""
    fl = FilterLowering(low, family)
    chains = {}
    jumps = []
    for name, node in filters:
        chains[f"filter {name}"] = fl.chain(name, node)
        jumps.append(ir.Rule(head, ir.Action("jump", f"filter {name}")))
    last_name, last = filters[-1]
    end = low.ref(last.line, f"filter {last_name}: {IMPLICIT}")
    chains["input"] = ir.Chain("input", tuple(jumps), end, "drop", "input")
    return ir.Ruleset(family, chains, (ir.Gate("input", FIRST_PACKET, main=True),))


def accept_all(family: int, ref: RuleRef) -> ir.Ruleset:
    chain = ir.Chain("input", (), ref, "accept")
    return ir.Ruleset(family, {"input": chain}, (ir.Gate("input", FIRST_PACKET, main=True),))


# --- security policies ---------------------------------------------------------------------


class PolicyLowering:
    def __init__(self, low: Lowering, family: int, resolver: Resolver, apps: Applications) -> None:
        self.low = low
        self.family = family
        self.resolver = resolver
        self.apps = apps

    def names(
        self, zone: str | None, values: list[tuple[str, int]]
    ) -> tuple[list[Interval], list[str]]:
        fam = self.family
        inside: list[Interval] = []
        whys: list[str] = []
        for name, line in values:
            if name == "any" or name == f"any-ipv{fam}":
                inside = full(fam)
                continue
            if name in ("any-ipv4", "any-ipv6"):
                continue
            named = self.resolver.lookup(zone, name, line)
            inside = union(inside, merge([iv for f, iv in named.pairs if f == fam]))
            whys += named.whys
        return inside, whys

    def policy(self, pname: str, node: Node, zones: tuple[str, str], label: str) -> list[ir.Rule]:
        fam = self.family
        text = f"{label} policy {pname}: {summary(node)}"
        ref = self.low.ref(node.line, text)
        action = self.action(node, f"line {node.line}: {label} policy {pname}")
        match = node.get("match")
        conds: dict[str, list[tuple[str, int]]] = {}
        for words, line in match.paths() if match else []:
            conds.setdefault(words[0], []).append((" ".join(words[1:]), line))
        whys: list[str] = []
        for key, values in conds.items():
            if key in (
                "source-address", "destination-address", "application",
                "source-address-excluded", "destination-address-excluded",
                "from-zone", "to-zone",
            ):  # fmt: skip
                continue
            shown = " ".join(v for v, _ in values)
            if key in ("source-identity", "dynamic-application", "url-category") and shown in (
                "any",
                "none",
            ):
                continue
            whys.append(f"match {key} {shown} (not settled by the configuration)")
        if node.get("scheduler-name") is not None:
            whys.append("scheduler-name: only at the scheduled times")
        src, src_whys = self.names(zones[0], conds.get("source-address", [("any", 0)]))
        maybe: list[Interval] = []
        if "source-address-excluded" in conds:
            # a member not known here may hold any address: none outside the known ones is
            # surely matched, each may be
            outside = complement(src, ipspace.BITS[fam])
            src, maybe = ([], outside) if src_whys else (outside, [])
        elif src_whys:
            maybe = complement(src, ipspace.BITS[fam])
        dst, dst_whys = self.names(zones[1], conds.get("destination-address", [("any", 0)]))
        if "destination-address-excluded" in conds:
            dst = complement(dst, ipspace.BITS[fam])
        shown = " ".join(v for v, _ in conds.get("destination-address", [])[:3])
        dwhy = self.low.destination(fam, dst, f"destination-address {shown}")
        if dwhy is None and not dst_whys:
            return []
        if dwhy or dst_whys:
            whys.append(dwhy or "; ".join(dst_whys))
        traffics = []
        for name, line in conds.get("application", [("any", 0)]):
            for app in self.apps.lookup(name, line):
                traffics.append(
                    ir.Traffic(
                        None if app.protocol is None else frozenset({app.protocol}),
                        dports=(ir.Ports(app.dports),) if app.dports else (),
                        sports=(ir.Ports(app.sports),) if app.sports else (),
                        whys=(app.why,) if app.why else (),
                    )
                )
        out = []
        for t in traffics:
            if src:
                out.append(ir.Rule(ref, action, tuple(src), traffic=t, whys=tuple(whys)))
            if maybe:
                mw = (*whys, "; ".join(dict.fromkeys(src_whys)))
                out.append(ir.Rule(ref, action, tuple(maybe), traffic=t, whys=mw))
        return out

    def action(self, node: Node, text: str) -> ir.Action:
        then = node.get("then")
        kind = ""
        unsure = ""
        for words, _ in then.paths() if then else []:
            if words[0] == "permit":
                kind = "accept"
                extra = [w for w in words[1:2] if w != "services-offload"]
                if extra:
                    unsure = f"permit {' '.join(words[1:])}: may still refuse"
            elif words[0] in ("deny", "reject"):
                kind = "drop"
        if not kind:
            self.low.note(f"{text}: no permit, deny or reject")
            return ir.Action("opaque", unsure="no permit, deny or reject")
        if kind == "accept" and unsure:
            return ir.Action("accept", unsure=unsure)
        return ir.ACCEPT if kind == "accept" else ir.DROP


def policy_ruleset(
    low: Lowering,
    family: int,
    root: Node,
    zones: tuple[str, str],
    resolver: Resolver,
    apps: Applications,
) -> ir.Ruleset:
    pl = PolicyLowering(low, family, resolver, apps)
    rules: list[ir.Rule] = []
    pair = root.get("security", "policies", "from-zone", zones[0], "to-zone", zones[1], "policy")
    label = f"from-zone {zones[0]} to-zone {zones[1]}"
    for pname, pnode in (pair.children if pair else {}).items():
        rules += pl.policy(pname, pnode, zones, label)
    glob = root.get("security", "policies", "global", "policy")
    for pname, pnode in (glob.children if glob else {}).items():
        fits = True
        for key, zone in (("from-zone", zones[0]), ("to-zone", zones[1])):
            listed = pnode.get("match", key)
            if listed is not None and not {zone, "any"} & set(listed.keys()):
                fits = False
        if fits:
            rules += pl.policy(pname, pnode, zones, "global")
    default = root.get("security", "policies", "default-policy")
    if zones[1] == HOST_ZONE:
        # traffic to the device itself also meets the zone's host-inbound-traffic (not read)
        host = ir.Action("accept", unsure=HOST_WHY)
        rules = [r._replace(action=host) if r.action.kind == "accept" else r for r in rules]
    if zones[1] == HOST_ZONE and pair is None:
        why = f"no policy to-zone {HOST_ZONE}: the zone's host-inbound-traffic decides (not read)"
        end_ref = RuleRef(Origin(low.source), why)
        policy = "conditional"
    elif default is not None and default.children:
        word = default.keys()[0]
        end_ref = low.ref(default.children[word].line, f"default-policy {word}")
        policy = "accept" if word == "permit-all" else "drop"
    else:
        end_ref = RuleRef(
            Origin(low.source), "default-policy deny-all (not configured: the default)"
        )
        policy = "drop"
    chain = ir.Chain("policies", tuple(rules), end_ref, policy, label)  # type: ignore[arg-type]
    return ir.Ruleset(family, {"policies": chain}, (ir.Gate("policies", FIRST_PACKET, main=True),))


def to_address(text: str | None, source: str) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        fam, value, _ = ipspace.parse_address(text)
    except AddressError as e:
        raise ReaderError(f"--to {text!r}: {e}", source=source) from None
    return fam, value
