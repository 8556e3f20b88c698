"""Azure network security groups exported as JSON, evaluated for a new inbound connection to
the service.

``azure-nsg`` (an ARM resource, ``az network nsg show`` output, or a list of them)
    Inbound rules by ascending ``priority``, the first match decides ``Allow`` or ``Deny``
    [Microsoft Learn, "Network security groups: Security rules": "Rules are processed in
    priority order, with lower numbers processed before higher numbers ... Once traffic
    matches a rule, processing stops"]. ``protocol`` ``Tcp``/``Udp``/``*`` (others only
    ``*``-service-wise), ``destinationPortRange(s)``, ``sourcePortRange(s)`` (read against
    the unprivileged ports a client connects from, 1024-65535, as iptables' ``--sport``: a
    range no such port is in never matches, one holding them all always does, any other makes
    the rule conditional), ``sourceAddressPrefix(es)``: CIDRs,
    addresses, ``*``/``Any`` and ``Internet`` (read as every address: the private ranges it
    leaves out belong to the virtual network, not to a provider), ``AzureLoadBalancer`` (the
    host's virtual IP 168.63.129.16 ["What is IP address 168.63.129.16?"]); any other service
    tag (``VirtualNetwork``, ``AzureCloud``, ``Storage.WestEurope`` ...) and application
    security groups are conditional (their addresses are not in the export). Destinations:
    ``*``, ``Any`` and ``VirtualNetwork`` (the VM's own address is in its virtual network)
    match; a CIDR is checked against ``--to``, else conditional; anything else is
    conditional. The default rules [Microsoft Learn, "Default security rules"] 65000
    AllowVNetInBound, 65001 AllowAzureLoadBalancerInBound and 65500 DenyAllInBound are added
    when the export leaves ``defaultSecurityRules`` out. Several NSGs: as for NACLs, each is
    evaluated and an address is decided only where they agree; ``--chain NAME`` picks one.
    A NIC NSG and its subnet's NSG both have to allow a connection; give them as two
    ``--declared`` sources for that. Two rules of one NSG with the same direction and
    priority (Azure refuses them) make the export an error naming both.
    Each inbound Allow rule of ``securityRules`` is a scope, ``NSG/RULE`` (``--scope RULE``
    when one NSG has a rule of that name), holding the addresses of its source prefixes when
    it lets in some of the service (none otherwise); Deny rules and default rules are not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError
from auditor.allowlists.cloud.acl import (
    FULL,
    Rule,
    _result,
    _sources,
    agree,
    carries,
    evaluate,
)
from auditor.allowlists.cloud.document import (
    _ADDRESSISH,
    _AZURE_ANY,
    Doc,
    Interval,
    _choose,
    _destination_why,
    _head,
    _join,
    _port_range,
    _ports_text,
    _shown,
    load_document,
)
from auditor.model import Entry, Outcome, RangeSet, RuleRef
from auditor.ruleset.sweep import client_ports, complement, merge
from auditor.sources.base import json_type

_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


def _public_pairs() -> list[tuple[int, tuple[int, int]]]:
    """Every address outside the private ranges, per family."""
    out: list[tuple[int, tuple[int, int]]] = []
    for fam, bits in ((4, 32), (6, 128)):
        private = []
        for text in _PRIVATE:
            p = ipspace.parse(text)
            if p.family == fam:
                private.append((p.first, p.last))
        out += [(fam, iv) for iv in complement(private, bits)]
    return out


_AZURE_LB = "168.63.129.16"

# Microsoft Learn, "Network security groups: Default security rules" (inbound).
_AZURE_DEFAULTS: tuple[dict[str, Any], ...] = (
    {"name": "AllowVNetInBound", "priority": 65000, "access": "Allow", "protocol": "*",
     "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "VirtualNetwork",
     "destinationPortRange": "*", "direction": "Inbound"},
    {"name": "AllowAzureLoadBalancerInBound", "priority": 65001, "access": "Allow",
     "protocol": "*", "sourceAddressPrefix": "AzureLoadBalancer",
     "destinationAddressPrefix": "*", "destinationPortRange": "*", "direction": "Inbound"},
    {"name": "DenyAllInBound", "priority": 65500, "access": "Deny", "protocol": "*",
     "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
     "destinationPortRange": "*", "direction": "Inbound"},
)  # fmt: skip


def _strings(doc: Doc, props: dict[str, Any], one: str, many: str, path: str) -> list[str]:
    single = doc.get(props, one, str, path, "")
    values = doc.get(props, many, list, path, [])
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise doc.error(f"is {json_type(v)}, expected a string", f"{path}.{many}[{i}]")
    return ([single] if single else []) + list(values)


SERVICE_TAG = "azure-service-tag:"
"""Key prefix in ReadContext.sets for service tags resolved from the Azure feed."""


@dataclass(frozen=True)
class Allowed:
    """An inbound Allow rule of an NSG's own rules: a scope (``NSG/RULE``), holding the
    addresses of its source prefixes when it lets in some of the service."""

    name: str
    path: str
    pairs: tuple[tuple[int, Interval], ...]


@dataclass(frozen=True)
class Nsg:
    name: str
    path: str
    rules: tuple[Rule, ...]
    allows: tuple[Allowed, ...] = ()


@dataclass(frozen=True)
class NsgRuleHead:
    """What places a rule: its name, direction and priority, and where it is."""

    props: dict[str, Any]
    ppath: str
    name: str
    direction: str
    priority: int


def _nsg_head(doc: Doc, raw: Any, path: str) -> NsgRuleHead:
    props = doc.get(raw, "properties", dict, path, None) if isinstance(raw, dict) else None
    ppath = _join(path, "properties") if props is not None else path
    props = props if props is not None else raw
    name = doc.get(raw, "name", str, path, "") or doc.get(props, "name", str, ppath, "")
    direction = doc.get(props, "direction", str, ppath).lower()
    priority = doc.number(
        props,
        "priority",
        ppath,
        (0, 65535),
        "Azure priorities are 100-4096 for the rules you add, 65000-65500 for the defaults",
    )
    return NsgRuleHead(props, ppath, name, direction, priority)


def _source_pairs(
    doc: Doc, srcs: list[str], ppath: str
) -> tuple[list[tuple[int, Interval]], list[str]]:
    """The addresses of a rule's source prefixes, and the prefixes whose addresses the export
    does not hold (service tags)."""
    pairs: list[tuple[int, Interval]] = []
    tags: list[str] = []
    for s in srcs:
        low = s.lower()
        if low == "internet":
            # the Internet tag is the address space outside the virtual network: public
            # addresses certainly, private ones (on-premises over VPN, peered networks) not
            pairs += _public_pairs()
            tags.append("Internet (private ranges: they may be the virtual network's)")
        elif low in _AZURE_ANY:
            pairs += [(4, FULL[4][0]), (6, FULL[6][0])]
        elif low == "azureloadbalancer":
            pairs.append(doc.cidr(_AZURE_LB, ppath))
        elif _ADDRESSISH.fullmatch(s):
            pairs.append(doc.cidr(s, f"{ppath}.sourceAddressPrefix"))
        elif SERVICE_TAG + low in doc.ctx.sets:
            # resolved from the Azure Service Tags feed given with --declared (azure:from=...)
            pairs.extend((f, (a, b)) for f, a, b in doc.ctx.sets[SERVICE_TAG + low])
        else:
            tags.append(s)
    return pairs, tags


def _nsg_rule(doc: Doc, raw: Any, path: str, label: str, k: int) -> list[Rule]:
    head = _nsg_head(doc, raw, path)
    props, ppath, name, priority = head.props, head.ppath, head.name, head.priority
    if head.direction != "inbound":
        return []
    access = doc.get(props, "access", str, ppath).lower()
    if access not in ("allow", "deny"):
        raise doc.error(f"access {_shown(access)} is neither Allow nor Deny", ppath)
    proto = doc.get(props, "protocol", str, ppath).lower()
    proto = "all" if proto in ("*", "any") else proto
    port_texts = _strings(doc, props, "destinationPortRange", "destinationPortRanges", ppath)
    ports: tuple[Interval, ...] | None = None
    if "*" not in port_texts:
        if not port_texts:
            raise doc.error("no destinationPortRange(s)", ppath)
        ports = tuple(
            merge([_port_range(doc, p, f"{ppath}.destinationPortRange") for p in port_texts])
        )
    sport_texts = _strings(doc, props, "sourcePortRange", "sourcePortRanges", ppath)
    sport_why = ""
    if "*" not in sport_texts and sport_texts:
        # a client connects from a port its system picks: see iptables' --sport
        sports = [_port_range(doc, p, f"{ppath}.sourcePortRange") for p in sport_texts]
        client = client_ports(sports, False)
        if client is False:
            return []  # no client connects from such a port: the rule never matches one
        if client is None:
            sport_why = f"the client's source port (sourcePortRange {', '.join(sport_texts)})"
    srcs = _strings(doc, props, "sourceAddressPrefix", "sourceAddressPrefixes", ppath)
    asgs = doc.get(props, "sourceApplicationSecurityGroups", list, ppath, [])
    dests = _strings(doc, props, "destinationAddressPrefix", "destinationAddressPrefixes", ppath)
    dest_asgs = doc.get(props, "destinationApplicationSecurityGroups", list, ppath, [])
    outcome: Outcome = "accept" if access == "allow" else "drop"
    shown = "all traffic" if proto == "all" else f"{proto} {_ports_text(ports)}"
    text = f"{label} {name or '?'} priority {priority} {access.title()} {shown} from " + (
        ", ".join(srcs) or "application security groups"
    )
    dest_why = _destination_why(doc, dests, f"{ppath}.destinationAddressPrefix")
    if dest_asgs:
        dest_why = "the destination application security groups are not in the export"
    if dest_why == "":
        return []  # the server is not among the destinations
    why = "; ".join(w for w in (dest_why, sport_why) if w)
    pairs, tags = _source_pairs(doc, srcs, ppath)
    if asgs:
        tags.append("application security groups")
    order = priority + k / 1_000_000
    rules = []
    if pairs:
        ref = RuleRef(doc.origin(path), text)
        rules.append(Rule(order, outcome, proto, ports, _sources(pairs), ref, why))
    if tags:
        tag_why = f"the addresses of {', '.join(tags)} are not in the export" + (
            f"; {why}" if why else ""
        )
        ref = RuleRef(doc.origin(path), text)
        rules.append(Rule(order, outcome, proto, ports, FULL, ref, tag_why))
        doc.unsupported.append(f"{path}: {', '.join(tags)} (service tag or group, unresolved)")
    return rules


def _placed(
    doc: Doc, placed: dict[tuple[str, int], tuple[str, str]], raw: Any, rpath: str, nsg: str
) -> None:
    """Records a rule's direction and priority; an error if another rule holds them."""
    head = _nsg_head(doc, raw, rpath)
    seen = placed.setdefault((head.direction, head.priority), (head.name, rpath))
    if seen[1] != rpath:
        raise doc.error(
            f"{head.direction} rules {seen[0] or '?'} ({seen[1]}) and {head.name or '?'} "
            f"({rpath}) of {nsg} have the same priority {head.priority}",
            rpath,
            "Azure refuses two rules of one direction at one priority, so which one decides "
            "is unknown; export the NSG again (az network nsg show) or fix the priorities",
        )


