"""azure: the scripts run against a stand-in az that records its argv; the recorded calls,
applied to the NSG export, read back with no CIDR missing."""

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
from auditor.rules.azure import NAME, AzureGenerator

from .cloud_helpers import Standins, bash_n, write
from .helpers import HOSTILE_SOURCES, block, options


def rule(name: str, prio: int, access: str, src: list[str], port: str = "25") -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": port,
            "sourceAddressPrefixes": src, "destinationAddressPrefix": "*", "access": access,
            "priority": prio, "direction": "Inbound",
        },
    }  # fmt: skip


def nsg(name: str = "mail-nsg") -> dict[str, Any]:
    return {
        "id": f"/subscriptions/0/resourceGroups/mail-rg/providers/Microsoft.Network/"
        f"networkSecurityGroups/{name}",
        "name": name,
        "properties": {
            "securityRules": [
                rule("AllowMail", 200, "Allow", ["203.0.113.0/24"]),
                rule("DenyBad", 300, "Deny", ["198.51.100.0/24"]),
                rule("Https", 299, "Allow", ["*"], "443"),
                rule("DenyAll", 4096, "Deny", ["*"], "*"),
            ]
        },
    }


def values(argv: list[str], flag: str) -> list[str]:
    """The words after ``flag`` up to the next option."""
    i = argv.index(flag) + 1
    out = []
    while i < len(argv) and not argv[i].startswith("-"):
        out.append(argv[i])
        i += 1
    return out


def apply_calls(export: Any, calls: list[list[str]]) -> None:
    """What Azure does with the recorded calls, on the export (a PUT or a delete by name)."""
    groups = export if isinstance(export, list) else [export]
    for call in calls:
        assert call[:4] == ["az", "network", "nsg", "rule"], call
        group = next(g for g in groups if g["name"] == values(call, "--nsg-name")[0])
        assert values(call, "-g") == ["mail-rg"]
        name = values(call, "-n")[0]
        rules = group["properties"]["securityRules"]
        rules[:] = [r for r in rules if r["name"] != name]
        if call[4] == "create":
            props = {
                "protocol": values(call, "--protocol")[0],
                "priority": int(values(call, "--priority")[0]),
                "direction": values(call, "--direction")[0],
                "access": values(call, "--access")[0],
                "sourceAddressPrefixes": values(call, "--source-address-prefixes"),
                "sourcePortRanges": values(call, "--source-port-ranges"),
                "destinationPortRanges": values(call, "--destination-port-ranges"),
                "destinationAddressPrefixes": values(call, "--destination-address-prefixes"),
            }
            taken = [r["properties"]["priority"] for r in rules]
            assert props["priority"] not in taken, "Azure refuses a priority in use"
            rules.append({"name": name, "properties": props})


def diff(*args: str) -> Any:
    return CliRunner().invoke(app, ["diff", *args])


@pytest.fixture
def expected(tmp_path: Path) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text("203.0.113.0/24\n198.51.100.0/25\n192.0.2.0/24\n2001:db8:99::/48\n")
    return path


