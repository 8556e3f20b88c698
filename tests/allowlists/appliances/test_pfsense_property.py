"""Random small config.xml files, evaluated by the reader and by a brute-force evaluator
written here from the documented semantics (Netgate docs, "Floating Rules" and "Rule
Methodology"): per address, floating rules on the interface (inbound or any direction) come
first, then the interface's rules; the first matching quick rule decides (interface tab rules
are always quick); else the last matching floating rule without quick; else the default deny.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .pfsense_util import alias, config, outcome, read, rule

NETS = ["198.51.100.0/24", "198.51.100.0/25", "198.51.100.64/26", "198.51.100.128/28",
        "198.51.100.7", "198.51.100.200"]  # fmt: skip
PROBES = ["198.51.100.1", "198.51.100.7", "198.51.100.70", "198.51.100.130", "198.51.100.200",
          "198.51.100.250", "192.0.2.1"]  # fmt: skip


@dataclass(frozen=True)
class R:
    kind: str
    iface: str
    floating: bool
    quick: bool
    direction: str
    src: str  # a network, an alias name, or "any"
    negated: bool
    port: int | None


rules_st = st.lists(
    st.builds(
        R,
        kind=st.sampled_from(["pass", "block", "reject"]),
        iface=st.sampled_from(["wan", "wan", "lan", "wan,lan", ""]),
        floating=st.sampled_from([True, True, False]),
        quick=st.booleans(),
        direction=st.sampled_from(["in", "any", "any", "out"]),
        src=st.sampled_from([*NETS, "any", "A", "B"]),
        negated=st.booleans(),
        port=st.sampled_from([25, 26, None]),
    ),
    max_size=7,
)
alias_st = st.tuples(
    st.lists(st.sampled_from(NETS), min_size=1, max_size=3),
    st.lists(st.sampled_from(NETS), max_size=2),
    st.booleans(),
)


def members(name: str, a: list[str], b: list[str], nest: bool) -> list[str]:
    if name == "A":
        return a + (b if nest else [])
    return b


def matches(r: R, address: str, a: list[str], b: list[str], nest: bool) -> bool:
    """Whether the rule matches a new tcp/25 connection from ``address`` arriving on wan."""
    if r.floating:
        names = [n for n in r.iface.split(",") if n]
        if r.direction == "out" or (names and "wan" not in names):
            return False
    elif r.iface != "wan":
        return False
    if r.port not in (None, 25):
        return False
    if r.src == "any":
        inside = True
    else:
        nets = members(r.src, a, b, nest) if r.src in ("A", "B") else [r.src]
        ip = ipaddress.ip_address(address)
        inside = any(ip in ipaddress.ip_network(n) for n in nets)
    return inside != r.negated


def brute(rules: list[R], address: str, a: list[str], b: list[str], nest: bool) -> str:
    ordered = [r for r in rules if r.floating] + [r for r in rules if not r.floating]
    last = None
    for r in ordered:
        if not matches(r, address, a, b, nest):
            continue
        if not r.floating or r.quick:
            return "accept" if r.kind == "pass" else "drop"
        last = r
    if last is None:
        return "drop"
    return "accept" if last.kind == "pass" else "drop"


def render(r: R) -> str:
    extra = ""
    if r.floating:
        extra = f"<floating>yes</floating><direction>{r.direction}</direction>"
        extra += "<quick>yes</quick>" if r.quick else ""
    iface = r.iface if r.floating or r.iface else "lan"
    if not r.floating and "," in iface:
        iface = iface.split(",")[0]
    if r.src == "any":
        src = "<any/>"
    else:
        src = f"<address>{r.src}</address>"
    if r.negated:
        src = "<not/>" + src
    dst = "<any/>" + (f"<port>{r.port}</port>" if r.port else "")
    return rule(r.kind, iface=iface, src=src, dst=dst, extra=extra)


def normalised(r: R) -> R:
    """The rule as rendered (an interface rule has one interface)."""
    if r.floating:
        return r
    iface = (r.iface or "lan").split(",")[0]
    return R(r.kind, iface, False, True, r.direction, r.src, r.negated, r.port)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rules_st, aliases=alias_st)
def test_reader_agrees_with_brute_force(
    rules: list[R], aliases: tuple[list[str], list[str], bool]
) -> None:
    a, b, nest = aliases
    text_a = " ".join(a + (["B"] if nest else []))
    text = config(
        *(render(r) for r in rules),
        aliases=alias("A", "network", text_a) + alias("B", "network", " ".join(b)),
    )
    rs = read(text)
    for address in PROBES:
        want = brute([normalised(r) for r in rules], address, a, b, nest)
        assert outcome(rs, address) == want, (address, text)
