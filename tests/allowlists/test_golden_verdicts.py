"""Golden verdict files: for every ruleset reader and fixture, the allowed, denied and conditional
addresses with their deciding rules, the chains a packet crosses (stages), and how complete the
reading was, so that a change of any verdict fails here with a diff.

Each case below reads one fixture through the public reader API and compares the result, written
as stable JSON, with ``tests/golden/<reader>/<fixture>.<query>.json``. After an intended change,
regenerate the files and review their diff::

    AUDITOR_REGEN_GOLDEN=1 python3 -m pytest tests/allowlists/test_golden_verdicts.py

The case list is kept here, not found by listing the directory: a golden file that is missing is
a failure, and so is a file no case writes.

Companion files (an ``ipset save`` for ``-m set`` rules, AWS prefix lists) are read with their own
readers; each group they hold becomes a named set of the context, as the command line gives them.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor.allowlists import ReadContext, reader_for
from auditor.model import RangeSet, RuleRef, Segment, Stage, Verdicts
from auditor.service import Service

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "fixtures"
GOLDEN = TESTS / "golden"
REGEN = os.environ.get("AUDITOR_REGEN_GOLDEN") == "1"

SERVER = {4: "10.255.0.1", 6: "fd00:255::1"}
"""The server address the destination fixtures are written for."""

MAIL_PORTS = "tcp/25,465,587"


@dataclass(frozen=True)
class Case:
    """One reading: a fixture (relative to tests/fixtures) with a reader and a query."""

    reader: str
    fixture: str
    service: str = "tcp/25"
    chain: str | None = None
    to: str | None = None
    companion: tuple[str, str] | None = None
    """(reader, fixture) of a file whose groups resolve the ruleset's named sets."""

    @property
    def golden(self) -> str:
        """The golden file's path, relative to tests/golden."""
        parts = [Path(self.fixture).name]
        if self.companion is not None:
            parts.append("with-" + Path(self.companion[1]).name)
        if self.chain is not None:
            parts.append("chain-" + self.chain)
        if self.to is not None:
            parts.append("to-" + self.to.replace(":", "_"))
        parts.append(self.service.replace("/", "-").replace(",", "_"))
        return f"{self.reader}/{'.'.join(parts)}.json"


def _each(reader: str, folder: str, *names: str) -> list[Case]:
    return [Case(reader, f"{folder}/{name}") for name in names]


FW = "firewall"
IPTABLES = (
    "ip6tables_ufw.v6",
    "iptables_chains.v4",
    "iptables_destination.v4",
    "iptables_docker-fail2ban.v4",
    "iptables_interfaces.v4",
    "iptables_ipset.v4",
    "iptables_negation.v4",
    "iptables_policy-accept.v4",
    "iptables_ports.v4",
    "iptables_restore-syntax.v4",
    "iptables_shadow.v4",
    "iptables_sport.v4",
    "iptables_state.v4",
    "iptables_tables.v4",
    "iptables_ufw.v4",
)
NFT = (
    "nft_base-chains.nft",
    "nft_chains.nft",
    "nft_commands.nft",
    "nft_conntrack-order.nft",
    "nft_destination.nft",
    "nft_interfaces.nft",
    "nft_ip-only.nft",
    "nft_limits.nft",
    "nft_negation.nft",
    "nft_policy-accept.nft",
    "nft_sets.nft",
    "nft_shadow.nft",
    "nft_sport.nft",
    "nft_state.nft",
    "nft_vmap.nft",
)


def _nft_extras(reader: str, suffix: str) -> list[Case]:
    return [
        Case(reader, f"{FW}/nft_destination.nft{suffix}", to=SERVER[4]),
        Case(reader, f"{FW}/nft_destination.nft{suffix}", to=SERVER[6]),
        Case(reader, f"{FW}/nft_sets.nft{suffix}", service="tcp/25,110"),
        Case(reader, f"{FW}/nft_vmap.nft{suffix}", service="any"),
        Case(reader, f"{FW}/nft_chains.nft{suffix}", service="any"),
        Case(reader, f"{FW}/nft_base-chains.nft{suffix}", service="any"),
        Case(reader, f"{FW}/nft_sport.nft{suffix}", service="tcp/20-30"),
    ]


