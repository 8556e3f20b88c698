"""``firewalld-zone``: a firewalld zone file (firewalld.zone(5), firewalld.richlanguage(5)).
A zone applies to packets from its ``<source>`` addresses, else to packets arriving on its
``<interface>``s (firewalld.zones(5): sources take precedence over interfaces). Within
the zone, in firewalld's order (firewalld.richlanguage(5), "Rule priorities" and the
``pre``/``log``/``deny``/``allow``/``post`` chains): rich rules with a negative priority
(lowest first), then priority-0 rich rules that reject or drop, then priority-0 rich rules
that accept together with the zone's services, ports and protocols, then rich rules with a
positive priority, then the zone target (``default`` and ``%%REJECT%%`` reject, ``DROP``,
``ACCEPT``). A ``<forward-port>`` for the service rewrites the destination before the
filter sees the packet (conditional).

Services are the stock definitions (``smtp`` 25/tcp, ``smtps`` 465/tcp,
``smtp-submission`` 587/tcp, ``ssh``, ``http``, ``https``, ``imap(s)``, ``pop3(s)``,
``dns`` ...; see :data:`FIREWALLD_SERVICES`); any other name makes its rule conditional,
since its ports are in a service file that was not given. Rich rules understand
``family``, ``priority``, ``<source address|ipset|mac [invert]>``, ``<destination
address [invert]>`` (evaluated with ``--to``), ``<service>``, ``<port>``,
``<protocol>``, ``<source-port>`` (conditional), ``<forward-port>``, ``<accept/>``,
``<reject/>``, ``<drop/>`` and ``<limit>`` under the action (conditional); a rule
without an action only logs and decides nothing.

Which connections reach the zone: its sources are certain; the rest of the address space
is decided by another zone (outcome ``return``: not allowed here). A zone bound to
interfaces (or to an ipset/MAC source) applies to addresses only when the connection
arrives that way, which a zone file does not show: those verdicts are conditional. A zone
with neither sources nor interfaces is evaluated as the zone every connection reaches
(the default zone), and a finding says so. ``AllowZoneDrifting`` (firewalld before 1.0)
is not modelled. ``--chain`` other than INPUT is refused: zones filter connections to
this host; forwarding goes through policies.

The XML is parsed with the standard library's expat, which resolves no external entity;
a document type or entity declaration is refused outright (a zone file never needs one,
and refusing it rules out entity expansion), since ``defusedxml`` is not a dependency.
A ``<policy>`` file is refused with an explanation.

The zone is a group (a ``--scope``) named as firewalld names it, by its file's name
(``/etc/firewalld/zones/mail.xml`` is ``mail``): its addresses are those the zone accepts
for the service.

``--service any``: see :mod:`auditor.allowlists.firewalls.hostfw_common`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from auditor import ipspace
from auditor.allowlists import xmltree
from auditor.allowlists.base import ReadContext, Reader, ReaderError
from auditor.allowlists.firewalls.hostfw_common import (
    FAMILIES,
    HostRule,
    Interval,
    Traffic,
    Verdict,
    _destination,
    _full,
    _parse_cidr,
    _result,
    lower,
)
from auditor.allowlists.xmltree import Element
from auditor.model import (
    Entry,
    Finding,
    Origin,
    Outcome,
    RangeSet,
    RuleRef,
    Segment,
    Severity,
    Verdicts,
)
from auditor.ruleset.engine import Refs, evaluate, probes
from auditor.ruleset.sweep import clip, combine, complement, merge

_TCP = "tcp"
_UDP = "udp"


@dataclass(frozen=True)
class FirewalldService:
    traffic: tuple[Traffic, ...]
    destinations: tuple[tuple[int, str], ...] = ()
    """(family, network): the service only reaches these destinations, and only in these
    families (``mdns`` to 224.0.0.251 and ff02::fb)."""


def _svc(*ports: tuple[str, int], dest: tuple[tuple[int, str], ...] = ()) -> FirewalldService:
    return FirewalldService(tuple(Traffic(p, n, n) for p, n in ports), dest)


FIREWALLD_SERVICES: dict[str, FirewalldService] = {
    # the stock service files (/usr/lib/firewalld/services/NAME.xml)
    "smtp": _svc((_TCP, 25)),
    "smtps": _svc((_TCP, 465)),
    "smtp-submission": _svc((_TCP, 587)),
    "ssh": _svc((_TCP, 22)),
    "http": _svc((_TCP, 80)),
    "https": _svc((_TCP, 443)),
    "http3": _svc((_UDP, 443)),
    "imap": _svc((_TCP, 143)),
    "imaps": _svc((_TCP, 993)),
    "pop3": _svc((_TCP, 110)),
    "pop3s": _svc((_TCP, 995)),
    "managesieve": _svc((_TCP, 4190)),
    "dns": _svc((_TCP, 53), (_UDP, 53)),
    "ftp": _svc((_TCP, 21)),
    "tftp": _svc((_UDP, 69)),
    "ntp": _svc((_UDP, 123)),
    "cockpit": _svc((_TCP, 9090)),
    "dhcp": _svc((_UDP, 67)),
    "dhcpv6": _svc((_UDP, 547)),
    "dhcpv6-client": _svc((_UDP, 546), dest=((6, "fe80::/64"),)),
    "mdns": _svc((_UDP, 5353), dest=((4, "224.0.0.251/32"), (6, "ff02::fb/128"))),
    "samba-client": _svc((_UDP, 137), (_UDP, 138)),
}

_TARGETS: dict[str, Outcome] = {
    "default": "drop",
    "%%REJECT%%": "drop",
    "REJECT": "drop",
    "DROP": "drop",
    "ACCEPT": "accept",
}
# Zone elements that decide nothing about a new TCP/UDP connection to this host.
_ZONE_IGNORED = frozenset(
    {"short", "description", "forward", "masquerade", "icmp-block", "icmp-block-inversion",
     "icmp-type", "tcp-mss-clamp"}
)  # fmt: skip
_RICH_ACTIONS: dict[str, Verdict] = {"accept": "accept", "reject": "drop", "drop": "drop"}
_RICH_LOGS = frozenset({"log", "audit", "nflog"})
_TRUE = frozenset({"true", "yes"})


def parse_xml(data: bytes, ctx: ReadContext) -> Element:
    """The element tree with each element's line; document type and entity declarations are
    refused before and while parsing (a zone file has none)."""
    return xmltree.parse(data, ctx, "a firewalld zone file")


def sniff_firewalld(data: bytes) -> bool:
    """A firewalld zone or policy: the root element is ``<zone`` or a ``<policy`` with
    ingress/egress zones."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    head = re.sub(rb"\A<\?xml[^>]*\?>\s*", b"", head)
    head = re.sub(rb"\A(<!--.*?-->\s*)*", b"", head, flags=re.DOTALL)
    if re.match(rb"<zone[\s>/]", head):
        return True
    return bool(re.match(rb"<policy[\s>/]", head)) and b"-zone " in data[:65536]


