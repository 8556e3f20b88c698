"""The appliance platforms (Cisco ASA and IOS, JunOS, PAN-OS, FortiOS, MikroTik, Windows
Firewall, Kubernetes, pfSense): every CIDR once in each vendor's grammar, rollback and prune
forms, limits and chunking, and hostile names and origins that never reach a new line or
command. None of these devices runs here, so the syntax is checked against the documented
grammar line by line; YAML and XML are parsed, shell scripts pass ``bash -n``."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import UsageError
from auditor.model import MissingBlock, Origin
from auditor.rules import RuleOptions, generator_for
from auditor.rules.artifacts import Artifact, full_text
from auditor.rules.fortios import FortiosGenerator
from auditor.rules.panos import PanosGenerator
from auditor.rules.windows import WindowsGenerator

from .helpers import HOSTILE_SOURCES, block, edge_blocks, options, small_blocks

PLATFORMS = ("asa", "ios", "junos", "panos", "fortios", "mikrotik", "windows", "k8s", "pfsense")
PRUNING = ("asa", "junos", "mikrotik", "windows")


def arts(platform: str, blocks: Sequence[MissingBlock], opts: RuleOptions) -> list[Artifact]:
    return generator_for(platform).checked_artifacts(blocks, opts)


def one(found: list[Artifact], kind: str, family: int | None = None) -> Artifact:
    [art] = [a for a in found if a.kind == kind and a.family == family]
    return art


def code(text: str, comment: str = "#") -> list[str]:
    """The lines of a body that are not comments."""
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(comment)
    ]


def net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


MIXED = small_blocks() + edge_blocks()
V4 = sorted(str(b.cidr) for b in MIXED if b.family == 4)
V6 = sorted(str(b.cidr) for b in MIXED if b.family == 6)


# --- Cisco ASA ---------------------------------------------------------------------------------

ASA_V4 = re.compile(r" network-object (\S+) (\S+)")
ASA_V6 = re.compile(r" network-object (\S+/\d+)")


def test_asa_network_objects_use_masks_for_ipv4_and_prefixes_for_ipv6() -> None:
    found = arts("asa", MIXED, options("tcp/25,587,1024-2048", "outside_access_in"))
    body = one(found, "apply").body
    v4, v6 = [], []
    for line in code(body, "!"):
        if m := ASA_V4.fullmatch(line):
            v4.append(str(net(f"{m[1]}/{m[2]}")))  # the mask must be a valid netmask
        elif m := ASA_V6.fullmatch(line):
            v6.append(str(net(m[1])))
    assert sorted(v4) == sorted(str(net(c)) for c in V4)
    assert sorted(v6) == sorted(str(net(c)) for c in V6)
    assert " network-object 192.0.2.0 255.255.255.0" in body.splitlines()
    acl = [line for line in body.splitlines() if line.startswith("access-list")]
    assert acl == [
        "access-list outside_access_in line 1 extended permit tcp object-group"
        f" auditor-tcp25-587-1024-2048 any {m}"
        for m in ("eq 25", "eq 587", "range 1024 2048")
    ]
    back = code(one(found, "rollback").body, "!")
    assert back == [f"no {a.replace(' line 1', '')}" for a in acl] + [
        "no object-group network auditor-tcp25-587-1024-2048"
    ]


def test_asa_with_a_scope_fills_the_group_and_prunes_it() -> None:
    extra = [block("203.0.113.0/24", Origin("allow.txt", 9))]
    opts = replace(options(), scope=("O365",), prune=tuple(extra))
    found = arts("asa", small_blocks(), opts)
    apply = one(found, "apply").body
    assert "access-list" not in apply and "object-group network O365" in apply
    assert code(one(found, "rollback").body, "!")[0] == "object-group network O365"
    assert code(one(found, "prune").body, "!") == [
        "object-group network O365",
        " no network-object 203.0.113.0 255.255.255.0",
        "exit",
    ]
    # a prune alone (nothing missing) is still written
    assert [a.kind for a in arts("asa", [], opts)] == ["prune"]


def test_asa_any_service_permits_ip() -> None:
    body = one(arts("asa", small_blocks(), options("any")), "apply").body
    assert "access-list INPUT line 1 extended permit ip object-group auditor-any any" in body


# --- Cisco IOS ---------------------------------------------------------------------------------

IOS_V4 = re.compile(r" (\d+) permit (tcp|udp|ip) (\S+) (\S+) any(?: (eq \d+|range \d+ \d+))?")
IOS_V6 = re.compile(r" permit (tcp|udp|ipv6) (\S+) any(?: (eq \d+|range \d+ \d+))? sequence (\d+)")


def test_ios_entries_use_wildcard_masks_and_come_first() -> None:
    found = arts("ios", MIXED, options("tcp/25,465", "MAIL-IN"))
    v4 = one(found, "apply", 4).body
    lines = code(v4, "!")
    assert lines[:2] == [
        "ip access-list resequence MAIL-IN 100000 10",
        "ip access-list extended MAIL-IN",
    ]
    seen, seqs = [], []
    for line in lines[2:-1]:
        m = IOS_V4.fullmatch(line)
        assert m, line
        wildcard = int(ipaddress.IPv4Address(m[4]))
        assert wildcard & (wildcard + 1) == 0, line  # low bits only: a wildcard mask
        network = net(f"{m[3]}/{32 - wildcard.bit_length()}")
        seen.append((str(network), m[5]))
        seqs.append(int(m[1]))
    assert lines[-1] == "exit"
    assert seqs == list(range(10, 10 * len(seqs) + 1, 10)) and max(seqs) < 100000
    assert sorted(seen) == sorted((str(net(c)), p) for c in V4 for p in ("eq 25", "eq 465"))
    assert " 10 permit tcp 0.0.0.0 0.0.0.0 any eq 25" in v4.splitlines()
    assert " 30 permit tcp 10.0.0.0 0.255.255.255 any eq 25" in v4.splitlines()
    v6 = code(one(found, "apply", 6).body, "!")
    assert v6[:2] == ["ipv6 access-list resequence MAIL-IN 100000 10", "ipv6 access-list MAIL-IN"]
    assert sorted(str(net(m[2])) for line in v6[2:-1] if (m := IOS_V6.fullmatch(line))) == sorted(
        str(net(c)) for c in V6 for _ in range(2)
    )
    back = code(one(found, "rollback", 4).body, "!")
    assert back[0] == "ip access-list extended MAIL-IN" and back[-1] == "exit"
    assert back[1:-1] == [" no " + line.split(" ", 2)[2] for line in lines[2:-1]]


# --- JunOS -------------------------------------------------------------------------------------


def test_junos_prefix_lists_and_terms_per_family() -> None:
    found = arts("junos", MIXED, options("tcp/25,1024-2048", "mail-in"))
    v4, v6 = one(found, "apply", 4).body, one(found, "apply", 6).body
    pl = "set policy-options prefix-list auditor-tcp25-1024-2048-v4 "
    assert sorted(line[len(pl) :] for line in code(v4) if line.startswith(pl)) == sorted(V4)
    term = "set firewall family inet filter mail-in term auditor-tcp25-1024-2048 "
    assert [line[len(term) :] for line in code(v4) if line.startswith(term)] == [
        "from source-prefix-list auditor-tcp25-1024-2048-v4",
        "from protocol tcp",
        "from destination-port [ 25 1024-2048 ]",
        "then accept",
    ]
    assert "family inet6 filter mail-in term auditor-tcp25-1024-2048 from next-header tcp" in v6
    assert all(line.startswith("set ") for line in code(v4) + code(v6))
    assert code(one(found, "rollback", 6).body) == [
        "delete firewall family inet6 filter mail-in term auditor-tcp25-1024-2048",
        "delete policy-options prefix-list auditor-tcp25-1024-2048-v6",
    ]


def test_junos_scope_and_prune() -> None:
    extra = (block("203.0.113.0/24"), block("2001:db8:ff::/48"))
    found = arts("junos", small_blocks(), replace(options(), scope=("o365",), prune=extra))
    assert "firewall" not in one(found, "apply", 4).body
    assert code(one(found, "prune").body) == [
        "delete policy-options prefix-list o365 203.0.113.0/24",
        "delete policy-options prefix-list o365 2001:db8:ff::/48",
    ]


# --- PAN-OS ------------------------------------------------------------------------------------

PAN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")


def test_panos_objects_groups_rule_on_top() -> None:
    found = arts("panos", MIXED, options("tcp/25,587", "untrust"))
    lines = code(one(found, "apply").body)
    addresses = {}
    for line in lines:
        if m := re.fullmatch(r"set address (\S+) ip-netmask (\S+)", line):
            assert PAN_NAME.fullmatch(m[1]), m[1]
            addresses[m[1]] = m[2]
    assert sorted(addresses.values()) == sorted(V4 + V6)
    [group] = [line for line in lines if line.startswith("set address-group")]
    members = re.fullmatch(r"set address-group auditor-tcp25-587 static \[ (.*) \]", group)
    assert members and sorted(members[1].split()) == sorted(addresses)
    assert "set service auditor-tcp25-587 protocol tcp port 25,587" in lines
    rule = "rulebase security rules auditor-tcp25-587"
    assert f"set {rule} from untrust to any source [ auditor-tcp25-587 ] destination any" in lines
    assert lines[-1] == f"move {rule} top"
    back = code(one(found, "rollback").body)
    assert back[:3] == [
        f"delete {rule}",
        "delete address-group auditor-tcp25-587",
        "delete service auditor-tcp25-587",
    ]
    assert sorted(back[3:]) == sorted(f"delete address {n}" for n in addresses)


class SmallPanos(PanosGenerator):
    max_group_members: ClassVar[int] = 2


class SmallFortios(FortiosGenerator):
    max_group_members: ClassVar[int] = 2


def test_panos_and_fortios_chunk_groups_deterministically() -> None:
    blocks = [block(f"198.51.100.{i * 16}/28") for i in range(5)]
    lines = code(one(SmallPanos().checked_artifacts(blocks, options()), "apply").body)
    groups = [line.split()[2] for line in lines if line.startswith("set address-group")]
    assert groups == ["auditor-tcp25", "auditor-tcp25-2", "auditor-tcp25-3"]
    assert any("source [ auditor-tcp25 auditor-tcp25-2 auditor-tcp25-3 ]" in x for x in lines)
    body = one(SmallFortios().checked_artifacts(blocks, options()), "apply", 4).body
    assert re.findall(r'edit "(auditor-tcp25-v4[^"]*)"', body) == [
        "auditor-tcp25-v4",
        "auditor-tcp25-v4-2",
        "auditor-tcp25-v4-3",
    ]
    assert [len(m.split()) for m in re.findall(r"append member (.*)", body)] == [2, 2, 1]


def test_panos_refuses_a_name_over_63_characters() -> None:
    with pytest.raises(UsageError, match="63"):
        arts("panos", small_blocks(), replace(options(), scope=("g" * 64,)))
    arts("panos", small_blocks(), replace(options(), scope=("g" * 63,)))


# --- FortiOS -----------------------------------------------------------------------------------


def test_fortios_address_and_address6_objects() -> None:
    found = arts("fortios", MIXED, replace(options(), scope=("Mail_Senders",)))
    v4 = one(found, "apply", 4).body
    subnets = re.findall(r"\n        set subnet (\S+) (\S+)\n", v4)
    assert sorted(str(net(f"{a}/{m}")) for a, m in subnets) == sorted(str(net(c)) for c in V4)
    assert 'config firewall addrgrp\n    edit "Mail_Senders"\n        append member ' in v4
    v6 = one(found, "apply", 6).body
    assert sorted(re.findall(r"set ip6 (\S+)", v6)) == sorted(V6)
    assert "config firewall addrgrp6" in v6
    back = one(found, "rollback", 6).body
    assert (
        "unselect member" in back
        and 'delete "auditor-ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff_128"' in back
    )
    with pytest.raises(UsageError, match="by its id"):
        arts("fortios", MIXED, options(chain="port1"))


# --- MikroTik ----------------------------------------------------------------------------------


def test_mikrotik_address_lists_checked_before_add() -> None:
    extra = (block("203.0.113.7/32"),)
    found = arts("mikrotik", MIXED, options("tcp/25", "FORWARD"))
    v4 = code(one(found, "apply", 4).body)
    assert v4[0] == "/ip firewall address-list"
    adds = [
        re.fullmatch(
            r':if \(\[:len \[find list="auditor-tcp25" address=(\S+)\]\] = 0\) do=\{'
            r' add list="auditor-tcp25" address=\1 comment="[^"$\\\[\]]*" \}',
            x,
        )
        for x in v4[1:-2]
    ]
    assert all(adds), v4
    got = [str(net(m[1])) for m in adds if m]
    assert sorted(got) == sorted(str(net(c)) for c in V4)
    assert "address=198.51.100.7 " in one(found, "apply", 4).body  # a host as RouterOS shows it
    assert v4[-2] == "/ip firewall filter" and "chain=forward" in v4[-1]
    assert "place-before=[:pick [find dynamic=no] 0]" in v4[-1]
    assert code(one(found, "apply", 6).body)[0] == "/ipv6 firewall address-list"
    prune = arts("mikrotik", [], replace(options(), scope=("senders",), prune=extra))
    assert code(one(prune, "prune", 4).body) == [
        "/ip firewall address-list",
        'remove [find list="senders" address=203.0.113.7]',
    ]


# --- Windows -----------------------------------------------------------------------------------


def ps_strings(text: str) -> list[str]:
    """Every string literal of a PowerShell script, read as PowerShell reads it: a
    single-quoted string ends at a lone quote ('' is one quote); a double-quoted string, a
    here-string or a stray quote fails the test."""
    out, i = [], 0
    quotes = "'\u2018\u2019\u201a\u201b"
    while i < len(text):
        c = text[i]
        if c == "#":  # a comment to the end of the line
            i = text.index("\n", i)
        elif c in quotes:
            j, value = i + 1, []
            while True:
                if text[j] in quotes and j + 1 < len(text) and text[j + 1] in quotes:
                    value.append(text[j])
                    j += 2
                elif text[j] in quotes:
                    break
                else:
                    assert text[j] != "\n", "a string may not span lines here"
                    value.append(text[j])
                    j += 1
            out.append("".join(value))
            i = j + 1
        else:
            assert c not in '"`\u201c\u201d', f"unexpected {c!r} at {i}: {text[i - 40 : i + 40]!r}"
            i += 1
    return out


def test_windows_script_quotes_every_string_and_checks_before_adding() -> None:
    found = arts("windows", MIXED, options("tcp/25,1024-2048"))
    apply = one(found, "apply").body
    strings = ps_strings(apply)
    assert all(c in strings for c in V4 + V6)
    assert "192.0.2.0/255.255.255.0" in strings and "198.51.100.7" in strings
    assert "Get-NetFirewallRule -Name 'auditor-tcp25-1024-2048' -ErrorAction" in apply
    assert "-LocalPort @('25', '1024-2048')" in apply and "-Protocol 'TCP'" in apply
    back = one(found, "rollback").body
    ps_strings(back)
    assert "Remove-NetFirewallRule -Name 'auditor-tcp25-1024-2048'" in back
    scoped = arts("windows", small_blocks(), replace(options(), scope=("Mail (SMTP-In)",)))
    assert "$rule | Disable-NetFirewallRule" in one(scoped, "rollback").body
    for bad in ("it's", "a\u2019b", "x$(id)", "a`b", 'q"q', "a\nb"):
        with pytest.raises(UsageError):
            arts("windows", small_blocks(), replace(options(), scope=(bad,)))


def test_windows_splits_rules_past_the_address_limit() -> None:
    class Small(WindowsGenerator):
        max_entries_rule: ClassVar[int] = 2

    blocks = [block(f"198.51.100.{i * 16}/28") for i in range(3)]
    apply = one(Small().checked_artifacts(blocks, options()), "apply").body
    assert re.findall(r"New-NetFirewallRule -Name '([^']*)'", apply) == [
        "auditor-tcp25",
        "auditor-tcp25-2",
    ]


# --- Kubernetes --------------------------------------------------------------------------------


def test_k8s_network_policy_schema() -> None:
    found = arts("k8s", MIXED, options("tcp/25,1024-2048", "true"))
    doc = yaml.safe_load(one(found, "apply").body)
    assert doc["apiVersion"] == "networking.k8s.io/v1" and doc["kind"] == "NetworkPolicy"
    assert doc["metadata"]["name"] == "auditor-tcp25-1024-2048"
    spec = doc["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app": "true"}}  # a string, not a bool
    assert spec["policyTypes"] == ["Ingress"]
    [rule] = spec["ingress"]
    assert sorted(p["ipBlock"]["cidr"] for p in rule["from"]) == sorted(V4 + V6)
    assert all(set(p) == {"ipBlock"} and set(p["ipBlock"]) == {"cidr"} for p in rule["from"])
    assert rule["ports"] == [
        {"protocol": "TCP", "port": 25},
        {"protocol": "TCP", "port": 1024, "endPort": 2048},
    ]
    any_doc = yaml.safe_load(one(arts("k8s", MIXED, options("any")), "apply").body)
    assert "ports" not in any_doc["spec"]["ingress"][0]
    assert any_doc["spec"]["podSelector"] == {}


# --- pfSense / OPNsense ------------------------------------------------------------------------


def test_pfsense_alias_import_text_and_xml() -> None:
    found = arts("opnsense", MIXED, options("tcp/25,587"))
    txt, xml = (a for a in found if a.kind == "apply")
    assert sorted(line.split()[0] for line in code(txt.body)) == sorted(V4 + V6)
    text = full_text(xml, "pfsense", xml_prov(), found)
    root = ET.fromstring(f"<aliases>{text}</aliases>")  # noqa: S314 (the tool's own output)
    [alias] = list(root)
    assert alias.findtext("name") == "auditor_tcp25_587"
    assert alias.findtext("type") == "network"
    assert sorted((alias.findtext("address") or "").split()) == sorted(V4 + V6)
    with pytest.raises(UsageError):
        arts("pfsense", MIXED, replace(options(), scope=("has-dash",)))


def xml_prov():  # type: ignore[no-untyped-def]
    from auditor.rules.artifacts import Provenance

    return Provenance("1", (("a<b>--c.txt", None),))


# --- shell scripts and hostile input -----------------------------------------------------------


def bash_n(text: str, tmp: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    path = tmp / "script.sh"
    path.write_text(text)
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_shell_artifact_passes_bash_n(tmp_path: Path) -> None:
    for platform in PLATFORMS:
        found = arts(platform, MIXED, options())
        for art in found:
            if art.script:
                bash_n(full_text(art, platform, xml_prov(), found), tmp_path)


def structure(platform: str, found: Sequence[Artifact]) -> list[tuple[str, int]]:
    """What must not change when only the origins change: kinds and line counts."""
    return [(f"{a.kind}{a.family}", len(a.body.splitlines())) for a in found]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_hostile_origins_never_make_a_line(platform: str) -> None:
    nets = [block(f"198.18.{2 * i}.0/24") for i in range(len(HOSTILE_SOURCES))]
    hostile = [
        replace(b, origins=(Origin(s, 1, s),)) for b, s in zip(nets, HOSTILE_SOURCES, strict=True)
    ]
    plain = [replace(b, origins=(Origin("plain.txt", 1),)) for b in nets]
    found = arts(platform, hostile, options())
    assert structure(platform, found) == structure(platform, arts(platform, plain, options()))
    for art in found:
        for ch in "\"'`$;\\" if platform != "windows" else '"`':
            text = art.body
            if platform in ("fortios", "mikrotik", "panos"):
                text = re.sub(r'(comment|description)="[^"\n]*"', "", text)
                text = re.sub(r'(comment|description) "[^"\n]*"', "", text)
                text = re.sub(r'"[A-Za-z0-9_.:/ -]*"', "", text)
            if platform == "windows":
                text = re.sub(r"'[^'\n]*'", "", text)
            if platform == "k8s" and art.script:
                continue
            if ch in "\n":
                continue
            comments = [x for x in text.splitlines() if x.lstrip().startswith(("#", "!"))]
            assert all(ch not in x for x in text.splitlines() if x not in comments), (ch, art)
    if platform == "windows":
        ps_strings(one(found, "apply").body)


NAMES = st.text(
    alphabet=st.sampled_from(list("aZ09_-. '\"$()`;%\n\u00e9\u2019{}[]/\\|&<>")),
    min_size=1,
    max_size=80,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scope=NAMES, origin=st.text(max_size=300))
def test_fuzzed_scope_names_are_refused_or_used_verbatim_and_safe(scope: str, origin: str) -> None:
    blocks = [block("192.0.2.0/24", Origin(origin, 1, origin)), block("2001:db8::/32")]
    opts = replace(options(), scope=(scope,))
    for platform in PLATFORMS:
        try:
            found = arts(platform, blocks, opts)
        except UsageError:
            continue
        assert re.fullmatch(r"[A-Za-z0-9 _.(){}-]+", scope), (platform, scope)
        plain = [replace(b, origins=(Origin("plain.txt", 1),) if b.origins else ()) for b in blocks]
        assert structure(platform, found) == structure(platform, arts(platform, plain, opts))
        if platform == "windows":
            for art in found:
                ps_strings(art.body)
        if platform == "k8s":
            yaml.safe_load(one(found, "apply").body)
