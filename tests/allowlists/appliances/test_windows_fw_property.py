"""Random small Windows Firewall CSV exports, evaluated by the reader and by a brute-force
evaluator written here from Microsoft's documentation ([MS-FASP] 2.2.34 FW_RULE_ACTION: block
rules take precedence over allow rules; "Windows Firewall rules": what no rule allows is
blocked; a rule applies in the profiles it names), agree on every sampled address, per profile
and, without a profile, where the profiles agree."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.allowlists import ReadContext, reader_for
from auditor.service import Service

HEAD = '"Name","DisplayName","Enabled","Direction","Action","Profile","RemoteAddress","LocalAddress","Protocol","LocalPort"'  # noqa: E501
ADDRS = ["192.0.2.0/24", "192.0.2.128/255.255.255.128", "198.51.100.1-198.51.100.50", "10.0.0.1",
         "Any"]  # fmt: skip
SAMPLES = ["192.0.2.1", "192.0.2.200", "198.51.100.1", "198.51.100.51", "10.0.0.1", "8.8.8.8"]
PROFILES = ["Any", "Domain", "Private", "Public", "Domain, Public"]


@dataclass(frozen=True)
class W:
    enabled: bool
    inbound: bool
    action: str
    profile: str
    remote: tuple[str, ...]
    protocol: str
    port: str

    def row(self, k: int) -> str:
        way = "Inbound" if self.inbound else "Outbound"
        cells = [f"r{k}", f"Rule {k}", str(self.enabled), way, self.action, self.profile]
        cells += [",".join(self.remote), "Any", self.protocol, self.port]
        return ",".join(f'"{c}"' for c in cells)


_mostly = st.sampled_from([True, True, True, False])
rules = st.builds(
    W,
    _mostly,
    _mostly,
    st.sampled_from(["Allow", "Block"]),
    st.sampled_from(PROFILES),
    st.lists(st.sampled_from(ADDRS), min_size=1, max_size=3, unique=True).map(tuple),
    st.sampled_from(["TCP", "Any", "6", "UDP"]),
    st.sampled_from(["25", "Any", "20-30", "22,587"]),
)


def _in(addr: str, text: str) -> bool:
    ip = ipaddress.ip_address(addr)
    if text == "Any":
        return True
    if "-" in text:
        lo, hi = text.split("-")
        return ipaddress.ip_address(lo) <= ip <= ipaddress.ip_address(hi)
    return ip in ipaddress.ip_network(text)


def _matches(r: W, addr: str, profile: str) -> bool:
    if not (r.enabled and r.inbound):
        return False
    if r.profile != "Any" and profile not in r.profile.split(", "):
        return False
    if r.protocol not in ("TCP", "6", "Any"):
        return False
    if r.port not in ("Any", "25", "20-30"):
        return False
    return any(_in(addr, a) for a in r.remote)


def brute(rs: list[W], addr: str, profile: str) -> str:
    if any(r.action == "Block" and _matches(r, addr, profile) for r in rs):
        return "drop"
    if any(r.action == "Allow" and _matches(r, addr, profile) for r in rs):
        return "accept"
    return "drop"


@settings(max_examples=200, deadline=None)
@given(st.lists(rules, max_size=7))
def test_reader_agrees_with_brute_force(rs: list[W]) -> None:
    text = "\n".join([HEAD, *(r.row(k) for k, r in enumerate(rs))]) + "\n"
    for chain in ("domain", "private", "public", "INPUT"):
        ctx = ReadContext("p.csv", "declared", service=Service.parse("tcp/25"), chain=chain)
        got = reader_for("windows-firewall").parse(text.encode(), ctx)
        (v4,) = [v for v in got.verdicts if v.family == 4]
        for addr in SAMPLES:
            seg = v4.lookup(int(ipaddress.ip_address(addr)))
            assert seg is not None
            if chain != "INPUT":
                want = brute(rs, addr, chain.title())
            else:
                each = {brute(rs, addr, p) for p in ("Domain", "Private", "Public")}
                want = each.pop() if len(each) == 1 else "conditional"
            assert seg.outcome == want, (chain, addr, text)
