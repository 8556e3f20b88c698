"""Cloud firewalls exported as JSON: AWS security groups and network ACLs, Azure network security
groups and Google Cloud VPC firewall rules, evaluated for a new inbound connection to the
service (``--service``, default tcp/25) like the other rulesets (:mod:`.firewall`).

``aws-security-group`` (``aws ec2 describe-security-groups``)
    Security groups only allow, and they are stateful: a connection is let in when any inbound
    permission (``IpPermissions``) of any of the instance's groups covers it; everything else
    is denied [AWS VPC User Guide, "Security group rules": "you can specify allow rules, but
    not deny rules"; "When you associate multiple security groups with a resource, the rules
    from each security group are aggregated"]. A permission covers the service when its
    ``IpProtocol`` is the service's (``tcp``/``6``, ``udp``/``17``) or ``-1`` (every protocol
    and port) and ``FromPort``..``ToPort`` holds every port asked for; another protocol number
    (not tcp, udp, icmp, icmpv6) opens every port of that protocol only.
    Sources: ``IpRanges[].CidrIp``, ``Ipv6Ranges[].CidrIpv6``, ``PrefixListIds[].PrefixListId``
    (resolved from a prefix-list export given alongside with ``--declared``, see
    ``aws-prefix-list``; otherwise conditional) and ``UserIdGroupPairs`` (the private addresses
    of the instances in another group, which the export does not show: conditional, over the
    whole address space, since any address might belong to such an instance).
    A file with several groups is read as the groups of one instance: the verdict is their
    union. ``--chain sg-1,sg-2`` (ids or names) restricts it to the instance's groups. Each
    group is also a group of the source (by ``GroupId``) holding what that group alone allows,
    for ``--scope``.

``aws-network-acl`` (``aws ec2 describe-network-acls``)
    Inbound entries (``Egress: false``) in ascending ``RuleNumber``; the first entry that
    matches decides ``allow`` or ``deny``, and rule ``*`` (32767) denies the rest
    [AWS VPC User Guide, "Network ACL rules": "Rules are evaluated starting with the lowest
    numbered rule. As soon as a rule matches traffic, it's applied"]. ``Protocol`` ``-1``
    (all), ``6`` (tcp), ``17`` (udp), another number; ``PortRange`` ``From``..``To``;
    ``CidrBlock`` / ``Ipv6CidrBlock``. NACLs are stateless; only the inbound side of the
    connection's first packet is judged here (the replies need an outbound rule for the
    ephemeral ports). A subnet has exactly one ACL, and the export does not say which subnet
    the server is in: with several ACLs each is evaluated and an address is decided only
    where they all agree (conditional elsewhere), unless ``--chain`` names an ACL id or a
    subnet id from its ``Associations``.

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

``gcp-firewall`` (``gcloud compute firewall-rules list --format=json``)
    Ingress rules (``direction`` ``INGRESS``, the default) by ascending ``priority`` (1000
    when absent); at equal priority a deny rule wins over an allow rule; ``disabled`` rules
    are ignored; an implied rule denies all ingress at priority 65535 [Google Cloud, "VPC
    firewall rules": "Priority", "Implied rules", "Rule action"; "a deny rule overrides an
    allow rule at the same priority"]. ``allowed``/``denied`` entries give ``IPProtocol``
    (``tcp``, ``udp``, ``all`` or a number) and ``ports`` (``"25"``, ``"20-30"``; none: every
    port). Sources are ``sourceRanges`` *or* ``sourceTags``/``sourceServiceAccounts``: an
    address in the ranges matches, the tags and service accounts name instances the export
    does not resolve (conditional); without any source the rule applies to 0.0.0.0/0.
    ``targetTags``/``targetServiceAccounts`` make the whole rule conditional (the export does
    not say which instances carry them); ``destinationRanges`` are checked against ``--to``,
    else conditional.

``aws-prefix-list`` (``aws ec2 describe-prefix-lists``)
    ``{"PrefixLists": [{"PrefixListId", "PrefixListName", "Cidrs": [...]}]}``; an entry may
    carry ``Entries: [{"Cidr": ...}]`` (the output of ``get-managed-prefix-list-entries``
    placed under its list) instead of ``Cidrs``. Given with ``--declared`` next to security
    groups it resolves their ``PrefixListIds`` (see ``SourceLoader.companions``); read on its
    own it is a list, one group per prefix list.

For every reader, the service ``any`` asks whether an address may open every connection: an
allow counts when it covers every protocol and port, a deny of anything counts. Rule origins
are the JSON path of the rule (``SecurityGroups[0].IpPermissions[1].IpRanges[0]``) with the
rule written out; the JSON must not repeat a key or hold NaN/Infinity, and a number out of
range (a port, a priority, a rule number) is an error naming its path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from auditor import ipspace
from auditor.allowlists.base import (
    Collector,
    ReadContext,
    Reader,
    ReaderError,
    address_findings,
    decode_text,
)
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Verdicts,
    client_ports,
    clip,
    combine,
    complement,
    fill_gaps,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.allowlists.json_list import load_strict
from auditor.errors import AddressError
from auditor.jsonutil import LongNumber
from auditor.model import Entries, Entry, Finding, Origin, RangeSet, Severity, SourceInfo
from auditor.service import Service
from auditor.sources.base import json_type, looks_like_html

Interval = tuple[int, int]
Sources = Mapping[int, Sequence[Interval]]
FULL: dict[int, tuple[Interval, ...]] = {4: ((0, ipspace.MAX[4]),), 6: ((0, ipspace.MAX[6]),)}
NOWHERE: dict[int, tuple[Interval, ...]] = {4: (), 6: ()}
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
# Chain names that mean "nothing chosen" (the CLI's default is INPUT).
_NO_CHOICE = (None, "INPUT")


# --- the rules every cloud reader produces -----------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One protocol and port to evaluate; ``any`` (port None) stands for every connection."""

    protocol: str
    port: int | None


