"""Random small PAN-OS policies, rendered in the set form and in XML, evaluated by the reader
and by a brute-force evaluator written here from the documented semantics ("Security
Policy", PAN-OS Administrator's Guide: top-down first match over the rules whose zones,
rule type, source (negate-source), service and application hold; then intrazone-default
allow or interzone-default deny): they agree on every sampled address."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from .panos_helpers import outcome, read

BASE = int(ipaddress.IPv4Address("10.0.0.0"))
OBJECTS = {
    "o-a": "10.0.0.0/28",
    "o-b": "10.0.0.8/29",
    "o-c": "10.0.0.100-10.0.0.130",
    "o-d": "10.0.0.200/32",
}
GROUPS = {"g-1": ["o-a", "o-c"], "g-2": ["g-1", "o-d"]}
SERVICES = {"s25": 25, "s80": 80}


@dataclass(frozen=True)
class R:
    name: str
    src_from: str
    dst_to: str
    sources: tuple[str, ...]
    negate: bool
    service: str
    action: str
    disabled: bool
    rule_type: str


def _members(name: str) -> set[int]:
    if name in GROUPS:
        out: set[int] = set()
        for m in GROUPS[name]:
            out |= _members(m)
        return out
    text = OBJECTS.get(name, name)
    if "-" in text:
        a, b = (int(ipaddress.IPv4Address(x)) for x in text.split("-"))
        return set(range(a, b + 1))
    net = ipaddress.IPv4Network(text, strict=False)
    return set(range(int(net.network_address), int(net.broadcast_address) + 1))


def brute(rules: list[R], address: int, pair: tuple[str, str]) -> str:
    for r in rules:
        if r.disabled:
            continue
        if r.src_from not in ("any", pair[0]) or r.dst_to not in ("any", pair[1]):
            continue
        if r.rule_type == "intrazone" and pair[0] != pair[1]:
            continue
        if r.rule_type == "interzone" and pair[0] == pair[1]:
            continue
        inside = any(address in _members(s) for s in r.sources)
        if inside == r.negate:
            continue
        if r.service != "any" and SERVICES[r.service] != 25:
            continue
        return "accept" if r.action == "allow" else "drop"
    return "accept" if pair[0] == pair[1] else "drop"


_literal = st.builds(
    lambda a, plen: str(ipaddress.IPv4Network((BASE + a, plen), strict=False)),
    st.integers(0, 255),
    st.integers(24, 32),
)
_source = st.one_of(st.sampled_from(sorted(OBJECTS) + sorted(GROUPS)), _literal)
_rule = st.builds(
    R,
    st.just(""),
    st.sampled_from(["any", "untrust", "trust", "dmz"]),
    st.sampled_from(["any", "trust", "dmz"]),
    st.lists(_source, min_size=1, max_size=3).map(tuple),
    st.booleans(),
    st.sampled_from(["any", "s25", "s80"]),
    st.sampled_from(["allow", "deny", "drop", "reset-both"]),
    st.booleans(),
    st.sampled_from(["universal", "intrazone", "interzone"]),
)


def render_set(rules: list[R]) -> str:
    lines = ["set zone untrust", "set zone trust", "set zone dmz"]
    for name, value in OBJECTS.items():
        kind = "ip-range" if "-" in value else "ip-netmask"
        lines.append(f"set address {name} {kind} {value}")
    for name, members in GROUPS.items():
        lines.append(f"set address-group {name} static [ {' '.join(members)} ]")
    for name, port in SERVICES.items():
        lines.append(f"set service {name} protocol tcp port {port}")
    for r in rules:
        p = f"set rulebase security rules {r.name}"
        lines += [
            f"{p} from {r.src_from} to {r.dst_to}",
            f"{p} source [ {' '.join(r.sources)} ] destination any",
            f"{p} negate-source {'yes' if r.negate else 'no'} rule-type {r.rule_type}",
            f"{p} application any service {r.service} action {r.action}",
        ]
        if r.disabled:
            lines.append(f"{p} disabled yes")
    return "\n".join(lines) + "\n"


def render_xml(rules: list[R]) -> str:
    def members(tag: str, values: tuple[str, ...] | list[str]) -> str:
        return f"<{tag}>" + "".join(f"<member>{v}</member>" for v in values) + f"</{tag}>"

    out = ['<config><devices><entry name="localhost.localdomain"><vsys><entry name="vsys1">']
    out.append('<zone><entry name="untrust"/><entry name="trust"/><entry name="dmz"/></zone>')
    out.append("<address>")
    for name, value in OBJECTS.items():
        kind = "ip-range" if "-" in value else "ip-netmask"
        out.append(f'<entry name="{name}"><{kind}>{value}</{kind}></entry>')
    out.append("</address><address-group>")
    for name, group in GROUPS.items():
        out.append(f'<entry name="{name}">{members("static", group)}</entry>')
    out.append("</address-group><service>")
    for name, port in SERVICES.items():
        out.append(
            f'<entry name="{name}"><protocol><tcp><port>{port}</port></tcp></protocol></entry>'
        )
    out.append("</service><rulebase><security><rules>")
    for r in rules:
        out.append(
            f'<entry name="{r.name}">{members("from", [r.src_from])}{members("to", [r.dst_to])}'
            f"{members('source', r.sources)}{members('destination', ['any'])}"
            f"<negate-source>{'yes' if r.negate else 'no'}</negate-source>"
            f"<rule-type>{r.rule_type}</rule-type>{members('application', ['any'])}"
            f"{members('service', [r.service])}<action>{r.action}</action>"
            f"<disabled>{'yes' if r.disabled else 'no'}</disabled></entry>"
        )
    out.append("</rules></security></rulebase></entry></vsys></entry></devices></config>\n")
    return "\n".join(out)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_rule, min_size=0, max_size=6),
    st.sampled_from([("untrust", "trust"), ("trust", "trust"), ("dmz", "trust")]),
)
def test_reader_agrees_with_brute_force(drawn: list[R], pair: tuple[str, str]) -> None:
    rules = [R(f"r{k}", *list(r.__dict__.values())[1:]) for k, r in enumerate(drawn)]
    chain = f"{pair[0]}:{pair[1]}"
    for text, name in ((render_set(rules), "fw.set"), (render_xml(rules), "fw.xml")):
        rs = read(text, chain=chain, to=None, name=name)
        for a in [*range(0, 256, 3), 7, 8, 15, 16, 99, 100, 130, 131, 200, 201, 256, 300]:
            address = str(ipaddress.IPv4Address(BASE + a))
            assert outcome(rs, address) == brute(rules, BASE + a, pair), (name, address)
