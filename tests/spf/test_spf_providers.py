"""Providers of the catalog backed by SPF records (``spf: [NAME, ...]``): the union of every
record's expansion as one source named after the provider, read from a real DNS server on
127.0.0.1 given with ``--nameserver``; a record that fails fails the provider, never shrinks it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import RunCli, WriteFile
from dnsd import DnsServer

from auditor.errors import InputError
from auditor.sources.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
FETCH_SCHEMA = json.loads((ROOT / "data" / "fetch.schema.json").read_text())
REPORT_SCHEMA = json.loads((ROOT / "data" / "report.schema.json").read_text())

ZONE: dict[Any, list[tuple[str, Any]]] = {
    # relays: two records, the first with includes two levels deep
    "a.spf.relays.example": [("TXT", "v=spf1 ip4:192.0.2.0/28 include:n1.relays.example -all")],
    "n1.relays.example": [("TXT", "v=spf1 include:n2.relays.example ip6:2001:db8:a::/48 ~all")],
    "n2.relays.example": [("TXT", "v=spf1 ip4:198.51.100.0/25 -all")],
    "b.spf.relays.example": [("TXT", "v=spf1 ip4:203.0.113.8/29 -all")],
    "broken.relays.example": [("TXT", "v=spf1 ip4:203.0.113.64/26 include:sf.relays.example")],
    "sf.relays.example": [("TXT", "v=spf1 ip4:203.0.113.128/25 -all")],
    "macro.relays.example": [("TXT", "v=spf1 ip4:203.0.113.200 exists:%{i}.x.relays.example")],
    # twelve a: terms: the 11th is over the lookup limit
    "over.relays.example": [
        ("TXT", "v=spf1 " + " ".join(f"a:h{i}.relays.example" for i in range(1, 13)) + " -all")
    ],
    # the built-in servicenow provider's records, served locally
    "b.spf.service-now.com": [("TXT", "v=spf1 ip4:192.0.2.64/27 -all")],
    "c.spf.service-now.com": [("TXT", "v=spf1 ip4:192.0.2.96/27 -all")],
    "d.spf.service-now.com": [("TXT", "v=spf1 include:e.spf.service-now.com -all")],
    "e.spf.service-now.com": [("TXT", "v=spf1 ip6:2001:db8:5e::/48 -all")],
}

CATALOG = """\
providers:
  relays:
    description: test relays
    spf: [a.spf.relays.example, b.spf.relays.example]
    docs: https://relays.example/spf
  one:
    description: a single record, given as a string
    spf: b.spf.relays.example
  broken:
    description: the second record's include SERVFAILs
    spf: [a.spf.relays.example, broken.relays.example]
  gone:
    description: the second record does not exist
    spf: [a.spf.relays.example, nx.relays.example]
  macro:
    description: the second record cannot be listed
    spf: [b.spf.relays.example, macro.relays.example]
  over:
    description: the second record is over the lookup limit
    spf: [b.spf.relays.example, over.relays.example]