@dataclass(frozen=True)
class Rule:
    """A rule as the cloud evaluates it: a rank, allow or deny, what it matches."""

    order: float
    outcome: Outcome
    """``accept`` or ``drop``."""
    protocol: str
    """``all``, ``tcp``, ``udp`` or another name/number (which never carries the service)."""
    ports: tuple[Interval, ...] | None
    """Destination ports; None: every port."""
    sources: Sources
    ref: RuleRef
    """A non-empty ``ref.why``: the rule may or may not apply (a tag, a group)."""
    group: str | None = None

    def applies(self, probe: Probe) -> bool:
        if probe.protocol == "any":
            return self.outcome == "drop" or (self.protocol == "all" and self.ports is None)
        if self.protocol not in ("all", probe.protocol):
            return False
        port = probe.port or 0
        return self.ports is None or any(a <= port <= b for a, b in self.ports)


def probes(service: Service | None, rules: Sequence[Rule]) -> list[Probe]:
    """One probe per port class of the service: a range is probed at its start and wherever
    a rule's port range starts or ends inside it."""
    if service is None:
        return [Probe("tcp", 25)]
    if service.protocol == "any":
        return [Probe("any", None)]
    bounds = {p for r in rules if r.ports for a, b in r.ports for p in (a, b + 1)}
    out: list[Probe] = []
    for a, b in service.ports:
        points = {a} | {p for p in bounds if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(points))
    return out


def _push(out: list[Segment], seg: Segment) -> None:
    if out and out[-1].last == seg.first - 1:
        last = out[-1]
        if last.outcome == seg.outcome and last.rule == seg.rule:
            out[-1] = Segment(last.first, seg.last, seg.outcome, seg.rule)
            return
    out.append(seg)


def _overlay(layers: Sequence[Sequence[Segment]]) -> Iterator[tuple[int, int, list[Segment]]]:
    """Pieces of the address space with the segment of every layer (each covers it all)."""
    idx = [0] * len(layers)
    pos = 0
    top = layers[0][-1].last
    while pos <= top:
        segs = [layer[i] for layer, i in zip(layers, idx, strict=True)]
        end = min(s.last for s in segs)
        yield pos, end, segs
        for k, s in enumerate(segs):
            if s.last == end:
                idx[k] += 1
        pos = end + 1


def first_match(rules: Sequence[Rule], family: int, default: RuleRef) -> list[Segment]:
    """First match over rules of which some may not apply. An address is decided when every
    way the uncertain rules could go ends in the same outcome; otherwise it is conditional,
    named by an uncertain rule that would change it."""
    bits = ipspace.BITS[family]

    live = [r for r in rules if r.sources.get(family)]
    definite = [Claim(r.order, r.sources[family], r.outcome, r.ref) for r in live if not r.ref.why]
    base = fill_gaps(first_claims(definite), bits, "drop", default)
    layers: list[tuple[Outcome, list[Segment]]] = []
    maybes: tuple[Outcome, ...] = ("accept", "drop")
    for maybe in maybes:
        cond = [
            Claim(r.order, r.sources[family], "conditional", r.ref)
            for r in live
            if r.ref.why and r.outcome == maybe
        ]
        if cond:
            layers.append((maybe, fill_gaps(first_claims(definite + cond), bits, "drop", default)))
    if not layers:
        return base
    out: list[Segment] = []
    for first, last, segs in _overlay([base] + [segs for _, segs in layers]):
        decided = segs[0]
        seg = Segment(first, last, decided.outcome, decided.rule)
        for (maybe, _), s in zip(layers, segs[1:], strict=True):
            if s.outcome == "conditional" and maybe != decided.outcome:
                seg = Segment(first, last, "conditional", s.rule)
                break
        _push(out, seg)
    return out


