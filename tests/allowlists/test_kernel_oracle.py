"""The iptables-save reader against the kernel: every verdict it gives must be what netfilter does.

For each ruleset (the fixtures in tests/fixtures/firewall/ and the public corpus files the
kernel accepts) the reader evaluates INPUT for a service, and the harness (netns.py) loads the
same file in a network namespace and connects from sample source addresses. An address the
reader calls ``accept`` must connect and one it calls ``drop`` must not; addresses it calls
``conditional`` (the export does not settle them) are left out and counted.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.allowlists.lists.ipset_save import parse_sets
from auditor.service import Service

from . import netns
from .netns import (
    SERVER,
    RulesetLoadError,
    kernel_verdicts,
    require,
    restore_test,
    sample_addresses,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "firewall"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "firewall"

# The set file a fixture's "-m set" rules need.
IPSETS = {
    "iptables_ipset.v4": "ipset_mail.ipset",
    "ip6tables_semantics.v6": "ipset_mail6.ipset",
}
# Fixtures audited for more than tcp/25.
PORTS = {"iptables_ports.v4": (25, 587), "iptables_ufw.v4": (25, 587)}
# Corpus rulesets written for one host: its INPUT drops every destination in 10.0.0.0/8 and
# accepts mail for 200.1.1.4 only, so the namespace's server takes that address.
CORPUS_SERVER = {"iptables-save_aerleon_sample_multitarget.ipt": "200.1.1.4"}
# Corpus rulesets that accept nothing on tcp/25 are also audited for the port they do open.
CORPUS_PORTS = {
    "iptables-save_aerleon_sample_speedway.ipt": (25, 22),
    "iptables-save_batfish_example-host1.iptables": (25, 22),
}


@dataclass(frozen=True)
class Case:
    path: Path
    family: int
    port: int = 25
    ipset: Path | None = None
    server: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.name}-tcp{self.port}"


def family_of(path: Path) -> int:
    return 6 if path.name.startswith("ip6tables") else 4


def fixture_cases() -> list[Case]:
    out = []
    for path in sorted([*FIXTURES.glob("iptables_*.v4"), *FIXTURES.glob("ip6tables_*.v6")]):
        ipset = FIXTURES / IPSETS[path.name] if path.name in IPSETS else None
        for port in PORTS.get(path.name, (25,)):
            out.append(Case(path, family_of(path), port, ipset))
    return out


def corpus_cases() -> list[Case]:
    if not CORPUS.is_dir():
        return []
    names = ("iptables-save*", "ip6tables-save*", "iptables-restore*", "ip6tables-restore*")
    paths = sorted({p for pattern in names for p in CORPUS.glob(pattern)})
    return [
        Case(p, family_of(p), port, server=CORPUS_SERVER.get(p.name))
        for p in paths
        for port in CORPUS_PORTS.get(p.name, (25,))
    ]


@dataclass(frozen=True)
class Comparison:
    accepted: int
    """Compared addresses the reader calls ``accept``."""
    dropped: int
    conditional: int
    """Addresses the reader calls ``conditional``: not compared."""
    mismatches: tuple[str, ...]

    @property
    def compared(self) -> int:
        return self.accepted + self.dropped

    def message(self, case: Case) -> str:
        shown = "\n  ".join(self.mismatches[:20])
        return (
            f"{case.id}: {len(self.mismatches)} of {self.compared} compared addresses disagree"
            f" with the kernel ({self.conditional} conditional, not compared):\n  {shown}"
        )


def compare(case: Case) -> Comparison:
    """The reader's verdict for every sample address next to what the kernel did."""
    text = case.path.read_text(encoding="utf-8")
    set_text = case.ipset.read_text(encoding="utf-8") if case.ipset else ""
    sets = parse_sets(set_text, case.ipset.name)[0] if case.ipset else {}
    server = case.server or SERVER[case.family]
    ctx = ReadContext(
        case.path.name,
        "declared",
        service=Service.parse(f"tcp/{case.port}"),
        chain="INPUT",
        to=server,
        sets=sets,
    )
    declared = reader_for("iptables-save").parse(case.path.read_bytes(), ctx)
    (verdicts,) = declared.verdicts
    sources = [a for a in sample_addresses(text + set_text, case.family) if a != server]
    kernel = kernel_verdicts(
        {case.family: case.path},
        "iptables",
        case.port,
        sources,
        case.ipset,
        server={case.family: server},
    )
    outcomes = {}
    for address in sources:
        segment = verdicts.lookup(int(ipaddress.ip_address(address)))
        outcomes[address] = segment
    # a connect that timed out on a busy machine is tried again, slowly, before it counts
    late = [a for a, s in outcomes.items() if s and s.outcome == "accept" and not kernel[a]]
    if late:
        kernel.update(
            kernel_verdicts(
                {case.family: case.path},
                "iptables",
                case.port,
                late,
                case.ipset,
                server={case.family: server},
                timeout=3.0,
            )
        )
    mismatches = []
    counts = {"accept": 0, "drop": 0, "conditional": 0}
    for address, segment in outcomes.items():
        outcome = segment.outcome if segment else "no verdict"
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "conditional":
            continue
        if (outcome == "accept") != kernel[address]:
            rule = segment.rule.describe() if segment else "-"
            said = "connected" if kernel[address] else "did not connect"
            mismatches.append(f"{address}: reader {outcome} ({rule}); kernel {said}")
    return Comparison(
        counts["accept"],
        len(sources) - counts["accept"] - counts["conditional"],
        counts["conditional"],
        tuple(mismatches),
    )


