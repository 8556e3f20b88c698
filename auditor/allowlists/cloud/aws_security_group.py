"""AWS security groups exported as JSON, evaluated for a new inbound connection to the service.

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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.allowlists.base import ReadContext, Reader, ReaderError
from auditor.allowlists.cloud.acl import FULL, Rule, Sources, _result, _sources, evaluate
from auditor.allowlists.cloud.document import (
    _PROTOCOL_NUMBERS,
    Doc,
    Interval,
    _choose,
    _head,
    _number_text,
    _ports_text,
    load_document,
)
from auditor.model import Finding, Origin, RangeSet, RuleRef, Severity


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
                ref = RuleRef(doc.origin(rpath), text)
                rules.append(Rule(order, "accept", proto, ports, sources, ref, why))
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