def evaluate(rules: Sequence[Rule], default: RuleRef, service: Service | None) -> list[Verdicts]:
    """Verdicts per family for the service: every port probed, accepted only where all accept."""
    points = probes(service, rules)
    out = []
    for fam in (4, 6):
        per_probe = [first_match([r for r in rules if r.applies(p)], fam, default) for p in points]
        out.append(Verdicts(fam, tuple(combine(per_probe, ipspace.BITS[fam]))))
    return out


def agree(
    named: Sequence[tuple[str, Sequence[Verdicts]]], what: str, choose: str
) -> list[Verdicts]:
    """Several alternatives (one of them applies, the export does not say which): an address
    is decided where they all decide alike, conditional elsewhere."""
    if len(named) == 1:
        return list(named[0][1])
    out = []
    refs: dict[tuple[RuleRef, ...], RuleRef] = {}
    for k, fam in enumerate((4, 6)):
        layers = [list(verdicts[k].segments) for _, verdicts in named]
        segs_out: list[Segment] = []
        for first, last, segs in _overlay(layers):
            if all(s.outcome == segs[0].outcome for s in segs):
                _push(segs_out, Segment(first, last, segs[0].outcome, segs[0].rule))
                continue
            key = tuple(s.rule for s in segs)
            ref = refs.get(key)
            if ref is None:
                said = "; ".join(
                    f"{name}: {s.outcome} ({s.rule.text})"
                    for (name, _), s in zip(named, segs, strict=True)
                )
                why = f"the {what}s disagree ({said}); {choose}"
                ref = RuleRef(segs[0].rule.origin, segs[0].rule.text, why)
                refs[key] = ref
            _push(segs_out, Segment(first, last, "conditional", ref))
        out.append(Verdicts(fam, tuple(segs_out)))
    return out


# --- JSON helpers ------------------------------------------------------------------------------


def load_document(data: bytes, ctx: ReadContext, what: str) -> Any:
    """The export as JSON; an HTML page, duplicate keys, NaN and Infinity are errors."""
    if looks_like_html(data):
        from auditor.sources.foreign import recognise

        found = recognise(data)  # an HTML page, or which XML document
        shown = found.what if found is not None else "an HTML or XML document"
        raise ReaderError(
            f"this is {shown}, not {what}",
            source=ctx.name,
            hint="save the JSON the CLI or the API prints",
        )
    # an integer too long to read stays in place, for Doc to name its path
    return load_strict(decode_text(data, ctx), ctx.name, long_numbers=True)


_MISSING: Any = object()


SERVICE_TAG = "azure-service-tag:"
"""Key prefix in ReadContext.sets for service tags resolved from the Azure feed."""


class Doc:
    """Typed access to a JSON export: every wrong type is an error naming its path."""

    def __init__(self, ctx: ReadContext, what: str) -> None:
        self.ctx = ctx
        self.what = what
        self.findings: list[Finding] = []
        self.unsupported: list[str] = []

    def error(self, message: str, path: str, hint: str | None = None) -> ReaderError:
        where = f"{path}: " if path else ""
        return ReaderError(
            f"{where}{message}",
            source=self.ctx.name,
            hint=hint or f"this does not look like {self.what}",
        )

    def get(
        self, obj: Any, key: str, kind: type | tuple[type, ...], path: str, default: Any = _MISSING
    ) -> Any:
        if not isinstance(obj, dict):
            raise self.error(f"is {json_type(obj)}, expected an object", path)
        where = f"{path}.{key}" if path else key
        if key not in obj or obj[key] is None:
            if default is _MISSING:
                raise self.error(f"missing key {key!r}", path)
            return default
        value = obj[key]
        if isinstance(value, LongNumber):
            raise self.error(
                f"{value} is out of range",
                where,
                "fix this value in the export: ports are 0-65535, priorities and rule numbers "
                "at most 65535",
            )
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(json_type(k()) for k in kinds)
            raise self.error(f"is {json_type(value)}, expected {names}", where)
        return value

    def items(self, obj: Any, key: str, path: str) -> list[tuple[str, Any]]:
        """The elements of an optional array with their paths."""
        values = self.get(obj, key, list, path, [])
        base = f"{path}.{key}" if path else key
        return [(f"{base}[{i}]", v) for i, v in enumerate(values)]

    def origin(self, path: str) -> Origin:
        return Origin(self.ctx.name, None, path)

    def cidr(self, text: Any, path: str) -> tuple[int, Interval]:
        """One address or network (never a range)."""
        if not isinstance(text, str):
            raise self.error(f"is {json_type(text)}, expected an address or network", path)
        try:
            if "-" in text:
                raise AddressError(f"{_shown(text)} is a range, not an address or network")
            parsed = ipspace.parse(text, self.ctx.host_bits)
        except AddressError as e:
            raise self.error(e.message, path, e.hint) from None
        self.findings.extend(address_findings(text, parsed, self.origin(path)))
        return parsed.family, (parsed.first, parsed.last)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _sources(pairs: Sequence[tuple[int, Interval]]) -> dict[int, tuple[Interval, ...]]:
    return {fam: tuple(merge([iv for f, iv in pairs if f == fam])) for fam in (4, 6)}