"""

for _i in range(1, 13):
    ZONE[f"h{_i}.relays.example"] = [("A", f"198.51.100.{200 + _i}")]

RELAYS = ["192.0.2.0/28", "198.51.100.0/25", "203.0.113.8/29", "2001:db8:a::/48"]


@pytest.fixture
def ns(dns_server: DnsServer) -> str:
    dns_server.zone.update(ZONE)
    dns_server.zone.set_behaviour("sf.relays.example", servfail=True)
    return f"127.0.0.1:{dns_server.port}"


@pytest.fixture
def catalog(write: WriteFile) -> str:
    return str(write("catalog.yaml", CATALOG))


def test_fetch_gives_the_union_of_every_record(run_cli: RunCli, ns: str, catalog: str) -> None:
    code, out, err = run_cli("fetch", "relays", "--catalog", catalog, "--nameserver", ns)
    assert code == 0, err
    assert out.splitlines() == RELAYS


def test_fetch_json_origins_name_the_record_and_the_include_chain(
    run_cli: RunCli, ns: str, catalog: str
) -> None:
    code, out, err = run_cli(
        "fetch", "relays", "--catalog", catalog, "--nameserver", ns, "-o", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, FETCH_SCHEMA)
    assert doc["cidrs"] == RELAYS
    paths = {e["range"]: (e["source"], e["path"]) for e in doc["entries"]}
    assert paths == {
        "192.0.2.0/28": ("relays", "a.spf.relays.example > ip4:192.0.2.0/28"),
        "198.51.100.0/25": (
            "relays",
            "a.spf.relays.example > include:n1.relays.example > include:n2.relays.example"
            " > ip4:198.51.100.0/25",
        ),
        "2001:db8:a::/48": (
            "relays",
            "a.spf.relays.example > include:n1.relays.example > ip6:2001:db8:a::/48",
        ),
        "203.0.113.8/29": ("relays", "b.spf.relays.example > ip4:203.0.113.8/29"),
    }
    (source,) = doc["sources"]
    assert source["name"] == "relays"
    assert source["format"] == "spf"
    assert source["completeness"] == "complete"
    assert source["url"] == "spf:a.spf.relays.example spf:b.spf.relays.example"


def test_a_single_record_given_as_a_string(run_cli: RunCli, ns: str, catalog: str) -> None:
    code, out, err = run_cli("fetch", "one", "--catalog", catalog, "--nameserver", ns)
    assert code == 0, err
    assert out.splitlines() == ["203.0.113.8/29"]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("broken", "broken: SPF record broken.relays.example: "),
        ("gone", "gone: SPF record nx.relays.example does not exist (NXDOMAIN)"),
    ],
)
def test_a_failing_record_fails_the_provider(
    run_cli: RunCli, ns: str, catalog: str, tmp_path: Path, name: str, says: str
) -> None:
    """The records that were read are not given as the provider: that would look whole."""
    target = tmp_path / "kept.txt"
    target.write_text("192.0.2.250/32\n")
    code, out, err = run_cli(
        "fetch", name, "--catalog", catalog, "--nameserver", ns, "--output-file", str(target)
    )
    assert code == 2
    assert out == ""
    assert says in err
    assert target.read_text() == "192.0.2.250/32\n"


def test_diff_with_a_failing_record_is_incomplete(
    run_cli: RunCli, ns: str, catalog: str, write: WriteFile
) -> None:
    write("list.txt", "192.0.2.0/28\n")
    code, out, err = run_cli(
        "diff", "-e", "broken", "-d", "list.txt", "--catalog", catalog, "--nameserver", ns,
        "-o", "json",
    )  # fmt: skip
    assert code == 2
    doc = json.loads(out)
    jsonschema.validate(doc, REPORT_SCHEMA)
    (source,) = [i for i in doc["inputs"] if i["name"] == "broken"]
    assert source["completeness"] == "failed"
    assert any("SERVFAIL" in r for r in source["reasons"]), source["reasons"]
    assert doc["missing"] == []  # nothing is reported from a set that was not read whole
    assert doc["verdict"]["status"] == "incomplete"
    assert "broken.relays.example" in err


def test_a_partial_record_makes_the_provider_partial(
    run_cli: RunCli, ns: str, catalog: str
) -> None:
    code, out, err = run_cli(
        "fetch", "macro", "--catalog", catalog, "--nameserver", ns, "-o", "json"
    )
    assert code == 2
    doc = json.loads(out)
    (source,) = doc["sources"]
    assert source["completeness"] == "partial"
    assert any(
        r.startswith("macro.relays.example: ") and "exists:%{i}.x.relays.example" in r
        for r in source["reasons"]
    ), source["reasons"]
    assert doc["cidrs"] == ["203.0.113.8/29", "203.0.113.200/32"]


@pytest.mark.parametrize(("view", "hosts"), [("honoured", 10), ("published", 12)])
def test_the_spf_view_applies_to_every_record(
    run_cli: RunCli, ns: str, catalog: str, view: str, hosts: int
) -> None:
    code, out, err = run_cli(
        "fetch", "over", "--catalog", catalog, "--nameserver", ns, "--spf-view", view,
        "-o", "json",
    )  # fmt: skip
    assert code == 2  # over the limit is partial in either view
    doc = json.loads(out)
    (source,) = doc["sources"]
    assert source["completeness"] == "partial"
    assert any(r.startswith("over.relays.example: IPv4: ") for r in source["reasons"])
    assert len(doc["entries"]) == 1 + hosts
    assert "a:h11.relays.example" in err


def test_diff_reports_missing_ranges_with_the_record_and_chain(
    run_cli: RunCli, ns: str, catalog: str, write: WriteFile
) -> None:
    write("list.txt", "192.0.2.0/28\n203.0.113.8/29\n2001:db8:a::/48\n")
    code, out, err = run_cli(
        "diff", "-e", "relays", "-d", "list.txt", "--catalog", catalog, "--nameserver", ns,
        "-o", "json",
    )  # fmt: skip
    assert code == 1, err
    doc = json.loads(out)
    jsonschema.validate(doc, REPORT_SCHEMA)
    assert [(m["cidr"], m["origins"]) for m in doc["missing"]] == [
        (
            "198.51.100.0/25",
            [
                {
                    "source": "relays",
                    "line": None,
                    "path": "a.spf.relays.example > include:n1.relays.example"
                    " > include:n2.relays.example > ip4:198.51.100.0/25",
                }
            ],
        )
    ]
    (source,) = [i for i in doc["inputs"] if i["name"] == "relays"]
    assert source["completeness"] == "complete"

    write("list.txt", "\n".join(RELAYS) + "\n")
    code, out, err = run_cli(
        "diff", "-e", "relays", "-d", "list.txt", "--catalog", catalog, "--nameserver", ns
    )
    assert code == 0, out + err


def test_the_builtin_servicenow_provider(run_cli: RunCli, ns: str) -> None:
    code, out, err = run_cli("fetch", "servicenow", "--nameserver", ns)
    assert code == 0, err
    assert out.splitlines() == ["192.0.2.64/26", "2001:db8:5e::/48"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("relays:region=eu", "relays is read from SPF records, which take no filter 'region'"),
        ("relays:from=list.txt", "relays is read from SPF records, which take no from="),
    ],
)
def test_filters_and_from_are_refused(
    run_cli: RunCli, ns: str, catalog: str, write: WriteFile, spec: str, says: str
) -> None:
    write("list.txt", "192.0.2.0/28\n")
    code, out, err = run_cli("fetch", spec, "--catalog", catalog, "--nameserver", ns)
    assert code == 2
    assert out == ""
    assert says in err


def test_offline_is_refused(run_cli: RunCli, ns: str, catalog: str) -> None:
    code, _, err = run_cli("fetch", "relays", "--catalog", catalog, "--offline")
    assert code == 2
    assert "relays: SPF records are read from DNS, which --offline does not allow" in err


# -- auditor providers ------------------------------------------------------------------------


def test_providers_lists_the_records(run_cli: RunCli, catalog: str) -> None:
    code, out, err = run_cli("providers", "--catalog", catalog)
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index("relays      test relays")
    assert lines[at + 1].split() == [
        "SPF",
        "records:",
        "a.spf.relays.example,",
        "b.spf.relays.example",
    ]
    assert "servicenow  ServiceNow outbound mail relays (instance email)" in lines

    code, out, err = run_cli("providers", "relays", "--catalog", catalog)
    assert code == 0, err
    lines = out.splitlines()
    assert "spf:         a.spf.relays.example" in lines
    assert "spf:         b.spf.relays.example" in lines
    assert not any(line.startswith(("parser:", "url:", "filters:")) for line in lines)
    assert "example:     auditor fetch relays" in lines


# -- the catalog ------------------------------------------------------------------------------


def test_catalog_reads_spf_entries(catalog: str) -> None:
    cat = load_catalog([catalog])
    assert cat.get("relays").spf == ("a.spf.relays.example", "b.spf.relays.example")
    assert cat.get("one").spf == ("b.spf.relays.example",)
    assert cat.get("servicenow").spf == (
        "b.spf.service-now.com",
        "c.spf.service-now.com",
        "d.spf.service-now.com",
    )


def test_the_builtin_senders_cite_their_vendor_and_are_in_the_readme() -> None:
    """Every built-in SPF-backed provider cites an https page; at least twenty vendors (by
    the site of the page); the README's list of senders names each of them."""
    cat = load_catalog([])
    senders = [p for p in cat.providers.values() if p.spf]
    assert len(senders) >= 23
    sites = set()
    for p in senders:
        assert p.docs and p.docs.startswith("https://"), p.name
        assert p.description, p.name
        host = p.docs.split("/")[2]
        sites.add(".".join(host.split(".")[-2:]))
    # learn.microsoft.com twice (m365 and GCC High), zoho.com twice, and Mimecast's support
    # site is on zendesk.com: 21 vendors on 20 sites
    assert len(sites) >= 20, sorted(sites)
    readme = (ROOT / "README.md").read_text()
    listed = readme.split("The built-in catalog has these senders", 1)[1].split("\n\n", 1)[0]
    for p in senders:
        assert f"`{p.name}`" in listed, p.name