def parse_nsgs(doc: Doc, top: Any) -> list[Nsg]:
    docs = [(f"[{i}]", v) for i, v in enumerate(top)] if isinstance(top, list) else [("", top)]
    out = []
    for path, nsg in docs:
        props = doc.get(nsg, "properties", dict, path, None)
        ppath = _join(path, "properties") if props is not None else path
        holder = props if props is not None else nsg
        if not isinstance(holder, dict) or (
            "securityRules" not in holder and "defaultSecurityRules" not in holder
        ):
            raise doc.error("no securityRules", ppath or path)
        name = doc.get(nsg, "name", str, path, "") or f"nsg{path}"
        rules: list[Rule] = []
        allows: list[Allowed] = []
        k = 0
        # Azure refuses two rules of one direction at one priority; reading either first would
        # be a guess, so the export is refused (per NSG: each NSG has its own priorities)
        placed: dict[tuple[str, int], tuple[str, str]] = {}
        for key in ("securityRules", "defaultSecurityRules"):
            for rpath, raw in doc.items(holder, key, ppath):
                k += 1
                _placed(doc, placed, raw, rpath, name)
                made = _nsg_rule(doc, raw, rpath, name, k)
                rules += made
                if key == "securityRules" and (one := _allowed(doc, raw, rpath, made)):
                    allows.append(one)
        if "defaultSecurityRules" not in holder:
            for i, raw in enumerate(_AZURE_DEFAULTS):
                k += 1
                rpath = f"{ppath}.defaultSecurityRules[{i}] (implied)"
                _placed(doc, placed, raw, rpath, name)
                rules += _nsg_rule(doc, raw, rpath, name, k)
        out.append(Nsg(name, path, tuple(rules), tuple(allows)))
    return out


