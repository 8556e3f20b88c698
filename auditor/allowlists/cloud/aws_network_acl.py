"""AWS network ACLs exported as JSON, evaluated for a new inbound connection to the service.

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
"""

from __future__ import annotations

from typing import Any

from auditor.allowlists.base import ReadContext, Reader, ReaderError
from auditor.allowlists.cloud.acl import Rule, _result, _sources, agree, evaluate
from auditor.allowlists.cloud.document import (
    _PROTOCOL_NUMBERS,
    Doc,
    Interval,
    _choose,
    _head,
    _number_text,
    _ports_text,
    _shown,
    load_document,
)
from auditor.model import Outcome, RangeSet, RuleRef


def _nacl_rules(doc: Doc, acl: dict[str, Any], path: str, label: str) -> list[Rule]:
    rules = []
    for epath, entry in doc.items(acl, "Entries", path):
        if doc.get(entry, "Egress", bool, epath):
            continue
        number = doc.number(
            entry,
            "RuleNumber",
            epath,
            (1, 32768),
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
