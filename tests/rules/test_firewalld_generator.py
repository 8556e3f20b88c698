"""firewalld: the script against a stand-in firewall-cmd (argv exactly as intended), rich rules
and zone files checked by firewalld's own parser where it is installed, and the zone-XML lines
pasted into a zone file and read back with the tool's firewalld-zone reader."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from xml.parsers import expat

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import UsageError
from auditor.model import Origin
from auditor.plugins import PLATFORM_OF_FORMAT
from auditor.rules.artifacts import full_text
from auditor.rules.firewalld import FirewalldGenerator

from .helpers import HOSTILE_SOURCES, block, options, small_blocks
from .host_helpers import bash_n, run_with_standins

ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Mail</short>
  <source address="192.0.2.0/25"/>
  <source address="198.51.100.0/24"/>
  <service name="smtp"/>
  <rule family="ipv4"><source address="198.51.100.0/28"/><reject/></rule>
  <rule family="ipv4"><source address="203.0.113.0/24"/><reject/></rule>
</zone>
"""
EXPECTED = "192.0.2.0/24\n198.51.100.7\n203.0.113.9\n2001:db8:1::/48\n"
FIREWALLD_PYTHON = "/usr/bin/python3"


def _diff(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["diff", *args, "-o", "cidr"])
    return result.exit_code, result.stdout