CASES: list[Case] = [
    # iptables-save
    *_each("iptables-save", FW, *IPTABLES),
    Case("iptables-save", f"{FW}/ip6tables_semantics.v6"),
    Case(
        "iptables-save",
        f"{FW}/ip6tables_semantics.v6",
        companion=("ipset", f"{FW}/ipset_mail6.ipset"),
    ),
    Case("iptables-save", f"{FW}/iptables_ipset.v4", companion=("ipset", f"{FW}/ipset_mail.ipset")),
    Case("iptables-save", f"{FW}/iptables_destination.v4", to=SERVER[4]),
    Case("iptables-save", f"{FW}/iptables_docker-fail2ban.v4", chain="FORWARD"),
    Case("iptables-save", f"{FW}/iptables_ufw.v4", chain="ufw-user-input"),
    Case("iptables-save", f"{FW}/iptables_ports.v4", service="any"),
    Case("iptables-save", f"{FW}/iptables_ports.v4", service=MAIL_PORTS),
    Case("iptables-save", f"{FW}/iptables_ports.v4", service="tcp/20-30"),
    Case("iptables-save", f"{FW}/iptables_chains.v4", service="any"),
    Case("iptables-save", f"{FW}/iptables_tables.v4", service="any"),
    # nftables, text and JSON
    *_each("nftables", FW, *NFT),
    *_nft_extras("nftables", ""),
    *_each("nftables-json", FW, *(name + ".json" for name in NFT)),
    *_nft_extras("nftables-json", ".json"),
    # host firewalls
    *_each(
        "ufw-status",
        "hostfw",
        "ufw_inactive.txt",
        "ufw_ipv4_only.txt",
        "ufw_numbered.txt",
        "ufw_plain.txt",
        "ufw_verbose.txt",
    ),
    Case("ufw-status", "hostfw/ufw_verbose.txt", service="any"),
    Case("ufw-status", "hostfw/ufw_verbose.txt", service=MAIL_PORTS),
    Case("ufw-status", "hostfw/ufw_numbered.txt", chain="FORWARD"),
    Case("ufw-status", "hostfw/ufw_numbered.txt", to="192.0.2.200"),
    *_each(
        "firewalld-zone",
        "hostfw",
        "zone_interface.xml",
        "zone_rich.xml",
        "zone_sources.xml",
        "zone_unknown_service.xml",
    ),
    Case("firewalld-zone", "hostfw/zone_rich.xml", service="any"),
    Case("firewalld-zone", "hostfw/zone_rich.xml", service=MAIL_PORTS),
    Case("firewalld-zone", "hostfw/zone_sources.xml", service="any"),
    Case("firewalld-zone", "hostfw/zone_unknown_service.xml", service="tcp/587"),
    # web servers (the service does not change their verdicts)
    *_each(
        "nginx",
        "mailserver/nginx",
        "hooks.conf",
        "include.conf",
        "locations.conf",
        "nginx-T.txt",
        "satisfy.conf",
    ),
    Case("nginx", "mailserver/nginx/hooks.conf", service="any"),
    *_each(
        "apache",
        "mailserver/apache",
        "all-granted.conf",
        "any.conf",
        "legacy.htaccess",
        "mixed.conf",
        "require.conf",
    ),
    Case("apache", "mailserver/apache/require.conf", service="any"),
    # postfix (main.cf reads the tables it names from its own folder)
    *_each("postfix-main-cf", "mailserver/postfix", "main.cf", "no-mynetworks.cf", "partial.cf"),
    Case("postfix-main-cf", "mailserver/postfix/main.cf", service="any"),
    *_each("postconf", "mailserver/postfix", "main.cf", "partial.cf"),
    *_each("postfix-mynetworks", "mailserver/postfix", "mynetworks.extra"),
    *_each("postfix-cidr", "mailserver/postfix", "client_access.cidr", "relays.cidr"),
    Case("postfix-cidr", "mailserver/postfix/client_access.cidr", service="any"),
    # cloud
    *_each("aws-security-group", "cloud", "sg.json", "sg-pairs.json", "sg-prefix.json"),
    Case(
        "aws-security-group",
        "cloud/sg-prefix.json",
        companion=("aws-prefix-list", "cloud/prefix-lists.json"),
    ),
    Case("aws-security-group", "cloud/sg.json", chain="admin"),
    Case("aws-security-group", "cloud/sg.json", service="any"),
    Case("aws-security-group", "cloud/sg.json", service=MAIL_PORTS),
    Case("aws-network-acl", "cloud/nacl.json"),
    Case("aws-network-acl", "cloud/nacl.json", chain="acl-01"),
    Case("aws-network-acl", "cloud/nacl.json", chain="subnet-02"),
    Case("aws-network-acl", "cloud/nacl.json", service="any"),
    Case("aws-network-acl", "cloud/nacl.json", chain="acl-01", service=MAIL_PORTS),
    *_each("azure-nsg", "cloud", "nsg.json", "nsg-cli.json"),
    Case("azure-nsg", "cloud/nsg.json", chain="mail-nsg"),
    Case("azure-nsg", "cloud/nsg.json", service="any"),
    Case("azure-nsg", "cloud/nsg.json", service="tcp/25,587"),
    Case("gcp-firewall", "cloud/gcp.json"),
    Case("gcp-firewall", "cloud/gcp.json", service="any"),
    Case("gcp-firewall", "cloud/gcp.json", service=MAIL_PORTS),
]


