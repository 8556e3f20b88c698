"""`auditor spf`, and ``spf:DOMAIN`` sources in `auditor diff` and `auditor fetch`, run
in-process against a real DNS server on 127.0.0.1 given with ``--nameserver``.

What a user sees is checked here: the include tree, the lookup counts, every range with its
include chain, the exit codes (0 only when the record was expanded completely), clear
messages on DNS faults and on a domain without SPF, and DNS text that never reaches the
terminal raw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import RunCli, WriteFile
from dnsd import DnsServer

from auditor.errors import UsageError
from auditor.spf.options import check_nameserver

ROOT = Path(__file__).resolve().parents[2]
REPORT_SCHEMA = json.loads((ROOT / "data" / "report.schema.json").read_text())

ZONE: dict[Any, list[tuple[str, Any]]] = {
    "example.com": [("TXT", "v=spf1 ip4:192.0.2.1 include:inc.example.com mx -all")],
    "example.com.": [("MX", (10, "mail.example.com"))],
    "mail.example.com": [("A", "203.0.113.25"), ("AAAA", "2001:db8:25::1")],
    "inc.example.com": [("TXT", "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:100::/40 ~all")],
    # twelve a: terms: the 11th is over the lookup limit
    "over.example.com": [
        ("TXT", "v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(1, 13)) + " -all")
    ],
    "all.example.com": [("TXT", "v=spf1 +all")],
    "all-after.example.com": [("TXT", "v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 +all")],
    "all-include.example.com": [("TXT", "v=spf1 include:inc.example.com +all")],
    "all-exists.example.com": [("TXT", "v=spf1 mx:example.com exists:ok.example.com -all")],
    "ok.example.com": [("A", "127.0.0.2")],
    "none.example.com": [("TXT", "google-site-verification=abc"), ("A", "192.0.2.80")],
    "broken.example.com": [("TXT", "v=spf1 ip4:192.0.2.1 include:sf.example.com -all")],
    "sf.example.com": [("TXT", "v=spf1 ip4:198.51.100.1 -all")],
    "macro.example.com": [("TXT", "v=spf1 ip4:192.0.2.1 exists:%{i}.x.example.com -all")],
}
for _i in range(1, 13):
    ZONE[f"h{_i}.example.com"] = [("A", f"198.51.100.{10 * _i}"), ("AAAA", f"2001:db8:{_i}::1")]


@pytest.fixture
def ns(dns_server: DnsServer) -> str:
    """The --nameserver value of a server answering ZONE (sf.example.com SERVFAILs)."""
    dns_server.zone.update(ZONE)
    dns_server.zone.set_behaviour("sf.example.com", servfail=True)
    return f"127.0.0.1:{dns_server.port}"


def spf_json(run_cli: RunCli, ns: str, domain: str, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli("spf", domain, "--nameserver", ns, "-o", "json", *args)
    assert out, err
    return code, json.loads(out)


# -- auditor spf ------------------------------------------------------------------------------


def test_spf_text_shows_tree_lookups_and_ranges_with_chains(run_cli: RunCli, ns: str) -> None:
    code, out, err = run_cli("spf", "example.com", "--nameserver", ns)
    assert code == 0, err
    lines = out.splitlines()
    assert "  example.com: v=spf1 ip4:192.0.2.1 include:inc.example.com mx -all" in lines
    # the included record one level deeper
    assert "    inc.example.com: v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:100::/40 ~all" in lines
    assert "  IPv4: 2 of 10 lookups, 0 of 2 void" in lines
    assert "  IPv6: 2 of 10 lookups, 0 of 2 void" in lines
    ranges = {line.split()[0]: line.split(None, 1)[1] for line in lines if line.startswith("  ")}
    assert ranges["192.0.2.1/32"] == "example.com > ip4:192.0.2.1"
    assert ranges["198.51.100.0/24"] == (
        "example.com > include:inc.example.com > ip4:198.51.100.0/24"
    )
    assert ranges["203.0.113.25/32"] == "example.com > mx"
    assert ranges["2001:db8:100::/40"] == (
        "example.com > include:inc.example.com > ip6:2001:db8:100::/40"
    )
    assert ranges["2001:db8:25::1/128"] == "example.com > mx"
    assert "authorised (honoured view): 5 CIDRs" in lines
    assert lines[-1].endswith("; complete")
    assert err == ""


def test_spf_json(run_cli: RunCli, ns: str) -> None:
    code, doc = spf_json(run_cli, ns, "example.com")
    assert code == 0
    assert doc["complete"] is True
    assert doc["domain"] == "example.com"
    assert doc["cidrs"] == [
        "192.0.2.1/32",
        "198.51.100.0/24",
        "203.0.113.25/32",
        "2001:db8:25::1/128",
        "2001:db8:100::/40",
    ]
    ipv4 = doc["families"]["ipv4"]
    assert ipv4["lookups"] == 2 and ipv4["void_lookups"] == 0
    assert ipv4["over_limit"] is None and ipv4["permerror"] is None
    chains = {r["range"]: r["chain"] for r in ipv4["ranges"]}
    assert chains["198.51.100.0/24"] == [
        "example.com",
        "include:inc.example.com",
        "ip4:198.51.100.0/24",
    ]
    assert [r["domain"] for r in doc["records"]] == ["example.com", "inc.example.com"]


def test_spf_over_the_limit_exits_2_and_the_published_view_lists_more(
    run_cli: RunCli, ns: str
) -> None:
    code, out, _ = run_cli("spf", "over.example.com", "--nameserver", ns)
    assert code == 2
    assert "OVER THE LIMIT" in out and "a:h11.example.com" in out
    assert "INCOMPLETE" in out

    code, honoured = spf_json(run_cli, ns, "over.example.com")
    assert code == 2
    assert honoured["complete"] is False
    assert honoured["families"]["ipv4"]["over_limit"]
    assert honoured["families"]["ipv4"]["lookups"] == 10
    code, published = spf_json(run_cli, ns, "over.example.com", "--spf-view", "published")
    assert code == 2
    assert published["view"] == "published"
    assert published["families"]["ipv4"]["published_lookups"] == 12
    assert len(published["cidrs"]) > len(honoured["cidrs"])
    assert "198.51.100.110/32" not in honoured["cidrs"]
    assert {"198.51.100.110/32", "198.51.100.120/32"} <= set(published["cidrs"])


def test_spf_with_a_client_dependent_term_exits_2(run_cli: RunCli, ns: str) -> None:
    code, out, _ = run_cli("spf", "macro.example.com", "--nameserver", ns)
    assert code == 2
    assert "cannot be listed: macro.example.com > exists:%{i}.x.example.com" in out


def test_spf_servfail_exits_2_with_a_clear_message(run_cli: RunCli, ns: str) -> None:
    code, out, err = run_cli("spf", "broken.example.com", "--nameserver", ns)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "sf.example.com" in err and "SERVFAIL" in err


def test_spf_dropped_query_exits_2_within_the_timeout(
    run_cli: RunCli, ns: str, dns_server: DnsServer
) -> None:
    dns_server.zone.set_behaviour("inc.example.com", drop=True)
    code, out, err = run_cli("spf", "example.com", "--nameserver", ns, "--timeout", "0.5")
    assert code == 2
    assert out == ""
    assert "inc.example.com" in err and "timed out" in err


# Three ways a name gives no SPF record, each named for what it is; all fail the source.
NO_RECORD = [
    ("nx.example.com", "nx.example.com does not exist (NXDOMAIN)"),
    (
        "none.example.com",
        "none.example.com exists but publishes no SPF record"
        " (its only TXT record does not start with v=spf1)",
    ),
    ("mail.example.com", "mail.example.com exists but publishes no SPF record (no TXT record"),
    ("sf.example.com", "sf.example.com: DNS failure, its SPF record could not be read"),
]


@pytest.mark.parametrize(("domain", "says"), NO_RECORD)
def test_spf_domain_without_spf_exits_2(run_cli: RunCli, ns: str, domain: str, says: str) -> None:
    code, out, err = run_cli("spf", domain, "--nameserver", ns)
    assert code == 2
    assert out == ""
    assert f"error: {says}" in err


@pytest.mark.parametrize(("domain", "says"), NO_RECORD)
def test_fetch_spf_without_a_record_fails(run_cli: RunCli, ns: str, domain: str, says: str) -> None:
    code, out, err = run_cli("fetch", f"spf:{domain}", "--nameserver", ns)
    assert code == 2
    assert out == ""
    assert says in err


@pytest.mark.parametrize("role", ["-e", "-d"])
@pytest.mark.parametrize(("domain", "says"), NO_RECORD)
def test_diff_spf_without_a_record_fails_the_source(
    run_cli: RunCli, ns: str, write: WriteFile, domain: str, says: str, role: str
) -> None:
    write("allow.txt", "192.0.2.1\n")
    other = "-d" if role == "-e" else "-e"
    code, out, err = run_cli(
        "diff", role, f"spf:{domain}", other, "allow.txt", "--nameserver", ns, "-o", "json"
    )
    assert code == 2
    assert says in err
    doc = json.loads(out)
    jsonschema.validate(doc, REPORT_SCHEMA)
    (spf_input,) = [i for i in doc["inputs"] if i["name"] == f"spf:{domain}"]
    assert spf_input["completeness"] == "failed"
    assert any(says in r for r in spf_input["reasons"])
    assert doc["verdict"]["status"] == "incomplete"


def test_an_include_that_does_not_exist_is_named(
    run_cli: RunCli, ns: str, dns_server: DnsServer
) -> None:
    dns_server.zone.update({"inc-nx.example.com": [("TXT", "v=spf1 include:gone.example.com")]})
    code, out, _ = run_cli("spf", "inc-nx.example.com", "--nameserver", ns)
    assert code == 2
    assert "include:gone.example.com: gone.example.com does not exist (NXDOMAIN)" in out


@pytest.mark.parametrize(
    "value",
    ["bad", "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4:", "[::1]:x", "example.com", "1.2.3.4:53:53"],
)
def test_nameserver_is_validated(run_cli: RunCli, value: str) -> None:
    code, out, err = run_cli("spf", "example.com", "--nameserver", value)
    assert code == 2
    assert out == ""
    assert "invalid --nameserver" in err
    with pytest.raises(UsageError):
        check_nameserver(value)


@pytest.mark.parametrize("value", ["[::1]:53", "::1", "[::1]", "127.0.0.1", "192.0.2.53:5353"])
def test_nameserver_forms_accepted(value: str) -> None:
    check_nameserver(value)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--spf-view", "all"], "invalid --spf-view"),
        (["-o", "yaml"], "unknown output"),
        (["--timeout", "0"], "invalid --timeout"),
    ],
)
def test_spf_usage_errors(run_cli: RunCli, ns: str, args: list[str], says: str) -> None:
    code, out, err = run_cli("spf", "example.com", "--nameserver", ns, *args)
    assert code == 2
    assert out == ""
    assert says in err


# -- spf: as a source -------------------------------------------------------------------------


def test_diff_missing_cidrs_carry_the_include_chain(
    run_cli: RunCli, ns: str, write: WriteFile
) -> None:
    write("allow.txt", "192.0.2.1/32\n203.0.113.25\n2001:db8:25::1\n")
    code, out, err = run_cli(
        "diff", "-e", "spf:example.com", "--declared", "allow.txt", "--nameserver", ns, "-o", "json"
    )
    assert code == 1, err
    doc = json.loads(out)
    jsonschema.validate(doc, REPORT_SCHEMA)
    missing = {m["cidr"]: m["origins"] for m in doc["missing"]}
    assert set(missing) == {"198.51.100.0/24", "2001:db8:100::/40"}
    assert missing["198.51.100.0/24"] == [
        {
            "source": "spf:example.com",
            "line": None,
            "path": "example.com > include:inc.example.com > ip4:198.51.100.0/24",
        }
    ]
    (spf_input,) = [i for i in doc["inputs"] if i["name"] == "spf:example.com"]
    assert spf_input["completeness"] == "complete"
    assert spf_input["format"] == "spf"


def test_diff_with_spf_as_the_declared_side(run_cli: RunCli, ns: str, write: WriteFile) -> None:
    """Your own domain's SPF record as the allowlist: does it authorise the provider?"""
    write("provider.txt", "198.51.100.128/25\n2001:db8:100::/48\n")
    code, out, err = run_cli(
        "diff", "-e", "provider.txt", "-d", "spf:example.com", "--nameserver", ns, "-o", "json"
    )
    assert code == 0, err
    assert json.loads(out)["missing"] == []

    write("provider.txt", "198.51.100.128/25\n192.0.2.0/24\n")
    code, out, err = run_cli(
        "diff", "-e", "provider.txt", "-d", "spf:example.com", "--nameserver", ns, "-o", "json"
    )
    assert code == 1, err
    doc = json.loads(out)
    assert [m["cidr"] for m in doc["missing"]] == [
        "192.0.2.0/32",
        "192.0.2.2/31",
        "192.0.2.4/30",
        "192.0.2.8/29",
        "192.0.2.16/28",
        "192.0.2.32/27",
        "192.0.2.64/26",
        "192.0.2.128/25",
    ]
    (spf_input,) = [i for i in doc["inputs"] if i["name"] == "spf:example.com"]
    assert spf_input["role"] == "declared"


