"""The nftables generator without the real nft: golden output, structure, hostile input."""

from __future__ import annotations

import os
import re

import pytest

from auditor.errors import UsageError
from auditor.rules import GENERATORS, generator_for
from auditor.rules.nftables import (
    NFT_KEYWORDS,
    NftablesGenerator,
    chain_name,
    port_match,
    set_name,
)
from auditor.service import Service

from .helpers import (
    GOLDEN,
    block,
    cidrs_of,
    edge_blocks,
    hostile_blocks,
    nft_elements,
    options,
    small_blocks,
    sort_cidrs,
)

GEN = NftablesGenerator()
_RULE = re.compile(
    r"^insert rule inet filter (\S+) (ip6?) saddr @(\S+) (.*)accept(?: comment \"([^\"\n]*)\")?$"
)


def test_registered_under_its_name() -> None:
    assert GENERATORS["nftables"] is NftablesGenerator
    assert isinstance(generator_for("nftables"), NftablesGenerator)


@pytest.mark.parametrize(
    ("name", "service", "chain"),
    [("nftables-small.nft", "tcp/25,465,587", "INPUT"), ("nftables-any.nft", "any", "MAIL-IN")],
)
def test_golden(name: str, service: str, chain: str) -> None:
    """Byte for byte. AUDITOR_UPDATE_GOLDEN=1 rewrites the files."""
    text = GEN.render(small_blocks(), options(service, chain))
    path = GOLDEN / name
    if os.environ.get("AUDITOR_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    assert text == path.read_bytes().decode()


def _statements(text: str) -> list[str]:
    """Lines outside comments and element lists."""
    out = []
    inside = False
    for line in text.splitlines():
        if inside:
            inside = line != "}"
            continue
        if line.startswith("add element "):
            inside = True
        if line and not line.startswith("#"):
            out.append(line)
    return out


def test_every_cidr_once_in_its_family_set_and_nothing_else() -> None:
    blocks = small_blocks() + edge_blocks()
    service = Service.parse("tcp/25")
    text = GEN.render(blocks, options("tcp/25"))
    elements = nft_elements(text)
    v4, v6 = set_name(4, service, 31), set_name(6, service, 31)
    assert set(elements) == {v4, v6}
    assert [c for c, _ in elements[v4]] == cidrs_of(blocks, 4)
    assert [c for c, _ in elements[v6]] == cidrs_of(blocks, 6)


def test_one_set_and_one_rule_per_family() -> None:
    text = GEN.render(small_blocks(), options("tcp/25,465,587"))
    statements = _statements(text)
    assert statements == [
        "add set inet filter auditor_v4_tcp_25_465_587 "
        "{ type ipv4_addr; flags interval; auto-merge; }",
        "add element inet filter auditor_v4_tcp_25_465_587 {",
        "insert rule inet filter input ip saddr @auditor_v4_tcp_25_465_587 "
        'tcp dport { 25, 465, 587 } accept comment "allowlist-auditor tcp/25,465,587"',
        "add set inet filter auditor_v6_tcp_25_465_587 "
        "{ type ipv6_addr; flags interval; auto-merge; }",
        "add element inet filter auditor_v6_tcp_25_465_587 {",
        "insert rule inet filter input ip6 saddr @auditor_v6_tcp_25_465_587 "
        'tcp dport { 25, 465, 587 } accept comment "allowlist-auditor tcp/25,465,587"',
    ]


def test_file_never_declares_the_table_or_chain() -> None:
    text = GEN.render(small_blocks(), options())
    statements = _statements(text)
    assert not any(
        s.startswith(("add table", "add chain", "table ", "flush", "delete")) for s in statements
    )


def test_only_families_with_blocks() -> None:
    v4_only = [b for b in small_blocks() if b.family == 4]
    text = GEN.render(v4_only, options())
    assert "ipv6_addr" not in text and "ip6 saddr" not in text
    v6_only = [b for b in small_blocks() if b.family == 6]
    text = GEN.render(v6_only, options())
    assert "ipv4_addr" not in text and "ip saddr" not in text


def test_nothing_missing_says_so() -> None:
    text = GEN.render([], options())
    assert "nothing is missing" in text
    assert all(line.startswith("#") for line in text.splitlines())


def test_output_is_deterministic_whatever_the_input_order() -> None:
    blocks = small_blocks() + edge_blocks()
    assert GEN.render(blocks, options()) == GEN.render(list(reversed(blocks)), options())


def test_element_comments_carry_the_origins() -> None:
    elements = nft_elements(GEN.render(small_blocks(), options()))
    assert elements["auditor_v4_tcp_25"] == [
        ("192.0.2.0/24", "nodes.txt:3"),
        ("198.51.100.7/32", "nodes.txt:4, spf:_spf.example.com"),
    ]


def test_element_without_anything_to_say_has_no_comment() -> None:
    text = GEN.render([block("192.0.2.0/24")], options())
    assert nft_elements(text)["auditor_v4_tcp_25"] == [("192.0.2.0/24", None)]
    assert 'comment ""' not in text


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("tcp/25", "tcp dport 25"),
        ("udp/1024-2048", "udp dport 1024-2048"),
        ("tcp/25,465,1024-2048", "tcp dport { 25, 465, 1024-2048 }"),
        ("any", ""),
    ],
)
def test_port_match(service: str, expected: str) -> None:
    assert port_match(Service.parse(service)) == expected


