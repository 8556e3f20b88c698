"""gcloud: the scripts run against a stand-in gcloud that records its argv; the recorded
calls, applied to the firewall-rules export, read back with no CIDR missing."""

from __future__ import annotations

import json
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
from auditor.rules import generator_for
from auditor.rules.gcloud import NAME, GcloudGenerator

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


def prune_rules() -> list[dict[str, Any]]:
    def allow(name: str, ranges: list[str], port: str = "25", **more: Any) -> dict[str, Any]:
        return {"name": name, "direction": "INGRESS", "priority": 700, "sourceRanges": ranges,
                "allowed": [{"IPProtocol": "tcp", "ports": [port]}], **more}  # fmt: skip

    return [
        *json.loads(json.dumps(RULES)),
        allow("allow-stale", ["100.64.9.0/24", "100.64.0.0/24", "192.0.2.0/24"]),
        allow("allow-gone", ["100.64.20.0/24", "100.64.21.7"]),
        allow("allow-v6", ["2001:db8:dead::/48", "2001:db8:beef::/48"]),
        # another port: its extra range is not the service's to remove
        allow("allow-submission", ["100.64.9.0/24"], "587"),
    ]


@pytest.fixture
def prune_files(tmp_path: Path) -> tuple[Path, Path]:
    export = tmp_path / "gcp.json"
    export.write_text(json.dumps(prune_rules()))
    expected = tmp_path / "expected.txt"
    expected.write_text(
        "203.0.113.0/24\n198.51.100.0/24\n2001:db8:99::/48\n100.64.0.128/25\n192.0.2.0/24\n"
    )
    return expected, export


def test_an_ingress_allow_rule_is_a_scope_by_its_name(prune_files: tuple[Path, Path]) -> None:
    expected, export = prune_files
    args = ["-e", str(expected), "-d", str(export)]
    result = diff(*args, "--scope", "allow-stale", "-o", "json")
    assert result.exit_code == 1, result.output
    extra = json.dumps(json.loads(result.stdout)["extra"])
    assert "100.64.9.0/24" in extra and "100.64.0.0/25" in extra
    assert "192.0.2" not in extra and "100.64.20" not in extra
    # a deny rule holds no allowed address: it is no scope
    result = diff(*args, "--scope", "deny-bad")
    assert result.exit_code == 2 and "unknown scope 'deny-bad'" in result.output
    assert "allow-stale" in result.output