PLUS_ALL = [
    "all.example.com",
    "all-after.example.com",
    "all-include.example.com",
    "all-exists.example.com",
]


@pytest.mark.parametrize("domain", PLUS_ALL)
def test_spf_that_authorises_everything(run_cli: RunCli, ns: str, domain: str) -> None:
    _, doc = spf_json(run_cli, ns, domain)
    assert doc["cidrs"] == ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize("domain", PLUS_ALL)
def test_diff_with_plus_all_is_the_expected_everything_error(
    run_cli: RunCli, ns: str, write: WriteFile, domain: str
) -> None:
    """A record that authorises every address (``+all``, or an ``exists:`` that resolves) is
    a /0 finding, never rules for the whole Internet (RELIABILITY 1 and 2.11); the terms
    before it do not make it less so."""
    write("allow.txt", "192.0.2.0/24\n")
    code, _, err = run_cli(
        "diff", "-e", f"spf:{domain}", "--declared", "allow.txt", "--nameserver", ns
    )
    assert code == 2, err
    assert f"error: spf:{domain}" in err
    assert "every IPv4 address" in err and "every IPv6 address" in err


@pytest.mark.parametrize("domain", PLUS_ALL)
def test_fetch_spf_that_authorises_everything_is_trouble(
    run_cli: RunCli, ns: str, domain: str
) -> None:
    code, _, err = run_cli("fetch", f"spf:{domain}", "--nameserver", ns)
    assert code == 2
    assert "every IPv4 address" in err and "every IPv6 address" in err


