"""JunOS: every configuration of the public corpus is read (or refused with the reason), with
what it leaves conditional or unsupported; and a property test of firewall filters against a
brute-force evaluator written here from Juniper's documentation ("Specifying Address Filter
Match Conditions": longest match, ``except``, implicit ``0/0 except``; "Firewall Filter
Match Conditions and Actions": terms in order, a match without a terminating action accepts,
the implicit discard at the end)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor import ipspace
from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.service import Service
from auditor.sources.files import detect_format


def _corpus() -> Path | None:
    here = Path(__file__).resolve().parents[3]
    for parent in (here, *here.parents):
        if (parent / "shared" / "corpus" / "firewall").is_dir():
            return parent / "shared" / "corpus" / "firewall"
    return None


CORPUS = _corpus()
NO_FILTER = "the configuration has no firewall filter and no security policy"

# file -> (--chain, what is evaluated or the error, conditional reasons, unsupported notes)
EXPECTED: dict[str, tuple[str | None, str, list[str], list[str]]] = {
    "junos-set_batfish_example-juniper_as1border1.cfg": (None, NO_FILTER, [], []),
    "junos-set_batfish_example-juniper_as1border2.cfg": (None, NO_FILTER, [], []),
    "junos-srx_aerleon_sample_srx.conf": (
        None, "zones Untrust:DMZ", ["destination-address RFC1918 (give --to)"], []
    ),
    "junos-srx_aerleon_stateful_multitarget_complex.conf": (
        None,
        "zones internal:external",
        [
            "destination-address dst_test-tcp-udp-many-ipv40 (give --to)",
            "destination-address dst_test-tcp-udp-many-ipv60 (give --to)",
        ],
        [],
    ),
    "junos-srx_aerleon_testLargeTermSplitting.conf": (
        None, "zones untrust:trust", ["destination-address dst_term_to_split0 (give --to)"], []
    ),
    "junos_aerleon_sample_juniper_loopback.jcl": (
        None, ":28: prefix-list configured-neighbors-only is not defined", [], []
    ),
    "junos_aerleon_sample_multitarget.jcl": (
        "edge-inbound",
        "filter edge-inbound",
        ["from destination-address 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 (give --to)"],
        [],
    ),
    "junos_batfish_apply-path-mixed-ip-and-not-ip-or-prefix.conf": (None, NO_FILTER, [], []),
    "junos_batfish_firewall-address.conf": (
        None,
        "filter FILTER",
        ["from address 1.0.0.0/8 2.0.0.0/8: the destination may match (give --to)"],
        [],
    ),
    "junos_batfish_firewall-combined-policies.conf": (None, "zones trust:untrust", [], []),
    "junos_batfish_firewall-filters.conf": ("xe-0/0/3.0", "interface xe-0/0/3.0", [], []),
    "junos_batfish_firewall-global-address-book.conf": (
        None,
        "zones trust:untrust",
        ["address ADDR2 wildcard-address 1.3.3.4/255.254.255.255 (a mask that is not a prefix)"],
        [],
    ),
    "junos_batfish_firewall-ipv6-filters.conf": (
        None, "filter FILTER", ["from hop-limit 255 (not settled by the configuration)"], []
    ),
    "junos_batfish_firewall-policies.conf": (None, "zones trust:untrust", [], []),
    "junos_batfish_firewall-source-address.conf": (
        None,
        "interface xe-0/0/0.0",
        ["from source-address 1.2.3.4/255.0.255.0 (a mask that is not a prefix)"],
        [],
    ),
    "junos_batfish_firewall-zone-address-book-global.conf": (None, "zones trust:untrust", [], []),
    "junos_batfish_firewall-zone-address-book-inline.conf": (None, "zones trust:untrust", [], []),
    "junos_batfish_juniper-from-prefix-list.conf": (None, NO_FILTER, [], []),
    "junos_batfish_prefix-list-empty.conf": (
        "TEST_FILTER_SOURCE_EXCEPT", "filter TEST_FILTER_SOURCE_EXCEPT", [], []
    ),
    "junos_batfish_prefix-lists.conf": (
        "FILTER_MISC", ":13: prefix-list PL_UNDEF is not defined", [], []
    ),
    "junos_batfish_security-policy.conf": (None, "zones trust:untrust", [], []),
    "junos_batfish_unit_juniper_firewall.conf": (
        "blah",
        "filter blah",
        ["then routing-instance OTHER_INSTANCE"],
        [
            "line 38: filter blah term t2: then routing-instance OTHER_INSTANCE",
            "line 40: filter blah term t3: then next-ip 1.2.3.4/5",
            "line 42: filter blah term t4: then next-ip 1.2.3.6",
        ],
    ),
    "junos_batfish_unit_juniper_route_filter.conf": (None, NO_FILTER, [], []),
    "junos_batfish_unit_juniper_security.conf": (
        None,
        "zones A:B",
        [],
        [
            "line 16: global policy p1: no permit, deny or reject",
        ],
    ),
    "junos_ciscoconfparse_sample_01.junos": (None, NO_FILTER, [], []),
}  # fmt: skip


@pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not present")
def test_every_junos_file_of_the_corpus_is_listed() -> None:
    assert CORPUS is not None
    names = sorted(p.name for p in CORPUS.iterdir() if p.name.startswith("junos"))
    assert names == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name: str) -> None:
    if CORPUS is None or not (CORPUS / name).is_file():
        pytest.skip("the shared corpus is not present")
    data = (CORPUS / name).read_bytes()
    assert detect_format(name, data) == "junos"
    chain, what, conditional, unsupported = EXPECTED[name]
    ctx = ReadContext(name, "declared", chain=chain)
    try:
        rs = reader_for("junos").parse(data, ctx)
    except ReaderError as e:
        assert what in str(e), str(e)
        assert e.hint
        return
    assert rs.info.detail == what
    got = sorted(
        {s.rule.why for v in rs.verdicts for s in v.segments if s.outcome == "conditional"}
    )
    assert got == conditional
    assert [f.message for f in rs.findings if f.kind == "unsupported"] == unsupported


# --- property: filters against a brute-force evaluator ---------------------------------------

BASE = int(ipaddress.ip_address("10.0.0.0"))
_prefix = st.tuples(st.integers(0, 15), st.integers(20, 26), st.booleans())
_term = st.fixed_dictionaries(
    {
        # one prefix is listed once (a second listing changes the first)
        "sources": st.none()
        | st.lists(_prefix, min_size=1, max_size=3, unique_by=lambda p: _cidr(p)[0]),
        "protocol": st.sampled_from([None, "tcp", "udp"]),
        "port": st.sampled_from([None, "smtp", "20-30", "80"]),
        "action": st.sampled_from(["accept", "discard", "reject", "next term", "count c"]),
    }
)


def _cidr(p: tuple[int, int, bool]) -> tuple[str, int, int, bool]:
    slot, plen, exc = p
    size = 1 << (32 - plen)
    first = BASE + (slot * 256 // size) * size
    return f"{ipaddress.ip_address(first)}/{plen}", first, first + size - 1, exc


def _render_set(terms: list[dict[str, object]]) -> str:
    out = []
    head = "set firewall family inet filter F"
    for k, t in enumerate(terms):
        term = f"{head} term t{k}"
        for p in t["sources"] or []:  # type: ignore[attr-defined]
            text, _, _, exc = _cidr(p)
            out.append(f"{term} from source-address {text}" + (" except" if exc else ""))
        if t["protocol"]:
            out.append(f"{term} from protocol {t['protocol']}")
        if t["port"]:
            out.append(f"{term} from destination-port {t['port']}")
        out.append(f"{term} then {t['action']}")
    return "\n".join(out) + "\n"


def _render_brace(terms: list[dict[str, object]]) -> str:
    out = ["firewall {", "  family inet {", "    filter F {"]
    for k, t in enumerate(terms):
        out.append(f"      term t{k} {{")
        conds = []
        if t["sources"]:
            items = " ".join(
                f"{_cidr(p)[0]}{' except' if p[2] else ''};"
                for p in t["sources"]  # type: ignore[attr-defined]
            )
            conds.append(f"source-address {{ {items} }}")
        if t["protocol"]:
            conds.append(f"protocol {t['protocol']};")
        if t["port"]:
            conds.append(f"destination-port {t['port']};")
        if conds:
            out.append("        from { " + " ".join(conds) + " }")
        out.append(f"        then {{ {t['action']}; }}")
        out.append("      }")
    out += ["    }", "  }", "}"]
    return "\n".join(out) + "\n"


def _brute(terms: list[dict[str, object]], address: int, port: int) -> str:
    """The documented semantics, per packet (tcp, the given destination port)."""
    for t in terms:
        sources = t["sources"]
        if sources:
            best = None
            for p in sources:  # type: ignore[attr-defined]
                _, first, last, exc = _cidr(p)
                if first <= address <= last and (best is None or last - first < best[0]):
                    best = (last - first, exc)
            if best is None or best[1]:
                continue
        if t["protocol"] not in (None, "tcp"):
            continue
        if t["port"] is not None:
            lo, hi = {"smtp": (25, 25), "20-30": (20, 30), "80": (80, 80)}[t["port"]]  # type: ignore[index]
            if not lo <= port <= hi:
                continue
        action = t["action"]
        if action == "next term":
            continue
        return "drop" if action in ("discard", "reject") else "accept"
    return "drop"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_term, min_size=1, max_size=4), st.sampled_from([25, 80]))
def test_filters_agree_with_a_brute_force_evaluator(
    terms: list[dict[str, object]], port: int
) -> None:
    service = Service.parse(f"tcp/{port}")
    views = [
        reader_for("junos").parse(text.encode(), ReadContext("f.conf", "declared", service=service))
        for text in (_render_set(terms), _render_brace(terms))
    ]
    samples = {BASE + k * 32 + d for k in range(0, 4096 // 32) for d in (0, 31)}
    samples |= {BASE - 1, BASE + 4096, 0}
    for rs in views:
        (v,) = rs.verdicts
        for address in sorted(samples):
            seg = v.lookup(address)
            assert seg is not None
            want = _brute(terms, address, port)
            assert seg.outcome == want, (ipspace.format_address(4, address), seg.rule.text)