def test_rules_go_ahead_of_the_deny_at_free_priorities_and_read_back_complete(
    tmp_path: Path, expected: Path
) -> None:
    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(nsg()))
    assert diff("-e", str(expected), "-d", str(export)).exit_code == 1
    out = tmp_path / "out"
    result = diff(
        "-e", str(expected), "-d", str(export), "--rules", "auto", "--output-dir", str(out)
    )
    assert result.exit_code == 1, result.output
    stand = Standins(tmp_path)
    for name in ("azure-v4-apply.sh", "azure-v6-apply.sh"):
        path = next(out.rglob(name))
        bash_n(path)
        done = stand.run(path)
        assert done.returncode == 0, done.stderr
    calls = stand.calls()
    where = ["-g", "mail-rg", "--nsg-name", "mail-nsg"]
    tail = ["--source-port-ranges", "*", "--destination-address-prefixes", "*",
            "--description", f"allowlist-auditor tcp/25, {expected}"]  # fmt: skip
    head = ["az", "network", "nsg", "rule", "create", *where]
    assert calls == [
        # 198.51.100.0/25 is denied at 300 and 299 is taken: 298
        [*head, "-n", "allowlist-auditor-tcp-25-v4", "--priority", "298",
         "--direction", "Inbound", "--access", "Allow", "--protocol", "Tcp",
         "--destination-port-ranges", "25",
         "--source-address-prefixes", "192.0.2.0/24", "198.51.100.0/25", *tail],
        # the IPv6 network is denied by DenyAll at 4096
        [*head, "-n", "allowlist-auditor-tcp-25-v6", "--priority", "4095",
         "--direction", "Inbound", "--access", "Allow", "--protocol", "Tcp",
         "--destination-port-ranges", "25",
         "--source-address-prefixes", "2001:db8:99::/48", *tail],
    ]  # fmt: skip
    data = json.loads(export.read_text())
    apply_calls(data, calls)
    after = tmp_path / "after.json"
    after.write_text(json.dumps(data))
    result = diff("-e", str(expected), "-d", str(after))
    assert result.exit_code == 0, result.output
    # generated again from the changed NSG: nothing is missing, and the old rules are kept
    # at their priorities by a second run of the first scripts (create is a PUT)
    stand.clear()
    assert stand.run(next(out.rglob("azure-v4-apply.sh"))).returncode == 0
    apply_calls(data, stand.calls())
    after.write_text(json.dumps(data))
    assert diff("-e", str(expected), "-d", str(after)).exit_code == 0
    # the rollback deletes them by name
    stand.clear()
    for name in ("azure-v4-rollback.sh", "azure-v6-rollback.sh"):
        assert stand.run(next(out.rglob(name))).returncode == 0
    assert [c[4] for c in stand.calls()] == ["delete", "delete"]
    apply_calls(data, stand.calls())
    assert data == json.loads(export.read_text())


def test_every_nsg_of_the_export_gets_the_rules(tmp_path: Path, expected: Path) -> None:
    both = [nsg("nic-nsg"), nsg("subnet-nsg")]
    both[1]["properties"]["securityRules"].append(rule("Busy", 298, "Allow", ["10.0.0.0/8"], "443"))
    export = tmp_path / "nsgs.json"
    export.write_text(json.dumps(both))
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export)]
    result = diff(*args, "--rules", "azure", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    stand = Standins(tmp_path)
    for name in ("azure-v4-apply.sh", "azure-v6-apply.sh"):
        assert stand.run(out / name).returncode == 0
    got = [(values(c, "--nsg-name")[0], values(c, "--priority")[0]) for c in stand.calls()]
    assert got == [
        ("nic-nsg", "298"), ("subnet-nsg", "297"), ("nic-nsg", "4095"), ("subnet-nsg", "4095")
    ]  # fmt: skip
    apply_calls(both, stand.calls())
    after = tmp_path / "after.json"
    after.write_text(json.dumps(both))
    assert diff("-e", str(expected), "-d", str(after)).exit_code == 0
    # --chain picks one NSG
    stand.clear()
    result = diff(*args, "--chain", "subnet-nsg", "--rules", "azure", "--output-dir", str(out))
    assert stand.run(out / "azure-v4-apply.sh").returncode == 0
    assert {values(c, "--nsg-name")[0] for c in stand.calls()} == {"subnet-nsg"}


def test_without_an_export_the_script_needs_the_nsg(tmp_path: Path) -> None:
    gen = AzureGenerator()
    opts = options("any")
    paths = write(gen.checked_artifacts([block("192.0.2.0/24")], opts), gen, opts, tmp_path)
    stand = Standins(tmp_path)
    done = stand.run(paths[0])
    assert done.returncode != 0 and "RESOURCE_GROUP" in done.stderr
    assert stand.calls() == []
    env = {"RESOURCE_GROUP": "rg 1", "NSG_NAME": "n$(id)"}
    assert stand.run(paths[0], env).returncode == 0
    (call,) = stand.calls()
    assert values(call, "-g") == ["rg 1"] and values(call, "--nsg-name") == ["n$(id)"]
    assert values(call, "--protocol") == ["*"]
    assert values(call, "--destination-port-ranges") == ["*"]
    assert values(call, "--priority") == ["4096"]


def test_no_free_priority_is_a_usage_error(tmp_path: Path) -> None:
    data = nsg()
    data["properties"]["securityRules"] = [
        rule("DenyBad", 101, "Deny", ["198.51.100.0/24"]),
        rule("Taken", 100, "Allow", ["10.0.0.0/8"], "443"),
        rule("DenyAll", 4096, "Deny", ["*"], "*"),
    ]
    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(data))
    expected = tmp_path / "e.txt"
    expected.write_text("198.51.100.0/25\n")
    result = diff("-e", str(expected), "-d", str(export), "--rules", "azure")
    assert result.exit_code == 2
    assert "no free priority in mail-nsg below 101" in result.output


