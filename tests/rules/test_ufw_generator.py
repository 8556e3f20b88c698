"""ufw: the script run against a stand-in ufw (argv exactly as intended), and against the real
ufw in a namespace of its own, read back with the tool's ufw-status reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import UsageError
from auditor.model import MissingBlock, Origin
from auditor.plugins import PLATFORM_OF_FORMAT
from auditor.rules import sanitize
from auditor.rules.artifacts import full_text
from auditor.rules.ufw import UfwGenerator

from .helpers import HOSTILE_SOURCES, Netns, block, options, small_blocks
from .host_helpers import Ufw, bash_n, run_with_standins


def _script(
    kind: str, blocks: list[MissingBlock], service: str = "tcp/25", chain: str = "INPUT"
) -> str:
    opts = options(service, chain)
    arts = UfwGenerator().checked_artifacts(blocks, opts)
    art = next(a for a in arts if a.kind == kind)
    return full_text(art, "ufw", opts.provenance, arts)


def test_registered_for_auto() -> None:
    assert PLATFORM_OF_FORMAT["ufw-status"] == "ufw"


def test_stand_in_records_exactly_the_rules(tmp_path: Path) -> None:
    done, calls = run_with_standins(_script("apply", small_blocks()), ["ufw"], tmp_path)
    assert done.returncode == 0, done.stderr
    note = "allowlist-auditor nodes.txt:4, spf:_spf.example.com"
    assert calls == [
        ["ufw", "prepend", "allow", "proto", "tcp", "from", "192.0.2.0/24", "to", "any",
         "port", "25", "comment", "allowlist-auditor nodes.txt:3"],
        ["ufw", "prepend", "allow", "proto", "tcp", "from", "198.51.100.7/32", "to", "any",
         "port", "25", "comment", note],
        ["ufw", "prepend", "allow", "proto", "tcp", "from", "2001:db8:1::/48", "to", "any",
         "port", "25", "comment", "allowlist-auditor nodes.txt:7"],
    ]  # fmt: skip
    done, calls = run_with_standins(_script("rollback", small_blocks()), ["ufw"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert [c[:3] for c in calls] == [["ufw", "delete", "allow"]] * 3
    assert all("comment" not in c for c in calls)


def test_ports_services_and_routes(tmp_path: Path) -> None:
    """Fifteen ports per rule (a range counts two); any: no proto; FORWARD: route rules."""
    many = "tcp/" + ",".join(str(p) for p in range(1000, 1014)) + ",2000-2010"
    _, calls = run_with_standins(_script("apply", [block("192.0.2.0/24")], many), ["ufw"], tmp_path)
    ports = [c[c.index("port") + 1] for c in calls]
    assert ports == [",".join(str(p) for p in range(1000, 1014)), "2000:2010"]
    _, calls = run_with_standins(
        _script("apply", [block("192.0.2.0/24")], "any"), ["ufw"], tmp_path
    )
    assert calls == [
        ["ufw", "prepend", "allow", "from", "192.0.2.0/24", "to", "any", "comment", sanitize.TAG]
    ]
    script = _script("apply", [block("192.0.2.0/24")], "udp/53", "FORWARD")
    _, calls = run_with_standins(script, ["ufw"], tmp_path)
    assert calls[0][:7] == ["ufw", "route", "prepend", "allow", "proto", "udp", "from"]


@pytest.mark.parametrize("chain", ["OUTPUT", "ufw-user-input"])
def test_other_chains_are_refused(chain: str) -> None:
    with pytest.raises(UsageError, match="ufw has no chain"):
        UfwGenerator().checked_artifacts([block("192.0.2.0/24")], options(chain=chain))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(st.text(), st.sampled_from(HOSTILE_SOURCES)), min_size=1, max_size=3))
def test_fuzzed_origins_run_nothing(tmp_path: Path, sources: list[str]) -> None:
    """Whatever the origins, the script calls ufw once per CIDR with the cleaned comment."""
    blocks = [block(f"192.0.{i}.0/24", Origin(s, i + 1)) for i, s in enumerate(sources)]
    script = _script("apply", blocks)
    bash_n(script, tmp_path)
    done, calls = run_with_standins(script, ["ufw"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(calls) == len(blocks)
    for call, b in zip(calls, blocks, strict=True):
        expected = sanitize.comment([str(o) for o in b.origins], 128)
        assert call[:9] == ["ufw", "prepend", "allow", "proto", "tcp", "from", b.cidr, "to", "any"]
        assert call[9:] == ["port", "25", "comment", expected]


STATUS_RULES = """ufw default deny incoming
ufw deny proto tcp from 198.51.100.0/24 to any port 25
ufw allow proto tcp from 192.0.2.0/25 to any port 25
"""


def test_round_trip_with_the_real_ufw(netns: Netns, tmp_path: Path) -> None:
    """ufw status of a host that denies some CIDRs; diff --rules auto; run the script with the
    real ufw; ufw status again: in sync. The roll back brings the drift back."""
    ufw = Ufw(netns, tmp_path)
    setup = ufw.sh(f"set -e\n{STATUS_RULES}ufw --force enable\nufw status verbose\n")
    assert setup.returncode == 0, setup.stderr
    status = tmp_path / "status.txt"
    status.write_text(setup.stdout[setup.stdout.index("Status:") :])
    exp = tmp_path / "expected.txt"
    exp.write_text("192.0.2.0/24\n198.51.100.7\n2001:db8:1::/48\n")
    out = tmp_path / "out"
    args = ["diff", "-e", str(exp), "-d", str(status), "-o", "cidr"]
    result = CliRunner().invoke(app, [*args, "--rules", "auto", "--output-dir", str(out)])
    assert result.exit_code == 1, result.output
    apply = (out / "ufw-all-apply.sh").read_text()
    assert f"198.51.100.7/32: {status}:" in apply  # the DENY that decides it today, named
    for _ in range(2):  # twice: ufw skips the rules it has
        ran = ufw.sh(apply + "ufw status verbose > " + str(tmp_path / "after.txt") + "\n")
        assert ran.returncode == 0, ran.stderr
    after = tmp_path / "after.txt"
    assert after.read_text().count("198.51.100.7") == 1
    result = CliRunner().invoke(app, ["diff", "-e", str(exp), "-d", str(after), "-o", "cidr"])
    assert result.exit_code == 0, result.output
    back = (out / "ufw-all-rollback.sh").read_text()
    ran = ufw.sh(back + "ufw status verbose > " + str(tmp_path / "back.txt") + "\n")
    assert ran.returncode == 0, ran.stderr
    result = CliRunner().invoke(
        app, ["diff", "-e", str(exp), "-d", str(tmp_path / "back.txt"), "-o", "cidr"]
    )
    assert result.exit_code == 1
    assert sorted(result.stdout.split()) == ["192.0.2.128/25", "198.51.100.7/32", "2001:db8:1::/48"]


def test_hostile_comments_with_the_real_ufw(netns: Netns, tmp_path: Path) -> None:
    ufw = Ufw(netns, tmp_path)
    blocks = [block(f"198.18.{2 * i}.0/24", Origin(s, 1)) for i, s in enumerate(HOSTILE_SOURCES)]
    ran = ufw.sh("ufw --force enable >/dev/null\n" + _script("apply", blocks) + "ufw status\n")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.count("ALLOW") == len(blocks)
