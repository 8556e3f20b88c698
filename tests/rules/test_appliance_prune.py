"""--prune on the appliances whose formats the tool does not read (IOS, PAN-OS, FortiOS,
pfSense): the scope's extra entries come from a real audit (an ipset export with the scope's
set), the prune is applied to a model of the device's configuration the way its header says,
and the result, written back as the ipset export, is audited again: no extra left in the
scope, the expected addresses still in, an entry that is only partly extra kept."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import UsageError
from auditor.rules import generator_for

from .helpers import block, options

MAIL4 = ["203.0.113.0/24", "192.0.2.0/25", "10.0.0.0/8"]
"""The scope: one wholly extra entry, one expected, one that also holds an expected /16."""
EXPECTED = "192.0.2.0/24\n198.51.100.7\n10.1.0.0/16\n"


def ipset(mail4: list[str]) -> str:
    lines = ["create mail4 hash:net family inet hashsize 1024 maxelem 65536"]
    return "\n".join(lines + [f"add mail4 {c}" for c in mail4]) + "\n"


def audit(tmp: Path, mail4: list[str], *more: str) -> CliRunner:
    (tmp / "exp.txt").write_text(EXPECTED)
    (tmp / "dec.ipset").write_text(ipset(mail4))
    argv = ["diff", "-e", str(tmp / "exp.txt"), "-d", str(tmp / "dec.ipset"), "--scope", "mail4"]
    return CliRunner().invoke(app, [*argv, *more])


def extra_after(tmp: Path, mail4: list[str]) -> list[str]:
    """The extra CIDRs of the scope once the device holds ``mail4``."""
    result = audit(tmp, mail4, "-o", "json")
    assert result.exit_code in (0, 1), result.output
    return [e["cidr"] for e in json.loads(result.stdout)["extra"]]


def prune_of(tmp: Path, platform: str) -> str:
    out = tmp / "out"
    result = audit(tmp, MAIL4, "--rules", platform, "--prune", "--output-dir", str(out), "-q")
    assert result.exit_code == 1, result.output
    [path] = out.glob(f"{platform}-*-prune.*")
    return path.read_text()


def pasted(text: str, comment: str = "#") -> list[str]:
    """The lines a person pastes: every comment line must come before the first command."""
    lines = [line for line in text.splitlines() if line.strip()]
    heading = 0
    while heading < len(lines) and lines[heading].lstrip().startswith(comment):
        heading += 1
    body = lines[heading:]
    assert not [x for x in body if x.lstrip().startswith(comment)], text
    return body


def net(text: str) -> str:
    return str(ipaddress.ip_network(text))


def check_result(left: list[str], tmp: Path) -> None:
    """The scope once pruned: the expected entry and the partly extra one kept, the wholly
    extra one gone; audited again, what is extra lies in the kept /8 only."""
    assert sorted(left) == ["10.0.0.0/8", "192.0.2.0/25"]
    before = extra_after(tmp, MAIL4)
    assert "203.0.113.0/24" in before
    assert extra_after(tmp, left) == [e for e in before if e != "203.0.113.0/24"]


# --- Cisco IOS ---------------------------------------------------------------------------------


def ios_ace(cidr: str) -> str:
    n = ipaddress.ip_network(cidr)
    return f"permit tcp {n.network_address} {n.hostmask} any eq 25"


def test_ios_prune_removes_the_wholly_extra_entries_of_the_access_list(tmp_path: Path) -> None:
    acl = [ios_ace(c) for c in MAIL4] + ["permit udp 203.0.113.0 0.0.0.255 any eq 53"]
    text = prune_of(tmp_path, "ios")
    mode = None
    for line in pasted(text, "!"):
        if line.startswith("ip access-list extended "):
            mode = line.split()[-1]
        elif line == "exit":
            mode = None
        else:
            assert mode == "mail4" and line.startswith(" no permit tcp "), line
            entry = line.strip()[3:]
            if entry in acl:
                acl.remove(entry)
    # another protocol or port is not matched: it stays, as the prune says
    assert acl[-1] == "permit udp 203.0.113.0 0.0.0.255 any eq 53"
    left = [net("/".join(ace.split()[2:4])) for ace in acl[:-1]]  # address/wildcard
    check_result(left, tmp_path)
    assert "another mask, protocol" in text


# --- PAN-OS and FortiOS: objects named by the tool, and one of the admin's --------------------


def label(cidr: str) -> str:
    return "auditor-" + cidr.replace(":", "-").replace("/", "_")


def device(admin: bool) -> tuple[dict[str, str], dict[str, list[str]]]:
    objects = {label(c): c for c in MAIL4}
    if admin:
        objects["legacy-relay"] = "203.0.113.0/24"
    return objects, {"mail4": list(objects), "other": []}


def delete_object(objects: dict[str, str], groups: dict[str, list[str]], name: str) -> None:
    if any(name in members for members in groups.values()):
        return  # the device refuses to delete an object a group still uses
    objects.pop(name, None)


@pytest.mark.parametrize("admin", [False, True])
def test_panos_prune_takes_its_own_objects_out_of_the_group(tmp_path: Path, admin: bool) -> None:
    objects, groups = device(admin)
    text = prune_of(tmp_path, "panos")
    for line in pasted(text):
        if m := re.fullmatch(r"delete address-group (\S+) static (\S+)", line):
            if m[2] in groups[m[1]]:
                groups[m[1]].remove(m[2])
        elif m := re.fullmatch(r"delete address (\S+)", line):
            delete_object(objects, groups, m[1])
        else:
            raise AssertionError(line)
    left = [objects[n] for n in groups["mail4"]]
    assert "#   203.0.113.0/24" in text  # the CIDR to look for under other names
    if admin:
        assert left.count("203.0.113.0/24") == 1 and "legacy-relay" in groups["mail4"]
        left.remove("203.0.113.0/24")
    check_result(left, tmp_path)
    assert label("203.0.113.0/24") not in objects


@pytest.mark.parametrize("admin", [False, True])
def test_fortios_prune_unselects_then_deletes(tmp_path: Path, admin: bool) -> None:
    objects, groups = device(admin)
    text = prune_of(tmp_path, "fortios")
    table = edit = None
    for line in pasted(text):
        words = line.split()
        if words[:2] == ["config", "firewall"]:
            table = words[2]
        elif words == ["end"]:
            table = None
        elif words[0] == "edit":
            assert table == "addrgrp"
            edit = words[1].strip('"')
        elif words == ["next"]:
            edit = None
        elif words[:2] == ["unselect", "member"]:
            assert edit is not None
            for name in (w.strip('"') for w in words[2:]):
                if name in groups[edit]:
                    groups[edit].remove(name)
        elif words[0] == "delete":
            assert table == "address" and edit is None
            delete_object(objects, groups, words[1].strip('"'))
        else:
            raise AssertionError(line)
    left = [objects[n] for n in groups["mail4"]]
    if admin:
        left.remove("203.0.113.0/24")
    check_result(left, tmp_path)


# --- pfSense -----------------------------------------------------------------------------------


def test_pfsense_prune_is_the_alias_content_without_the_extras(tmp_path: Path) -> None:
    text = prune_of(tmp_path, "pfsense")
    left = [net(line) for line in pasted(text)]
    assert left == ["192.0.2.0/25", "10.0.0.0/8"]
    assert "# kept: 10.0.0.0/8 is only partly extra" in text
    check_result(left, tmp_path)


def test_pfsense_prune_without_the_alias_lists_what_to_delete() -> None:
    opts = replace(options(), scope=("mail4",), prune=(block("203.0.113.0/24"),))
    [art] = generator_for("pfsense").checked_artifacts([], opts)
    assert art.kind == "prune" and pasted(art.body) == ["203.0.113.0/24"]
    assert "delete these networks" in art.body


# --- every pruning appliance: hostile scope names ---------------------------------------------

PRUNING = ("ios", "panos", "fortios", "pfsense")
NAMES = st.text(
    alphabet=st.sampled_from(list("aZ09_-. '\"$()`;%\n\u00e9\u2019{}[]/\\|&<>#!")),
    min_size=1,
    max_size=90,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scope=NAMES)
def test_hostile_scope_names_are_refused_or_safe_in_the_prune(scope: str) -> None:
    extra = (block("203.0.113.0/24"), block("2001:db8:ff::/48"))
    opts = replace(options(), scope=(scope,), prune=extra)
    for platform in PRUNING:
        try:
            found = generator_for(platform).checked_artifacts([], opts)
        except UsageError:
            continue
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", scope), (platform, scope)
        assert [a.kind for a in found] and all(a.kind == "prune" for a in found)
        for art in found:
            assert len(art.body.splitlines()) == len(
                replace(art, body=art.body.replace(scope, "x")).body.splitlines()
            )


def test_k8s_does_not_prune() -> None:
    assert not generator_for("k8s").prunes


# --- JunOS and PAN-OS: no comment inside what is pasted; JunOS placement -------------------------


@pytest.mark.parametrize("platform", ["junos", "panos"])
@pytest.mark.parametrize("scope", [(), ("mail4",)])
def test_comment_lines_come_before_every_command(platform: str, scope: tuple[str, ...]) -> None:
    """Neither ``load set`` nor the PAN-OS CLI documents ``#`` lines: the header says to paste
    the lines below them, so every ``#`` line of the body comes first."""
    from auditor.rules.artifacts import Provenance, full_text

    from .helpers import edge_blocks, small_blocks

    opts = replace(options("tcp/25,587", "mail-in"), scope=scope, prune=(block("203.0.113.0/24"),))
    if platform == "panos":
        opts = replace(opts, chain="untrust")
    found = generator_for(platform).checked_artifacts(small_blocks() + edge_blocks(), opts)
    assert {a.kind for a in found} == {"apply", "rollback"} | ({"prune"} if scope else set())
    for art in found:
        text = full_text(art, platform, Provenance("1", (("in.txt", None),)), found)
        assert pasted(text), text
        assert "paste the lines below the # lines" in text


