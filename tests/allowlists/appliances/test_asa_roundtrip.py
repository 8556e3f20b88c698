"""The ASA rules of a diff against an ASA configuration, applied to it as the device would and
read back: the missing addresses are then allowed, and a prune removes the extra entries.

The Microsoft 365 feed is served by the local HTTPS server (tests/httpd.py). The applier below
does, for exactly the commands the generator writes, what the ASA does in configuration mode
[Cisco ASA command reference, ``access-list extended`` ("line line-num: the line number at
which to insert the entry"; without it the entry is added at the end), ``object-group
network``, ``network-object``, ``no network-object``], on the saved configuration text.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import RunCli, WriteFile
from httpd import FeedServer, Reply

FEED = [
    {"id": 10, "serviceArea": "Exchange", "tcpPorts": "25", "category": "Allow", "required": True,
     "urls": ["*.mail.protection.outlook.com"],
     "ips": ["40.92.0.0/15", "40.107.0.0/16", "2a01:111:f400::/48", "2a01:111:f403::/48"]},
    {"id": 1, "serviceArea": "Exchange", "tcpPorts": "80,443", "category": "Optimize",
     "required": True, "ips": ["13.107.6.152/31"]},
]  # fmt: skip

ASA_CFG = """\
: Saved
ASA Version 9.16(4)
hostname edge
interface GigabitEthernet0/0
 nameif outside
 security-level 0
 ip address 198.51.100.1 255.255.255.0
interface GigabitEthernet0/1
 nameif inside
 security-level 100
 ip address 10.0.0.1 255.255.255.0
object-group network O365
 description Exchange Online
 network-object 40.92.0.0 255.255.0.0
 network-object 40.107.0.0 255.255.0.0
 network-object 52.96.0.0 255.255.0.0
 network-object 2a01:111:f400::/48
 network-object 2001:db8:dead::/48
access-list outside_in remark inbound mail
access-list outside_in extended permit tcp object-group O365 any eq smtp
access-list outside_in extended deny tcp any any eq smtp
access-list outside_in extended permit tcp any any eq https
access-group outside_in in interface outside
"""


class Asa:
    """A saved ASA configuration and the configuration-mode commands the generator writes."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.group: str | None = None

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def _acl_lines(self, acl: str) -> list[int]:
        return [i for i, line in enumerate(self.lines) if line.startswith(f"access-list {acl} ")]

    def _group_end(self, name: str) -> int:
        start = self.lines.index(f"object-group network {name}")
        end = start + 1
        while end < len(self.lines) and self.lines[end].startswith(" "):
            end += 1
        return end

    def run(self, commands: str) -> None:
        for raw in commands.splitlines():
            if not raw.strip() or raw.lstrip().startswith("!"):
                continue
            if raw.startswith(" "):
                self.member(raw.strip())
                continue
            self.group = None
            if m := re.fullmatch(r"object-group network (\S+)", raw):
                self.group = m[1]
                if raw not in self.lines:  # a new group: stored ahead of the access lists
                    at = next(i for i, x in enumerate(self.lines) if x.startswith("access-list"))
                    self.lines.insert(at, raw)
            elif m := re.fullmatch(r"access-list (\S+) line (\d+) (extended .*)", raw):
                where = self._acl_lines(m[1])
                pos = int(m[2])
                assert 1 <= pos <= len(where) + 1, raw
                at = where[pos - 1] if pos <= len(where) else where[-1] + 1
                self.lines.insert(at, f"access-list {m[1]} {m[3]}")
            elif m := re.fullmatch(r"access-list (\S+) (extended .*)", raw):
                where = self._acl_lines(m[1])
                self.lines.insert(where[-1] + 1 if where else len(self.lines), raw)
            elif raw != "exit":
                raise AssertionError(f"the applier does not know {raw!r}")

    def member(self, command: str) -> None:
        assert self.group is not None, command
        end = self._group_end(self.group)
        start = self.lines.index(f"object-group network {self.group}")
        block = [x.strip() for x in self.lines[start + 1 : end]]
        if command.startswith("no "):
            gone = command[3:]
            assert gone in block, f"{gone} is not in {self.group}"  # the ASA refuses it
            del self.lines[start + 1 + block.index(gone)]
        elif command not in block:  # the ASA ignores an object the group has already
            self.lines.insert(end, f" {command}")


def sections(out: str) -> dict[str, str]:
    """The artifacts printed after the report, by kind (apply, rollback, prune)."""
    found: dict[str, str] = {}
    parts = re.split(r"(?m)^! ===== .*? (apply|rollback|prune): \S+ =====\n", out)
    for kind, body in zip(parts[1::2], parts[2::2], strict=True):
        found[kind] = body
    return found


@pytest.fixture
def served(https_server: FeedServer, write: WriteFile) -> list[str]:
    https_server.route("/endpoints", Reply(body=json.dumps(FEED).encode()))
    catalog = write(
        "catalog.yaml",
        f"providers:\n  m365:\n    url: {https_server.url('/endpoints')}"
        "?clientrequestid={clientrequestid}\n",
    )
    return ["--catalog", str(catalog), "--ca-bundle", str(https_server.ca_bundle)]