def _allowed(doc: Doc, raw: Any, path: str, made: list[Rule]) -> Allowed | None:
    """The scope of an inbound Allow rule with a name (None for any other rule); empty when
    it lets in none of the service (another port, not the server's destination)."""
    head = _nsg_head(doc, raw, path)
    access = doc.get(head.props, "access", str, head.ppath).lower()
    if head.direction != "inbound" or access != "allow" or not head.name:
        return None
    pairs: list[tuple[int, Interval]] = []
    if made and carries(doc.ctx.service, made[0].protocol, made[0].ports):
        srcs = _strings(doc, head.props, "sourceAddressPrefix", "sourceAddressPrefixes", head.ppath)
        pairs = _source_pairs(doc, srcs, head.ppath)[0]
    return Allowed(head.name, path, tuple(pairs))


def _objects(doc: Doc, nsgs: list[Nsg]) -> Callable[[], tuple[list[Entry], list[str]]]:
    """Each inbound Allow rule as a scope ``NSG/RULE`` (``--scope RULE`` when one NSG has a
    rule of that name), holding the addresses of its sources."""

    def make() -> tuple[list[Entry], list[str]]:
        entries: list[Entry] = []
        names: dict[str, None] = {}
        for nsg in nsgs:
            for rule in nsg.allows:
                group = f"{nsg.name}/{rule.name}"
                names[group] = None
                origin = doc.origin(f"{rule.path} ({group})")
                entries += [Entry(f, lo, hi, origin, group) for f, (lo, hi) in rule.pairs]
        return entries, list(names)

    return make