HEAD = "providers:\n  relays:\n    description: x\n"


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        (HEAD + "    spf: [a.example]\n    url: https://a.example/x\n", 5, "spf and url"),
        (HEAD + "    parser: text\n    spf: [a.example]\n", 4, "spf and parser"),
        (HEAD + "    spf: [a.example]\n    filters: [region]\n", 5, "no filter is defined"),
        (HEAD + "    spf: [a.example]\n    refresh: 60\n", 5, "spf and refresh"),
        (HEAD + "    spf: [a.example, 'spf:b.example']\n", 4, "'spf:b.example' is not a DNS name"),
        (HEAD + "    spf: [localhost]\n", 4, "'localhost' is not a DNS name"),
        (HEAD + "    spf: []\n", 4, "lists no record"),
        (HEAD + "    spf: [a.example]\n    docs: ''\n", 5, "non-empty string"),
        (HEAD, 2, "missing field 'parser'"),
        # overriding the built-in SPF-backed provider with a feed needs its parser
        ("providers:\n  servicenow:\n    url: https://a.example/x\n", 3, "needs a parser"),
    ],
)
def test_bad_spf_entries_name_file_and_line(
    tmp_path: Path, body: str, line: int, words: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(body)
    with pytest.raises(InputError) as e:
        load_catalog([path])
    assert words in str(e.value)
    assert str(e.value).startswith(f"{path}:{line}: "), str(e.value)


def test_a_user_catalog_can_turn_a_feed_into_spf_and_back(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "providers:\n"
        "  stripe:\n    spf: [_spf.stripe.example]\n"
        "  servicenow:\n    url: mirror.txt\n    parser: text\n"
    )
    cat = load_catalog([path])
    stripe, servicenow = cat.get("stripe"), cat.get("servicenow")
    assert (stripe.spf, stripe.urls, stripe.parser, stripe.filters) == (
        ("_spf.stripe.example",),
        (),
        "",
        (),
    )
    assert stripe.docs == "https://docs.stripe.com/ips"  # other fields kept
    assert (servicenow.spf, servicenow.urls, servicenow.parser) == (
        (),
        (str(tmp_path / "mirror.txt"),),
        "text",
    )