def test_the_entry_goes_ahead_of_the_deny_and_the_addresses_come_in(
    run_cli: RunCli, write: WriteFile, served: list[str]
) -> None:
    cfg = write("asa.cfg", ASA_CFG)
    command = ["diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside"]
    code, out, err = run_cli(*command, "--rules", "asa", *served)
    assert code == 1, err
    apply = sections(out)["apply"]
    deny = ASA_CFG.splitlines().index("access-list outside_in extended deny tcp any any eq smtp")
    # the deny is the third line of the access list (its remark counts): line 3 is ahead of it
    assert "access-list outside_in line 3 extended permit tcp object-group auditor-tcp25" in apply
    assert f"ahead of asa.cfg:{deny + 1}: access-list outside_in extended deny tcp any" in apply
    device = Asa(ASA_CFG)
    device.run(apply)
    cfg.write_text(device.text())
    code, out, err = run_cli(*command, *served)
    assert code == 0, out + err


def test_the_issue_example_fills_the_group_and_prunes_it(
    run_cli: RunCli, write: WriteFile, served: list[str]
) -> None:
    cfg = write("asa.cfg", ASA_CFG)
    code, out, err = run_cli(
        "diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside", "--rules", "asa",
        "--prune", "--scope", "O365", *served,
    )  # fmt: skip
    assert code == 1, err
    arts = sections(out)
    assert "access-list" not in "\n".join(
        line for line in arts["apply"].splitlines() if not line.startswith("!")
    )
    assert " network-object 40.93.0.0 255.255.0.0" in arts["apply"].splitlines()
    assert " network-object 2a01:111:f403::/48" in arts["apply"].splitlines()
    assert [x for x in arts["prune"].splitlines() if not x.startswith("!")] == [
        "object-group network O365",
        " no network-object 52.96.0.0 255.255.0.0",
        " no network-object 2001:db8:dead::/48",
        "exit",
    ]
    device = Asa(ASA_CFG)
    device.run(arts["apply"])
    cfg.write_text(device.text())
    code, out, err = run_cli(
        "diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside", "--scope", "O365",
        "-o", "json", *served,
    )  # fmt: skip
    doc = json.loads(out)
    assert doc["missing"] == [] and {e["cidr"] for e in doc["extra"]} == {
        "52.96.0.0/16",
        "2001:db8:dead::/48",
    }
    device.run(arts["prune"])
    cfg.write_text(device.text())
    code, out, err = run_cli(
        "diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside", "--scope", "O365",
        "-o", "json", *served,
    )  # fmt: skip
    doc = json.loads(out)
    assert code == 0, out + err
    assert doc["missing"] == [] and doc["extra"] == []
    assert "52.96.0.0" not in cfg.read_text()


def test_a_deny_ahead_of_the_groups_permit_is_named_as_not_fixed(
    run_cli: RunCli, write: WriteFile, served: list[str]
) -> None:
    text = ASA_CFG.replace(
        "access-list outside_in remark inbound mail\n",
        "access-list outside_in extended deny ip 40.93.0.0 255.255.0.0 any\n",
    )
    write("asa.cfg", text)
    code, out, err = run_cli(
        "diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside", "--rules", "asa",
        "--scope", "O365", *served,
    )  # fmt: skip
    assert code == 2
    assert "40.93.0.0/16" in err and "ahead of the entry that permits object-group O365" in err


def test_a_prune_removes_only_the_scope_groups_own_members(
    run_cli: RunCli, write: WriteFile, served: list[str]
) -> None:
    # "group-object" and "network-object object" add another group's or object's addresses
    # to the group; `no network-object` in the group can remove only its own network-object
    # lines (the ASA refuses one the group does not hold): the extras that come from a nested
    # group or object are kept and named, for the user to edit there
    text = ASA_CFG.replace(
        "object-group network O365\n",
        "object network LEGACY\n host 198.51.100.77\n"
        "object-group network OLD\n network-object 203.0.113.0 255.255.255.0\n"
        "object-group network O365\n group-object OLD\n network-object object LEGACY\n",
    )
    cfg = write("asa.cfg", text)
    code, out, err = run_cli(
        "diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside", "--rules", "asa",
        "--prune", "--scope", "O365", *served,
    )  # fmt: skip
    assert code == 1, err
    prune = sections(out)["prune"]
    assert [x for x in prune.splitlines() if not x.startswith("!")] == [
        "object-group network O365",
        " no network-object 52.96.0.0 255.255.0.0",
        " no network-object 2001:db8:dead::/48",
        "exit",
    ]
    assert "203.0.113.0/24" in prune and "object-group network OLD" in prune
    assert "198.51.100.77" in prune and "object network LEGACY" in prune
    device = Asa(text)
    device.run(prune)
    cfg.write_text(device.text())
    code, out, err = run_cli(
        "diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside", "--scope", "O365",
        "-o", "json", *served,
    )  # fmt: skip
    doc = json.loads(out)
    assert {e["cidr"] for e in doc["extra"]} == {"203.0.113.0/24", "198.51.100.77/32"}


def test_a_scope_that_names_a_network_object_is_refused(
    run_cli: RunCli, write: WriteFile, served: list[str]
) -> None:
    # objects and object-groups share one namespace on the ASA: the rules cannot write
    # `object-group network RELAY` when RELAY is an `object network`
    text = ASA_CFG.replace(
        "access-list outside_in remark inbound mail\n",
        "object network RELAY\n host 40.92.1.1\n"
        "access-list outside_in extended permit tcp object RELAY any eq smtp\n",
    )
    write("asa.cfg", text)
    code, out, err = run_cli(
        "diff", "-e", "m365:id=10", "-d", "asa.cfg", "--chain", "outside", "--rules", "asa",
        "--scope", "RELAY", *served,
    )  # fmt: skip
    assert code == 2
    assert "defines RELAY as an object network, not an object-group network" in err
    assert "object-group network RELAY" not in out