def _sniff_nsg(data: bytes) -> bool:
    head = _head(data)
    return head[:1] in (b"{", b"[") and (
        b'"securityRules"' in head
        or b'"defaultSecurityRules"' in head
        or b"Microsoft.Network/networkSecurityGroups" in head
    )


class AzureNsgReader(Reader):
    name = "azure-nsg"
    description = "Azure network security group JSON (ARM or az CLI): inbound rules by priority"
    ruleset = True
    provider_sets = {"azure": SERVICE_TAG}  # the azure feed beside an NSG resolves service tags

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _sniff_nsg(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        doc = Doc(ctx, "an Azure network security group export")
        nsgs = parse_nsgs(doc, load_document(data, ctx, "a JSON export"))
        chosen = _choose(ctx.chain)
        if chosen is not None:
            picked = [n for n in nsgs if n.name in chosen]
            if not picked:
                raise ReaderError(
                    f"no network security group {ctx.chain!r} in the export",
                    source=ctx.name,
                    hint="--chain names one: " + ", ".join(n.name for n in nsgs),
                )
            nsgs = picked
        if not nsgs:
            raise ReaderError("no network security group in the export", source=ctx.name)
        named = []
        for nsg in nsgs:
            default = RuleRef(doc.origin(nsg.path or "properties"), f"{nsg.name}: no rule matches")
            named.append((nsg.name, evaluate(nsg.rules, default, ctx.service)))
        verdicts = agree(named, "network security group", "name the server's NSG with --chain")
        return _result(data, ctx, self.name, verdicts, doc, objects=_objects(doc, nsgs))