@pytest.mark.parametrize("name", ["a;b", "nsg$(id)", "-n", "x" * 81, "bad."])
def test_a_chain_that_is_not_an_nsg_name_is_refused(name: str) -> None:
    with pytest.raises(UsageError):
        generator_for("azure").check(options(chain=name))


def test_a_hostile_nsg_name_in_the_export_is_refused(tmp_path: Path, expected: Path) -> None:
    data = nsg()
    data["name"] = "x'; rm -rf / #"
    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(data))
    result = diff("-e", str(expected), "-d", str(export), "--rules", "azure")
    assert result.exit_code == 2
    assert "network security group" in result.output
    assert "rule create" not in result.output


_hostile = st.one_of(st.text(max_size=80), st.sampled_from(HOSTILE_SOURCES))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_hostile, min_size=1, max_size=4))
def test_hostile_origins_reach_only_the_description(
    tmp_path_factory: Any, texts: list[str]
) -> None:
    tmp = tmp_path_factory.mktemp("azure")
    gen = AzureGenerator()
    blocks = [block(f"2001:db8:{i + 1}::/48", Origin(t, i, t)) for i, t in enumerate(texts)]
    opts = options("tcp/25,465-466", chain="mail-nsg")
    for path in write(gen.checked_artifacts(blocks, opts), gen, opts, tmp / "out"):
        bash_n(path)
    stand = Standins(tmp)
    assert stand.run(tmp / "out" / "azure-v6-apply.sh", {"RESOURCE_GROUP": "rg"}).returncode == 0
    (call,) = stand.calls()
    assert values(call, "--description") == [gen.comment(["tcp/25,465-466", *sorted(set(texts))])]
    assert len(values(call, "--description")[0].encode()) <= 140
    assert values(call, "--destination-port-ranges") == ["25", "465-466"]
    assert values(call, "--source-address-prefixes") == [
        f"2001:db8:{i + 1}::/48" for i in range(len(texts))
    ]
    assert sorted(p.name for p in tmp.iterdir()) == ["bin", "calls.jsonl", "out"]


def apply_updates(export: Any, calls: list[list[str]]) -> None:
    """What Azure does with ``rule update --source-address-prefixes`` (az writes one prefix
    to sourceAddressPrefix, more to sourceAddressPrefixes), then the other calls."""
    groups = export if isinstance(export, list) else [export]
    rest = []
    for call in calls:
        if call[4] != "update":
            rest.append(call)
            continue
        group = next(g for g in groups if g["name"] == values(call, "--nsg-name")[0])
        assert values(call, "-g") == ["mail-rg"]
        name = values(call, "-n")[0]
        (found,) = [r for r in group["properties"]["securityRules"] if r["name"] == name]
        props = found["properties"]
        prefixes = values(call, "--source-address-prefixes")
        assert prefixes, "az refuses an update without prefixes"
        props.pop("sourceAddressPrefix", None)
        props.pop("sourceAddressPrefixes", None)
        if len(prefixes) == 1:
            props["sourceAddressPrefix"] = prefixes[0]
        else:
            props["sourceAddressPrefixes"] = prefixes
    apply_calls(export, rest)


