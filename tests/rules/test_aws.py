"""aws: the scripts run against a stand-in aws that records its argv; the recorded calls,
applied to the describe-security-groups export, read back with no CIDR missing."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import UsageError
from auditor.model import Origin
from auditor.rules import generator_for, sanitize
from auditor.rules.aws import AwsGenerator

from .cloud_helpers import Standins, bash_n, write
from .helpers import HOSTILE_SOURCES, ROOT, block, options

SG = ROOT / "tests" / "fixtures" / "cloud" / "sg.json"
RANGES = {"IpRanges": "CidrIp", "Ipv6Ranges": "CidrIpv6"}


def rules_of(call: list[str]) -> set[tuple[str, str, int | None, int | None, str]]:
    """(action, protocol, from, to, cidr) of every rule in one recorded aws call."""
    assert call[:2] == ["aws", "ec2"], call
    action = call[2]
    assert call[3] == "--group-id"
    assert call[5] == "--ip-permissions"
    assert len(call) == 7, call
    out = set()
    for perm in json.loads(call[6]):
        for key, field in RANGES.items():
            for item in perm.get(key, []):
                out.add(
                    (action, perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"),
                     item[field])
                )  # fmt: skip
    return out


def apply_calls(export: dict[str, Any], calls: list[list[str]]) -> None:
    """What EC2 does with the recorded calls, on the export."""
    for call in calls:
        group = next(g for g in export["SecurityGroups"] if g["GroupId"] == call[4])
        for perm in json.loads(call[6]):
            for key, field in RANGES.items():
                for item in perm.get(key, []):
                    if call[2] == "authorize-security-group-ingress":
                        new = {
                            k: perm[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in perm
                        }
                        new[key] = [item]
                        group["IpPermissions"].append(new)
                        continue
                    for old in group["IpPermissions"]:
                        same = all(old.get(k) == perm.get(k) for k in ("FromPort", "ToPort"))
                        if same and old["IpProtocol"] == perm["IpProtocol"]:
                            old[key] = [r for r in old.get(key, []) if r[field] != item[field]]


def diff(*args: str) -> Any:
    return CliRunner().invoke(app, ["diff", *args])


@pytest.fixture
def expected(tmp_path: Path) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text("203.0.113.0/24\n192.0.2.0/24\n2001:db8:99::/48\n")
    return path


def test_diff_rules_auto_runs_against_the_standin_and_reads_back_complete(
    tmp_path: Path, expected: Path
) -> None:
    export = tmp_path / "sg.json"
    shutil.copy(SG, export)
    out = tmp_path / "out"
    result = diff(
        "-e", str(expected), "-d", str(export), "--rules", "auto", "--output-dir", str(out)
    )
    assert result.exit_code == 1, result.output
    files = sorted(p.name for p in out.rglob("*.sh"))
    assert files == [
        "aws-v4-apply.sh", "aws-v4-rollback.sh", "aws-v6-apply.sh", "aws-v6-rollback.sh"
    ]  # fmt: skip
    stand = Standins(tmp_path)
    for name in ("aws-v4-apply.sh", "aws-v6-apply.sh"):
        path = next(out.rglob(name))
        bash_n(path)
        done = stand.run(path)
        assert done.returncode == 0, done.stderr
    calls = stand.calls()
    added = set().union(*(rules_of(c) for c in calls))
    # 192.0.2.0/24 less what sg-0b2 lets in on tcp/25 (192.0.2.10, 192.0.2.64/26), and the
    # IPv6 network; all into sg-0a1, the first group that allows tcp/25
    want = {
        "192.0.2.0/29", "192.0.2.8/31", "192.0.2.11/32", "192.0.2.12/30", "192.0.2.16/28",
        "192.0.2.32/27", "192.0.2.128/25", "2001:db8:99::/48",
    }  # fmt: skip
    assert added == {("authorize-security-group-ingress", "tcp", 25, 25, c) for c in want}
    assert {c[4] for c in calls} == {"sg-0a1"}
    assert len(calls) == 2  # one call per family: each CIDR once
    data = json.loads(export.read_text())
    apply_calls(data, calls)
    after = tmp_path / "sg-after.json"
    after.write_text(json.dumps(data))
    result = diff("-e", str(expected), "-d", str(after))
    assert result.exit_code == 0, result.output
    # the rollback revokes exactly what was added
    stand.clear()
    for name in ("aws-v4-rollback.sh", "aws-v6-rollback.sh"):
        assert stand.run(next(out.rglob(name))).returncode == 0
    revoked = set().union(*(rules_of(c) for c in stand.calls()))
    assert revoked == {("revoke-security-group-ingress", "tcp", 25, 25, c) for c in want}
    apply_calls(data, stand.calls())
    after.write_text(json.dumps(data))
    assert diff("-e", str(expected), "-d", str(after)).exit_code == 1


def test_a_duplicate_makes_the_script_add_rule_by_rule(tmp_path: Path) -> None:
    gen = AwsGenerator()
    blocks = [block("192.0.2.0/24"), block("198.51.100.0/24"), block("203.0.113.0/24")]
    opts = options("tcp/25,587", chain="sg-0123abcd")
    paths = write(gen.checked_artifacts(blocks, opts), gen, opts, tmp_path / "out")
    stand = Standins(tmp_path)
    done = stand.run(
        paths[0],
        {
            "STANDIN_FAIL_RE": r'"CidrIp":"192\.0\.2\.0/24".*"CidrIp"'
            r'|"FromPort":587.*"192\.0\.2\.0/24"',
            "STANDIN_FAIL_MESSAGE": "An error occurred (InvalidPermission.Duplicate) ...",
        },
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    calls = stand.calls()
    # the chunk (6 rules) is refused; then each rule alone, the duplicate skipped
    assert len(calls) == 1 + 6
    assert all(c[4] == "sg-0123abcd" for c in calls)
    singles = [rules_of(c) for c in calls[1:]]
    assert all(len(s) == 1 for s in singles)
    want = {
        ("authorize-security-group-ingress", "tcp", p, p, c)
        for p in (25, 587)
        for c in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
    }
    assert set().union(*singles) == want


def test_any_other_error_stops_the_script(tmp_path: Path) -> None:
    gen = AwsGenerator()
    opts = options(chain="sg-0123abcd")
    blocks = [block("192.0.2.0/24"), block("198.51.100.0/24")]
    paths = write(gen.checked_artifacts(blocks, opts), gen, opts, tmp_path / "out")
    stand = Standins(tmp_path)
    done = stand.run(
        paths[0], {"STANDIN_FAIL_RE": ".", "STANDIN_FAIL_MESSAGE": "UnauthorizedOperation"}
    )
    assert done.returncode != 0
    assert "UnauthorizedOperation" in done.stderr
    assert len(stand.calls()) == 1


def test_rules_beyond_the_quota_go_to_a_second_group(tmp_path: Path, expected: Path) -> None:
    data = {
        "SecurityGroups": [
            {
                "GroupId": "sg-0f",
                "IpPermissions": [
                    {
                        "IpProtocol": "tcp", "FromPort": 25, "ToPort": 25,
                        "IpRanges": [{"CidrIp": f"10.0.{i}.0/24"} for i in range(58)],
                    }
                ],
            }
        ]
    }  # fmt: skip
    export = tmp_path / "sg.json"
    export.write_text(json.dumps(data))
    cidrs = tmp_path / "five.txt"
    cidrs.write_text("".join(f"198.51.{i}.0/24\n" for i in (1, 3, 5, 7, 9)))
    out = tmp_path / "out"
    result = diff("-e", str(cidrs), "-d", str(export), "--rules", "aws", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    script = out / "aws-v4-apply.sh"
    stand = Standins(tmp_path)
    refused = stand.run(script)
    assert refused.returncode != 0 and "GROUP_ID_2" in refused.stderr
    assert stand.calls() == []  # nothing runs before every group is named
    assert stand.run(script, {"GROUP_ID_2": "sg-0e"}).returncode == 0
    by_group: dict[str, set[str]] = {}
    for call in stand.calls():
        by_group.setdefault(call[4], set()).update(r[4] for r in rules_of(call))
    assert by_group == {
        "sg-0f": {"198.51.1.0/24", "198.51.3.0/24"},
        "sg-0e": {"198.51.5.0/24", "198.51.7.0/24", "198.51.9.0/24"},
    }
    assert "adjustable" in script.read_text()


def test_prune_revokes_exactly_the_extra_rules_of_the_scope(tmp_path: Path) -> None:
    data = json.loads(SG.read_text())
    data["SecurityGroups"][0]["IpPermissions"].append(
        {
            "IpProtocol": "tcp", "FromPort": 25, "ToPort": 25,
            "IpRanges": [{"CidrIp": "100.64.0.0/24"}, {"CidrIp": "100.64.9.0/24"}],
        }
    )  # fmt: skip
    # another service's rule for an extra CIDR is not the service's to remove
    data["SecurityGroups"][0]["IpPermissions"].append(
        {"IpProtocol": "tcp", "FromPort": 587, "ToPort": 587,
         "IpRanges": [{"CidrIp": "100.64.9.0/24"}]}
    )  # fmt: skip
    export = tmp_path / "sg.json"
    export.write_text(json.dumps(data))
    expected = tmp_path / "expected.txt"
    expected.write_text("203.0.113.0/24\n2001:db8:25::/48\n198.51.100.0/25\n100.64.0.128/25\n")
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export), "--scope", "sg-0a1"]
    result = diff(*args, "--rules", "aws", "--prune", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    prune = out / "aws-v4-prune.sh"
    text = prune.read_text()
    assert "roll back: aws-v4-rollback.sh" not in text
    assert "# kept: 100.64.0.0/24 is only partly extra" in text
    stand = Standins(tmp_path)
    assert stand.run(prune).returncode == 0
    revoked = set().union(*(rules_of(c) for c in stand.calls()))
    assert revoked == {("revoke-security-group-ingress", "tcp", 25, 25, "100.64.9.0/24")}
    apply_calls(data, stand.calls())
    after = tmp_path / "after.json"
    after.write_text(json.dumps(data))
    result = diff("-e", str(expected), "-d", str(after), "--scope", "sg-0a1", "-o", "json")
    extra = json.loads(result.stdout)["extra"]
    assert "100.64.9.0/24" not in json.dumps(extra)
    assert "100.64.0.0/25" in json.dumps(extra)  # kept: only partly extra


def test_without_an_export_the_script_needs_the_group(tmp_path: Path) -> None:
    gen = AwsGenerator()
    opts = options()
    paths = write(gen.checked_artifacts([block("192.0.2.0/24")], opts), gen, opts, tmp_path)
    stand = Standins(tmp_path)
    done = stand.run(paths[0])
    assert done.returncode != 0 and "set GROUP_ID" in done.stderr
    assert stand.calls() == []
    assert stand.run(paths[0], {"GROUP_ID": "sg-1"}).returncode == 0
    assert [c[4] for c in stand.calls()] == ["sg-1"]


@pytest.mark.parametrize("name", ["sg-1; rm -rf /", "mail", "sg-$(id)", "sg-" + "a" * 40])
def test_a_group_that_is_not_an_id_is_refused(name: str) -> None:
    gen = generator_for("aws")
    with pytest.raises(UsageError):
        gen.check(options(chain=name))
    if name.startswith("sg-"):  # another --scope may name a group of another source
        with pytest.raises(UsageError):
            gen.check(replace(options(), scope=(name,)))


_hostile = st.one_of(st.text(max_size=80), st.sampled_from(HOSTILE_SOURCES))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_hostile, min_size=1, max_size=4))
def test_hostile_origins_reach_only_the_description(
    tmp_path_factory: Any, texts: list[str]
) -> None:
    tmp = tmp_path_factory.mktemp("aws")
    gen = AwsGenerator()
    blocks = [block(f"198.18.{i}.0/24", Origin(t, i, t)) for i, t in enumerate(texts)]
    opts = options("tcp/25,465", chain="sg-0123")
    arts = gen.checked_artifacts(blocks, opts)
    stand = Standins(tmp)
    for path in write(arts, gen, opts, tmp / "out"):
        bash_n(path)
    assert stand.run(tmp / "out" / "aws-v4-apply.sh").returncode == 0
    calls = stand.calls()
    assert len(calls) == 1  # the one call, nothing else ran
    perms = json.loads(calls[0][6])
    for perm in perms:
        got = [(r["CidrIp"], r.get("Description")) for r in perm["IpRanges"]]
        want = [(sanitize.cidr(b), gen.origins_comment(b.origins) or None) for b in blocks]
        assert got == want
    # the work directory holds only what the test made: no payload wrote a file
    assert sorted(p.name for p in tmp.iterdir()) == ["bin", "calls.jsonl", "out"]


def test_a_hostile_group_id_in_the_export_is_refused(tmp_path: Path, expected: Path) -> None:
    data = json.loads(SG.read_text())
    for group in data["SecurityGroups"]:
        group["GroupId"] = "sg-1' ; touch pwned ; '"
    export = tmp_path / "sg.json"
    export.write_text(json.dumps(data))
    result = diff("-e", str(expected), "-d", str(export), "--rules", "aws")
    assert result.exit_code == 2
    assert "is not a security group id" in result.output
    assert "authorize-security-group-ingress" not in result.output
