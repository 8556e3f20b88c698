"""Random small FortiGate configurations, evaluated by the reader and by a brute-force
evaluator written here from the documented semantics (FortiOS CLI reference, "config firewall
policy", "firewall address", "firewall addrgrp": the first enabled policy in the list whose
source set holds the address, negated with ``srcaddr-negate``, and whose service carries the
connection decides; ``action`` deny when not set; groups are the union of their members less
their ``exclude-member``; the implicit deny at the end) agree on every address of the space.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.allowlists import ReadContext, reader_for
from auditor.service import Service

BASE = 0x0A000000  # 10.0.0.0; the addresses used are 10.0.0.0-10.0.0.31, and 10.0.1.0 outside
SPACE = range(32)
OUTSIDE = 256
SERVICES = {"SMTP": True, "ALL": True, "HTTP": False, "MAIL-RANGE": True, "WEB": False}


def ip(n: int) -> str:
    return f"10.0.{n >> 8}.{n & 255}"


@dataclass(frozen=True)
class Obj:
    name: str
    kind: str  # "mask", "prefix", "range", "group"
    lo: int = 0
    hi: int = 0
    members: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pol:
    id: int
    srcaddr: tuple[str, ...]
    negate: bool
    action: str | None
    service: str
    enabled: bool


@st.composite
def configs(draw: st.DrawFn) -> tuple[list[Obj], list[Pol]]:
    objs: list[Obj] = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["mask", "prefix", "range"]))
        if kind == "range":
            lo = draw(st.integers(0, 31))
            hi = draw(st.integers(lo, 31))
        else:
            size = 1 << draw(st.integers(0, 4))
            lo = draw(st.integers(0, 31 // size)) * size
            hi = lo + size - 1
        objs.append(Obj(f"a {i}", kind, lo, hi))
    for i in range(draw(st.integers(0, 3))):
        names = [o.name for o in objs]  # only earlier objects: no cycles
        members = tuple(draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)))
        excluded: tuple[str, ...] = ()
        if draw(st.booleans()):
            excluded = tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True)))
        objs.append(Obj(f"g{i}", "group", members=members, excluded=excluded))
    names = [o.name for o in objs] + ["all"]
    ids = draw(st.permutations(list(range(1, 7))))
    pols = [
        Pol(
            ids[k],
            tuple(draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))),
            draw(st.booleans()),
            draw(st.sampled_from(["accept", "deny", None])),
            draw(st.sampled_from(sorted(SERVICES))),
            draw(st.integers(0, 5)) > 0,
        )
        for k in range(draw(st.integers(0, 6)))
    ]
    return objs, pols


def render(objs: list[Obj], pols: list[Pol]) -> str:
    out = ["config firewall address"]
    for o in objs:
        if o.kind == "group":
            continue
        out.append(f'    edit "{o.name}"')
        if o.kind == "range":
            out += ["        set type iprange", f"        set start-ip {ip(o.lo)}",
                    f"        set end-ip {ip(o.hi)}"]  # fmt: skip
        else:
            plen = 32 - (o.hi - o.lo + 1).bit_length() + 1
            if o.kind == "mask":
                mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
                dotted = ".".join(str((mask >> shift) & 255) for shift in (24, 16, 8, 0))
                out.append(f"        set subnet {ip(o.lo)} {dotted}")
            else:
                out.append(f"        set subnet {ip(o.lo)}/{plen}")
        out.append("    next")
    out += ["end", "config firewall addrgrp"]
    for o in objs:
        if o.kind == "group":
            out.append(f'    edit "{o.name}"')
            out.append("        set member " + " ".join(f'"{m}"' for m in o.members))
            if o.excluded:
                out.append("        set exclude enable")
                out.append("        set exclude-member " + " ".join(f'"{m}"' for m in o.excluded))
            out.append("    next")
    out += [
        "end",
        "config firewall service custom",
        '    edit "MAIL-RANGE"',
        "        set tcp-portrange 20-30:1024-65535",
        "    next",
        '    edit "WEB"',
        "        set tcp-portrange 80 443",
        "        set udp-portrange 25",
        "    next",
        "end",
        "config firewall policy",
    ]
    for p in pols:
        out += [
            f"    edit {p.id}",
            '        set srcintf "any"',
            '        set dstintf "any"',
            "        set srcaddr " + " ".join(f'"{n}"' for n in p.srcaddr),
            '        set dstaddr "all"',
        ]
        if p.negate:
            out.append("        set srcaddr-negate enable")
        if p.action is not None:
            out.append(f"        set action {p.action}")
        out.append(f'        set service "{p.service}"')
        if not p.enabled:
            out.append("        set status disable")
        out.append("    next")
    out.append("end")
    return "\n".join(out) + "\n"


def members(objs: list[Obj], name: str) -> set[int]:
    """The addresses (of the space, and OUTSIDE) a name holds."""
    if name == "all":
        return {*SPACE, OUTSIDE}
    o = next(o for o in objs if o.name == name)
    if o.kind != "group":
        return set(range(o.lo, o.hi + 1))
    held = set().union(*(members(objs, m) for m in o.members))
    return held - set().union(*(members(objs, m) for m in o.excluded))


def brute(objs: list[Obj], pols: list[Pol], address: int) -> str:
    for p in pols:
        if not p.enabled or not SERVICES[p.service]:
            continue
        held = set().union(*(members(objs, n) for n in p.srcaddr))
        if (address in held) != p.negate:
            return "accept" if p.action == "accept" else "drop"
    return "drop"


@settings(max_examples=150, deadline=None)
@given(configs())
def test_reader_agrees_with_brute_force(config: tuple[list[Obj], list[Pol]]) -> None:
    objs, pols = config
    text = render(objs, pols)
    ctx = ReadContext("fgt.conf", "declared", service=Service.parse("tcp/25"))
    rs = reader_for("fortios").parse(text.encode(), ctx)
    v4 = rs.verdicts[0]
    for address in [*SPACE, OUTSIDE]:
        seg = v4.lookup(BASE + address)
        assert seg is not None
        assert seg.outcome == brute(objs, pols, address), (address, text)
