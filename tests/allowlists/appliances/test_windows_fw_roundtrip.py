"""Round trip for Windows Firewall: ``auditor diff --rules auto`` on a CSV or netsh export
writes the PowerShell script; an applier written here does to the export what the script does
to the firewall, for exactly the rule names, addresses, protocol and ports it holds
(New-NetFirewallRule: a new enabled inbound Allow rule for every profile, as the cmdlet's
defaults are, https://learn.microsoft.com/powershell/module/netsecurity/new-netfirewallrule;
Set-NetFirewallRule -RemoteAddress: the rule's address list replaced; Disable-NetFirewallRule),
and the export, read back, is in sync; with ``--scope RULE --prune`` the extras are gone."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from tests.conftest import RunCli

HEAD = (
    '"Name","DisplayName","Enabled","Direction","Action","Profile","RemoteAddress",'
    '"LocalAddress","Protocol","LocalPort","RemotePort"'
)
CSV = f"""\
{HEAD}
"SMTP-In","Mail (SMTP-In)","True","Inbound","Allow","Any","192.0.2.0/24,10.9.9.0/24,2001:db8:ffff::/48","Any","TCP","25","Any"
"Block-Bad","Block bad","True","Inbound","Block","Any","198.51.100.0/24","Any","Any","Any","Any"
"""  # noqa: E501
NETSH = """
Rule Name:                            SMTP-In
----------------------------------------------------------------------
Enabled:                              Yes
Direction:                            In
Profiles:                             Domain,Private,Public
LocalIP:                              Any
RemoteIP:                             192.0.2.0/24
Protocol:                             TCP
LocalPort:                            25
RemotePort:                           Any
Edge traversal:                       No
Action:                               Allow
Ok.
"""

_STR = r"'((?:[^']|'')*)'"


def _strings(text: str) -> list[str]:
    return [s.replace("''", "'") for s in re.findall(_STR, text)]


def script_rules(script: str) -> list[tuple[str, dict[str, list[str]], str, list[str]]]:
    """(name, forms by CIDR, protocol, ports) per ``# Rule NAME`` of an apply script."""
    out = []
    for part in script.split("\n# Rule ")[1:]:
        name = part.split("\n", 1)[0]
        body = part.split("$forms = [ordered]@{\n", 1)[1].split("\n}\n", 1)[0]
        forms = {}
        for line in body.splitlines():
            key, _, values = line.partition(" = ")
            forms[_strings(key)[0]] = _strings(values)
        new = next(x for x in part.splitlines() if "New-NetFirewallRule" in x)
        proto = _strings(new.split("-Protocol ", 1)[1])[0]
        ports = _strings(new.split("-LocalPort ", 1)[1].split(" -RemoteAddress")[0])
        assert f"Get-NetFirewallRule -Name '{name}'" in part
        out.append((name, forms, proto, ports))
    return out