class _Zone:
    """One zone's rules, per family, in firewalld's evaluation order."""

    def __init__(self, root: Element, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.root = root
        self.findings: list[Finding] = []
        self.unsupported: list[str] = []
        self.refs = Refs()
        self.sources: dict[int, list[Interval]] = {4: [], 6: []}
        self.bindings: list[tuple[int, str]] = []
        """(line, what): interfaces, ipset and MAC sources (conditional bindings)."""
        self.rules: list[HostRule] = []
        self.pending: list[tuple[tuple[int, int, int], HostRule]] = []

    def error(self, node: Element, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=node.line, hint=hint)

    def ref(self, node: Element, text: str | None = None) -> RuleRef:
        return RuleRef(Origin(self.ctx.name, node.line), text or _show(node))

    def add(
        self,
        key: tuple[int, int, int],
        node: Element,
        families: Iterable[int],
        sources: dict[int, tuple[Interval, ...]] | None,
        traffic: tuple[Traffic, ...] | None,
        outcome: Verdict,
        whys: tuple[str, ...] = (),
        unsure: str = "",
        destinations: dict[int, tuple[Interval, ...]] | None = None,
        ref: RuleRef | None = None,
        narrow: tuple[str, ...] = (),
    ) -> None:
        ref = ref or self.ref(node)
        for fam in families:
            rule_whys = whys
            if destinations is not None:
                if fam not in destinations:
                    continue
                cond = _destination(self.ctx, fam, destinations[fam])
                if cond is None:
                    continue
                if cond:
                    rule_whys = (*whys, cond)
            src = sources[fam] if sources is not None else _full(fam)
            rule = HostRule(fam, src, traffic, outcome, ref, rule_whys, narrow, unsure)
            self.pending.append((key, rule))

    def parse(self) -> None:
        target = self.root.attrib.get("target", "default")
        if target not in _TARGETS:
            raise self.error(
                self.root,
                f"unknown zone target {target!r}",
                hint="firewalld knows default, ACCEPT, %%REJECT%% and DROP",
            )
        for pos, node in enumerate(self.root.children):
            tag = node.tag
            if tag in _ZONE_IGNORED:
                continue
            if tag == "interface":
                self.bindings.append((node.line, f"arriving on {self.need(node, 'name')}"))
            elif tag == "source":
                self.zone_source(node)
            elif tag in ("service", "port", "protocol", "source-port"):
                self.element(node, (2, 0, pos), None, FAMILIES, "accept", ())
            elif tag == "forward-port":
                self.element(node, (-1, 0, pos), None, FAMILIES, "accept", ())
            elif tag == "rule":
                self.rich(node, pos)
            else:
                self.unsupported.append(f"{self.ctx.name}:{node.line}: <{tag}> is not evaluated")
        self.pending.sort(key=lambda item: item[0])
        self.rules = [r for _, r in self.pending]

    def need(self, node: Element, name: str) -> str:
        value = node.attrib.get(name)
        if not value:
            raise self.error(node, f"<{node.tag}> needs a {name!r} attribute")
        return value

    def addresses(self, node: Element, text: str) -> ipspace.Parsed:
        return _parse_cidr(text, self.ctx, node.line, self.findings)

    def zone_source(self, node: Element) -> None:
        if "address" in node.attrib:
            parsed = self.addresses(node, node.attrib["address"])
            self.sources[parsed.family].append((parsed.first, parsed.last))
        elif "ipset" in node.attrib:
            self.bindings.append((node.line, f"from ipset {node.attrib['ipset']}"))
        elif "mac" in node.attrib:
            self.bindings.append((node.line, f"from MAC address {node.attrib['mac']}"))
        else:
            raise self.error(node, "<source> needs an address, ipset or mac attribute")

    def element(
        self,
        node: Element,
        key: tuple[int, int, int],
        sources: dict[int, tuple[Interval, ...]] | None,
        families: Iterable[int],
        outcome: Verdict,
        whys: tuple[str, ...],
        ref: RuleRef | None = None,
        destinations: dict[int, tuple[Interval, ...]] | None = None,
        unsure: str = "",
    ) -> None:
        """A service, port, protocol, source-port or forward-port, in the zone or in a rich
        rule (with that rule's sources, destination, action and conditions). Each matches only
        some connections (see :mod:`auditor.allowlists.firewalls.hostfw_common` for
        ``--service any``)."""
        tag = node.tag
        reasons = list(whys)
        narrow: list[str] = []  # which connections it matches: --service any does without
        traffic: tuple[Traffic, ...] | None
        if tag == "service":
            name = self.need(node, "name")
            service = FIREWALLD_SERVICES.get(name)
            if service is None:
                traffic = None
                narrow.append(
                    f"service {name!r}: its ports are in its service file, which was not given"
                )
            else:
                traffic = service.traffic
                if service.destinations:
                    dests: dict[int, tuple[Interval, ...]] = {}
                    for fam, net in service.destinations:
                        p = ipspace.parse(net)
                        dests[fam] = ((p.first, p.last),)
                    if destinations is not None:
                        reasons.append("the destination address")
                    destinations = dests
        elif tag in ("port", "source-port", "forward-port"):
            traffic = _fw_ports(self, node)
            if tag == "source-port":
                narrow.append("the client's source port")
            elif tag == "forward-port":
                unsure = "the destination is rewritten (forward-port)"
                key = (-1, key[1], key[2])
        elif tag == "protocol":
            value = self.need(node, "value").lower()
            traffic = (Traffic(value, 0, 65535),)
        else:
            raise self.error(node, f"<{tag}> is not an element firewalld knows here")
        self.add(
            key,
            node,
            families,
            sources,
            traffic,
            outcome,
            tuple(reasons),
            unsure,
            destinations,
            ref,
            tuple(narrow),
        )

    def rich(self, node: Element, pos: int) -> None:
        family_attr = node.attrib.get("family")
        if family_attr not in (None, "ipv4", "ipv6"):
            raise self.error(node, f"unknown rich rule family {family_attr!r}")
        try:
            priority = int(node.attrib.get("priority", "0"))
        except ValueError:
            raise self.error(
                node, f"the priority {node.attrib['priority']!r} is not a number"
            ) from None
        families = {4, 6} if family_attr is None else {4 if family_attr == "ipv4" else 6}
        sources: dict[int, tuple[Interval, ...]] | None = None
        destinations: dict[int, tuple[Interval, ...]] | None = None
        why: list[str] = []
        element: Element | None = None
        action: Element | None = None
        for child in node.children:
            tag = child.tag
            if tag in ("source", "destination"):
                inverted = child.attrib.get("invert", "").lower() in _TRUE
                if "address" in child.attrib:
                    parsed = self.addresses(child, child.attrib["address"])
                    if parsed.family not in families:
                        raise self.error(
                            child,
                            f"an IPv{parsed.family} address in a rule for IPv{families.pop()} only",
                        )
                    families = {parsed.family}
                    own = [(parsed.first, parsed.last)]
                    bits = ipspace.BITS[parsed.family]
                    picked = tuple(complement(own, bits) if inverted else own)
                    if tag == "source":
                        sources = {parsed.family: picked}
                    else:
                        destinations = {parsed.family: picked}
                elif "ipset" in child.attrib or "mac" in child.attrib:
                    kind = "ipset" if "ipset" in child.attrib else "mac"
                    side = "client" if tag == "source" else "destination"
                    why.append(
                        f"the {side} {'not ' if inverted else ''}in {kind} {child.attrib[kind]}"
                    )
                else:
                    raise self.error(child, f"<{tag}> needs an address, ipset or mac attribute")
            elif tag in ("service", "port", "protocol", "source-port", "forward-port"):
                element = child
            elif tag in ("icmp-block", "icmp-type", "masquerade", "tcp-mss-clamp"):
                return  # never decides a TCP/UDP connection to this host
            elif tag in _RICH_LOGS:
                continue
            elif tag in _RICH_ACTIONS or tag == "mark":
                action = child
            else:
                self.unsupported.append(
                    f"{self.ctx.name}:{child.line}: <{tag}> in a rich rule is not evaluated"
                )
                return
        ref = self.ref(node)
        order = sorted(families)
        if element is not None and element.tag == "forward-port":
            key = (-1, priority, pos)
            self.element(element, key, sources, order, "accept", tuple(why), ref, destinations)
            return
        if action is None or action.tag == "mark":
            return  # logs or marks only: the packet goes on to the next rule
        outcome = _RICH_ACTIONS[action.tag]
        limited = any(c.tag == "limit" for c in action.children)
        unsure = f"a rate limit ({_limit(action)})" if limited else ""
        if priority < 0:
            bucket = 0
        elif priority > 0:
            bucket = 3
        else:
            bucket = 1 if outcome == "drop" else 2
        key = (bucket, priority, pos)
        whys = tuple(why)
        if element is None:
            self.add(key, node, order, sources, None, outcome, whys, unsure, destinations, ref)
        else:
            self.element(element, key, sources, order, outcome, whys, ref, destinations, unsure)

    def verdicts(self) -> list[Verdicts]:
        target = self.root.attrib.get("target", "default")
        default_ref = RuleRef(Origin(self.ctx.name, self.root.line), f'zone target="{target}"')
        default: tuple[Outcome, RuleRef] = (_TARGETS[target], default_ref)
        has_sources = any(self.sources.values())
        if not has_sources and not self.bindings:
            self.findings.append(
                Finding(
                    "zone-assumed-default",
                    Severity.WARNING,
                    "the zone lists no source and no interface: evaluated as the zone every"
                    " connection reaches (DefaultZone in firewalld.conf); if it is not the"
                    " default zone, it decides nothing here",
                    Origin(self.ctx.name, self.root.line),
                )
            )
            return [evaluate(lower(self.rules, f, default), self.ctx.service) for f in FAMILIES]
        out: list[Verdicts] = []
        for fam in FAMILIES:
            rs = lower(self.rules, fam, default)
            per_probe = [
                self.reached(fam, evaluate(rs, self.ctx.service, [probe]).segments)
                for probe in probes(self.ctx.service, [rs])
            ]
            out.append(Verdicts(fam, tuple(combine(per_probe, ipspace.BITS[fam]))))
        return out

    def reached(self, family: int, segs: Sequence[Segment]) -> list[Segment]:
        """The zone's verdicts for the connections that reach it: its sources surely; the rest
        only when the connection arrives on a bound interface (or from a bound ipset or MAC
        address), which the file does not show (conditional), else another zone decides."""
        binding_why = "the zone applies only to connections " + ", or ".join(
            what for _, what in self.bindings
        )
        inside = merge(self.sources[family])
        kept = clip(segs, inside)
        rest_iv = complement(inside, ipspace.BITS[family]) if inside else list(_full(family))
        if self.bindings:
            rest = [
                Segment(s.first, s.last, "conditional", self.refs.why(s.rule, binding_why))
                for s in clip(segs, rest_iv)
            ]
        else:
            outside = RuleRef(
                Origin(self.ctx.name, self.root.line),
                "not a source of this zone: another zone decides",
            )
            rest = [Segment(a, b, "return", outside) for a, b in rest_iv]
        return sorted(kept + rest, key=lambda s: s.first)


ZONE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,16}")
"""A zone's name: at most 17 characters [firewalld, io/zone.py], not starting with ``-``."""


