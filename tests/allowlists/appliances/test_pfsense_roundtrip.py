"""The round trip of the pfSense rules: ``--rules auto`` on a config.xml writes the import
text for the alias the pass rule on the interface already uses (``--scope``); applied the
way Firewall > Aliases > Import does (the CIDR of each line added to the alias's networks),
the config.xml read again lets every expected address in; the prune (the alias's networks
become the lines it lists) removes the extras."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import RunCli, WriteFile

from .pfsense_util import alias, config, rule

SMTP = "<any/><port>25</port>"
NODES = "198.51.100.0/24\n203.0.113.0/25\n2001:db8:25::/48\n"


def _lines(artifact: str) -> list[str]:
    """The lines of an artifact below its # lines."""
    return [ln for ln in artifact.splitlines() if ln.strip() and not ln.startswith("#")]


def set_networks(text: str, name: str, networks: list[str]) -> str:
    """The config with the alias's <address> replaced (what Edit or Import into the emptied
    alias leaves)."""
    pattern = re.compile(rf"(<name>{name}</name><type>\w+</type><address>)([^<]*)(</address>)")
    assert pattern.search(text), name
    return pattern.sub(lambda m: m.group(1) + " ".join(networks) + m.group(3), text, count=1)


def networks_of(text: str, name: str) -> list[str]:
    m = re.search(rf"<name>{name}</name><type>\w+</type><address>([^<]*)</address>", text)
    assert m
    return m.group(1).split()


def test_auto_rules_go_into_the_alias_and_the_prune_takes_the_extras_out(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    aliases = alias("RELAYS", "network", "198.51.100.0/24 192.0.2.0/24")
    text = config(
        rule(src="<address>RELAYS</address>", dst=SMTP, ipp="inet46", descr="relays"),
        aliases=aliases,
    )
    write("config.xml", text)
    write("nodes.txt", NODES)
    base = ("diff", "-e", "nodes.txt", "-d", "config.xml", "--chain", "wan")
    code, _, err = run_cli(*base, "--scope", "RELAYS", "--rules", "auto", "--output-dir", "out")
    assert code == 1, err
    body = (tmp_path / "out" / "pfsense-all-apply.txt").read_text()
    # the header names the rule that takes its source from the alias
    assert "alias RELAYS is the source of: config.xml:12: filter/rule[1] relays" in body
    added = [ln.split()[0] for ln in _lines(body)]
    assert added == ["203.0.113.0/25", "2001:db8:25::/48"]
    # Import adds each line's network to the alias
    text = set_networks(text, "RELAYS", networks_of(text, "RELAYS") + added)
    write("config.xml", text)
    code, out, err = run_cli(*base, "-o", "cidr")
    assert (code, out) == (0, ""), err
    # the prune: the alias keeps the networks it lists
    code, out, err = run_cli(*base, "--scope", "RELAYS", "-o", "json")
    assert [b["cidr"] for b in json.loads(out)["extra"]] == ["192.0.2.0/24"]
    code, _, err = run_cli(
        *base, "--scope", "RELAYS", "--rules", "auto", "--prune", "--output-dir", "prune"
    )
    assert code == 0, err
    [prune] = (tmp_path / "prune").glob("*prune*")
    keep = _lines(prune.read_text())
    assert sorted(keep) == ["198.51.100.0/24", "2001:db8:25::/48", "203.0.113.0/25"]
    write("config.xml", set_networks(text, "RELAYS", keep))
    code, out, err = run_cli(*base, "--scope", "RELAYS", "-o", "json")
    assert code == 0 and json.loads(out)["extra"] == [], err


def test_without_a_rule_that_uses_the_alias_the_header_says_so(
    run_cli: RunCli, write: WriteFile, tmp_path: Path
) -> None:
    aliases = alias("RELAYS", "network", "192.0.2.0/24")
    write(
        "config.xml", config(rule(src="<address>192.0.2.0/24</address>", dst=SMTP), aliases=aliases)
    )
    write("nodes.txt", NODES)
    code, out, err = run_cli(
        "diff", "-e", "nodes.txt", "-d", "config.xml", "--scope", "RELAYS", "--rules", "pfsense"
    )
    assert code == 1, err
    assert "no pass rule on wan takes its source from alias RELAYS" in out