class CsvHost:
    """The firewall as the CSV shows it."""

    def __init__(self, text: str) -> None:
        rows = list(csv.DictReader(io.StringIO(text)))
        self.fields = list(rows[0])
        self.rows = rows
        self.script = ""

    def rule(self, name: str) -> dict[str, str] | None:
        """The rule the script finds: by its Name, else by its DisplayName (one rule)."""
        found = [r for r in self.rows if r["Name"] == name]
        if not found and "-DisplayName" in self.script:
            found = [r for r in self.rows if r["DisplayName"] == name]
            assert len(found) <= 1, "the script stops when a DisplayName names several rules"
        return found[0] if found else None

    def apply(self, script: str) -> None:
        self.script = script
        for name, forms, proto, ports in script_rules(script):
            row = self.rule(name)
            if row is None:
                self.rows.append(
                    {
                        "Name": name,
                        "DisplayName": name,
                        "Enabled": "True",
                        "Direction": "Inbound",
                        "Action": "Allow",
                        "Profile": "Any",
                        "RemoteAddress": ",".join(forms),
                        "LocalAddress": "Any",
                        "Protocol": proto,
                        "LocalPort": ",".join(ports),
                        "RemotePort": "Any",
                    }  # fmt: skip
                )
                continue
            have = row["RemoteAddress"].split(",")
            if "Any" in have:
                continue
            add = [c for c, f in forms.items() if not any(x in have for x in f)]
            row["RemoteAddress"] = ",".join(have + add)

    def prune(self, script: str) -> None:
        self.script = script
        drop = _strings(script.split("$drop = ", 1)[1].split("\n", 1)[0])
        found = re.search(r"\$rule = @?\(?Get-NetFirewallRule -Name " + _STR, script)
        assert found is not None
        name = found.group(1).replace("''", "'")
        row = self.rule(name)
        assert row is not None
        keep = [a for a in row["RemoteAddress"].split(",") if a not in drop]
        if keep:
            row["RemoteAddress"] = ",".join(keep)
        else:
            row["Enabled"] = "False"  # Disable-NetFirewallRule

    def text(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, self.fields, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def _diff(run_cli: RunCli, *args: str) -> tuple[int, str]:
    got = run_cli("diff", *args)
    return got.code, got.stdout + got.stderr


def test_csv_new_rule_and_the_block_that_wins(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "fw.csv").write_text(CSV)
    (tmp_path / "e.txt").write_text("192.0.2.0/24\n198.51.100.7\n203.0.113.0/24\n2001:db8:1::/48\n")
    code, text = _diff(run_cli, "-e", "e.txt", "-d", "fw.csv", "--rules", "auto", "--output-dir",
                       "out", "--chain", "public")  # fmt: skip
    assert code == 1, text
    script = (tmp_path / "out" / "windows-all-apply.ps1").read_text()
    assert (
        "# 198.51.100.7/32 is blocked today by fw.csv:3: Block bad (Block-Bad): Block Any Any"
        " from 198.51.100.0/24 [Any]: a block rule wins over every allow rule" in script
    )
    host = CsvHost(CSV)
    for _ in range(2):  # twice: the script adds only what the rule lacks
        host.apply(script)
    (tmp_path / "after.csv").write_text(host.text())
    assert host.rule("auditor-tcp25") is not None
    got = run_cli("diff", "-e", "e.txt", "-d", "after.csv", "-o", "cidr", "--chain", "public")
    assert got.code == 1 and got.stdout.split() == ["198.51.100.7/32"]  # the block still wins
    (tmp_path / "e.txt").write_text("192.0.2.0/24\n203.0.113.0/24\n2001:db8:1::/48\n")
    code, text = _diff(run_cli, "-e", "e.txt", "-d", "after.csv", "--chain", "public")
    assert code == 0, text


def test_csv_scope_and_prune(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "fw.csv").write_text(CSV)
    (tmp_path / "e.txt").write_text("192.0.2.0/24\n203.0.113.0/24\n2001:db8:1::/48\n")
    args = ["-e", "e.txt", "-d", "fw.csv", "--scope", "SMTP-In", "--prune"]
    code, text = _diff(run_cli, *args, "--rules", "auto", "--output-dir", "out")
    assert code == 1, text
    host = CsvHost(CSV)
    host.apply((tmp_path / "out" / "windows-all-apply.ps1").read_text())
    host.prune((tmp_path / "out" / "windows-all-prune.ps1").read_text())
    assert host.rule("auditor-tcp25") is None  # into the named rule
    row = host.rule("SMTP-In")
    assert row is not None
    assert row["RemoteAddress"] == "192.0.2.0/24,203.0.113.0/24,2001:db8:1::/48"
    (tmp_path / "after.csv").write_text(host.text())
    code, text = _diff(run_cli, "-e", "e.txt", "-d", "after.csv", "--scope", "SMTP-In")
    assert code == 0, text
    assert "10.9.9.0" not in text and "2001:db8:ffff::" not in text


def test_netsh_new_rule(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "rules.txt").write_text(NETSH)
    (tmp_path / "e.txt").write_text("192.0.2.0/24\n203.0.113.0/24\n")
    code, text = _diff(run_cli, "-e", "e.txt", "-d", "rules.txt", "--rules", "auto",
                       "--output-dir", "out")  # fmt: skip
    assert code == 1, text
    [(name, forms, proto, ports)] = script_rules(
        (tmp_path / "out" / "windows-all-apply.ps1").read_text()
    )
    block = (
        f"\nRule Name:                            {name}\n{'-' * 70}\n"
        "Enabled:                              Yes\nDirection:                            In\n"
        "Profiles:                             Domain,Private,Public\n"
        "LocalIP:                              Any\n"
        f"RemoteIP:                             {','.join(forms)}\n"
        f"Protocol:                             {proto}\n"
        f"LocalPort:                            {','.join(ports)}\n"
        "RemotePort:                           Any\nEdge traversal:                       No\n"
        "Action:                               Allow\n"
    )
    (tmp_path / "after.txt").write_text(NETSH.replace("Ok.\n", block + "Ok.\n"))
    code, text = _diff(run_cli, "-e", "e.txt", "-d", "after.txt")
    assert code == 0, text


def test_csv_scope_by_display_name(tmp_path: Path, run_cli: RunCli) -> None:
    """A --scope that is a rule's DisplayName (netsh shows no other name; the reader takes
    both): the script finds the rule by its DisplayName when no rule has that Name, and
    changes it, instead of making a new rule of that name beside it."""
    text = CSV.replace('"SMTP-In","Mail (SMTP-In)"', '"{0d5bd3c6-1f2e}","Mail (SMTP-In)"')
    (tmp_path / "fw.csv").write_text(text)
    (tmp_path / "e.txt").write_text("192.0.2.0/24\n203.0.113.0/24\n2001:db8:1::/48\n")
    args = ["-e", "e.txt", "-d", "fw.csv", "--scope", "Mail (SMTP-In)", "--prune"]
    code, out = _diff(run_cli, *args, "--rules", "auto", "--output-dir", "out")
    assert code == 1, out
    host = CsvHost(text)
    rows = len(host.rows)
    host.apply((tmp_path / "out" / "windows-all-apply.ps1").read_text())
    host.prune((tmp_path / "out" / "windows-all-prune.ps1").read_text())
    assert len(host.rows) == rows  # no new rule
    row = host.rule("{0d5bd3c6-1f2e}")
    assert row is not None
    assert row["RemoteAddress"] == "192.0.2.0/24,203.0.113.0/24,2001:db8:1::/48"
    (tmp_path / "after.csv").write_text(host.text())
    code, out = _diff(run_cli, "-e", "e.txt", "-d", "after.csv", "--scope", "Mail (SMTP-In)")
    assert code == 0, out
    assert "10.9.9.0" not in out


def test_a_display_name_of_several_rules_stops_the_script(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "fw.csv").write_text(CSV)
    (tmp_path / "e.txt").write_text("203.0.113.0/24\n")
    code, out = _diff(
        run_cli, "-e", "e.txt", "-d", "fw.csv", "--scope", "Mail (SMTP-In)", "--rules", "auto",
        "--output-dir", "out",
    )  # fmt: skip
    assert code == 1, out
    script = (tmp_path / "out" / "windows-all-apply.ps1").read_text()
    lookup = "@(Get-NetFirewallRule -DisplayName 'Mail (SMTP-In)' -ErrorAction SilentlyContinue)"
    assert lookup in script
    assert "if ($rule.Count -gt 1) { throw" in script
