"""Random small IOS access lists, rendered in IOS syntax, evaluated by the reader and by a
brute-force evaluator written here from Cisco's documentation: they agree on every address.

The evaluator follows "Configuring IP Access Lists" (Cisco Document ID 23602): entries in
order, the first whose protocol, source (a wildcard's 0 bits must match, its 1 bits are
free), and ports match decides; ``established`` matches only packets with ACK or RST set,
which a new connection's first packet has not; nothing matched: the implicit deny. Order is by
sequence number, an entry without one taking the highest so far plus 10 ("IP Access List
Entry Sequence Numbering", IOS XE Security Configuration Guide). Object-group members: host,
network and mask, range ("Object Groups for ACLs").
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import ipspace
from auditor.allowlists import ReadContext, reader_for
from auditor.service import Service

BASE = 0x0A000000  # 10.0.0.0: every address drawn is in 10.0.0.0/26, and two outside
ADDRESSES = [BASE + k for k in range(64)] + [BASE + 256, 0x0B000000]


def dotted(value: int) -> str:
    return ipspace.format_address(4, value)


@dataclass(frozen=True)
class Src:
    kind: str  # any, host, wildcard, group
    base: int = 0
    wild: int = 0
    members: tuple[tuple[str, int, int], ...] = ()  # (host|mask|range, a, b)


@dataclass(frozen=True)
class Ace:
    action: str
    proto: str
    src: Src
    op: str  # "", eq, neq, lt, gt, range
    ports: tuple[int, int]
    established: bool
    seq: int | None


def sources() -> st.SearchStrategy[Src]:
    low = st.integers(0, 63).map(lambda k: BASE + k)
    member = st.one_of(
        low.map(lambda a: ("host", a, a)),
        st.tuples(low, st.integers(26, 32)).map(lambda t: ("mask", t[0], t[1])),
        st.tuples(low, low).map(lambda t: ("range", min(t), max(t))),
    )
    return st.one_of(
        st.just(Src("any")),
        low.map(lambda a: Src("host", a)),
        st.tuples(low, st.integers(0, 255)).map(lambda t: Src("wildcard", t[0], t[1])),
        st.lists(member, min_size=1, max_size=3).map(lambda m: Src("group", members=tuple(m))),
    )


def aces() -> st.SearchStrategy[Ace]:
    return st.builds(
        Ace,
        action=st.sampled_from(["permit", "deny"]),
        proto=st.sampled_from(["tcp", "udp", "ip"]),
        src=sources(),
        op=st.sampled_from(["", "eq", "neq", "lt", "gt", "range"]),
        ports=st.tuples(st.integers(23, 27), st.integers(23, 27)).map(lambda t: tuple(sorted(t))),
        established=st.booleans(),
        seq=st.one_of(st.none(), st.integers(1, 200)),
    )


def render_src(src: Src, name: str) -> str:
    if src.kind == "any":
        return "any"
    if src.kind == "host":
        return f"host {dotted(src.base)}"
    if src.kind == "wildcard":
        return f"{dotted(src.base)} {dotted(src.wild)}"
    return f"object-group {name}"


def render(entries: list[Ace], numbered: bool) -> str:
    lines = []
    for k, ace in enumerate(entries):
        if ace.src.kind != "group":
            continue
        lines.append(f"object-group network G{k}")
        for kind, a, b in ace.src.members:
            if kind == "host":
                lines.append(f" host {dotted(a)}")
            elif kind == "mask":
                mask = (0xFFFFFFFF << (32 - b)) & 0xFFFFFFFF
                lines.append(f" {dotted(a & mask)} {dotted(mask)}")
            else:
                lines.append(f" range {dotted(a)} {dotted(b)}")
    if not numbered:
        lines.append("ip access-list extended PROP")
    for k, ace in enumerate(entries):
        words = [ace.action, ace.proto, render_src(ace.src, f"G{k}"), "any"]
        if ace.proto != "ip" and ace.op:
            lo, hi = ace.ports
            words.append(f"range {lo} {hi}" if ace.op == "range" else f"{ace.op} {lo}")
        if ace.proto == "tcp" and ace.established:
            words.append("established")
        text = " ".join(words)
        if numbered:
            lines.append(f"access-list 150 {text}")
        else:
            lines.append(f" {ace.seq} {text}" if ace.seq is not None else f" {text}")
    lines += ["interface GigabitEthernet0/0", f" ip access-group {150 if numbered else 'PROP'} in"]
    return "\n".join(lines) + "\n"


def source_holds(src: Src, addr: int) -> bool:
    if src.kind == "any":
        return True
    if src.kind == "host":
        return addr == src.base
    if src.kind == "wildcard":
        return (addr ^ src.base) & ~src.wild & 0xFFFFFFFF == 0
    for kind, a, b in src.members:
        if kind == "host" and addr == a:
            return True
        if kind == "mask":
            mask = (0xFFFFFFFF << (32 - b)) & 0xFFFFFFFF
            if addr & mask == a & mask:
                return True
        if kind == "range" and a <= addr <= b:
            return True
    return False


def port_holds(ace: Ace, port: int) -> bool:
    lo, hi = ace.ports
    return {
        "": True,
        "eq": port == lo,
        "neq": port != lo,
        "lt": port < lo,
        "gt": port > lo,
        "range": lo <= port <= hi,
    }[ace.op]


def brute(entries: list[Ace], numbered: bool, addr: int, port: int) -> str:
    ordered: list[tuple[int, Ace]] = []
    top = 0
    for ace in entries:
        seq = ace.seq if ace.seq is not None and not numbered else (top // 10 + 1) * 10
        top = max(top, seq)
        ordered.append((seq, ace))
    ordered.sort(key=lambda t: t[0])
    for _, ace in ordered:
        if ace.proto not in ("tcp", "ip"):
            continue
        if ace.proto == "tcp" and (ace.established or not port_holds(ace, port)):
            continue
        if source_holds(ace.src, addr):
            return "accept" if ace.action == "permit" else "drop"
    return "drop"


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(aces(), min_size=1, max_size=8),
    numbered=st.booleans(),
    port=st.sampled_from([24, 25, 26]),
)
def test_reader_agrees_with_brute_force(entries: list[Ace], numbered: bool, port: int) -> None:
    if not numbered:
        seqs = [a.seq for a in entries if a.seq is not None]
        if len(seqs) != len(set(seqs)):
            return  # a device keeps one entry per number (the reader refuses two)
    text = render(entries, numbered)
    ctx = ReadContext("prop.cfg", "declared", service=Service.parse(f"tcp/{port}"))
    try:
        rs = reader_for("ios").parse(text.encode(), ctx)
    except Exception as e:  # an implied number equal to a given one is refused too
        assert "sequence number" in str(e), text
        return
    (v4,) = rs.verdicts
    for addr in ADDRESSES:
        seg = v4.lookup(addr)
        assert seg is not None
        assert seg.outcome == brute(entries, numbered, addr, port), (dotted(addr), text)
