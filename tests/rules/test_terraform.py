"""terraform: Terraform is not installable from the distribution here, so the files are parsed
with a small HCL reader (blocks, attributes, strings, numbers, lists), checked as
`terraform fmt` writes them, and the resources are applied to the exports the way the
provider would: the result reads back with no CIDR missing."""

from __future__ import annotations

import json
import re
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
from auditor.rules.terraform import TerraformAwsGenerator, string

from .cloud_helpers import bash_n, write
from .helpers import HOSTILE_SOURCES, ROOT, block, options
from .test_azure import nsg
from .test_gcloud import RULES as GCP_RULES

SG = ROOT / "tests" / "fixtures" / "cloud" / "sg.json"

_TOKEN = re.compile(
    r'\s*(?:(?P<comment>#[^\n]*)|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<num>-?\d+)'
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_.-]*)|(?P<punct>[{}\[\]=,]))"
)


def tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        assert m is not None, f"not HCL at {text[pos : pos + 40]!r}"
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        if kind != "comment":
            out.append((kind, m.group(kind)))
    return out


def _unquote(tok: str) -> str:
    body = tok[1:-1]
    assert "${" not in body.replace("$${", "") and "%{" not in body.replace("%%{", "")
    return json.loads('"' + body + '"').replace("$${", "${").replace("%%{", "%{")


def parse_hcl(text: str) -> list[dict[str, Any]]:
    """Top-level blocks: {"type", "labels", "attrs", "blocks"}."""
    toks = tokens(text)
    pos = 0

    def value() -> Any:
        nonlocal pos
        kind, tok = toks[pos]
        pos += 1
        if kind == "str":
            return _unquote(tok)
        if kind == "num":
            return int(tok)
        if kind == "ident":
            return ("expr", tok)
        assert tok == "[", tok
        items = []
        while toks[pos][1] != "]":
            items.append(value())
            if toks[pos][1] == ",":
                pos += 1
        pos += 1
        return items

    def body() -> dict[str, Any]:
        nonlocal pos
        attrs: dict[str, Any] = {}
        blocks: list[dict[str, Any]] = []
        while toks[pos][1] != "}":
            kind, name = toks[pos]
            assert kind == "ident", toks[pos]
            pos += 1
            if toks[pos][1] == "=":
                pos += 1
                assert name not in attrs, f"{name} twice"
                attrs[name] = value()
            else:
                blocks.append(block_rest(name))
        pos += 1
        return {"attrs": attrs, "blocks": blocks}

    def block_rest(kind: str) -> dict[str, Any]:
        nonlocal pos
        labels = []
        while toks[pos][0] == "str":
            labels.append(_unquote(toks[pos][1]))
            pos += 1
        assert toks[pos][1] == "{", toks[pos]
        pos += 1
        return {"type": kind, "labels": labels, **body()}

    out = []
    while pos < len(toks):
        kind, name = toks[pos]
        assert kind == "ident"
        pos += 1
        out.append(block_rest(name))
    return out


def check_fmt(text: str) -> None:
    """Two-space indents and the ``=`` of neighbouring attributes aligned."""
    run: list[int] = []
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        m = re.match(r"( *)[a-z_]+ +=", line)
        if m:
            assert len(m.group(1)) % 2 == 0
            run.append(line.index("="))
        else:
            assert len(set(run)) <= 1, f"= not aligned before {line!r}"
            run = []


def diff(*args: str) -> Any:
    return CliRunner().invoke(app, ["diff", *args])


def tf_files(out: Path) -> list[tuple[Path, list[dict[str, Any]]]]:
    found = []
    for path in sorted(out.rglob("*.tf")):
        text = path.read_text()
        check_fmt(text)
        found.append((path, parse_hcl(text)))
    for path in out.rglob("*.sh"):
        bash_n(path)
    return found


def resources(out: Path, kind: str) -> list[dict[str, Any]]:
    got = [b for _, blocks in tf_files(out) for b in blocks if b["type"] == "resource"]
    assert got and all(b["labels"][0] == kind for b in got)
    names = [b["labels"][1] for b in got]
    assert len(set(names)) == len(names)
    return got