@pytest.mark.parametrize("case", fixture_cases(), ids=lambda c: c.id)
def test_fixture_verdicts_match_the_kernel(case: Case) -> None:
    require("iptables", ipset=case.ipset is not None)
    result = compare(case)
    assert not result.mismatches, result.message(case)
    # a fixture that proves something has both outcomes among many compared addresses
    assert result.compared >= 40, f"{case.id}: only {result.compared} addresses compared"
    assert result.accepted and result.dropped, f"{case.id}: {result}"


@pytest.mark.parametrize("case", [c for c in fixture_cases() if c.port == 25], ids=lambda c: c.id)
def test_fixture_passes_iptables_restore_test(case: Case) -> None:
    require("iptables", ipset=case.ipset is not None)
    assert restore_test(case.path, case.family, case.ipset) is None


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda c: c.id)
def test_corpus_verdicts_match_the_kernel(case: Case) -> None:
    require("iptables")
    refused = restore_test(case.path, case.family)
    if refused is not None:
        pytest.skip(f"iptables-restore --test refuses it: {refused.splitlines()[0]}")
    try:
        result = compare(case)
    except RulesetLoadError as e:
        pytest.skip(f"the kernel refuses it (--test did not see this): {e}")
    except ReaderError as e:
        pytest.skip(f"the reader refuses it: {e}")
    assert not result.mismatches, result.message(case)


def test_corpus_is_there_or_skipped() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the public corpus is not at {CORPUS}")
    assert corpus_cases(), f"no iptables file in {CORPUS}"


def test_the_harness_says_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    check = netns.unavailable.__wrapped__
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert check("iptables") == "network namespaces need root"
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda tool: None if tool == "ipset" else tool)
    assert check("nft", True) == "not installed: ipset"


def test_sample_addresses() -> None:
    text = (
        "-A INPUT -s 192.0.2.0/24 -m iprange --src-range 198.51.100.5-198.51.100.9 -j ACCEPT\n"
        "-A INPUT -s 127.0.0.0/8 -s 0.0.0.0/0 -d 10.255.0.1\n"
    )
    v4 = sample_addresses(text, 4)
    for address in ("192.0.2.0", "192.0.2.255", "192.0.1.255", "192.0.3.0", "198.51.100.5"):
        assert address in v4
    for address in ("198.51.100.4", "198.51.100.9", "198.51.100.10", "128.0.0.0"):
        assert address in v4
    # no loopback, "this network", broadcast or the server itself
    never = {"127.0.0.1", "127.255.255.255", "0.0.0.0", "255.255.255.255", "10.255.0.1"}  # noqa: S104 - never sampled, not bound
    assert not never & set(v4)
    assert v4 == sorted(set(v4), key=ipaddress.IPv4Address)
    assert v4 == sample_addresses(text, 4)  # seeded: the same every run
    v6 = sample_addresses("-A INPUT -s 2001:db8::/32 -s fe80::/10 -j ACCEPT\n", 6)
    assert {"2001:db8::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"} <= set(v6)
    assert not [a for a in v6 if a.startswith("fe80") or a in ("::", "::1")]


def test_a_mapped_source_in_an_ip6tables_export_lets_no_ipv4_sender_in(tmp_path: Path) -> None:
    """The kernel never runs an IPv4 packet through ip6tables: ``-s ::ffff:10.50.0.0/120``
    there lets no IPv4 sender in, so the reader keeps it IPv6 whatever the file's header."""
    require("iptables")
    fw4 = tmp_path / "fw4.rules"
    fw6 = tmp_path / "fw6.rules"
    fw4.write_text(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -s 10.50.0.128/25 -p tcp -m tcp --dport 25 -j ACCEPT\nCOMMIT\n",
        encoding="utf-8",
    )
    fw6.write_text(  # no header comment: its first address is the mapped one
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -s ::ffff:10.50.0.0/120 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -s 2001:db8::/32 -p tcp -m tcp --dport 25 -j ACCEPT\nCOMMIT\n",
        encoding="utf-8",
    )
    sources = ["10.50.0.7", "10.50.0.200", "2001:db8::7", "2001:db9::7"]
    kernel = kernel_verdicts({4: fw4, 6: fw6}, "iptables", 25, sources)
    ctx = ReadContext("fw", "declared", service=Service.parse("tcp/25"), chain="INPUT")
    exports = [reader_for("iptables-save").parse(p.read_bytes(), ctx) for p in (fw4, fw6)]
    assert [rs.families for rs in exports] == [(4,), (6,)]
    for address in sources:
        parsed = ipaddress.ip_address(address)
        (verdicts,) = [v for rs in exports for v in rs.verdicts if v.family == parsed.version]
        segment = verdicts.lookup(int(parsed))
        assert segment is not None
        assert (segment.outcome == "accept") == kernel[address], address
    assert kernel == {"10.50.0.7": False, "10.50.0.200": True, "2001:db8::7": True,
                      "2001:db9::7": False}  # fmt: skip