def prune_nsg() -> dict[str, Any]:
    data = nsg()
    rules = data["properties"]["securityRules"]
    rules[0]["properties"]["sourceAddressPrefixes"] = [
        "203.0.113.0/24", "100.64.9.0/24", "100.64.0.0/24", "2001:db8:dead::/48"
    ]  # fmt: skip
    rules += [
        rule("OldPartner", 210, "Allow", ["100.64.20.0/24", "100.64.21.7"]),
        # another port: its extra source is not the service's to remove
        rule("Submission", 220, "Allow", ["100.64.9.0/24"], "587"),
        rule("Tagged", 230, "Allow", ["100.64.30.0/24", "AzureLoadBalancer"]),
    ]
    return data


def test_a_security_rule_is_a_scope_by_its_name_or_nsg_and_name(
    tmp_path: Path, expected: Path
) -> None:
    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(prune_nsg()))
    expected.write_text(expected.read_text() + "100.64.0.128/25\n")
    for scope in ("AllowMail", "mail-nsg/AllowMail"):
        result = diff("-e", str(expected), "-d", str(export), "--scope", scope, "-o", "json")
        assert result.exit_code == 1, result.output
        extra = json.dumps(json.loads(result.stdout)["extra"])
        assert "100.64.9.0/24" in extra and "100.64.0.0/25" in extra
        assert "2001:db8:dead::/48" in extra
        assert "203.0.113" not in extra and "100.64.20" not in extra
    # a deny rule holds no allowed address: it is no scope
    result = diff("-e", str(expected), "-d", str(export), "--scope", "DenyBad")
    assert result.exit_code == 2 and "unknown scope 'DenyBad'" in result.output
    assert "mail-nsg/AllowMail" in result.output


def test_prune_updates_or_deletes_exactly_the_extra_sources_of_the_scope(
    tmp_path: Path, expected: Path
) -> None:
    data = prune_nsg()
    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(data))
    expected.write_text(expected.read_text() + "100.64.0.128/25\n")
    out = tmp_path / "out"
    scopes = ["--scope", "AllowMail", "--scope", "OldPartner", "--scope", "Tagged"]
    scopes += ["--scope", "Submission"]
    args = ["-e", str(expected), "-d", str(export), *scopes]
    result = diff(*args, "--rules", "azure", "--prune", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    prune = out / "azure-all-prune.sh"
    bash_n(prune)
    text = prune.read_text()
    assert "# kept: 100.64.0.0/24 is only partly extra" in text
    assert "# kept: AzureLoadBalancer is not an address prefix" in text
    stand = Standins(tmp_path)
    done = stand.run(prune)
    assert done.returncode == 0, done.stderr
    where = ["-g", "mail-rg", "--nsg-name", "mail-nsg"]
    rule_cmd = ["az", "network", "nsg", "rule"]
    assert stand.calls() == [
        [*rule_cmd, "update", *where, "-n", "AllowMail",
         "--source-address-prefixes", "203.0.113.0/24", "100.64.0.0/24"],
        [*rule_cmd, "delete", *where, "-n", "OldPartner"],
        # a service tag is not an address: it stays
        [*rule_cmd, "update", *where, "-n", "Tagged",
         "--source-address-prefixes", "AzureLoadBalancer"],
    ]  # fmt: skip
    apply_updates(data, stand.calls())
    after = tmp_path / "after.json"
    after.write_text(json.dumps(data))
    done_before = diff(*args, "-o", "json")
    assert done_before.stdout.startswith("{"), done_before.output
    before = json.loads(done_before.stdout)
    assert "OldPartner" not in [r["name"] for r in data["properties"]["securityRules"]]
    left = ["--scope", "AllowMail", "--scope", "Tagged", "--scope", "Submission"]
    result = diff("-e", str(expected), "-d", str(after), *left, "-o", "json")
    assert result.stdout.startswith("{"), result.output
    report = json.loads(result.stdout)
    extra = json.dumps(report["extra"])
    for gone in ("100.64.9.0/24", "2001:db8:dead", "100.64.20.0/24", "100.64.21.7", "100.64.30"):
        assert gone not in extra
    assert "100.64.0.0/25" in extra  # kept: only partly extra
    # what was expected and allowed still is: the missing part is the same as before
    assert report["missing"] == before["missing"]
    submission = data["properties"]["securityRules"][4]
    assert submission["name"] == "Submission"
    assert submission["properties"]["sourceAddressPrefixes"] == ["100.64.9.0/24"]


def test_prune_never_touches_a_deny_rule(tmp_path: Path) -> None:
    """Removing a source from a deny rule would let it in: a deny named as a scope is kept."""
    from tests.reports.helpers import load

    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(prune_nsg()))
    rs = load(str(export), "declared", export.read_text(), "azure-nsg")
    extra = (block("198.51.100.0/24"), block("100.64.20.0/24"), block("100.64.21.7/32"))
    opts = replace(options(), declared=(rs,), scope=("DenyBad", "OldPartner"), prune=extra)
    (art,) = [a for a in AzureGenerator().checked_artifacts([], opts) if a.kind == "prune"]
    code = [line for line in art.body.splitlines() if not line.startswith("#")]
    assert [line for line in code if "DenyBad" in line] == []
    assert [line for line in code if "OldPartner" in line] == [
        "az network nsg rule delete -g mail-rg --nsg-name mail-nsg -n OldPartner"
    ]
    assert "# kept: mail-nsg/DenyBad is a Deny rule" in art.body


