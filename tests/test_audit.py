"""The core's verdicts on inputs that must never pass as "in sync"."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.audit import compare, covers_family
from auditor.cli import app
from auditor.model import AuditOptions
from tests.reports.helpers import load


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_whole_space_is_over_broad_whatever_the_limit(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n2001:db8::1\n")
    dec = write(tmp_path, "d.txt", "0.0.0.0/0\n::/0\n")
    code, out, _ = run(
        "diff", "-e", exp, "-d", dec, "--over-broad-v4", "0", "--over-broad-v6", "0", "-o", "json"
    )
    assert code == 1
    assert out.count("allows every IPv") == 2


def test_adjacent_entries_that_together_allow_everything_are_over_broad(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n")
    dec = write(tmp_path, "d.txt", "".join(f"{i}.0.0.0/8\n" for i in range(256)))
    code, out, _ = run("diff", "-e", exp, "-d", dec, "-o", "text")
    assert code == 1
    assert "entries together allow 0.0.0.0/0" in out


def test_an_expected_whole_space_is_trouble_and_gives_no_rules(tmp_path: Path) -> None:
    exp = write(tmp_path, "feed.txt", "0.0.0.0/0\n")
    dec = write(tmp_path, "d.txt", "192.0.2.1\n")
    code, out, err = run("diff", "-e", exp, "-d", dec, "-r", "iptables", "-o", "md")
    assert code == 2
    assert "-j ACCEPT" not in out
    assert "feed.txt:1" in err and "every IPv4 address" in err
    code, out, err = run("rules", "iptables", exp)
    assert code == 2
    assert out == ""
    assert "refusing to write a rule that allows 0.0.0.0/0" in err


def test_rules_from_an_incomplete_report_are_refused(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n192.0.2.999\n198.51.100.7\n")
    dec = write(tmp_path, "d.txt", "192.0.2.1\n")
    report = tmp_path / "r.json"
    code, doc, _ = run("diff", "-e", exp, "-d", dec, "-o", "json")
    assert code == 2
    report.write_text(doc)  # an incomplete run's report, saved from stdout
    code, out, err = run("rules", "iptables", str(report))
    assert code == 2
    assert out == ""
    assert "incomplete" in err


def test_rules_made_in_a_run_with_a_failed_source_carry_a_warning(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n")
    dec = write(tmp_path, "d.yaml", "a: !!python/object/apply:os.system ['true']\n")
    code, out, _ = run("diff", "-e", exp, "-d", dec, "-r", "iptables", "-o", "text")
    assert code == 2
    assert "# WARNING: made from incomplete inputs" in out


def test_rules_of_a_run_with_a_family_no_export_covers_say_why_they_may_be_wrong(
    tmp_path: Path,
) -> None:
    # every input is complete; the run is not, since no declared source covers IPv6
    exp = write(tmp_path, "e.txt", "192.0.2.1\n2001:db8::1\n")
    dec = write(tmp_path, "fw.rules", "*filter\n:INPUT DROP [0:0]\nCOMMIT\n")
    code, out, _ = run("diff", "-e", exp, "-d", dec, "-r", "iptables", "-o", "text")
    assert code == 2
    assert (
        "# WARNING: made from incomplete inputs (no declared source covers IPv6); the list of"
        " missing CIDRs may be wrong." in out
    )
    code, doc, _ = run("diff", "-e", exp, "-d", dec, "-o", "json")
    assert code == 2
    report = tmp_path / "r.json"
    report.write_text(doc)
    code, out, err = run("rules", "iptables", str(report))
    assert (code, out) == (2, "")
    assert "the report's run was incomplete: no declared source covers IPv6" in err


def test_a_dotted_line_at_full_width_in_a_big_file_is_a_line_error(tmp_path: Path) -> None:
    # 18 characters ending in '.', in a file big enough for the vectorised parser
    body = "12345678901234.5..\n" + "".join(f"10.{i // 256}.{i % 256}.0/24\n" for i in range(6000))
    exp = write(tmp_path, "e.txt", body)
    dec = write(tmp_path, "d.txt", "10.0.0.0/8\n")
    code, _, err = run("diff", "-e", exp, "-d", dec, "-o", "cidr")
    assert code == 2
    assert "e.txt:1: '12345678901234.5..' is not an IPv4 address" in err
    assert "internal error" not in err


def test_control_characters_in_a_file_name_are_escaped_on_stderr(tmp_path: Path) -> None:
    name = write(tmp_path, "x\x1b]0;pwned\x07.txt", "not an address\n")
    dec = write(tmp_path, "d.txt", "192.0.2.1\n")
    code, _, err = run("diff", "-e", name, "-d", dec)
    assert code == 2
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b]0;pwned\\x07" in err


def test_an_unwritable_output_file_is_a_clear_error(tmp_path: Path) -> None:
    exp = write(tmp_path, "e.txt", "192.0.2.1\n")
    code, _, err = run(
        "diff", "-e", exp, "-d", exp, "--output-file", str(tmp_path / "no" / "such" / "r.txt")
    )
    assert code == 2
    assert "cannot write the report" in err
    assert "internal error" not in err


def _brute_over_broad(lines: list[str], limit: int) -> list[str]:
    """The over-broad messages by the definition: every entry broader than the limit, then
    every merged run broader than the limit that no such entry holds."""
    nets = [ipaddress.ip_network(x) for x in lines]
    flagged = [n for n in nets if n.prefixlen < limit]
    out = [
        f"{n} allows every IPv4 address" if n.prefixlen == 0 else f"{n} is broader than /{limit}"
        for n in flagged
    ]
    merged: list[list[int]] = []
    for n in sorted(nets, key=lambda n: int(n.network_address)):
        a, b = int(n.network_address), int(n.broadcast_address)
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    for a, b in merged:
        if b - a + 1 <= 1 << (32 - limit):
            continue
        if any(int(n.network_address) <= a and b <= int(n.broadcast_address) for n in flagged):
            continue
        out.append(f"entries together allow {b - a + 1}")
    return out


@pytest.mark.parametrize("seed", range(30))
def test_over_broad_and_whole_family_checks_agree_with_their_definition(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([8, 12, 16])
    lines = set()
    for _ in range(rng.randint(1, 60)):
        plen = rng.choice([0, 1, 4, 8, 9, 12, 14, 16, 17, 20, 24]) if rng.random() < 0.9 else 0
        base = rng.choice([10, 11, 12, 100, 101]) << 24 | rng.getrandbits(24)
        lines.add(str(ipaddress.ip_network((base >> (32 - plen) << (32 - plen), plen))))
    declared = load("allow.txt", "declared", "\n".join(sorted(lines)) + "\n")
    options = AuditOptions(over_broad_v4=limit)
    result = compare([load("nodes.txt", "expected", "192.0.2.0/24\n")], [declared], options)
    got = []
    for f in result.over_broad:
        if f.message.startswith("entries together allow"):
            got.append("entries together allow " + f.message.split("(")[1].split()[0])
        else:
            got.append(f.message)
    assert sorted(got) == sorted(_brute_over_broad(sorted(lines), limit))
    whole = (
        sum(
            int(n.num_addresses)
            for n in ipaddress.collapse_addresses(ipaddress.ip_network(x) for x in lines)
        )
        == 1 << 32
    )
    assert covers_family(declared.space, 4) is whole
    assert covers_family(declared.space, 6) is False