def test_any_service_rule_has_no_port() -> None:
    text = GEN.render(small_blocks(), options("any"))
    rules = [m for m in map(_RULE.match, text.splitlines()) if m]
    assert [m.group(4) for m in rules] == ["", ""]
    assert "dport" not in text


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("tcp/25", "auditor_v4_tcp_25"),
        ("any", "auditor_v4_any"),
        ("udp/1024-2048", "auditor_v4_udp_1024to2048"),
    ],
)
def test_set_names(service: str, expected: str) -> None:
    assert set_name(4, Service.parse(service), 31) == expected


def test_set_name_of_a_long_port_list_is_a_stable_digest() -> None:
    long = Service.parse("tcp/" + ",".join(str(p) for p in range(1000, 1040)))
    other = Service.parse("tcp/" + ",".join(str(p) for p in range(1000, 1041)))
    name = set_name(6, long, 31)
    assert len(name) == 31 and re.fullmatch(r"auditor_v6_tcp_[0-9a-f]+", name)
    assert name == set_name(6, long, 31) != set_name(6, other, 31)
    assert set_name(4, long, 31) != name


def test_different_services_use_different_sets() -> None:
    a = nft_elements(GEN.render(small_blocks(), options("tcp/25")))
    b = nft_elements(GEN.render(small_blocks(), options("tcp/587")))
    assert not set(a) & set(b)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("INPUT", "input"), ("input", "input"), ("FORWARD", "forward"), ("MAIL-IN", "MAIL-IN")],
)
def test_chain_mapping(given: str, expected: str) -> None:
    assert chain_name(given) == expected
    text = GEN.render(small_blocks(), options(chain=given))
    assert {m.group(1) for m in map(_RULE.match, text.splitlines()) if m} == {expected}


def test_hostile_origins_cannot_add_statements_or_break_quoting() -> None:
    blocks = hostile_blocks()
    text = GEN.render(blocks, options("tcp/25"))
    assert text.isascii()
    assert all(line.isprintable() for line in text.replace("\t", " ").splitlines())
    assert len(_statements(text)) == 6  # add set, add element, insert rule per family
    assert sum(1 for line in text.splitlines() if _RULE.match(line)) == 2
    elements = nft_elements(text)
    assert sort_cidrs(c for c, _ in elements["auditor_v4_tcp_25"]) == cidrs_of(blocks, 4)
    assert sort_cidrs(c for c, _ in elements["auditor_v6_tcp_25"]) == cidrs_of(blocks, 6)
    for items in elements.values():
        for _, note in items:
            assert note is not None
            assert len(note.encode()) <= GEN.max_comment_len
            assert not set(note) & set("\"'\\`$;#{}\x00")


@pytest.mark.parametrize(
    "chain",
    [
        "INPUT; rm -rf /",
        "A" * 32,
        "",
        "-input",
        "1nput",
        "in put",
        'in"put',
        "in.put",
        "inpüt",
        "tcp",
        "accept",
        "counter",
        "log",
        "OUTPUT",
        "output",
    ],
)
def test_check_rejects_a_chain_nft_cannot_take(chain: str) -> None:
    with pytest.raises(UsageError):
        GEN.check(options(chain=chain))
    with pytest.raises(UsageError):
        GEN.render(small_blocks(), options(chain=chain))


@pytest.mark.parametrize("chain", ["INPUT", "FORWARD", "input", "mail_in", "MAIL-IN", "a" * 31])
def test_check_accepts_usual_chain_names(chain: str) -> None:
    GEN.check(options(chain=chain))


def test_keywords_are_lowercase_words() -> None:
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", k) for k in NFT_KEYWORDS)
    assert "input" not in NFT_KEYWORDS and "forward" not in NFT_KEYWORDS


def test_capabilities() -> None:
    assert GEN.families == (4, 6)
    assert GEN.max_comment_len == 128
    assert GEN.max_name_len == 31
