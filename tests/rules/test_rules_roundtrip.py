"""Render, then parse back: any set of missing blocks comes back exactly, whatever the origins."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import ipspace
from auditor.ipspace import IPSpace
from auditor.model import MissingBlock, Origin
from auditor.rules import sanitize
from auditor.rules.iptables import IptablesGenerator, port_matches
from auditor.rules.nftables import NftablesGenerator

from .helpers import (
    HOSTILE_SOURCES,
    command_rules,
    nft_elements,
    option,
    options,
    restore_rules,
)

SERVICES = [
    "tcp/25",
    "udp/53",
    "any",
    "tcp/25,465,587",
    "tcp/1-40",
    "tcp/" + ",".join(f"{p}-{p + 2}" if p % 2 else str(p) for p in range(100, 140)),
]

_texts = st.one_of(st.text(max_size=60), st.sampled_from(HOSTILE_SOURCES))
_origins = st.builds(
    Origin,
    _texts,
    st.none() | st.integers(min_value=1, max_value=10**7),
    st.none() | _texts,
)


@st.composite
def missing_blocks(draw: st.DrawFn) -> list[MissingBlock]:
    """Disjoint minimal CIDRs, as the core hands them over, with arbitrary origins."""
    intervals = []
    for family in (4, 6):
        for _ in range(draw(st.integers(min_value=0, max_value=5))):
            first = draw(st.integers(min_value=0, max_value=ipspace.MAX[family]))
            span = draw(st.integers(min_value=0, max_value=1 << draw(st.integers(0, 24))))
            intervals.append((family, first, min(first + span, ipspace.MAX[family])))
    space = IPSpace.from_intervals(intervals)
    return [
        MissingBlock(family, network, plen, tuple(draw(st.lists(_origins, max_size=3))))
        for family, network, plen in space.cidrs()
    ]


def _expected(blocks: list[MissingBlock], family: int) -> list[str]:
    return [b.cidr for b in blocks if b.family == family]


@settings(max_examples=100, deadline=None)
@given(missing_blocks(), st.sampled_from(SERVICES), st.sampled_from(["INPUT", "MAIL-IN"]))
def test_iptables_round_trip(blocks: list[MissingBlock], service: str, chain: str) -> None:
    gen = IptablesGenerator()
    opts = options(service, chain)
    per_block = len(port_matches(opts.service))
    files = gen.render_files(blocks, opts)
    scripts = gen.render_commands(blocks, opts)
    assert set(files) == set(scripts) == {b.family for b in blocks}
    for family in (4, 6):
        want = Counter(dict.fromkeys(_expected(blocks, family), per_block))
        if not want:
            continue
        rules = restore_rules(files[family])
        commands = command_rules(scripts[family])
        assert Counter(option(r, "-s") for r in rules) == want
        assert Counter(option(c, "-s") for c in commands) == want
        assert [c[1:] for c in commands] == rules
        for argv in rules:
            assert argv[:2] == ["-I", chain]
            note = option(argv, "--comment")
            assert note is not None and len(note.encode()) <= gen.max_comment_len
            assert set(note) <= sanitize.COMMENT_CHARS
    text = gen.render(blocks, opts)
    assert text.isascii()
    if not blocks:
        assert "nothing is missing" in text


@settings(max_examples=100, deadline=None)
@given(missing_blocks(), st.sampled_from(SERVICES), st.sampled_from(["INPUT", "MAIL-IN"]))
def test_nftables_round_trip(blocks: list[MissingBlock], service: str, chain: str) -> None:
    gen = NftablesGenerator()
    opts = options(service, chain)
    text = gen.render(blocks, opts)
    elements = nft_elements(text)
    assert set(elements) == {gen.set_name(b.family, opts.service) for b in blocks}
    for family in (4, 6):
        want = _expected(blocks, family)
        if want:
            got = elements[gen.set_name(family, opts.service)]
            assert [cidr for cidr, _ in got] == want
            for _, note in got:
                assert note is None or (
                    note
                    and len(note.encode()) <= gen.max_comment_len
                    and set(note) <= sanitize.COMMENT_CHARS
                )
    assert text.isascii()
    assert sum(1 for line in text.splitlines() if line.startswith("insert rule ")) == len(elements)