# --- reading ------------------------------------------------------------------------------------


def _named_sets(fmt: str, path: Path) -> dict[str, list[tuple[int, int, int]]]:
    """The groups of a companion file as named sets: name to (family, first, last) members."""
    rs = reader_for(fmt).parse(path.read_bytes(), ReadContext(path.name, "declared"))
    sets: dict[str, list[tuple[int, int, int]]] = {group: [] for group in rs.groups}
    for entry in rs.entries:
        if entry.group is not None:
            sets.setdefault(entry.group, []).append((entry.family, entry.first, entry.last))
    return sets


def read_case(case: Case) -> RangeSet:
    """The fixture read as the command line reads it, named by its file name only (the caller
    runs in the fixture's folder, where main.cf finds the tables it names)."""
    path = FIXTURES / case.fixture
    sets = (
        {}
        if case.companion is None
        else _named_sets(case.companion[0], FIXTURES / case.companion[1])
    )
    ctx = ReadContext(
        path.name,
        "declared",
        service=Service.parse(case.service),
        chain=case.chain,
        to=case.to,
        sets=sets,
    )
    return reader_for(case.reader).parse(path.read_bytes(), ctx)


# --- writing ------------------------------------------------------------------------------------


def _address(family: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def _range(family: int, first: int, last: int) -> str:
    """One CIDR when the range is one, else ``first-last``."""
    cidrs = list(
        ipaddress.summarize_address_range(
            ipaddress.ip_address(_address(family, first)),
            ipaddress.ip_address(_address(family, last)),
        )
    )
    if len(cidrs) == 1:
        return str(cidrs[0])
    return f"{_address(family, first)}-{_address(family, last)}"


def _rule(rule: RuleRef) -> dict[str, Any]:
    out: dict[str, Any] = {"origin": str(rule.origin), "text": rule.text}
    if rule.why:
        out["why"] = rule.why
    return out


def _segments(family: int, segments: tuple[Segment, ...]) -> list[dict[str, Any]]:
    return [
        {"range": _range(family, s.first, s.last), "outcome": s.outcome, "rule": _rule(s.rule)}
        for s in segments
    ]


def _stage(family: int, stage: Stage) -> dict[str, Any]:
    return {
        "platform": stage.platform,
        "table_family": stage.table_family,
        "table": stage.table,
        "chain": stage.chain,
        "hook": stage.hook,
        "priority": stage.priority,
        "kind": stage.kind,
        "segments": _segments(family, stage.segments),
    }


def _verdicts(v: Verdicts) -> dict[str, Any]:
    return {
        "family": v.family,
        "segments": _segments(v.family, v.segments),
        "stages": [_stage(v.family, stage) for stage in v.stages],
    }


def serialise(case: Case, rs: RangeSet) -> str:
    query: dict[str, Any] = {"service": case.service, "chain": case.chain, "to": case.to}
    if case.companion is not None:
        query["companion"] = {"reader": case.companion[0], "file": Path(case.companion[1]).name}
    doc = {
        "reader": case.reader,
        "fixture": case.fixture,
        "query": query,
        "completeness": rs.completeness.value,
        "reasons": list(rs.reasons),
        "families": list(rs.families),
        "verdicts": [_verdicts(v) for v in rs.verdicts],
    }
    return _dump(doc, 0) + "\n"


def _dump(value: Any, depth: int) -> str:
    """JSON with sorted keys and an indent of one, each segment on a line of its own."""
    if isinstance(value, dict) and "range" in value:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dump(value[k], depth + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        items = [inner + _dump(item, depth + 1) for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.golden)
def test_golden_verdicts(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir((FIXTURES / case.fixture).parent)
    rs = read_case(case)
    assert rs.verdicts, f"{case.reader} gave no verdicts for {case.fixture}"
    actual = serialise(case, rs)
    assert str(TESTS) not in actual, "an origin holds an absolute path"
    path = GOLDEN / case.golden
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != actual:
            path.write_text(actual, encoding="utf-8")
    if not path.exists():
        pytest.fail(
            f"golden file tests/golden/{case.golden} is missing; write it with"
            " AUDITOR_REGEN_GOLDEN=1 and review it"
        )
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"tests/golden/{case.golden} (expected)",
            f"{case.reader} {case.fixture} (actual)",
        )
        pytest.fail("verdicts differ from the golden file:\n" + "".join(diff), pytrace=False)


def test_cases_are_distinct_and_every_golden_file_has_one() -> None:
    names = [case.golden for case in CASES]
    assert len(names) == len(set(names))
    on_disk = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.json")}
    assert sorted(on_disk - set(names)) == [], "golden files that no case writes"