@pytest.mark.parametrize(
    "scope", ["a'b", "$(touch pwned)", "`id`", "x\ny", "r;id", "r\u00e9gle", "r" * 500]
)
def test_prune_with_a_hostile_scope_runs_nothing(
    tmp_path: Path, expected: Path, scope: str
) -> None:
    data = prune_nsg()
    data["properties"]["securityRules"][0]["name"] = scope
    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(data))
    args = ["-e", str(expected), "-d", str(export), "--scope", scope]
    result = diff(*args, "--rules", "azure", "--prune", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "cannot be written into an az command" in result.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(_hostile, st.from_regex(NAME, fullmatch=True)).filter(bool))
def test_a_scoped_rule_of_any_name_is_refused_or_pruned_by_exactly_that_name(
    tmp_path_factory: Any, name: str
) -> None:
    from tests.reports.helpers import load

    tmp = tmp_path_factory.mktemp("azure")
    data = prune_nsg()
    data["properties"]["securityRules"][0]["name"] = name
    export = tmp / "nsg.json"
    export.write_text(json.dumps(data))
    rs = load(str(export), "declared", export.read_text(), "azure-nsg")
    opts = replace(options(), declared=(rs,), scope=(name,), prune=(block("100.64.9.0/24"),))
    gen = AzureGenerator()
    try:
        arts = gen.checked_artifacts([], opts)
    except UsageError as e:
        assert "cannot be written into an az command" in str(e)
        assert not NAME.fullmatch(name)
        return
    (path,) = write(arts, gen, opts, tmp / "out")
    bash_n(path)
    stand = Standins(tmp)
    assert stand.run(path).returncode == 0
    assert stand.calls() == [
        ["az", "network", "nsg", "rule", "update", "-g", "mail-rg", "--nsg-name", "mail-nsg",
         "-n", name, "--source-address-prefixes", "203.0.113.0/24", "100.64.0.0/24",
         "2001:db8:dead::/48"]
    ]  # fmt: skip
    assert sorted(p.name for p in tmp.iterdir()) == ["bin", "calls.jsonl", "nsg.json", "out"]
