"""ufw: the script run against a stand-in ufw (argv exactly as intended), and against the real
ufw in a namespace of its own, read back with the tool's ufw-status reader."""

from __future__ import annotations

import ipaddress
import json
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.allowlists import ReadContext, reader_for
from auditor.allowlists.firewalls.ufw_status import group_name
from auditor.cli import app
from auditor.errors import UsageError
from auditor.model import MissingBlock, Origin
from auditor.plugins import PLATFORM_OF_FORMAT
from auditor.rules import sanitize
from auditor.rules.artifacts import full_text
from auditor.rules.base import RuleOptions
from auditor.rules.ufw import UfwGenerator
from auditor.rules.ufw import delete_argv as ufw_delete_argv
from auditor.service import Service

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


# --- prune: the rules of a comment's group whose source is wholly extra -------------------------

PRUNE_STATUS = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
25/tcp                     DENY IN     198.51.100.0/25            # mail relays
25/tcp                     ALLOW IN    192.0.2.0/24               # mail relays
25                         ALLOW IN    198.51.100.7               # mail relays
25,465/tcp                 ALLOW IN    203.0.113.0/24             (log) # mail relays
Anywhere                   ALLOW IN    10.1.0.0/16/tcp            # mail relays
192.0.2.1 25/tcp           ALLOW IN    10.2.0.0/16                # mail relays
25/tcp (Postfix)           ALLOW IN    10.3.0.0/16                # mail relays
25/tcp                     ALLOW IN    172.16.0.0/12              # mail relays
25/tcp                     ALLOW IN    10.9.0.0/16                # other
25/tcp                     ALLOW IN    2001:db8::/32              # mail relays
"""
PRUNE_EXPECTED = "192.0.2.0/24\n172.16.1.0/24\n"
PRUNED = [
    ["ufw", "delete", "allow", "from", "198.51.100.7", "to", "any", "port", "25"],
    ["ufw", "delete", "allow", "log", "proto", "tcp", "from", "203.0.113.0/24", "to", "any",
     "port", "25,465"],
    ["ufw", "delete", "allow", "proto", "tcp", "from", "10.1.0.0/16", "to", "any"],
    ["ufw", "delete", "allow", "proto", "tcp", "from", "10.2.0.0/16", "to", "192.0.2.1",
     "port", "25"],
    ["ufw", "delete", "allow", "from", "10.3.0.0/16", "to", "any", "app", "Postfix"],
    ["ufw", "delete", "allow", "proto", "tcp", "from", "2001:db8::/32", "to", "any", "port", "25"],
]  # fmt: skip


def _prune_run(tmp_path: Path, status: str, scope: str = "mail relays") -> tuple[int, str, Path]:
    (tmp_path / "status.txt").write_text(status)
    (tmp_path / "expected.txt").write_text(PRUNE_EXPECTED)
    out = tmp_path / "out"
    args = ["diff", "-e", str(tmp_path / "expected.txt"), "-d", str(tmp_path / "status.txt")]
    args += ["--to", "192.0.2.1", "--scope", scope, "--prune", "--rules", "auto"]
    result = CliRunner().invoke(app, [*args, "--output-dir", str(out)])
    return result.exit_code, result.output, out / "ufw-all-prune.sh"


def test_prune_against_the_stand_in(tmp_path: Path) -> None:
    """diff --scope COMMENT --prune: ufw delete for each rule of the group whose source is
    wholly extra, as its status row shows it; the partly extra rule is kept and named; the
    DENY, the expected rule and another group's rule are never touched."""
    code, output, path = _prune_run(tmp_path, PRUNE_STATUS)
    assert code == 0, output
    script = path.read_text()
    bash_n(script, tmp_path)
    assert "# kept status.txt:15: 172.16.0.0/12 is only partly extra" in script.replace(
        str(tmp_path) + "/", ""
    )
    done, calls = run_with_standins(script, ["ufw"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == PRUNED


def test_prune_keeps_forms_it_does_not_write_back() -> None:
    """A rule with an interface or a source port is kept and named, never guessed; a row
    with words no ufw status shows is refused as well."""
    rows = (
        "25/tcp on eth1              ALLOW IN    10.4.0.0/16                # g\n"
        "25/tcp                      ALLOW IN    10.5.0.0/16 53/udp         # g\n"
        "25/tcp                      LIMIT IN    10.6.0.0/16                # g\n"
    )
    text = PRUNE_STATUS.split("25/tcp                     DENY")[0] + rows
    ctx = ReadContext("s.txt", "declared", service=Service.parse("tcp/25"))
    rs = reader_for("ufw-status").parse(text.encode(), ctx)
    extra = tuple(block(c) for c in ("10.4.0.0/16", "10.5.0.0/16", "10.6.0.0/16"))
    opts = RuleOptions(service=Service.parse("tcp/25"), declared=(rs,), scope=("g",), prune=extra)
    (art,) = UfwGenerator().checked_artifacts([], opts)
    assert art.kind == "prune"
    assert "# kept s.txt:8: its form" in art.body and "# kept s.txt:9: its form" in art.body
    assert art.body.splitlines()[-1] == shlex.join(
        ["ufw", "delete", "limit", "proto", "tcp", "from", "10.6.0.0/16", "to", "any", "port", "25"]
    )
    assert ufw_delete_argv("25/tcp  ALLOW IN  10.7.0.0/16 $(id)") is None
    assert ufw_delete_argv("25/tcp  DENY IN  10.7.0.0/16") is None


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(st.text(min_size=1), st.sampled_from(HOSTILE_SOURCES)))
def test_hostile_group_names_run_nothing(tmp_path: Path, comment: str) -> None:
    """Whatever a group's comment holds, the prune script runs exactly the intended deletes
    (the name only reaches comments, cleaned)."""
    name = group_name(comment.split("\n")[0].split("\r")[0])
    if not name or "\x85" in name or "\u2028" in name or "\u2029" in name:
        return
    status = PRUNE_STATUS.replace("# mail relays", "# " + name)
    code, output, path = _prune_run(tmp_path, status, name)
    if code == 2 and "conditional" in output:
        return  # the comment took a word the status reader reads as a column
    assert code == 0, output
    script = path.read_text()
    bash_n(script, tmp_path)
    done, calls = run_with_standins(script, ["ufw"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == PRUNED


PRUNE_RULES = """ufw default deny incoming
ufw deny proto tcp from 198.51.100.0/25 to any port 25 comment 'mail relays'
ufw allow proto tcp from 192.0.2.0/24 to any port 25 comment 'mail relays'
ufw allow from 198.51.100.7 to any port 25 comment 'mail relays'
ufw allow log proto tcp from 203.0.113.0/24 to any port 25,465 comment 'mail relays'
ufw allow proto tcp from 10.1.0.0/16 comment 'mail relays'
ufw allow proto tcp from 10.2.0.0/16 to 192.0.2.1 port 25 comment 'mail relays'
ufw allow from 10.3.0.0/16 to any app Postfix comment 'mail relays'
ufw allow proto tcp from 172.16.0.0/12 to any port 25 comment 'mail relays'
ufw allow proto tcp from 10.9.0.0/16 to any port 25 comment other
ufw allow proto tcp from 2001:db8::/32 to any port 25 comment 'mail relays'
"""


def test_prune_with_the_real_ufw(netns: Netns, tmp_path: Path) -> None:
    """The real ufw's status, diff --scope --prune, the prune script run by the real ufw, its
    status again: the group holds no wholly extra rule; what remains extra is the part of the
    rule kept; the expected addresses, the DENY and the other group are still there."""
    ufw = Ufw(netns, tmp_path)
    setup = ufw.sh(f"set -e\n{PRUNE_RULES}ufw --force enable\nufw status verbose\n")
    assert setup.returncode == 0, setup.stderr
    code, output, path = _prune_run(tmp_path, setup.stdout[setup.stdout.index("Status:") :])
    assert code == 0, output
    after = tmp_path / "after.txt"
    ran = ufw.sh(path.read_text() + f"ufw status verbose > {after}\n")
    assert ran.returncode == 0, ran.stderr
    rows = after.read_text()
    for kept in ("198.51.100.0/25", "192.0.2.0/24", "172.16.0.0/12", "10.9.0.0/16"):
        assert kept in rows
    for gone in ("198.51.100.7", "203.0.113.0/24", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"):
        assert gone not in rows
    assert "2001:db8::/32" not in rows
    args = ["diff", "-e", str(tmp_path / "expected.txt"), "-d", str(after), "--to", "192.0.2.1"]
    result = CliRunner().invoke(app, [*args, "--scope", "mail relays", "-o", "cidr"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, [*args, "--scope", "mail relays", "-o", "json"])
    extra = {b["cidr"] for b in json.loads(result.stdout)["extra"]}
    kept = ipaddress.ip_network("172.16.0.0/12")
    assert extra == {str(n) for n in kept.address_exclude(ipaddress.ip_network("172.16.1.0/24"))}