def zone_name(source: str) -> str | None:
    """The zone a file holds, by the file's name, as firewalld names it (None: no zone
    name, as for standard input)."""
    stem = PurePosixPath(PureWindowsPath(source).name).stem
    return stem if ZONE_NAME.fullmatch(stem) else None


def _zone_scope(
    source: str, name: str, verdicts: Sequence[Verdicts]
) -> tuple[list[Entry], list[str]]:
    """The zone as a scope: the addresses it accepts, each with the rule that does."""
    entries = [
        Entry(v.family, s.first, s.last, Origin(source, s.rule.origin.line, s.rule.text), name)
        for v in verdicts
        for s in v.segments
        if s.outcome == "accept"
    ]
    return entries, [name]


def _fw_ports(zone: _Zone, node: Element) -> tuple[Traffic, ...]:
    port = zone.need(node, "port")
    protocol = zone.need(node, "protocol").lower()
    m = re.fullmatch(r"([0-9]{1,5})(?:-([0-9]{1,5}))?", port)
    if m is None:
        raise zone.error(node, f"cannot read the port {port!r}", hint="a number, or low-high")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 0 <= lo <= hi <= 65535:
        raise zone.error(node, f"the port range {port!r} is not valid")
    return (Traffic(protocol, lo, hi),)