@pytest.mark.parametrize("view", ["honoured", "published"])
def test_diff_over_the_limit_is_trouble_in_either_view(
    run_cli: RunCli, ns: str, write: WriteFile, view: str
) -> None:
    allow = "".join(f"198.51.100.{10 * i}\n2001:db8:{i}::1\n" for i in range(1, 13))
    write("allow.txt", allow)
    code, out, err = run_cli(
        "diff",
        "-e",
        "spf:over.example.com",
        "-d",
        "allow.txt",
        "--nameserver",
        ns,
        "--spf-view",
        view,
        "-o",
        "json",
    )
    assert code == 2
    doc = json.loads(out)
    (spf_input,) = [i for i in doc["inputs"] if i["name"] == "spf:over.example.com"]
    assert spf_input["completeness"] == "partial"
    assert spf_input["entries"]["ipv4"] == (10 if view == "honoured" else 12)
    assert "spf:over.example.com: source is partial" in err


def test_diff_spf_servfail_fails_the_source(run_cli: RunCli, ns: str, write: WriteFile) -> None:
    write("allow.txt", "192.0.2.1\n")
    code, _, err = run_cli(
        "diff", "-e", "spf:broken.example.com", "-d", "allow.txt", "--nameserver", ns
    )
    assert code == 2
    assert "SERVFAIL" in err