def test_junos_term_is_inserted_before_the_term_named_in_chain() -> None:
    from .helpers import small_blocks

    found = generator_for("junos").checked_artifacts(small_blocks(), options("tcp/25", "in:deny"))
    ff = "firewall family inet filter in"
    lines = pasted(next(a for a in found if a.kind == "apply" and a.family == 4).body)
    assert lines[-1] == f"insert {ff} term auditor-tcp25 before term deny"
    assert f"set {ff} term auditor-tcp25 then accept" in lines
    v6 = next(a for a in found if a.kind == "apply" and a.family == 6).body
    assert "insert firewall family inet6 filter in term auditor-tcp25 before term deny" in v6
    plain = generator_for("junos").checked_artifacts(small_blocks(), options("tcp/25", "in"))
    assert not [x for x in pasted(plain[0].body) if x.startswith("insert")]
    assert "NAME-OF-THAT-TERM" in plain[0].body
    for bad in ("in:", "in:a b", "in:x;y", "in:$(id)", "in:" + "t" * 64, "in:a:b"):
        with pytest.raises(UsageError):
            generator_for("junos").checked_artifacts(small_blocks(), options("tcp/25", bad))
    generator_for("junos").checked_artifacts(small_blocks(), options("tcp/25", "f" * 63 + ":t"))


