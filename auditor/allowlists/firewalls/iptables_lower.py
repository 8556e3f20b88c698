"""An ``iptables-save`` ruleset (read by :mod:`auditor.allowlists.firewalls.iptables_parser`)
lowered into the ruleset intermediate form (:mod:`auditor.ruleset.ir`), which
:mod:`auditor.ruleset.engine` evaluates: the tables a packet crosses on the audited chain's
path, in the kernel's order, each table's chains (named ``table/chain``) with their rules, and
the objects ``--scope`` can name.
"""

from __future__ import annotations

from auditor.allowlists.base import ReadContext
from auditor.allowlists.firewalls.iptables_model import _OTHER_PROTOCOLS, Rule, Ruleset, Table
from auditor.allowlists.firewalls.iptables_words import _tokens
from auditor.model import Entry, Origin, Outcome, RuleRef, Stage
from auditor.ruleset import ir
from auditor.ruleset.engine import probes, traffic_match

_BUILTIN_CHAINS = frozenset({"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"})
_TERMINAL = {"ACCEPT": ir.ACCEPT, "DROP": ir.DROP, "REJECT": ir.DROP, "RETURN": ir.RETURN}
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
_USER_CHAIN_END = "the calling chain decides (a user chain has no policy)"

_PRIORITIES = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
# The hooks a new inbound connection crosses, in order [netfilter: priorities of raw -300,
# mangle -150, dstnat -100, filter 0, security 50]; nat INPUT and POSTROUTING only rewrite
# sources, which decides nothing here.
_PATHS = {
    "INPUT": (
        ("raw", "PREROUTING"),
        ("mangle", "PREROUTING"),
        ("nat", "PREROUTING"),
        ("mangle", "INPUT"),
        ("filter", "INPUT"),
        ("security", "INPUT"),
    ),
    "FORWARD": (
        ("raw", "PREROUTING"),
        ("mangle", "PREROUTING"),
        ("nat", "PREROUTING"),
        ("mangle", "FORWARD"),
        ("filter", "FORWARD"),
        ("security", "FORWARD"),
        ("mangle", "POSTROUTING"),
    ),
}