@pytest.fixture
def expected(tmp_path: Path) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text("203.0.113.0/24\n198.51.100.0/25\n192.0.2.0/24\n2001:db8:99::/48\n")
    return path


def test_aws_resources_one_per_cidr_and_port_read_back_complete(
    tmp_path: Path, expected: Path
) -> None:
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(SG), "--service", "tcp/25,587"]
    result = diff(*args, "--rules", "terraform", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    res = resources(out, "aws_vpc_security_group_ingress_rule")
    data = json.loads(SG.read_text())
    seen = set()
    for r in res:
        a = r["attrs"]
        cidr = a.get("cidr_ipv4") or a["cidr_ipv6"]
        key = "IpRanges" if "cidr_ipv4" in a else "Ipv6Ranges"
        field = "CidrIp" if key == "IpRanges" else "CidrIpv6"
        seen.add((cidr, a["from_port"]))
        assert a["from_port"] == a["to_port"] and a["ip_protocol"] == "tcp"
        group = next(g for g in data["SecurityGroups"] if g["GroupId"] == a["security_group_id"])
        group["IpPermissions"].append(
            {"IpProtocol": "tcp", "FromPort": a["from_port"], "ToPort": a["to_port"],
             key: [{field: cidr}]}
        )  # fmt: skip
    assert len(seen) == len(res)  # each CIDR and port once
    after = tmp_path / "after.json"
    after.write_text(json.dumps(data))
    assert diff(*args[:2], "-d", str(after), "--service", "tcp/25,587").exit_code == 0
    rollback = (out / "terraform-v4-rollback.sh").read_text()
    targets = re.findall(r"-target=(\S+)", rollback)
    v4 = [r for r in res if "cidr_ipv4" in r["attrs"]]
    assert targets == [f"aws_vpc_security_group_ingress_rule.{r['labels'][1]}" for r in v4]


def test_azure_rules_read_back_complete(tmp_path: Path, expected: Path) -> None:
    export = tmp_path / "nsg.json"
    export.write_text(json.dumps(nsg()))
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export)]
    result = diff(*args, "--rules", "terraform", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    res = resources(out, "azurerm_network_security_rule")
    data = json.loads(export.read_text())
    prios = {r["attrs"]["name"]: r["attrs"]["priority"] for r in res}
    assert prios == {"allowlist-auditor-tcp-25-v4": 298, "allowlist-auditor-tcp-25-v6": 4095}
    for r in res:
        a = r["attrs"]
        assert (a["resource_group_name"], a["network_security_group_name"]) == (
            "mail-rg", "mail-nsg"
        )  # fmt: skip
        props = {
            "protocol": a["protocol"], "priority": a["priority"], "direction": a["direction"],
            "access": a["access"], "sourceAddressPrefixes": a["source_address_prefixes"],
            "sourcePortRange": a["source_port_range"],
            "destinationPortRanges": a["destination_port_ranges"],
            "destinationAddressPrefix": a["destination_address_prefix"],
        }  # fmt: skip
        data["properties"]["securityRules"].append({"name": a["name"], "properties": props})
    after = tmp_path / "after.json"
    after.write_text(json.dumps(data))
    assert diff("-e", str(expected), "-d", str(after)).exit_code == 0


def test_gcp_rules_read_back_complete(tmp_path: Path) -> None:
    export = tmp_path / "gcp.json"
    export.write_text(json.dumps(GCP_RULES))
    expected = tmp_path / "expected.txt"
    expected.write_text("203.0.113.0/24\n198.51.100.0/24\n2001:db8:99::/48\n")
    out = tmp_path / "out"
    args = ["-e", str(expected), "-d", str(export)]
    result = diff(*args, "--rules", "terraform-gcp", "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    res = resources(out, "google_compute_firewall")
    rules = json.loads(export.read_text())
    for r in res:
        a = r["attrs"]
        (allow,) = r["blocks"]
        assert allow["type"] == "allow" and allow["attrs"] == {"protocol": "tcp", "ports": ["25"]}
        assert a["network"] == "mail-net"
        rules.append(
            {"name": a["name"], "direction": a["direction"], "priority": a["priority"],
             "sourceRanges": a["source_ranges"],
             "allowed": [{"IPProtocol": "tcp", "ports": ["25"]}]}
        )  # fmt: skip
    assert sorted((r["attrs"]["name"], r["attrs"]["priority"]) for r in res) == [
        ("allowlist-auditor-tcp-25-v4", 899), ("allowlist-auditor-tcp-25-v6", 1000)
    ]  # fmt: skip
    after = tmp_path / "after.json"
    after.write_text(json.dumps(rules))
    assert diff("-e", str(expected), "-d", str(after)).exit_code == 0


def test_terraform_without_a_cloud_export_says_it_writes_for_aws(tmp_path: Path) -> None:
    cidrs = tmp_path / "c.txt"
    cidrs.write_text("192.0.2.0/24\n")
    result = CliRunner().invoke(app, ["rules", "terraform", str(cidrs)])
    assert result.exit_code == 0, result.output
    assert "these are AWS resources; terraform-azure and terraform-gcp" in result.stdout
    (tf,) = [p for p in result.stdout.split("# =====") if "apply: terraform-v4" in p]
    blocks = parse_hcl(tf.split("=====", 1)[1])
    assert [b["labels"][0] for b in blocks if b["type"] == "resource"] == [
        "aws_vpc_security_group_ingress_rule"
    ]


def test_without_an_export_the_objects_are_variables(tmp_path: Path) -> None:
    for platform, var in (
        ("terraform-aws", "allowlist_auditor_group_id"),
        ("terraform-azure", "allowlist_auditor_nsg_name"),
    ):
        gen = generator_for(platform)
        opts = options("any")
        arts = gen.checked_artifacts([block("192.0.2.0/24")], opts)
        (tf,) = [p for p in write(arts, gen, opts, tmp_path / platform) if p.suffix == ".tf"]
        blocks = parse_hcl(tf.read_text())
        assert {"type": "variable", "labels": [var], "attrs": {"type": ("expr", "string")},
                "blocks": []} in blocks  # fmt: skip
        refs = [v for b in blocks for v in b["attrs"].values() if v == ("expr", f"var.{var}")]
        assert refs


def test_a_group_from_the_command_line_is_checked() -> None:
    with pytest.raises(UsageError):
        generator_for("terraform-aws").check(options(chain='sg-1" }'))


_hostile = st.one_of(st.text(max_size=80), st.sampled_from(HOSTILE_SOURCES))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_hostile, min_size=1, max_size=4))
def test_hostile_origins_stay_inside_their_string(tmp_path_factory: Any, texts: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("tf")
    gen = TerraformAwsGenerator()
    blocks = [block(f"198.18.{i}.0/24", Origin(t, i, t)) for i, t in enumerate(texts)]
    opts = options("tcp/25", chain="sg-0123")
    paths = write(gen.checked_artifacts(blocks, opts), gen, opts, tmp)
    parsed = parse_hcl(paths[0].read_text())
    res = [b for b in parsed if b["type"] == "resource"]
    assert [r["attrs"]["cidr_ipv4"] for r in res] == [sanitize.cidr(b) for b in blocks]
    for r, b in zip(res, blocks, strict=True):
        assert r["attrs"].get("description") == (gen.origins_comment(b.origins) or None)
        assert set(r["attrs"]) <= {
            "security_group_id", "cidr_ipv4", "ip_protocol", "from_port", "to_port",
            "description",
        }  # fmt: skip
    bash_n(paths[1])


@pytest.mark.parametrize("text", ['a"b', "a\\b", "${x}", "%{x}", "$${x}"])
def test_strings_escape_what_hcl_reads(text: str) -> None:
    assert _unquote(string(text)) == text
