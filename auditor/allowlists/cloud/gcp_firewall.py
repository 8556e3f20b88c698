"""Google Cloud VPC firewall rules exported as JSON, evaluated for a new inbound connection to
the service.

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
    Each ingress allow rule is a scope by its name, holding its ``sourceRanges`` when it
    lets in some of the service and is enabled (none otherwise); deny rules are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditor.allowlists.base import ReadContext, Reader, ReaderError
from auditor.allowlists.cloud.acl import FULL, Rule, _result, _sources, carries, evaluate
from auditor.allowlists.cloud.document import (
    _PROTOCOL_NUMBERS,
    Doc,
    Interval,
    _destination_why,
    _head,
    _port_range,
    _ports_text,
    load_document,
)
from auditor.model import Entry, Finding, Origin, Outcome, RangeSet, RuleRef, Severity
from auditor.ruleset.sweep import merge
from auditor.sources.base import json_type

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
    priority = doc.number(
        raw, "priority", path, (0, 65535), "Google Cloud firewall priorities are 0-65535", 1000
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
            ref = RuleRef(doc.origin(path), text)
            rules.append(Rule(order, outcome, proto, ports, _sources(pairs), ref, why))
        if unresolved:
            uwhy = f"the instances of {', '.join(unresolved)} are not in the export"
            ref = RuleRef(doc.origin(path), text)
            uwhy = f"{uwhy}; {why}" if why else uwhy
            rules.append(Rule(order, outcome, proto, ports, FULL, ref, uwhy))
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
        rules: list[Rule] = []
        scopes: list[tuple[str, str, list[tuple[int, Interval]]]] = []
        for i, (path, raw) in enumerate(items):
            made = _gcp_rules(doc, raw, path, i)
            rules += made
            if (one := _gcp_scope(doc, raw, path, made)) is not None:
                scopes.append(one)
        default = RuleRef(
            Origin(ctx.name, None, "(implied)"), "implied deny ingress, priority 65535"
        )
        verdicts = evaluate(rules, default, ctx.service)
        return _result(data, ctx, self.name, verdicts, doc, objects=_objects(doc, scopes))


def _gcp_scope(
    doc: Doc, raw: Any, path: str, made: list[Rule]
) -> tuple[str, str, list[tuple[int, Interval]]] | None:
    """(name, path, addresses) of an ingress allow rule, a scope; None for any other rule.
    Its addresses are its source ranges when it lets in some of the service."""
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not name or not doc.items(raw, "allowed", path):
        return None
    if doc.get(raw, "direction", str, path, "INGRESS").upper() != "INGRESS":
        return None
    pairs: list[tuple[int, Interval]] = []
    if any(carries(doc.ctx.service, r.protocol, r.ports) for r in made):
        pairs = [doc.cidr(r, p) for p, r in doc.items(raw, "sourceRanges", path)]
    return name, path, pairs


def _objects(
    doc: Doc, scopes: list[tuple[str, str, list[tuple[int, Interval]]]]
) -> Callable[[], tuple[list[Entry], list[str]]]:
    def make() -> tuple[list[Entry], list[str]]:
        entries = [
            Entry(f, lo, hi, doc.origin(f"{path} ({name})"), name)
            for name, path, pairs in scopes
            for f, (lo, hi) in pairs
        ]
        return entries, list(dict.fromkeys(name for name, _, _ in scopes))

    return make
