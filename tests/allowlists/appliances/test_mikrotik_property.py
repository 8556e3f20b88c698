"""Random small RouterOS exports, evaluated by the reader and by a brute-force evaluator written
here from the RouterOS manual ("Firewall > Filter", https://help.mikrotik.com/docs/display/ROS/
Filter: rules in order, accept/drop/reject decide, jump goes through jump-target, return goes
back, log goes on; a base chain accepts what no rule decides), agree on every sampled address."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.allowlists import ReadContext, reader_for
from auditor.service import Service

NETS = ["192.0.2.0/24", "192.0.2.128/25", "198.51.100.0/24", "10.0.0.0/8", "192.0.2.7"]
RANGES = ["192.0.2.100-192.0.2.200", "198.51.100.50-198.51.100.60"]
SAMPLES = [
    "192.0.2.1", "192.0.2.7", "192.0.2.100", "192.0.2.150", "192.0.2.201", "198.51.100.55",
    "198.51.100.61", "10.9.9.9", "203.0.113.1",
]  # fmt: skip


@dataclass(frozen=True)
class R:
    chain: str
    action: str  # accept, drop, reject, log, return, jump
    src: str | None  # address text, maybe with "!"
    lst: str | None  # list name, maybe with "!"
    port: str | None
    proto: str | None
    state: str | None
    disabled: bool

    def words(self) -> str:
        out = [f"action={self.action}", f"chain={self.chain}"]
        if self.action == "jump":
            out.append("jump-target=sub")
        for key, value in (
            ("src-address", self.src),
            ("src-address-list", self.lst),
            ("dst-port", self.port),
            ("protocol", self.proto),
            ("connection-state", self.state),
        ):
            if value is not None:
                out.append(f"{key}={value}")
        if self.disabled:
            out.append("disabled=yes")
        return "add " + " ".join(out)


def _neg(s: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | st.builds(lambda v, n: ("!" if n else "") + v, s, st.booleans())


rules = st.builds(
    R,
    st.sampled_from(["input", "input", "sub"]),
    st.sampled_from(["accept", "drop", "reject", "log", "return", "jump"]),
    _neg(st.sampled_from(NETS + RANGES)),
    _neg(st.sampled_from(["a", "b"])),
    st.none() | st.sampled_from(["25", "22", "20-30", "!25", "25,587"]),
    st.none() | st.sampled_from(["tcp", "udp", "!udp"]),
    st.none() | st.sampled_from(["new", "established,related", "!invalid", "!new"]),
    st.booleans(),
)
entries = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(NETS + RANGES), st.booleans()),
    max_size=4,
)


def _in(addr: str, text: str) -> bool:
    ip = ipaddress.ip_address(addr)
    if "-" in text:
        lo, hi = text.split("-")
        return ipaddress.ip_address(lo) <= ip <= ipaddress.ip_address(hi)
    return ip in ipaddress.ip_network(text)


def _holds(r: R, addr: str, lists: dict[str, list[str]]) -> bool:
    """Whether the rule matches a new TCP connection to port 25 from addr."""
    if r.src is not None and _in(addr, r.src.lstrip("!")) == r.src.startswith("!"):
        return False
    if r.lst is not None:
        inside = any(_in(addr, t) for t in lists.get(r.lst.lstrip("!"), []))
        if inside == r.lst.startswith("!"):
            return False
    if r.proto is not None and (r.proto.lstrip("!") == "tcp") == r.proto.startswith("!"):
        return False
    if r.port is not None:
        listed = {"25": {25}, "22": {22}, "20-30": set(range(20, 31)), "25,587": {25, 587}}
        inside = 25 in listed[r.port.lstrip("!")]
        if inside == r.port.startswith("!"):
            return False
    if r.state is not None:
        inside = "new" in r.state.lstrip("!").split(",")
        if inside == r.state.startswith("!"):
            return False
    return True


def brute(rs: list[R], addr: str, lists: dict[str, list[str]]) -> str:
    def run(chain: str, depth: int) -> str | None:
        if depth > 3:
            raise RecursionError
        for r in rs:
            if r.chain != chain or r.disabled or not _holds(r, addr, lists):
                continue
            if r.action == "accept":
                return "accept"
            if r.action in ("drop", "reject"):
                return "drop"
            if r.action == "return":
                return None
            if r.action == "jump":
                got = run("sub", depth + 1)
                if got is not None:
                    return got
        return None

    return run("input", 0) or "accept"  # no implicit drop


@settings(max_examples=150, deadline=None)
@given(st.lists(rules, max_size=8), entries)
def test_reader_agrees_with_brute_force(rs: list[R], lists_in: list[tuple[str, str, bool]]) -> None:
    if any(r.chain == "sub" and r.action == "jump" for r in rs):
        rs = [r for r in rs if not (r.chain == "sub" and r.action == "jump")]  # no loops
    lists: dict[str, list[str]] = {"a": [], "b": []}
    lines = ["/ip firewall address-list"]
    for name, net, disabled in lists_in:
        lines.append(f"add address={net} list={name}" + (" disabled=yes" if disabled else ""))
        if not disabled:
            lists[name].append(net)
    used = {r.lst.lstrip("!") for r in rs if r.lst and not r.disabled}
    # a list without static entries is conditional (filled at run time?): give each one
    for name in sorted(used):
        if not lists[name]:
            lines.append(f"add address=233.252.0.{ord(name)} list={name}")
            lists[name].append(f"233.252.0.{ord(name)}")
    lines.append("/ip firewall filter")
    lines += [r.words() for r in rs]
    text = "\n".join(lines) + "\n"
    ctx = ReadContext("p.rsc", "declared", service=Service.parse("tcp/25"))
    got = reader_for("mikrotik").parse(text.encode(), ctx)
    (v4,) = [v for v in got.verdicts if v.family == 4]
    for addr in SAMPLES:
        seg = v4.lookup(int(ipaddress.ip_address(addr)))
        assert seg is not None
        assert seg.outcome == brute(rs, addr, lists), (addr, text)