# --- FortiOS: a policy to place before the one --chain names ------------------------------------


def test_fortios_chain_writes_a_policy_to_move_before_that_id() -> None:
    from .helpers import small_blocks

    gen = generator_for("fortios")
    found = gen.checked_artifacts(small_blocks(), options("tcp/25,1024-2048", "12"))
    v4 = next(a for a in found if a.kind == "apply" and a.family == 4).body
    policy = v4[v4.index("\nconfig firewall policy\n") + 1 :].splitlines()
    assert policy == [
        "config firewall policy",
        "    edit 0",
        '        set name "auditor-tcp25-1024-2048-v4"',
        '        set srcintf "any"',
        '        set dstintf "any"',
        '        set srcaddr "auditor-tcp25-1024-2048-v4"',
        '        set dstaddr "all"',
        "        set action accept",
        '        set schedule "always"',
        '        set service "auditor-tcp25-1024-2048"',
        "    next",
        "end",
    ]
    assert "        set tcp-portrange 25 1024-2048" in v4.splitlines()
    assert "#   config firewall policy / move NEW-ID before 12 / end" in v4
    v6 = next(a for a in found if a.kind == "apply" and a.family == 6).body
    assert 'set srcaddr6 "auditor-tcp25-1024-2048-v6"' in v6 and 'set dstaddr6 "all"' in v6
    back = next(a for a in found if a.kind == "rollback" and a.family == 4).body
    assert back.index("delete ID") < back.index("config firewall addrgrp")
    assert 'set service "ALL"' in gen.checked_artifacts(small_blocks(), options("any", "7"))[0].body
    # no policy without --chain, nor into a --scope group the allowing policy uses already
    assert (
        "config firewall policy\n" not in gen.checked_artifacts(small_blocks(), options())[0].body
    )
    scoped = replace(options("tcp/25", "12"), scope=("Mail",))
    assert "config firewall policy\n" not in gen.checked_artifacts(small_blocks(), scoped)[0].body
    for bad in ("port1", "0", "12;x", "1 2", "$(id)", "12345678901", "-1"):
        with pytest.raises(UsageError, match="by its id"):
            gen.checked_artifacts(small_blocks(), options("tcp/25", bad))


@pytest.mark.parametrize(
    ("platform", "removed"),
    [
        ("asa", " no network-object {net} {mask}"),
        ("junos", "delete policy-options prefix-list mail4 {cidr}"),
        ("mikrotik", 'remove [find list="mail4" address={cidr}]'),
        ("panos", "delete address-group mail4 static auditor-{name}"),
    ],
)
def test_prune_removes_the_entries_the_scope_holds_not_the_merged_extra(
    tmp_path: Path, platform: str, removed: str
) -> None:
    """Two adjacent stale /25s are one extra /24 in the report; the device holds the /25s,
    so the prune names them (a `no` of the /24 would match neither), and notes the /8 that is
    only partly extra."""
    (tmp_path / "exp.txt").write_text(EXPECTED)
    stale = ["203.0.113.0/25", "203.0.113.128/25"]
    (tmp_path / "dec.ipset").write_text(ipset([*stale, "10.0.0.0/8"]))
    out = tmp_path / "out"
    argv = ["diff", "-e", str(tmp_path / "exp.txt"), "-d", str(tmp_path / "dec.ipset")]
    argv += ["--scope", "mail4", "--rules", platform, "--prune", "--output-dir", str(out)]
    assert CliRunner().invoke(app, [*argv, "-q"]).exit_code == 1
    [path] = out.glob(f"{platform}-*-prune.*")
    text = path.read_text()
    for cidr in stale:
        network = ipaddress.ip_network(cidr)
        line = removed.format(
            net=network.network_address, mask=network.netmask, cidr=cidr,
            name=cidr.replace("/", "_"),
        )  # fmt: skip
        assert line in text, (line, text)
    assert "203.0.113.0/24" not in text.replace("203.0.113.0/25", "")
    assert "10.0.0.0/8 is only partly extra" in text
