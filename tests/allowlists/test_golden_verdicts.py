"""Golden verdict files: for every ruleset reader and fixture, the allowed, denied and conditional
addresses with their deciding rules, the chains a packet crosses (stages), and how complete the
reading was, so that a change of any verdict fails here with a diff.

Each case of the table below reads one fixture through the public reader API and compares the
result, written as stable JSON, with ``tests/golden/<reader>/<fixture>.<query>.json``. After an
intended change, regenerate the files and review their diff::

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


CASES_TABLE = """
# reader            fixture (in tests/fixtures)           service= chain= to= with=reader:file
# every fixture of a ruleset reader at tcp/25
iptables-save       firewall/ip6tables_semantics.v6
iptables-save       firewall/ip6tables_semantics.v6       with=ipset:firewall/ipset_mail6.ipset
iptables-save       firewall/ip6tables_ufw.v6
iptables-save       firewall/iptables_chains.v4
iptables-save       firewall/iptables_destination.v4
iptables-save       firewall/iptables_docker-fail2ban.v4
iptables-save       firewall/iptables_interfaces.v4
iptables-save       firewall/iptables_ipset.v4
iptables-save       firewall/iptables_ipset.v4            with=ipset:firewall/ipset_mail.ipset
iptables-save       firewall/iptables_negation.v4
iptables-save       firewall/iptables_policy-accept.v4
iptables-save       firewall/iptables_ports.v4
iptables-save       firewall/iptables_restore-syntax.v4
iptables-save       firewall/iptables_shadow.v4
iptables-save       firewall/iptables_sport.v4
iptables-save       firewall/iptables_state.v4
iptables-save       firewall/iptables_tables.v4
iptables-save       firewall/iptables_ufw.v4
nftables            firewall/nft_base-chains.nft
nftables            firewall/nft_chains.nft
nftables            firewall/nft_commands.nft
nftables            firewall/nft_conntrack-order.nft
nftables            firewall/nft_destination.nft
nftables            firewall/nft_interfaces.nft
nftables            firewall/nft_ip-only.nft
nftables            firewall/nft_limits.nft
nftables            firewall/nft_negation.nft
nftables            firewall/nft_policy-accept.nft
nftables            firewall/nft_sets.nft
nftables            firewall/nft_shadow.nft
nftables            firewall/nft_sport.nft
nftables            firewall/nft_state.nft
nftables            firewall/nft_vmap.nft
nftables-json       firewall/nft_base-chains.nft.json
nftables-json       firewall/nft_chains.nft.json
nftables-json       firewall/nft_commands.nft.json
nftables-json       firewall/nft_conntrack-order.nft.json
nftables-json       firewall/nft_destination.nft.json
nftables-json       firewall/nft_interfaces.nft.json
nftables-json       firewall/nft_ip-only.nft.json
nftables-json       firewall/nft_limits.nft.json
nftables-json       firewall/nft_negation.nft.json
nftables-json       firewall/nft_policy-accept.nft.json
nftables-json       firewall/nft_sets.nft.json
nftables-json       firewall/nft_shadow.nft.json
nftables-json       firewall/nft_sport.nft.json
nftables-json       firewall/nft_state.nft.json
nftables-json       firewall/nft_vmap.nft.json
ufw-status          hostfw/ufw_inactive.txt
ufw-status          hostfw/ufw_ipv4_only.txt
ufw-status          hostfw/ufw_numbered.txt
ufw-status          hostfw/ufw_plain.txt
ufw-status          hostfw/ufw_verbose.txt
firewalld-zone      hostfw/zone_interface.xml
firewalld-zone      hostfw/zone_rich.xml
firewalld-zone      hostfw/zone_sources.xml
firewalld-zone      hostfw/zone_unknown_service.xml
nginx               mailserver/nginx/hooks.conf
nginx               mailserver/nginx/include.conf
nginx               mailserver/nginx/locations.conf
nginx               mailserver/nginx/nginx-T.txt
nginx               mailserver/nginx/satisfy.conf
apache              mailserver/apache/all-granted.conf
apache              mailserver/apache/any.conf
apache              mailserver/apache/legacy.htaccess
apache              mailserver/apache/mixed.conf
apache              mailserver/apache/require.conf
postfix-main-cf     mailserver/postfix/main.cf
postfix-main-cf     mailserver/postfix/no-mynetworks.cf
postfix-main-cf     mailserver/postfix/partial.cf
postconf            mailserver/postfix/main.cf
postconf            mailserver/postfix/partial.cf
postfix-mynetworks  mailserver/postfix/mynetworks.extra
postfix-cidr        mailserver/postfix/client_access.cidr
postfix-cidr        mailserver/postfix/relays.cidr
aws-security-group  cloud/sg.json
aws-security-group  cloud/sg-pairs.json
aws-security-group  cloud/sg-prefix.json
aws-security-group  cloud/sg-prefix.json  with=aws-prefix-list:cloud/prefix-lists.json
aws-network-acl     cloud/nacl.json
azure-nsg           cloud/nsg.json
azure-nsg           cloud/nsg-cli.json
gcp-firewall        cloud/gcp.json
# other services, chains and destinations
iptables-save       firewall/iptables_destination.v4      to=10.255.0.1
iptables-save       firewall/iptables_docker-fail2ban.v4  chain=FORWARD
iptables-save       firewall/iptables_ufw.v4              chain=ufw-user-input
iptables-save       firewall/iptables_ports.v4            service=any
iptables-save       firewall/iptables_ports.v4            service=tcp/25,465,587
iptables-save       firewall/iptables_ports.v4            service=tcp/20-30
iptables-save       firewall/iptables_chains.v4           service=any
iptables-save       firewall/iptables_tables.v4           service=any
nftables            firewall/nft_destination.nft          to=10.255.0.1
nftables            firewall/nft_destination.nft          to=fd00:255::1
nftables            firewall/nft_sets.nft                 service=tcp/25,110
nftables            firewall/nft_vmap.nft                 service=any
nftables            firewall/nft_chains.nft               service=any
nftables            firewall/nft_base-chains.nft          service=any
nftables            firewall/nft_sport.nft                service=tcp/20-30
nftables-json       firewall/nft_destination.nft.json     to=10.255.0.1
nftables-json       firewall/nft_destination.nft.json     to=fd00:255::1
nftables-json       firewall/nft_sets.nft.json            service=tcp/25,110
nftables-json       firewall/nft_vmap.nft.json            service=any
nftables-json       firewall/nft_chains.nft.json          service=any
nftables-json       firewall/nft_base-chains.nft.json     service=any
nftables-json       firewall/nft_sport.nft.json           service=tcp/20-30
ufw-status          hostfw/ufw_verbose.txt                service=any
ufw-status          hostfw/ufw_verbose.txt                service=tcp/25,465,587
ufw-status          hostfw/ufw_numbered.txt               chain=FORWARD
ufw-status          hostfw/ufw_numbered.txt               to=192.0.2.200
firewalld-zone      hostfw/zone_rich.xml                  service=any
firewalld-zone      hostfw/zone_rich.xml                  service=tcp/25,465,587
firewalld-zone      hostfw/zone_sources.xml               service=any
firewalld-zone      hostfw/zone_unknown_service.xml       service=tcp/587
# (web servers and Postfix do not filter on the service: these keep it that way)
nginx               mailserver/nginx/hooks.conf           service=any
apache              mailserver/apache/require.conf        service=any
postfix-main-cf     mailserver/postfix/main.cf            service=any
postfix-cidr        mailserver/postfix/client_access.cidr service=any
aws-security-group  cloud/sg.json                         chain=admin
aws-security-group  cloud/sg.json                         service=any
aws-security-group  cloud/sg.json                         service=tcp/25,465,587
aws-network-acl     cloud/nacl.json                       chain=acl-01
aws-network-acl     cloud/nacl.json                       chain=subnet-02
aws-network-acl     cloud/nacl.json                       service=any
aws-network-acl     cloud/nacl.json                       chain=acl-01 service=tcp/25,465,587
azure-nsg           cloud/nsg.json                        chain=mail-nsg
azure-nsg           cloud/nsg.json                        service=any
azure-nsg           cloud/nsg.json                        service=tcp/25,587
gcp-firewall        cloud/gcp.json                        service=any
gcp-firewall        cloud/gcp.json                        service=tcp/25,465,587
"""


def _case(row: str) -> Case:
    """A row of :data:`CASES_TABLE`: reader, fixture, then ``key=value`` fields of the query."""
    reader, fixture, *query = row.split()
    options = dict(item.split("=", 1) for item in query)
    companion = None
    if "with" in options:
        fmt, _, path = options.pop("with").partition(":")
        companion = (fmt, path)
    return Case(reader, fixture, companion=companion, **options)


CASES = [_case(row) for row in CASES_TABLE.splitlines() if row.strip() and not row.startswith("#")]


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
