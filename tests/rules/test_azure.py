"""azure: the scripts run against a stand-in az that records its argv; the recorded calls,
applied to the NSG export, read back with no CIDR missing."""

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
from auditor.rules.azure import AzureGenerator

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