def _ports_text(ports: tuple[Interval, ...] | None) -> str:
    if ports is None:
        return "all ports"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ports)


def _shown(value: Any) -> str:
    """A value from the export as written, cut short for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number_text(value: int) -> str:
    """An integer as written, or its length when it is too long to show."""
    text = str(value) if abs(value) < 10**30 else ""
    return text or f"of {len(str(abs(value)))} digits"


def _port_range(doc: Doc, text: Any, path: str) -> Interval:
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,5}(-[0-9]{1,5})?", text):
        raise doc.error(f"{_shown(text)} is not a port or port range", path)
    lo_s, _, hi_s = text.partition("-")
    lo, hi = int(lo_s), int(hi_s or lo_s)
    if not 0 <= lo <= hi <= 65535:
        raise doc.error(f"{_shown(text)} is not a port range of 0-65535", path)
    return lo, hi


def _result(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    verdicts: Sequence[Verdicts],
    doc: Doc,
    groups: Mapping[str, Sequence[Verdicts]] | None = None,
) -> RangeSet:
    """The RangeSet of a ruleset; with ``groups``, each group's own accepted addresses are
    entries of that group, and what only their union accepts is without a group."""
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    rs = verdicts_rangeset(FirewallResult(info, list(verdicts), doc.findings, doc.unsupported))

    def entry(fam: int, seg: Segment, group: str | None) -> Entry:
        path = f"{seg.rule.origin.path}: {seg.rule.text}"
        return Entry(fam, seg.first, seg.last, Origin(ctx.name, None, path), group)

    entries: list[Entry] = []
    for k, v in enumerate(verdicts):
        covered: list[Interval] = []
        for group, own in (groups or {}).items():
            for seg in own[k].of("accept"):
                entries.append(entry(v.family, seg, group))
                covered.append((seg.first, seg.last))
        rest = complement(merge(covered), ipspace.BITS[v.family])
        entries.extend(entry(v.family, s, None) for s in clip(v.of("accept"), rest))
    return replace(rs, entries=Entries.from_entries(ctx.name, entries, tuple(groups or ())))


def _choose(chain: str | None) -> list[str] | None:
    if chain in _NO_CHOICE or chain is None:
        return None
    return [c.strip() for c in chain.split(",") if c.strip()]


def _head(data: bytes) -> bytes:
    return data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")


# --- AWS security groups -----------------------------------------------------------------------


def _aws_protocol(
    doc: Doc, perm: dict[str, Any], path: str
) -> tuple[str, tuple[Interval, ...] | None]:
    """(protocol, ports) of an IpPermission. FromPort..ToPort are destination ports: an
    inbound permission has no source-port match [EC2 API Reference, IpPermission: "FromPort:
    If the protocol is TCP or UDP, this is the start of the port range"; the VPC User Guide's
    "Security group rules" lists protocol, port range and source only]."""
    proto = doc.get(perm, "IpProtocol", str, path).lower()
    proto = _PROTOCOL_NUMBERS.get(proto, proto)
    if proto in ("-1", "all"):
        return "all", None
    if proto not in ("tcp", "udp"):
        return proto, None
    lo = doc.get(perm, "FromPort", int, path, None)
    hi = doc.get(perm, "ToPort", int, path, None)
    if lo is None or hi is None or (lo == -1 and hi == -1):
        return proto, None
    if not 0 <= lo <= hi <= 65535:
        return proto, ()
    return proto, ((lo, hi),)


@dataclass(frozen=True)
class SecurityGroup:
    gid: str
    name: str
    rules: tuple[Rule, ...]


def parse_security_groups(doc: Doc, top: Any, sets: Mapping[str, Any]) -> list[SecurityGroup]:
    groups_json = doc.get(top, "SecurityGroups", list, "")
    out = []
    order = 0
    for gpath, group in [(f"SecurityGroups[{i}]", g) for i, g in enumerate(groups_json)]:
        gid = doc.get(group, "GroupId", str, gpath)
        gname = doc.get(group, "GroupName", str, gpath, "")
        label = f"{gid} ({gname})" if gname else gid
        rules: list[Rule] = []
        for ppath, perm in doc.items(group, "IpPermissions", gpath):
            proto, ports = _aws_protocol(doc, perm, ppath)
            if ports == ():
                # EC2 refuses such a permission, so no group holds it; Postfix-like, the
                # permission is skipped and reported rather than the whole export refused
                lo, hi = (_number_text(perm[k]) for k in ("FromPort", "ToPort"))
                doc.findings.append(
                    Finding(
                        "skipped-rule",
                        Severity.WARNING,
                        f"FromPort {lo} .. ToPort {hi} is not a port range: permission skipped",
                        doc.origin(ppath),
                    )
                )
                continue
            shown = f"{proto} {_ports_text(ports)}" if proto != "all" else "all traffic"
            # (path, the source as written, its addresses, the item, why it is uncertain)
            found: list[tuple[str, str, Sources, Any, str]] = []
            for key, field in (("IpRanges", "CidrIp"), ("Ipv6Ranges", "CidrIpv6")):
                for rpath, item in doc.items(perm, key, ppath):
                    cidr = doc.get(item, field, str, rpath)
                    fam, iv = doc.cidr(cidr, f"{rpath}.{field}")
                    found.append((rpath, cidr, _sources([(fam, iv)]), item, ""))
            for rpath, item in doc.items(perm, "PrefixListIds", ppath):
                pl = doc.get(item, "PrefixListId", str, rpath)
                members = sets.get(pl)
                if members is None:
                    why = f"prefix list {pl} was not given (add its describe-prefix-lists export)"
                    doc.unsupported.append(f"{rpath}: {why}")
                    found.append((rpath, pl, FULL, item, why))
                else:
                    pairs = [(f, (a, b)) for f, a, b in members]
                    found.append((rpath, pl, _sources(pairs), item, ""))
            for rpath, item in doc.items(perm, "UserIdGroupPairs", ppath):
                other = doc.get(item, "GroupId", str, rpath, "") or doc.get(
                    item, "GroupName", str, rpath, "another group"
                )
                why = f"the instances in security group {other} are not in the export"
                doc.unsupported.append(f"{rpath}: source group {other} (instances unknown)")
                found.append((rpath, other, FULL, item, why))
            for rpath, src, sources, item, why in found:
                order += 1
                desc = doc.get(item, "Description", str, rpath, "")
                text = f"{label} {shown} from {src}" + (f" {desc!r}" if desc else "")
                ref = RuleRef(doc.origin(rpath), text, why)
                rules.append(Rule(order, "accept", proto, ports, sources, ref, gid))
        out.append(SecurityGroup(gid, gname, tuple(rules)))
    return out


def _sg_default(ctx: ReadContext) -> RuleRef:
    return RuleRef(
        Origin(ctx.name, None, "SecurityGroups"),
        "no inbound permission (security groups deny what no rule allows)",
    )


class AwsSecurityGroupReader(Reader):
    name = "aws-security-group"
    description = "AWS EC2 describe-security-groups JSON: the union of the groups' inbound rules"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = _head(data)
        return head.startswith(b"{") and b'"SecurityGroups"' in head and b'"GroupId"' in head

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        doc = Doc(ctx, "an aws ec2 describe-security-groups export")
        groups = parse_security_groups(doc, load_document(data, ctx, "a JSON export"), ctx.sets)
        chosen = _choose(ctx.chain)
        if chosen is not None:
            known = {g.gid for g in groups} | {g.name for g in groups}
            unknown = [c for c in chosen if c not in known]
            if unknown:
                raise ReaderError(
                    f"no security group {unknown[0]!r} in the export",
                    source=ctx.name,
                    hint="--chain names the instance's groups by id or name: "
                    + ", ".join(g.gid for g in groups),
                )
            groups = [g for g in groups if g.gid in chosen or g.name in chosen]
        if not groups:
            raise ReaderError("no security group in the export", source=ctx.name)
        default = _sg_default(ctx)
        rules = [r for g in groups for r in g.rules]
        verdicts = evaluate(rules, default, ctx.service)
        own = {g.gid: evaluate(g.rules, default, ctx.service) for g in groups}
        return _result(data, ctx, self.name, verdicts, doc, own)


# --- AWS prefix lists --------------------------------------------------------------------------


def prefix_lists(data: bytes, name: str) -> dict[str, list[tuple[int, int, int]]]:
    """The members of every prefix list of a describe-prefix-lists export, by id."""
    ctx = ReadContext(name, "declared")
    doc = Doc(ctx, "an aws ec2 describe-prefix-lists export")
    top = load_document(data, ctx, "a JSON export")
    out: dict[str, list[tuple[int, int, int]]] = {}
    for path, pl in doc.items(top, "PrefixLists", ""):
        pid = doc.get(pl, "PrefixListId", str, path)
        members = out.setdefault(pid, [])
        cidrs = [(f"{p}", c) for p, c in doc.items(pl, "Cidrs", path)]
        cidrs += [
            (f"{p}.Cidr", doc.get(e, "Cidr", str, p)) for p, e in doc.items(pl, "Entries", path)
        ]
        for cpath, cidr in cidrs:
            fam, (a, b) = doc.cidr(cidr, cpath)
            members.append((fam, a, b))
    if not out:
        raise doc.error("no prefix list", "PrefixLists")
    return out


class AwsPrefixListReader(Reader):
    name = "aws-prefix-list"
    description = "AWS EC2 describe-prefix-lists JSON (resolves security groups' PrefixListIds)"
    provides = "sets"  # keyed by their pl- id, they resolve aws-security-group PrefixListIds

    def companion(self, data: bytes, name: str) -> dict[str, list[tuple[int, int, int]]]:
        return prefix_lists(data, name)

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = _head(data)
        return head.startswith(b"{") and b'"PrefixLists"' in head and b'"PrefixListId"' in head

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        lists = prefix_lists(data, ctx.name)
        col = Collector(ctx, self.name)
        for pid, members in lists.items():
            col.group(pid)
            for fam, a, b in members:
                text = ipspace.format_interval(fam, a, b)
                col.entries.append(Entry(fam, a, b, Origin(ctx.name, None, f"{pid}: {text}"), pid))
        return col.result(data, explicit_empty=True)


# --- AWS network ACLs --------------------------------------------------------------------------


def _nacl_rules(doc: Doc, acl: dict[str, Any], path: str, label: str) -> list[Rule]:
    rules = []
    for epath, entry in doc.items(acl, "Entries", path):
        if doc.get(entry, "Egress", bool, epath):
            continue
        number = doc.get(entry, "RuleNumber", int, epath)
        if not 1 <= number <= 32768:
            raise doc.error(
                f"RuleNumber {_number_text(number)} is out of range",
                f"{epath}.RuleNumber",
                "network ACL rule numbers are 1-32766 (32767 and 32768 are the default rules)",
            )
        action = doc.get(entry, "RuleAction", str, epath).lower()
        if action not in ("allow", "deny"):
            raise doc.error(f"RuleAction {_shown(action)} is neither allow nor deny", epath)
        proto = doc.get(entry, "Protocol", str, epath).lower()
        proto = "all" if proto in ("-1", "all") else _PROTOCOL_NUMBERS.get(proto, proto)
        ports: tuple[Interval, ...] | None = None
        if proto in ("tcp", "udp"):
            # PortRange is the destination port of an inbound entry, and an entry has no
            # source-port match [EC2 API Reference, NetworkAclEntry: "PortRange: TCP or UDP
            # protocols: The range of ports the rule applies to"]: the client's port is
            # judged only on the outbound side, for the replies, which is not read here
            rng = doc.get(entry, "PortRange", dict, epath, None)
            if rng is not None:
                lo = doc.get(rng, "From", int, f"{epath}.PortRange")
                hi = doc.get(rng, "To", int, f"{epath}.PortRange")
                if not 0 <= lo <= hi <= 65535:
                    raise doc.error(
                        f"From {_number_text(lo)} .. To {_number_text(hi)} is not a port range",
                        f"{epath}.PortRange",
                        "ports are 0-65535, From no greater than To",
                    )
                ports = ((lo, hi),)
        cidr = doc.get(entry, "CidrBlock", str, epath, None)
        key = "CidrBlock"
        if cidr is None:
            cidr = doc.get(entry, "Ipv6CidrBlock", str, epath)
            key = "Ipv6CidrBlock"
        fam, iv = doc.cidr(cidr, f"{epath}.{key}")
        shown = "all traffic" if proto == "all" else f"{proto} {_ports_text(ports)}"
        rule_no = "*" if number >= 32767 else str(number)  # the IPv6 default is 32768
        text = f"{label} rule {rule_no} {action} {shown} from {cidr}"
        outcome: Outcome = "accept" if action == "allow" else "drop"
        ref = RuleRef(doc.origin(epath), text)
        rules.append(Rule(number, outcome, proto, ports, _sources([(fam, iv)]), ref))
    return rules


class AwsNetworkAclReader(Reader):
    name = "aws-network-acl"
    description = "AWS EC2 describe-network-acls JSON: inbound entries by rule number"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = _head(data)
        return head.startswith(b"{") and b'"NetworkAcls"' in head

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        doc = Doc(ctx, "an aws ec2 describe-network-acls export")
        top = load_document(data, ctx, "a JSON export")
        acls = []
        for path, acl in doc.items(top, "NetworkAcls", ""):
            aid = doc.get(acl, "NetworkAclId", str, path)
            subnets = [
                doc.get(a, "SubnetId", str, p, "") for p, a in doc.items(acl, "Associations", path)
            ]
            acls.append((aid, subnets, _nacl_rules(doc, acl, path, aid), path))
        chosen = _choose(ctx.chain)
        if chosen is not None:
            picked = [a for a in acls if a[0] in chosen or set(a[1]) & set(chosen)]
            if not picked:
                raise ReaderError(
                    f"no network ACL {ctx.chain!r} in the export",
                    source=ctx.name,
                    hint="--chain names an ACL id or a subnet id: " + ", ".join(a[0] for a in acls),
                )
            acls = picked
        if not acls:
            raise ReaderError("no network ACL in the export", source=ctx.name)
        named = []
        for aid, _, rules, path in acls:
            default = RuleRef(doc.origin(path), f"{aid} rule * deny all traffic (implicit)")
            named.append((aid, evaluate(rules, default, ctx.service)))
        verdicts = agree(
            named,
            "network ACL",
            "a subnet has one ACL; name the server's ACL or subnet with --chain",
        )
        return _result(data, ctx, self.name, verdicts, doc)


# --- Azure network security groups -------------------------------------------------------------

_AZURE_ANY = frozenset({"*", "any", "internet", "0.0.0.0/0"})
_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


def _public_pairs() -> list[tuple[int, tuple[int, int]]]:
    """Every address outside the private ranges, per family."""
    from auditor.allowlists.firewall import complement

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
_ADDRESSISH = re.compile(r"[0-9a-fA-F:.]+(/[0-9]+)?")

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


def _to_interval(ctx: ReadContext) -> tuple[int, int] | None:
    if ctx.to is None:
        return None
    fam, value, _ = ipspace.parse_address(ctx.to)
    return fam, value


def _destination_why(doc: Doc, dests: Sequence[str], path: str) -> str | None:
    """None: the rule's destinations hold the server; else why that is not known (or
    ``""`` meaning they certainly do not)."""
    to = _to_interval(doc.ctx)
    unknown = []
    for d in dests:
        if d.lower() in _AZURE_ANY or d.lower() == "virtualnetwork":
            return None
        if _ADDRESSISH.fullmatch(d):
            fam, (a, b) = doc.cidr(d, path)
            if to is None or to[0] != fam:
                unknown.append(d)  # an IPv6 --to says nothing of the IPv4 destination
            elif a <= to[1] <= b:
                return None
        else:
            unknown.append(d)
    if unknown:
        return f"the destination {', '.join(unknown)} may or may not be the server (give --to)"
    return ""


@dataclass(frozen=True)
class Nsg:
    name: str
    path: str
    rules: tuple[Rule, ...]


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
    priority = doc.get(props, "priority", int, ppath)
    if not 0 <= priority <= 65535:
        raise doc.error(
            f"priority {_number_text(priority)} is out of range",
            f"{ppath}.priority",
            "Azure priorities are 100-4096 for the rules you add, 65000-65500 for the defaults",
        )
    return NsgRuleHead(props, ppath, name, direction, priority)


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
    if asgs:
        tags.append("application security groups")
    order = priority + k / 1_000_000
    rules = []
    if pairs:
        ref = RuleRef(doc.origin(path), text, why)
        rules.append(Rule(order, outcome, proto, ports, _sources(pairs), ref))
    if tags:
        tag_why = f"the addresses of {', '.join(tags)} are not in the export" + (
            f"; {why}" if why else ""
        )
        ref = RuleRef(doc.origin(path), text, tag_why)
        rules.append(Rule(order, outcome, proto, ports, FULL, ref))
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
        k = 0
        # Azure refuses two rules of one direction at one priority; reading either first would
        # be a guess, so the export is refused (per NSG: each NSG has its own priorities)
        placed: dict[tuple[str, int], tuple[str, str]] = {}
        for key in ("securityRules", "defaultSecurityRules"):
            for rpath, raw in doc.items(holder, key, ppath):
                k += 1
                _placed(doc, placed, raw, rpath, name)
                rules += _nsg_rule(doc, raw, rpath, name, k)
        if "defaultSecurityRules" not in holder:
            for i, raw in enumerate(_AZURE_DEFAULTS):
                k += 1
                rpath = f"{ppath}.defaultSecurityRules[{i}] (implied)"
                _placed(doc, placed, raw, rpath, name)
                rules += _nsg_rule(doc, raw, rpath, name, k)
        out.append(Nsg(name, path, tuple(rules)))
    return out


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
        return _result(data, ctx, self.name, verdicts, doc)


# --- Google Cloud VPC firewall rules -----------------------------------------------------------

_GCP_UNRESOLVED = (
    "sourceTags",
    "sourceServiceAccounts",
    "sourceAddressGroups",
    "sourceFqdns",
    "sourceRegionCodes",
    "sourceThreatIntelligences",
)


def _gcp_rules(doc: Doc, raw: Any, path: str, index: int) -> list[Rule]:
    name = doc.get(raw, "name", str, path, f"rule{path}")
    if doc.get(raw, "direction", str, path, "INGRESS").upper() != "INGRESS":
        return []
    if doc.get(raw, "disabled", bool, path, False):
        doc.findings.append(
            Finding("disabled-rule", Severity.INFO, f"{name} is disabled", doc.origin(path))
        )
        return []
    priority = doc.get(raw, "priority", int, path, 1000)
    if not 0 <= priority <= 65535:
        raise doc.error(
            f"priority {_number_text(priority)} is out of range",
            f"{path}.priority",
            "Google Cloud firewall priorities are 0-65535",
        )
    allowed = doc.items(raw, "allowed", path)
    denied = doc.items(raw, "denied", path)
    if bool(allowed) == bool(denied):
        raise doc.error("a rule has either allowed or denied entries", path)
    outcome: Outcome = "accept" if allowed else "drop"
    pairs = [doc.cidr(r, p) for p, r in doc.items(raw, "sourceRanges", path)]
    unresolved = {key: doc.get(raw, key, list, path, []) for key in _GCP_UNRESOLVED}
    unresolved = {k: v for k, v in unresolved.items() if v}
    if not pairs and not unresolved:
        pairs = [(4, FULL[4][0])]  # "If you omit a source, 0.0.0.0/0 is used"
    targets = [
        f"{k} {', '.join(str(t) for t in v)}"
        for k in ("targetTags", "targetServiceAccounts")
        if (v := doc.get(raw, k, list, path, []))
    ]
    why = f"applies only to instances with {'; '.join(targets)}" if targets else ""
    dests = [r for _, r in doc.items(raw, "destinationRanges", path)]
    if dests:
        dwhy = _destination_why(doc, dests, f"{path}.destinationRanges")
        if dwhy == "":
            return []
        if dwhy:
            why = f"{why}; {dwhy}" if why else dwhy
    srcs = [r for _, r in doc.items(raw, "sourceRanges", path)]
    rules = []
    order = priority * 2 + (0 if outcome == "drop" else 1) + index / 1_000_000
    for ppath, proto_item in allowed or denied:
        proto_raw = doc.get(proto_item, "IPProtocol", (str, int), ppath)
        proto = str(proto_raw).lower()
        proto = _PROTOCOL_NUMBERS.get(proto, proto)
        # destination ports: a VPC firewall rule has no source-port match [Google Cloud,
        # "VPC firewall rules": "Protocols and ports" name destination ports only]
        port_list = [p for _, p in doc.items(proto_item, "ports", ppath)]
        ports = (
            tuple(merge([_port_range(doc, p, f"{ppath}.ports") for p in port_list]))
            if port_list and proto in ("tcp", "udp", "sctp")
            else None
        )
        shown = "all" if proto == "all" else f"{proto}:{_ports_text(ports)}"
        what = "allow" if outcome == "accept" else "deny"
        said = [str(s) for s in srcs]
        said += [f"{k} {', '.join(map(str, v))}" for k, v in unresolved.items()]
        text = f"{name} priority {priority} {what} {shown} from {', '.join(said) or '0.0.0.0/0'}"
        if pairs:
            ref = RuleRef(doc.origin(path), text, why)
            rules.append(Rule(order, outcome, proto, ports, _sources(pairs), ref))
        if unresolved:
            uwhy = f"the instances of {', '.join(unresolved)} are not in the export"
            ref = RuleRef(doc.origin(path), text, f"{uwhy}; {why}" if why else uwhy)
            rules.append(Rule(order, outcome, proto, ports, FULL, ref))
    if unresolved:
        doc.unsupported.append(f"{path}: {name}: {', '.join(unresolved)} (instances unknown)")
    if targets:
        doc.unsupported.append(f"{path}: {name}: {'; '.join(targets)} (targets unknown)")
    return rules


def _gcp_list(doc: Doc, top: Any) -> list[tuple[str, Any]]:
    if isinstance(top, dict) and "items" in top:
        return doc.items(top, "items", "")
    if not isinstance(top, list):
        raise doc.error(f"is {json_type(top)}, expected an array of firewall rules", "")
    return [(f"[{i}]", v) for i, v in enumerate(top)]


class GcpFirewallReader(Reader):
    name = "gcp-firewall"
    description = "Google Cloud VPC firewall rules JSON (gcloud ... --format=json): by priority"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = _head(data)
        return (
            head[:1] in (b"[", b"{")
            and b'"IPProtocol"' in head
            and (b'"allowed"' in head or b'"denied"' in head)
        )

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        doc = Doc(ctx, "a gcloud compute firewall-rules list --format=json export")
        items = _gcp_list(doc, load_document(data, ctx, "a JSON export"))
        if not items:
            raise ReaderError("no firewall rule in the export", source=ctx.name)
        rules = [r for i, (path, raw) in enumerate(items) for r in _gcp_rules(doc, raw, path, i)]
        default = RuleRef(
            Origin(ctx.name, None, "(implied)"), "implied deny ingress, priority 65535"
        )
        return _result(data, ctx, self.name, evaluate(rules, default, ctx.service), doc)