def test_fetch_spf(run_cli: RunCli, ns: str) -> None:
    code, out, err = run_cli("fetch", "spf:example.com", "--nameserver", ns)
    assert code == 0, err
    assert out.splitlines() == [
        "192.0.2.1/32",
        "198.51.100.0/24",
        "203.0.113.25/32",
        "2001:db8:25::1/128",
        "2001:db8:100::/40",
    ]


def test_fetch_spf_partial_keeps_the_output_file(
    run_cli: RunCli, ns: str, tmp_path: Path, write: WriteFile
) -> None:
    target = write("spf.txt", "192.0.2.99/32\n")
    code, _, err = run_cli(
        "fetch", "spf:macro.example.com", "--nameserver", ns, "--output-file", str(target)
    )
    assert code == 2
    assert "exists:%{i}.x.example.com" in err
    assert target.read_text() == "192.0.2.99/32\n"


# -- text from DNS never reaches the terminal raw ---------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:192.0.2.1 \x1b[31mred -all",
        "v=spf1 ip4:192.0.2.1\r\nip4:192.0.2.2 -all",
        "v=spf1 ip4:192.0.2.1 \x07 -all",
    ],
    ids=["ansi-escape", "crlf", "bell"],
)
@pytest.mark.parametrize("where", ["top", "included"])
def test_control_characters_in_a_record_are_not_written_raw(
    run_cli: RunCli, ns: str, dns_server: DnsServer, record: str, where: str
) -> None:
    """Such a record is a permerror (3.1; suite control-char-policy); whatever is shown of it
    is escaped."""
    if where == "top":
        dns_server.zone.update({"ctl.example.com": [("TXT", record)]})
    else:
        dns_server.zone.update(
            {
                "ctl.example.com": [("TXT", "v=spf1 ip4:192.0.2.9 include:i.ctl.example.com")],
                "i.ctl.example.com": [("TXT", record)],
            }
        )
    for output in ("text", "json"):
        code, out, err = run_cli("spf", "ctl.example.com", "--nameserver", ns, "-o", output)
        assert code == 2
        for raw in ("\x1b", "\r", "\x07"):
            assert raw not in out and raw not in err
        assert "control characters" in out + err


def test_control_characters_in_another_txt_record_are_ignored(
    run_cli: RunCli, ns: str, dns_server: DnsServer
) -> None:
    dns_server.zone.update(
        {
            "ctl.example.com": [
                ("TXT", "v=spf1 ip4:192.0.2.9 -all"),
                ("TXT", "note=\x1b]0;pwned\x07\x1b[2J"),
            ]
        }
    )
    code, out, err = run_cli("spf", "ctl.example.com", "--nameserver", ns)
    assert code == 0, err
    assert "192.0.2.9/32" in out
    assert "\x1b" not in out + err and "\x07" not in out + err


def test_a_control_character_in_the_domain_argument_is_escaped(run_cli: RunCli, ns: str) -> None:
    code, out, err = run_cli("spf", "ex\x1b[2Jample.com", "--nameserver", ns)
    assert code == 2
    assert "\x1b" not in out + err
    assert "\\x1b" in err


def test_a_dns_failure_with_a_pinned_resolver_names_it(run_cli: RunCli, ns: str) -> None:
    code, _, err = run_cli("spf", "sf.example.com", "--nameserver", ns)
    assert code == 2
    assert "pin a resolver" not in err  # it is pinned already
    assert f"the resolver {ns}" in err
