"""firewalld: the script against a stand-in firewall-cmd (argv exactly as intended), rich rules
and zone files checked by firewalld's own parser where it is installed, and the zone-XML lines
pasted into a zone file and read back with the tool's firewalld-zone reader."""

from __future__ import annotations

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