def _firewalld_check(code: str, *args: str) -> str:
    """Runs ``code`` with the Python that has firewalld's own modules (python3-firewall)."""
    if not Path(FIREWALLD_PYTHON).exists():
        pytest.skip("no system Python with firewalld's modules (apt-get install python3-firewall)")
    probe = subprocess.run(
        [FIREWALLD_PYTHON, "-c", "import firewall.core.rich"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(
            "firewalld's Python modules are not installed (apt-get install python3-firewall)"
        )
    done = subprocess.run(
        [FIREWALLD_PYTHON, "-c", code, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_registered_for_auto() -> None:
    assert PLATFORM_OF_FORMAT["firewalld-zone"] == "firewalld"


def test_round_trip_through_the_zone_file(tmp_path: Path) -> None:
    """diff --rules auto on a zone; paste the XML lines before </zone>; read back: in sync.
    firewalld's own reader takes the zone file, and its rich rules equal the script's."""
    zone = tmp_path / "mail.xml"
    zone.write_text(ZONE)
    exp = tmp_path / "expected.txt"
    exp.write_text(EXPECTED)
    out = tmp_path / "out"
    code, _ = _diff("-e", str(exp), "-d", str(zone), "--rules", "auto", "--output-dir", str(out))
    assert code == 1
    fragment = (out / "firewalld-all-apply.xml").read_text()
    script = (out / "firewalld-all-apply.sh").read_text()
    assert "--zone=mail" in script
    # 198.51.100.7 is rejected by a rich rule at priority 0: the accept goes ahead of it;
    # 203.0.113.9 and 192.0.2.128/25 are no sources of the zone: added as sources
    assert 'rule priority="-1" family="ipv4" source address="198.51.100.7/32"' in script
    assert "--add-source=203.0.113.9/32" in script
    assert "--add-source=192.0.2.128/25" in script
    assert "--add-source=198.51.100.7/32" not in script
    after = tmp_path / "after" / "mail.xml"
    after.parent.mkdir()
    after.write_text(ZONE.replace("</zone>", fragment + "</zone>"))
    code, missing = _diff("-e", str(exp), "-d", str(after))
    assert code == 0, missing
    rich = _firewalld_check(
        "import sys\n"
        "from firewall.core.io.zone import zone_reader\n"
        "z = zone_reader('mail.xml', sys.argv[1])\n"
        "print('\\n'.join(z.rules_str))\n",
        str(after.parent),
    )
    added = [line.split("=", 1)[1] for line in _script_argv(script) if "rich-rule" in line]
    assert set(added) <= set(rich.splitlines())
    assert len(added) == 4


def _script_argv(script: str) -> list[str]:
    import shlex

    return [
        word
        for line in script.splitlines()
        if line.startswith("firewall-cmd")
        for word in shlex.split(line)
    ]


def test_stand_in_records_exactly_the_commands(tmp_path: Path) -> None:
    opts = options("tcp/25,465")
    arts = FirewalldGenerator().checked_artifacts(small_blocks(), opts)
    base = ["firewall-cmd", "--permanent", "--zone=public"]

    def rule(fam: str, cidr: str, port: str) -> str:
        return (
            f'rule family="{fam}" source address="{cidr}" port port="{port}" protocol="tcp" accept'
        )

    want = [
        [*base, f"--{verb}-rich-rule={rule(fam, cidr, port)}"]
        for fam, cidr in (("ipv4", "192.0.2.0/24"), ("ipv4", "198.51.100.7/32"),
                          ("ipv6", "2001:db8:1::/48"))
        for port in ("25", "465")
        for verb in ("add",)
    ] + [["firewall-cmd", "--reload"]]  # fmt: skip
    for kind, verb in (("apply", "add"), ("rollback", "remove")):
        art = next(a for a in arts if a.kind == kind and a.suffix == "sh")
        done, calls = run_with_standins(full_text(art, "firewalld", opts.provenance, arts),
                                        ["firewall-cmd"], tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert calls == [[w.replace("--add-", f"--{verb}-") for w in argv] for argv in want]


def test_rich_rules_parse_with_firewalld(tmp_path: Path) -> None:
    """Every service form: firewalld's own rich-rule parser takes each rule as written."""
    rules = []
    for service in ("tcp/25", "udp/53", "any", "tcp/1024-2048,25"):
        for change in FirewalldGenerator().changes(small_blocks(), options(service)):
            rules += change.rules
    shown = _firewalld_check(
        "import sys\n"
        "from firewall.core.rich import Rich_Rule\n"
        "for r in sys.argv[1:]: print(Rich_Rule(rule_str=r))\n",
        *rules,
    )
    assert shown.splitlines() == rules


@pytest.mark.parametrize("zone", ["a b", "-x", "$(id)", "z" * 18, "mail;reboot"])
def test_a_bad_zone_is_refused(zone: str) -> None:
    with pytest.raises(UsageError, match="zone name"):
        FirewalldGenerator().checked_artifacts([block("192.0.2.0/24")], options(chain=zone))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(st.text(), st.sampled_from(HOSTILE_SOURCES)), min_size=1, max_size=3))
@example(["zone--x.xml", "a-"])
def test_hostile_input_names(tmp_path: Path, names: list[str]) -> None:
    """Input names (they reach the headers) and origins: the XML stays a well-formed zone
    file, and the script calls firewall-cmd with the intended rules only."""
    from auditor.rules.artifacts import Provenance

    blocks = [block(f"192.0.{i}.0/24", Origin(s, i + 1)) for i, s in enumerate(names)]
    opts = options()
    opts = type(opts)(
        service=opts.service, provenance=Provenance("1", tuple((n, None) for n in names))
    )
    arts = FirewalldGenerator().checked_artifacts(blocks, opts)
    xml = next(a for a in arts if a.suffix == "xml")
    text = full_text(xml, "firewalld", opts.provenance, arts)
    parser = expat.ParserCreate()
    parser.Parse(f"<zone>{text}</zone>", True)
    apply = next(a for a in arts if a.suffix == "sh" and a.kind == "apply")
    script = full_text(apply, "firewalld", opts.provenance, arts)
    bash_n(script, tmp_path)
    done, calls = run_with_standins(script, ["firewall-cmd"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert [c[-1].split('address="')[1].split('"')[0] for c in calls[:-1]] == [
        b.cidr for b in blocks
    ]


# --- prune: a zone's wholly extra sources and accepting rich rules -----------------------------

SOURCES_ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP">
  <short>Mail</short>
  <source address="192.0.2.0/24"/>
  <source address="198.51.100.0/24"/>
  <source address="203.0.113.0/24"/>
  <source address="2001:db8::/32"/>
  <service name="smtp"/>
  <rule family="ipv4"><source address="198.51.100.0/28"/><reject/></rule>
  <rule family="ipv4"><source address="203.0.113.0/25"/><service name="smtp"/><accept/></rule>
</zone>
"""
DEFAULT_ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <service name="ssh"/>
  <rule family="ipv4"><source address="198.51.100.0/28"/><reject/></rule>
  <rule family="ipv4"><source address="198.51.100.0/24"/><service name="smtp"/><accept/></rule>
  <rule family="ipv4"><source address="192.0.2.0/24"/><service name="smtp"/><accept/></rule>
  <rule priority="-5" family="ipv4"><source address="203.0.113.0/24"/><port port="25" protocol="tcp"/><accept/></rule>
  <rule family="ipv6"><source address="2001:db8::/32"/><service name="smtp"/><accept/></rule>
  <rule family="ipv4"><source address="10.1.0.0/16"/><service name="smtp"/><log prefix="x"/><accept/></rule>
  <rule family="ipv4"><source address="10.2.0.0/16"/><accept/></rule>
  <rule family="ipv4"><source address="10.3.0.0/16"/><service name="ssh"/><accept/></rule>
</zone>
"""  # noqa: E501
PRUNE_CASES = {
    "mail": (
        SOURCES_ZONE,
        ["--remove-source=203.0.113.0/24", "--remove-source=2001:db8::/32",
         '--remove-rich-rule=rule family="ipv4" source address="203.0.113.0/25"'
         ' service name="smtp" accept'],
        ["mail.xml:5: 198.51.100.0/24 is only partly extra"],
        {"198.51.100.16/28", "198.51.100.32/27", "198.51.100.64/26", "198.51.100.128/25"},
    ),
    "public": (
        DEFAULT_ZONE,
        ['--remove-rich-rule=rule priority="-5" family="ipv4" source address="203.0.113.0/24"'
         ' port port="25" protocol="tcp" accept',
         '--remove-rich-rule=rule family="ipv6" source address="2001:db8::/32"'
         ' service name="smtp" accept',
         '--remove-rich-rule=rule family="ipv4" source address="10.2.0.0/16" accept'],
        ["public.xml:6: 198.51.100.0/24 is only partly extra",
         "public.xml:10: a rich rule with words not written back here"],
        {"10.1.0.0/16", "198.51.100.16/28", "198.51.100.32/27", "198.51.100.64/26",
         "198.51.100.128/25"},
    ),
}  # fmt: skip

APPLY_WITH_FIREWALLD = """import json, sys
from firewall.core.io.zone import zone_reader, zone_writer
from firewall.core.rich import Rich_Rule
path, name, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
zone = zone_reader(name, path)
for call in calls:
    option, _, value = call[-1].partition("=")
    if option == "--remove-rich-rule":
        rule = str(Rich_Rule(rule_str=value))
        assert rule in zone.rules_str, (rule, zone.rules_str)
        zone.rules_str = [r for r in zone.rules_str if r != rule]
    elif option == "--remove-source":
        assert value in zone.sources, value
        zone.sources.remove(value)
zone_writer(zone, path)
"""


def _extras(exp: Path, zone: Path, name: str) -> tuple[int, set[str]]:
    result = CliRunner().invoke(
        app, ["diff", "-e", str(exp), "-d", str(zone), "--scope", name, "-o", "json"]
    )
    return result.exit_code, {b["cidr"] for b in json.loads(result.stdout)["extra"] or []}


@pytest.mark.parametrize("name", sorted(PRUNE_CASES))
def test_prune_round_trip(tmp_path: Path, name: str) -> None:
    """diff --scope ZONE --prune: the script against a stand-in firewall-cmd (exactly the
    wholly extra sources and accepting rules), its calls applied by firewalld's own code to
    the zone file and read back: only the kept, partly extra ones remain extra, the expected
    addresses are still allowed. The zone-XML form, its elements deleted, reads back the same."""
    text, removes, kept, left = PRUNE_CASES[name]
    zone = tmp_path / "zones" / f"{name}.xml"
    zone.parent.mkdir()
    zone.write_text(text)
    exp = tmp_path / "expected.txt"
    exp.write_text("192.0.2.0/24\n")
    out = tmp_path / "out"
    args = ["-e", str(exp), "-d", str(zone), "--scope", name, "--prune", "--rules", "auto"]
    code, _ = _diff(*args, "--output-dir", str(out))
    assert code == 0
    script = (out / "firewalld-all-prune.sh").read_text()
    bash_n(script, tmp_path)
    for note in kept:
        assert f"# kept {zone.parent}/{note}" in script
    done, calls = run_with_standins(script, ["firewall-cmd"], tmp_path)
    assert done.returncode == 0, done.stderr
    base = ["firewall-cmd", "--permanent", f"--zone={name}"]
    assert calls == [*([*base, r] for r in removes), ["firewall-cmd", "--reload"]]
    # the XML form: delete its elements from a copy of the zone file
    fragment = (out / "firewalld-all-prune.xml").read_text()
    elements = [x for x in fragment.splitlines() if x and not x.startswith("<!--")]
    lines = text.splitlines(True)
    for element in elements:
        (hit,) = [x for x in lines if x.strip() == element]
        lines.remove(hit)
    by_hand = tmp_path / "by-hand" / f"{name}.xml"
    by_hand.parent.mkdir()
    by_hand.write_text("".join(lines))
    assert _extras(exp, by_hand, name) == (0, left)
    # the commands, applied by firewalld's own zone reader and writer
    _firewalld_check(APPLY_WITH_FIREWALLD, str(zone.parent), zone.name, json.dumps(calls[:-1]))
    assert _extras(exp, zone, name) == (0, left)


def test_prune_hostile_paths_and_scopes(tmp_path: Path) -> None:
    """A zone file in a directory with a hostile name: its path reaches comments only,
    cleaned, and the script runs exactly the intended removals; a file whose name is no
    zone name is no scope (usage error)."""
    folder = tmp_path / "z$(touch pwned)`id`;\nx"
    folder.mkdir()
    (folder / "mail.xml").write_text(SOURCES_ZONE)
    exp = tmp_path / "expected.txt"
    exp.write_text("192.0.2.0/24\n")
    out = tmp_path / "out"
    args = ["-e", str(exp), "-d", str(folder / "mail.xml"), "--scope", "mail", "--prune"]
    code, _ = _diff(*args, "--rules", "firewalld", "--output-dir", str(out))
    assert code == 0
    script = (out / "firewalld-all-prune.sh").read_text()
    bash_n(script, tmp_path)
    done, calls = run_with_standins(script, ["firewall-cmd"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert [c[-1] for c in calls] == [*PRUNE_CASES["mail"][1], "--reload"]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    hostile = tmp_path / "a;b.xml"
    hostile.write_text(SOURCES_ZONE)
    result = CliRunner().invoke(
        app, ["diff", "-e", str(exp), "-d", str(hostile), "--scope", "a;b", "--prune",
              "--rules", "firewalld"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "unknown scope" in result.output


def test_prune_never_from_a_zone_file_changed_since_the_audit(tmp_path: Path) -> None:
    """The elements are read again from the file as it was audited; a changed file gets a
    comment and no command."""
    from auditor.allowlists import ReadContext, reader_for
    from auditor.rules.base import RuleOptions
    from auditor.service import Service

    zone = tmp_path / "mail.xml"
    zone.write_text(SOURCES_ZONE)
    ctx = ReadContext(str(zone), "declared", service=Service.parse("tcp/25"))
    rs = reader_for("firewalld-zone").parse(zone.read_bytes(), ctx)
    opts = RuleOptions(
        service=Service.parse("tcp/25"),
        declared=(rs,),
        scope=("mail",),
        prune=(block("203.0.113.0/24"),),
    )
    script = next(a for a in FirewalldGenerator().checked_artifacts([], opts) if a.suffix == "sh")
    assert "--remove-source=203.0.113.0/24" in script.body
    zone.write_text(SOURCES_ZONE.replace("<short>Mail</short>", "<short>Changed</short>"))
    arts = FirewalldGenerator().checked_artifacts([], opts)
    script = next(a for a in arts if a.suffix == "sh")
    assert "changed since it was audited" in script.body
    assert "--remove" not in script.body
