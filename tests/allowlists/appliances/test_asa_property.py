"""Random small ASA configurations, rendered in the ASA's syntax, evaluated by the reader and by
a brute-force evaluator written here from Cisco's documented semantics ("Access Control
Lists": entries in order, the first match decides, an implicit deny at the end; ``inactive``
entries never match; "Objects for Access Control": a group holds its network-objects and the
members of its group-objects): they agree on every sampled address.

Addresses come from 10.0.0.0/27 so that entries overlap; the server is 10.9.9.9 (``--to``).
"""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.allowlists.appliances.fronts import AsaReader
from auditor.allowlists.base import ReadContext
from auditor.service import Service

TO = "10.9.9.9"
BASE = int(ipaddress.IPv4Address("10.0.0.0"))
MASKS = {32: "255.255.255.255", 30: "255.255.255.252", 29: "255.255.255.248", 28: "255.255.255.240"}
PORTS = ["", "eq 25", "eq smtp", "neq 25", "lt 25", "lt 26", "gt 24", "range 20 30", "range 26 30"]

addresses = st.integers(0, 31)
nets = st.tuples(addresses, st.sampled_from(sorted(MASKS)))


def covers(net: tuple[int, int], a: int) -> bool:
    start, plen = net
    size = 1 << (32 - plen)
    return start // size * size <= a < start // size * size + size


def port_holds(spec: str, port: int = 25) -> bool:
    if not spec:
        return True
    op, *args = spec.split()
    nums = [25 if x == "smtp" else int(x) for x in args]
    return {
        "eq": port == nums[0],
        "neq": port != nums[0],
        "lt": port < nums[0],
        "gt": port > nums[0],
        "range": nums[0] <= port <= (nums[-1]),
    }[op]


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, list[dict[str, object]], list[list[object]]]:
    groups: list[list[object]] = []  # each: nets and indices of earlier groups
    for g in range(draw(st.integers(0, 3))):
        members: list[object] = draw(st.lists(nets, max_size=3))
        if g:
            members += draw(st.lists(st.integers(0, g - 1), max_size=2, unique=True))
        groups.append(members)
    entries = []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(
            st.sampled_from(["any", "host", "net", "group"] if groups else ["any", "host", "net"])
        )
        entries.append({
            "action": draw(st.sampled_from(["permit", "deny"])),
            "proto": draw(st.sampled_from(["tcp", "udp", "ip"])),
            "kind": kind,
            "src": draw(addresses) if kind == "host" else draw(nets) if kind == "net"
            else draw(st.integers(0, len(groups) - 1)) if kind == "group" else None,
            "dst": draw(st.sampled_from(["any", "to", "other"])),
            "port": draw(st.sampled_from(PORTS)),
            "inactive": draw(st.booleans()) and draw(st.booleans()),
        })  # fmt: skip
    lines = ["ASA Version 9.16"]
    for g, members in enumerate(groups):
        lines.append(f"object-group network G{g}")
        for m in members:
            if isinstance(m, tuple):
                addr = ipaddress.IPv4Address(BASE + m[0] // (1 << (32 - m[1])) * (1 << (32 - m[1])))
                lines.append(f" network-object {addr} {MASKS[m[1]]}")
            else:
                lines.append(f" group-object G{m}")
    for e in entries:
        src = {
            "any": "any",
            "host": f"host {ipaddress.IPv4Address(BASE + int(e['src']))}"
            if e["kind"] == "host"
            else "",
            "group": f"object-group G{e['src']}",
        }.get(str(e["kind"]), "")
        if e["kind"] == "net":
            start, plen = e["src"]  # type: ignore[misc]
            size = 1 << (32 - plen)
            src = f"{ipaddress.IPv4Address(BASE + start // size * size)} {MASKS[plen]}"
        dst = {"any": "any", "to": f"host {TO}", "other": "host 10.9.9.10"}[str(e["dst"])]
        port = e["port"] if e["proto"] != "ip" else ""
        text = f"access-list in extended {e['action']} {e['proto']} {src} {dst} {port}".rstrip()
        lines.append(text + (" inactive" if e["inactive"] else ""))
    lines.append("access-group in in interface outside")
    return "\n".join(lines) + "\n", entries, groups


def members(groups: list[list[object]], g: int, a: int) -> bool:
    return any(
        covers(m, a) if isinstance(m, tuple) else members(groups, int(m), a)  # type: ignore[arg-type]
        for m in groups[g]
    )


def brute(entries: list[dict[str, object]], groups: list[list[object]], a: int) -> str:
    for e in entries:
        if e["inactive"] or e["proto"] == "udp" or e["dst"] == "other":
            continue
        if e["proto"] == "tcp" and not port_holds(str(e["port"])):
            continue
        kind = e["kind"]
        hit = (
            kind == "any"
            or (kind == "host" and e["src"] == a)
            or (kind == "net" and covers(e["src"], a))  # type: ignore[arg-type]
            or (kind == "group" and members(groups, int(e["src"]), a))  # type: ignore[call-overload]
        )
        if hit:
            return "accept" if e["action"] == "permit" else "drop"
    return "drop"


@settings(max_examples=150, deadline=None)
@given(configs())
def test_the_reader_agrees_with_the_documented_semantics(
    case: tuple[str, list[dict[str, object]], list[list[object]]],
) -> None:
    text, entries, groups = case
    ctx = ReadContext("fw.cfg", "declared", service=Service.parse("tcp/25"), to=TO)
    rs = AsaReader().parse(text.encode(), ctx)
    [v4] = [v for v in rs.verdicts if v.family == 4]
    for a in range(40):
        seg = v4.lookup(BASE + a)
        assert seg is not None
        assert seg.outcome == brute(entries, groups, a), (text, a, seg.rule)