class _Lowering:
    """Rules of one export lowered one by one; equal matches and targets share one object."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.traffics: dict[tuple[object, ...], ir.Traffic] = {}
        self.actions: dict[tuple[object, ...], ir.Action | None] = {}

    def traffic(self, rule: Rule) -> ir.Traffic:
        """The protocol and destination ports the rule matches (source ports are settled by
        the parser: a rule no client port meets is dropped, one only some meet is
        conditional)."""
        ports = rule.ports
        key: tuple[object, ...] = (rule.protocol, rule.protocol_negated)
        if len(ports) == 1:
            key = (*key, ports[0].ranges, ports[0].negated, ports[0].either)
        elif ports:
            key = (*key, *((t.ranges, t.negated, t.either) for t in ports))
        got = self.traffics.get(key)
        if got is not None:
            return got
        protocols: frozenset[str] | None = None
        negated = False
        if rule.protocol is not None and rule.protocol != "all":
            if rule.protocol in _OTHER_PROTOCOLS or rule.protocol in ("tcp", "udp"):
                protocols, negated = frozenset({rule.protocol}), rule.protocol_negated
            else:
                # a protocol not known here stays in play for every probe (its reason, among
                # the rule's, makes it conditional) and matches only some connections
                protocols, negated = frozenset(), True
        dports = tuple(ir.Ports(t.ranges, t.negated) for t in rule.ports if not t.either)
        either = tuple(ir.Ports(t.ranges, t.negated) for t in rule.ports if t.either)
        got = self.traffics[key] = ir.Traffic(protocols, negated, dports, either=either)
        return got

    def action(self, rule: Rule, table_name: str, table: Table) -> ir.Action | None:
        """What the rule's target does to a packet it matches; None for targets that go on to
        the next rule."""
        target = rule.target
        if target is None:
            return None
        notrack = target == "CT" and "--notrack" in rule.target_args
        key = (table_name, target, rule.goto, notrack)
        if key in self.actions:
            return self.actions[key]
        action: ir.Action | None
        if target in _TERMINAL:
            action = _TERMINAL[target]
        elif target in table.chains:
            action = ir.Action("goto" if rule.goto else "jump", f"{table_name}/{target}")
        elif table_name == "nat" and target in _NAT_ACCEPT:
            action = ir.ACCEPT
        elif target in _REDIRECTS:
            action = ir.Action("opaque", unsure=_REDIRECTS[target], bypass=target in _BYPASS)
        elif notrack:
            action = ir.Action("opaque", unsure=_REDIRECTS["NOTRACK"])
        elif target in _PASS_OVER:
            action = None
        else:
            action = ir.Action("opaque", unsure=f"target {target} is not evaluated")
        self.actions[key] = action
        return action

    def chain(self, table_name: str, table: Table, name: str) -> ir.Chain:
        """One chain: a built-in chain (or one with a policy line) ends in its policy, a user
        chain returns to its caller. Rules that never match a new connection from another
        host, and targets that go on, decide nothing and are left out."""
        source = self.ctx.name
        rules: list[ir.Rule] = []
        append = rules.append
        traffic = self.traffic
        for rule in table.chains.get(name, ()):
            if not rule.new_ok:
                continue
            action = _TERMINAL.get(rule.target or "") or self.action(rule, table_name, table)
            if action is None:
                continue
            append(
                ir.Rule(
                    RuleRef(Origin(source, rule.line), rule.text),
                    action,
                    rule.sources,
                    (),
                    traffic(rule),
                    (),
                    tuple(rule.why) if rule.why else (),
                )
            )
        where = f"{table_name} " if table_name != "filter" else ""
        if name not in _BUILTIN_CHAINS and name not in table.policies:
            end = RuleRef(Origin(source), f"end of {where}{name}", _USER_CHAIN_END)
            return ir.Chain(f"{table_name}/{name}", tuple(rules), end, label=name)
        policy, line, _ = table.policies.get(name, ("ACCEPT", 0, ""))
        end = RuleRef(Origin(source, line or None), f"policy {policy} of {where}{name}")
        outcome: Outcome = "accept" if policy == "ACCEPT" else "drop"
        return ir.Chain(f"{table_name}/{name}", tuple(rules), end, outcome, name)


def audited_path(ruleset: Ruleset, chain: str) -> list[tuple[str, str]]:
    """The (table, chain) pairs a new connection crosses around the audited filter chain, in
    order; tables absent from the export are taken as empty."""
    return [
        (table, name)
        for table, name in _PATHS.get(chain, (("filter", chain),))
        if table in ruleset.tables and name in ruleset.tables[table].chains
    ]


def lower(ruleset: Ruleset, ctx: ReadContext, chain: str) -> ir.Ruleset:
    """The tables on the path of the audited filter chain (which the export has), every
    chain of each, and one gate per table's chain on the path; the filter chain is the main
    one. A user chain audited alone (ufw's ``ufw-user-input``) has no policy: what falls off
    its end is decided by the chains that call it, not shown (conditional)."""
    lowering = _Lowering(ctx)
    path = audited_path(ruleset, chain)
    chains: dict[str, ir.Chain] = {}
    for table_name in dict.fromkeys(t for t, _ in path):
        table = ruleset.tables[table_name]
        for name in table.chains:
            lowered = lowering.chain(table_name, table, name)
            chains[lowered.name] = lowered
    gates = []
    for table_name, name in path:
        lowered = chains[f"{table_name}/{name}"]
        alone: tuple[Outcome, RuleRef | None] | None = None
        if lowered.policy is None:
            alone = ("conditional", lowered.end_ref)
        place = Stage(
            "iptables",
            table_name,
            name,
            name.lower() if name in _BUILTIN_CHAINS else "",
            _PRIORITIES[table_name],
            "nat" if table_name == "nat" else "filter",
            (),
        )
        main = (table_name, name) == ("filter", chain)
        gates.append(ir.Gate(lowered.name, main=main, alone=alone, place=place))
    return ir.Ruleset(ruleset.family, chains, tuple(gates))


def scope_objects(
    ruleset: Ruleset, lowered: ir.Ruleset, ctx: ReadContext
) -> tuple[list[Entry], list[str]]:
    """The objects ``--scope`` can name: every chain of the filter table (the sources of its
    ACCEPT rules that can match the service) and every ipset a rule matches on the source
    address (its members, from the ``ipset save`` given alongside), by name."""
    entries: list[Entry] = []
    names: list[str] = []
    tests = probes(ctx.service, [lowered])
    lowering = _Lowering(ctx)
    for chain, rules in ruleset.chains.items():
        names.append(chain)
        for rule in rules:
            if rule.target != "ACCEPT" or rule.sources is None or not rule.new_ok:
                continue
            traffic = lowering.traffic(rule)
            if not any(traffic_match(traffic, probe)[0] for probe in tests):
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
