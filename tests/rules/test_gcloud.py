"""gcloud: the scripts run against a stand-in gcloud that records its argv; the recorded
calls, applied to the firewall-rules export, read back with no CIDR missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import UsageError
from auditor.model import Origin
from auditor.rules import generator_for
from auditor.rules.gcloud import GcloudGenerator

from .cloud_helpers import Standins, bash_n, write
from .helpers import HOSTILE_SOURCES, block, options

RULES: list[dict[str, Any]] = [
    {
        "name": "allow-old", "direction": "INGRESS", "priority": 500,
        "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/mail-net",
        "allowed": [{"IPProtocol": "tcp", "ports": ["25"]}],
        "sourceRanges": ["198.51.100.0/24"],
    },
    {
        "name": "deny-bad", "direction": "INGRESS", "priority": 900,
        "denied": [{"IPProtocol": "tcp", "ports": ["25"]}],
        "sourceRanges": ["203.0.113.128/25"],
    },
    {
        "name": "allow-mail", "direction": "INGRESS",
        "allowed": [{"IPProtocol": "tcp", "ports": ["25", "587"]}],
        "sourceRanges": ["203.0.113.0/24"],
    },
]  # fmt: skip


def option_value(argv: list[str], name: str) -> str | None:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def apply_calls(rules: list[dict[str, Any]], calls: list[list[str]]) -> None:
    """What Compute Engine does with the recorded calls, on the export."""
    for call in calls:
        assert call[:3] == ["gcloud", "compute", "firewall-rules"], call
        verb, name = call[3], call[4]
        if verb == "describe":
            continue
        if verb == "delete":
            rules[:] = [r for r in rules if r["name"] != name]
            continue
        rule = next((r for r in rules if r["name"] == name), None)
        if verb == "create":
            assert rule is None, f"{name} created twice"
            rule = {"name": name, "direction": option_value(call, "direction")}
            rules.append(rule)
        assert rule is not None
        if (ranges := option_value(call, "source-ranges")) is not None:
            rule["sourceRanges"] = ranges.split(",")
        if (prio := option_value(call, "priority")) is not None:
            rule["priority"] = int(prio)
        if (spec := option_value(call, "rules")) is not None:
            allowed: dict[str, list[str]] = {}
            for item in spec.split(","):
                proto, _, port = item.partition(":")
                allowed.setdefault(proto, []).extend([port] if port else [])
            rule["allowed"] = [{"IPProtocol": p, "ports": ps} for p, ps in allowed.items()]


def diff(*args: str) -> Any:
    return CliRunner().invoke(app, ["diff", *args])


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    export = tmp_path / "gcp.json"
    export.write_text(json.dumps(RULES))
    expected = tmp_path / "expected.txt"
    expected.write_text("203.0.113.0/24\n198.51.100.0/24\n2001:db8:99::/48\n")
    return expected, export


def test_rules_go_ahead_of_the_deny_and_read_back_complete(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    expected, export = files
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export)]
    result = diff(*args, "--rules", "auto", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    stand = Standins(tmp_path)
    for name in ("gcloud-v4-apply.sh", "gcloud-v6-apply.sh"):
        path = next(out.rglob(name))
        bash_n(path)
        done = stand.run(
            path, {"STANDIN_FAIL_RE": "firewall-rules describe", "STANDIN_FAIL_CODE": "1"}
        )
        assert done.returncode == 0, done.stderr
    calls = [c for c in stand.calls() if c[3] != "describe"]
    fw = ["gcloud", "compute", "firewall-rules"]
    assert calls == [
        # allow-old (priority 500) is ahead of deny-bad (900): it takes the missing half
        [*fw, "update", "allow-old", "--source-ranges=198.51.100.0/24,203.0.113.128/25"],
        [
            *fw, "create", "allowlist-auditor-tcp-25-v6", "--network=mail-net",
            "--direction=INGRESS", "--priority=1000", "--action=ALLOW", "--rules=tcp:25",
            "--source-ranges=2001:db8:99::/48",
            f"--description=allowlist-auditor tcp/25, {expected}",
        ],
    ]  # fmt: skip
    rules = json.loads(export.read_text())
    apply_calls(rules, stand.calls())
    after = tmp_path / "after.json"
    after.write_text(json.dumps(rules))
    assert diff("-e", str(expected), "-d", str(after)).exit_code == 0
    # a second run updates the rule it created instead of creating it again
    stand.clear()
    assert stand.run(next(out.rglob("gcloud-v6-apply.sh"))).returncode == 0
    assert [c[3] for c in stand.calls()] == ["describe", "update"]
    # the rollback restores the export's ranges and deletes the new rule
    stand.clear()
    for name in ("gcloud-v4-rollback.sh", "gcloud-v6-rollback.sh"):
        assert stand.run(next(out.rglob(name))).returncode == 0
    apply_calls(rules, stand.calls())
    assert rules == json.loads(export.read_text())


def test_without_an_allow_ahead_of_the_deny_a_rule_is_created_just_before_it(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    expected, export = files
    expected.write_text("203.0.113.0/24\n198.51.100.0/24\n")
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export)]
    result = diff(*args, "--rules", "gcloud", "--chain", "allow-mail", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    # --chain names allow-mail, which is behind the deny: not extended, a new rule at 899
    stand = Standins(tmp_path)
    done = stand.run(out / "gcloud-v4-apply.sh", {"STANDIN_FAIL_RE": "firewall-rules describe"})
    assert done.returncode == 0, done.stderr
    created = [c for c in stand.calls() if c[3] == "create"]
    assert len(created) == 1
    assert "--priority=899" in created[0]
    assert "--source-ranges=203.0.113.128/25" in created[0]
    rules = json.loads(export.read_text())
    apply_calls(rules, stand.calls())
    after = tmp_path / "after.json"
    after.write_text(json.dumps(rules))
    assert diff("-e", str(expected), "-d", str(after)).exit_code == 0


def test_at_most_256_ranges_per_rule_with_deterministic_names(tmp_path: Path) -> None:
    gen = GcloudGenerator()
    blocks = [block(f"10.{i // 256}.{i % 256}.0/24") for i in range(0, 600, 2)]
    opts = options("tcp/25,465")
    arts = gen.checked_artifacts(blocks, opts)
    paths = write(arts, gen, opts, tmp_path / "out")
    stand = Standins(tmp_path)
    assert stand.run(paths[0], {"STANDIN_FAIL_RE": "firewall-rules describe"}).returncode == 0
    created = [c for c in stand.calls() if c[3] == "create"]
    assert [c[4] for c in created] == [
        "allowlist-auditor-tcp-25-465-v4", "allowlist-auditor-tcp-25-465-v4-2"
    ]  # fmt: skip
    ranges = [option_value(c, "source-ranges") for c in created]
    assert [len(r.split(",")) for r in ranges if r] == [256, 44]
    assert all("--rules=tcp:25,tcp:465" in c for c in created)
    assert all("--network=default" in c for c in created)


def test_a_deny_at_priority_zero_is_named_not_written(tmp_path: Path) -> None:
    rules = [
        {"name": "deny-all", "priority": 0, "denied": [{"IPProtocol": "all"}],
         "sourceRanges": ["192.0.2.0/24"]},
    ]  # fmt: skip
    export = tmp_path / "gcp.json"
    export.write_text(json.dumps(rules))
    expected = tmp_path / "expected.txt"
    expected.write_text("192.0.2.0/25\n")
    result = diff("-e", str(expected), "-d", str(export), "--rules", "gcloud")
    assert result.exit_code == 2, result.output
    assert "priority 0" in result.output
    assert "firewall-rules create" not in result.output


@pytest.mark.parametrize("chain", ["Allow-Mail", "a;b", "x" * 64, "allow-$(id)"])
def test_a_chain_that_is_not_a_rule_name_is_refused(chain: str) -> None:
    with pytest.raises(UsageError):
        generator_for("gcloud").check(options(chain=chain))


_hostile = st.one_of(st.text(max_size=80), st.sampled_from(HOSTILE_SOURCES))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_hostile, min_size=1, max_size=4))
def test_hostile_origins_reach_only_the_description(
    tmp_path_factory: Any, texts: list[str]
) -> None:
    tmp = tmp_path_factory.mktemp("gcloud")
    gen = GcloudGenerator()
    blocks = [block(f"198.18.{i}.0/24", Origin(t, i, t)) for i, t in enumerate(texts)]
    opts = options("tcp/25")
    arts = gen.checked_artifacts(blocks, opts)
    for path in write(arts, gen, opts, tmp / "out"):
        bash_n(path)
    stand = Standins(tmp)
    script = tmp / "out" / "gcloud-v4-apply.sh"
    assert stand.run(script, {"STANDIN_FAIL_RE": "firewall-rules describe"}).returncode == 0
    calls = stand.calls()
    assert [c[3] for c in calls] == ["describe", "create"]
    desc = option_value(calls[1], "description")
    assert desc == gen.comment(["tcp/25", *sorted(set(texts))])
    assert option_value(calls[1], "source-ranges") == ",".join(
        f"198.18.{i}.0/24" for i in range(len(texts))
    )
    assert sorted(p.name for p in tmp.iterdir()) == ["bin", "calls.jsonl", "out"]