def test_prune_updates_or_deletes_exactly_the_extra_ranges_of_the_scope(
    tmp_path: Path, prune_files: tuple[Path, Path]
) -> None:
    expected, export = prune_files
    scopes = ["--scope", "allow-stale", "--scope", "allow-gone", "--scope", "allow-v6"]
    scopes += ["--scope", "allow-submission"]
    args = ["-e", str(expected), "-d", str(export), *scopes]
    out = tmp_path / "out"
    result = diff(*args, "--rules", "gcloud", "--prune", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    prune = out / "gcloud-all-prune.sh"
    bash_n(prune)
    assert "# kept: 100.64.0.0/24 is only partly extra" in prune.read_text()
    stand = Standins(tmp_path)
    done = stand.run(prune)
    assert done.returncode == 0, done.stderr
    fw = ["gcloud", "compute", "firewall-rules"]
    assert stand.calls() == [
        [*fw, "update", "allow-stale", "--source-ranges=100.64.0.0/24,192.0.2.0/24"],
        [*fw, "delete", "allow-gone", "--quiet"],
        [*fw, "delete", "allow-v6", "--quiet"],
    ]
    rules = json.loads(export.read_text())
    apply_calls(rules, stand.calls())
    assert [r["name"] for r in rules if r["name"] in ("allow-gone", "allow-v6")] == []
    after = tmp_path / "after.json"
    after.write_text(json.dumps(rules))
    before = diff(*args, "-o", "json")
    assert before.stdout.startswith("{"), before.output
    left = ["--scope", "allow-stale", "--scope", "allow-submission"]
    result = diff("-e", str(expected), "-d", str(after), *left, "-o", "json")
    assert result.stdout.startswith("{"), result.output
    report = json.loads(result.stdout)
    extra = json.dumps(report["extra"])
    assert "100.64.9.0/24" not in extra
    assert "100.64.0.0/25" in extra  # kept: only partly extra
    # what was expected and allowed still is: the missing part is the same as before
    assert report["missing"] == json.loads(before.stdout)["missing"]
    submission = next(r for r in rules if r["name"] == "allow-submission")
    assert submission["sourceRanges"] == ["100.64.9.0/24"]


def test_prune_never_touches_a_deny_rule_nor_leaves_a_tagged_rule_without_ranges(
    tmp_path: Path,
) -> None:
    """Removing a source from a deny would let it in; a rule with source tags and no range
    left would be a rule for the tags only, which an update cannot write: both are kept."""
    from tests.reports.helpers import load

    rules = prune_rules() + [
        {"name": "deny-old", "direction": "INGRESS", "priority": 600,
         "denied": [{"IPProtocol": "tcp", "ports": ["25"]}], "sourceRanges": ["100.64.40.0/24"]},
        {"name": "allow-tagged", "direction": "INGRESS", "priority": 700,
         "allowed": [{"IPProtocol": "tcp", "ports": ["25"]}], "sourceRanges": ["100.64.30.0/24"],
         "sourceTags": ["relay"]},
    ]  # fmt: skip
    export = tmp_path / "gcp.json"
    export.write_text(json.dumps(rules))
    rs = load(str(export), "declared", export.read_text(), "gcp-firewall")
    extra = (block("100.64.40.0/24"), block("100.64.30.0/24"), block("100.64.20.0/24"))
    scope = ("deny-old", "allow-tagged", "allow-gone")
    opts = replace(options(), declared=(rs,), scope=scope, prune=extra)
    (art,) = [a for a in GcloudGenerator().checked_artifacts([], opts) if a.kind == "prune"]
    code = [line for line in art.body.splitlines() if not line.startswith("#")]
    assert [line for line in code if "deny-old" in line or "allow-tagged" in line] == []
    assert [line for line in code if "allow-gone" in line] == [  # 100.64.21.7 is not extra
        "gcloud compute firewall-rules update allow-gone --source-ranges=100.64.21.7"
    ]
    assert "# kept: deny-old is a deny rule" in art.body
    assert "# kept: allow-tagged: every source range is extra" in art.body


@pytest.mark.parametrize(
    "scope", ["a'b", "$(touch pwned)", "`id`", "x\ny", "r;id", "r\u00e9gle", "r" * 500]
)
def test_prune_with_a_hostile_scope_runs_nothing(
    tmp_path: Path, prune_files: tuple[Path, Path], scope: str
) -> None:
    expected, export = prune_files
    rules = prune_rules()
    rules[4]["name"] = scope
    export.write_text(json.dumps(rules))
    args = ["-e", str(expected), "-d", str(export), "--scope", scope]
    result = diff(*args, "--rules", "gcloud", "--prune", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "is not a firewall rule name" in result.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(_hostile, st.from_regex(NAME, fullmatch=True)).filter(bool))
def test_a_scoped_rule_of_any_name_is_refused_or_pruned_by_exactly_that_name(
    tmp_path_factory: Any, name: str
) -> None:
    from tests.reports.helpers import load

    tmp = tmp_path_factory.mktemp("gcloud")
    rules = prune_rules()
    rules[3]["name"] = name  # allow-stale
    export = tmp / "gcp.json"
    export.write_text(json.dumps(rules))
    rs = load(str(export), "declared", export.read_text(), "gcp-firewall")
    opts = replace(options(), declared=(rs,), scope=(name,), prune=(block("100.64.9.0/24"),))
    gen = GcloudGenerator()
    try:
        arts = gen.checked_artifacts([], opts)
    except UsageError as e:
        assert "is not a firewall rule name" in str(e)
        assert not NAME.fullmatch(name)
        return
    (path,) = write(arts, gen, opts, tmp / "out")
    bash_n(path)
    stand = Standins(tmp)
    assert stand.run(path).returncode == 0
    assert stand.calls() == [
        ["gcloud", "compute", "firewall-rules", "update", name,
         "--source-ranges=100.64.0.0/24,192.0.2.0/24"]
    ]  # fmt: skip
    assert sorted(p.name for p in tmp.iterdir()) == ["bin", "calls.jsonl", "gcp.json", "out"]
