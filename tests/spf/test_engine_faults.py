"""Faults in how the SPF engine talks to DNS: bounded speculative lookups, lookups the
evaluation needs never starved by them, no tracebacks from lookups still in flight at the
end, and the honoured view kept when only the publisher's view hits a DNS failure."""

from __future__ import annotations

import time

from conftest import RunCli
from dnsd import DnsServer

from auditor.spf.lookups import MAX_PREFETCH
from auditor.spf.options import DnsOptions
from auditor.spf.result import expand_domain, to_rangeset


def options(server: DnsServer, deadline: float = 10.0, timeout: float = 1.0) -> DnsOptions:
    return DnsOptions(nameserver=f"127.0.0.1:{server.port}", timeout=timeout, deadline=deadline)


def test_a_thousand_includes_do_not_flood_the_server(dns_server: DnsServer) -> None:
    includes = " ".join(f"include:i{k}.example.com" for k in range(1000))
    records = {"example.com": [("TXT", f"v=spf1 {includes} -all")]}
    for k in range(1000):
        records[f"i{k}.example.com"] = [("TXT", f"v=spf1 ip4:10.{k // 256}.{k % 256}.0/24 -all")]
    dns_server.zone.update(records)
    expansion = expand_domain("example.com", options(dns_server))
    assert expansion.family(4).over_limit is not None
    # the receiver needs 10 includes, the publisher's view 100; speculation is bounded too
    assert len(dns_server.queries) <= 1 + 100 + MAX_PREFETCH


def test_needed_lookups_do_not_wait_behind_guesses(dns_server: DnsServer) -> None:
    dropped = " ".join(f"include:d{k}.example.com" for k in range(150))
    dns_server.zone.update(
        {
            "example.com": [("TXT", f"v=spf1 include:a.example.com -all {dropped}")],
            "a.example.com": [("TXT", "v=spf1 include:c.example.com -all")],
            "c.example.com": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
        }
    )
    for k in range(150):
        dns_server.zone.set_behaviour(f"d{k}.example.com", drop=True)
    dns_server.zone.set_behaviour("a.example.com", delay=0.2)
    start = time.monotonic()
    expansion = expand_domain("example.com", options(dns_server, deadline=8.0))
    assert time.monotonic() - start < 3.0
    assert [p[:2] for p in expansion.family(4).pieces] == [(0xC0000200, 0xC00002FF)]


def test_lookups_in_flight_at_the_end_leave_no_traceback(
    run_cli: RunCli, dns_server: DnsServer
) -> None:
    """A failure ends the evaluation while speculative lookups are still running: they
    finish quietly (no 'exception calling callback' traceback in the cron mail)."""
    slow = " ".join(f"include:s{k}.example.com" for k in range(9))
    records = {"example.com": [("TXT", f"v=spf1 include:bad.example.com {slow} -all")]}
    for k in range(9):
        records[f"s{k}.example.com"] = [("TXT", "v=spf1 mx -all")]
        records[f"s{k}.example.com"].append(("MX", (10, f"m{k}.example.com")))
        dns_server.zone.set_behaviour(f"s{k}.example.com", delay=0.5)
    dns_server.zone.update(records)
    dns_server.zone.set_behaviour("bad.example.com", servfail=True)
    code, _, err = run_cli("spf", "example.com", "--nameserver", f"127.0.0.1:{dns_server.port}")
    time.sleep(1.0)  # let the slow lookups land after the command returned
    assert code == 2 and "SERVFAIL" in err
    assert "Traceback" not in err and "exception calling callback" not in err


def test_a_failure_only_the_published_view_reaches_keeps_the_honoured_view(
    dns_server: DnsServer,
) -> None:
    terms = " ".join(f"a:h{k}.example.com" for k in range(12))
    records = {"example.com": [("TXT", f"v=spf1 ip4:192.0.2.1 {terms} -all")]}
    for k in range(12):
        records[f"h{k}.example.com"] = [("A", f"198.51.100.{k}")]
    dns_server.zone.update(records)
    dns_server.zone.set_behaviour("h11.example.com", "A", servfail=True)
    expansion = expand_domain("example.com", options(dns_server))
    v4 = expansion.family(4)
    assert v4.over_limit is not None and v4.published is None
    assert v4.published_error and "SERVFAIL" in v4.published_error
    honoured = to_rangeset(expansion, "spf:example.com", "expected", "honoured")
    assert honoured.completeness.value == "partial"  # over the limit, still listed
    assert any("could not be read" in r for r in honoured.reasons)
    assert len(honoured.entries) == 11  # ip4 and the ten a: terms a receiver honours


def test_offline_refuses_spf_sources(run_cli: RunCli) -> None:
    code, _, err = run_cli("fetch", "--offline", "spf:example.com")
    assert code == 2 and "--offline" in err and "DNS" in err


def test_plus_all_is_an_error_in_auditor_spf(run_cli: RunCli, dns_server: DnsServer) -> None:
    dns_server.zone.update({"example.com": [("TXT", "v=spf1 ip4:192.0.2.1 +all")]})
    code, _, err = run_cli("spf", "example.com", "--nameserver", f"127.0.0.1:{dns_server.port}")
    assert code == 2 and "every IPv4 address" in err and "every IPv6 address" in err


def test_the_reverse_transformer_is_case_insensitive(dns_server: DnsServer) -> None:
    dns_server.zone.update(
        {
            "example.com": [("TXT", "v=spf1 include:%{dR}.x.example.com -all")],
            "com.example.x.example.com": [("TXT", "v=spf1 ip4:192.0.2.9 -all")],
        }
    )
    expansion = expand_domain("example.com", options(dns_server))
    assert [p[:2] for p in expansion.family(4).pieces] == [(0xC0000209, 0xC0000209)]


def test_the_tree_lists_only_records_the_evaluation_read(dns_server: DnsServer) -> None:
    dns_server.zone.update(
        {
            "example.com": [("TXT", "v=spf1 include:a.example.com -all include:b.example.com")],
            "a.example.com": [("TXT", "v=spf1 ip4:192.0.2.1 -all")],
            "b.example.com": [("TXT", "v=spf1 ip4:192.0.2.2 -all")],
        }
    )
    for _ in range(3):
        expansion = expand_domain("example.com", options(dns_server))
        assert [r.domain for r in expansion.records] == ["example.com", "a.example.com"]


def test_a_malformed_name_is_refused_before_any_query(
    run_cli: RunCli, dns_server: DnsServer
) -> None:
    for name in ("exa mple.com", "example..com", "example.com\x1b[2J"):
        code, _, err = run_cli("spf", name, "--nameserver", f"127.0.0.1:{dns_server.port}")
        assert code == 2 and "not a valid domain name" in err
    assert dns_server.queries == []