def _limit(action: Element) -> str:
    return ", ".join(c.attrib.get("value", "?") for c in action.children if c.tag == "limit")


def _show(node: Element) -> str:
    """The element as one line of XML, for the rule text (attribute values as parsed)."""
    attrs = "".join(f' {k}="{v}"' for k, v in node.attrib.items())
    if not node.children:
        return f"<{node.tag}{attrs}/>"
    inner = "".join(_show(c) for c in node.children)
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"


class FirewalldZoneReader(Reader):
    name = "firewalld-zone"
    description = "firewalld zone XML: sources, services, ports and rich rules in firewalld's order"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_firewalld(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        if (ctx.chain or "INPUT") != "INPUT":
            raise ReaderError(
                f"a firewalld zone filters connections to this host, not the {ctx.chain} chain",
                source=ctx.name,
                hint="use --chain INPUT; forwarding goes through firewalld policies",
            )
        root = parse_xml(data, ctx)
        if root.tag == "policy":
            raise ReaderError(
                "this is a firewalld policy, not a zone: policies filter traffic between"
                " zones, which is not evaluated",
                source=ctx.name,
                line=root.line,
                hint="give the zone file (/etc/firewalld/zones/NAME.xml) of the zone"
                " connections to this host reach",
            )
        if root.tag != "zone":
            raise ReaderError(
                f"the root element is <{root.tag}>, not <zone>",
                source=ctx.name,
                line=root.line,
                hint="give a firewalld zone file (/etc/firewalld/zones/NAME.xml)",
            )
        zone = _Zone(root, ctx)
        zone.parse()
        per_family = zone.verdicts()
        name = zone_name(ctx.name)
        objects = None
        if name is not None:
            scope = name

            def objects() -> tuple[list[Entry], list[str]]:
                return _zone_scope(ctx.name, scope, per_family)

        return _result(data, ctx, self.name, per_family, zone.findings, zone.unsupported, objects)
