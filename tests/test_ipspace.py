"""The interval engine against a brute-force oracle (sets of ints) on small universes."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor import ipspace
from auditor.errors import AddressError
from auditor.ipspace import IPSpace

V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1
MAPPED = 0xFFFF << 32  # ::ffff:0:0/96


def interval_lists(base: int, span: int, top: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    """Intervals inside [base, base + span], clipped to top, possibly overlapping."""

    def make(pair: tuple[int, int]) -> tuple[int, int]:
        a, b = sorted(pair)
        return min(base + a, top), min(base + b, top)

    point = st.integers(0, span)
    return st.lists(st.tuples(point, point).map(make), max_size=12)


# Universes: the bottom and top of IPv4; IPv6 at its bottom (::, runs of zero groups), across
# the 2**64 boundary of the (high, low) halves, inside 2001:db8::/32, and at its top.
UNIVERSES = [
    (4, 0, 300, V4_MAX),
    (4, V4_MAX - 300, 300, V4_MAX),
    (6, 0, 300, V6_MAX),
    (6, (1 << 64) - 150, 300, V6_MAX),
    (6, 0x20010DB8 << 96, 300, V6_MAX),
    (6, V6_MAX - 300, 300, V6_MAX),
]
UNIVERSE_IDS = ["v4-low", "v4-high", "v6-low", "v6-2**64", "v6-doc", "v6-high"]


def as_set(items: list[tuple[int, int]]) -> set[int]:
    return {x for a, b in items for x in range(a, b + 1)}


def space(family: int, items: list[tuple[int, int]]) -> IPSpace:
    return IPSpace.from_intervals((family, a, b) for a, b in items)


def members(sp: IPSpace, family: int) -> set[int]:
    return {x for fam, a, b in sp.intervals() if fam == family for x in range(a, b + 1)}


@pytest.fixture(params=["python", "vector"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each property on the pure-Python path and on the numpy path (the patch holds for
    every example of the test, which is what is wanted here)."""
    if request.param == "vector":
        monkeypatch.setattr(ipspace, "VECTOR_THRESHOLD", 0)
        monkeypatch.setattr(ipspace, "VECTOR_ALWAYS", 0)
    return str(request.param)


@pytest.mark.parametrize("universe", UNIVERSES, ids=UNIVERSE_IDS)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_set_algebra_matches_oracle(
    universe: tuple[int, int, int, int], backend: str, data: st.DataObject
) -> None:
    family, base, span, top = universe
    xs = data.draw(interval_lists(base, span, top))
    ys = data.draw(interval_lists(base, span, top))
    a, b = space(family, xs), space(family, ys)
    sa, sb = as_set(xs), as_set(ys)
    assert members(a, family) == sa
    assert members(a | b, family) == sa | sb
    assert members(a & b, family) == sa & sb
    assert members(a - b, family) == sa - sb
    assert a.size(family) == len(sa)
    # normalised: sorted, disjoint, not adjacent
    ivs = [(s, e) for _, s, e in a.intervals()]
    assert all(prev[1] + 1 < cur[0] for prev, cur in zip(ivs, ivs[1:], strict=False))
    # coverage of an arbitrary window
    lo, hi = sorted((data.draw(st.integers(0, span)), data.draw(st.integers(0, span))))
    lo, hi = min(base + lo, top), min(base + hi, top)
    assert a.covered(family, lo, hi) == len(sa & set(range(lo, hi + 1)))


@pytest.mark.parametrize("universe", UNIVERSES, ids=UNIVERSE_IDS)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_minimal_cidrs_match_stdlib(
    universe: tuple[int, int, int, int], backend: str, data: st.DataObject
) -> None:
    family, base, span, top = universe
    xs = data.draw(interval_lists(base, span, top))
    sp = space(family, xs)
    got = list(sp.cidrs_text())
    addr = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    expected = []
    for _, s, e in sp.intervals():
        expected += [str(n) for n in ipaddress.summarize_address_range(addr(s), addr(e))]
    assert got == expected
    assert sp.count_cidrs() == len(expected)
    blocks = [(fam, net, plen) for fam, net, plen in sp.cidrs()]
    assert [f"{addr(net)}/{plen}" for _, net, plen in blocks] == expected
    assert {fam for fam, _, _ in blocks} <= {family}


def test_order_is_ipv4_then_ipv6_numeric() -> None:
    sp = IPSpace.from_text(["2001:db8::/32", "198.51.100.0/24", "192.0.2.0/24", "::1"])
    assert list(sp.cidrs_text()) == ["192.0.2.0/24", "198.51.100.0/24", "::1/128", "2001:db8::/32"]


def test_whole_spaces_and_edges(backend: str) -> None:
    everything = IPSpace.from_text(["0.0.0.0/0", "::/0"])
    assert everything.size(4) == 1 << 32
    assert everything.size(6) == 1 << 128
    assert list(everything.cidrs_text()) == ["0.0.0.0/0", "::/0"]
    top = IPSpace.from_text(["255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
    assert (
        list((everything - top).cidrs_text())[-1] == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"
    )
    assert (everything - everything) == IPSpace()


@pytest.mark.parametrize(
    ("text", "family", "first", "last"),
    [
        ("192.0.2.1", 4, 0xC0000201, 0xC0000201),
        ("192.0.2.0/24", 4, 0xC0000200, 0xC00002FF),
        ("0.0.0.0/0", 4, 0, V4_MAX),
        ("2001:db8::/32", 6, 0x20010DB8 << 96, (0x20010DB8 << 96) | ((1 << 96) - 1)),
        # IPv4-mapped IPv6 stays IPv6, as written (as ipaddress, netaddr and the kernel read it)
        ("::ffff:192.0.2.1", 6, MAPPED | 0xC0000201, MAPPED | 0xC0000201),
        ("::ffff:192.0.2.0/120", 6, MAPPED | 0xC0000200, MAPPED | 0xC00002FF),
        ("::ffff:0:0/95", 6, 0xFFFE << 32, MAPPED | 0xFFFFFFFF),
        ("::ffff:192.0.2.9-::1:0:0:0", 6, MAPPED | 0xC0000209, 1 << 48),
        ("192.0.2.4-192.0.2.9", 4, 0xC0000204, 0xC0000209),
        ("192.0.2.4 - 192.0.2.9", 4, 0xC0000204, 0xC0000209),
        ("2001:db8::1-2001:db8::ff", 6, (0x20010DB8 << 96) | 1, (0x20010DB8 << 96) | 0xFF),
    ],
)
def test_parse_valid(text: str, family: int, first: int, last: int) -> None:
    p = ipspace.parse(text)
    assert (p.family, p.first, p.last) == (family, first, last)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("010.1.1.1", "leading zero"),
        ("10.0.0.256/24", "octet 256 > 255"),
        ("1.2.3.4/032", "prefix length"),
        ("1.2.3.4/+24", "prefix length"),
        ("1.2.3.4/ 24", "prefix length"),
        ("1.2.3.4/24 ", "prefix length"),
        ("1.2.3.4/2_4", "prefix length"),
        ("1.2.3.4/\uff12\uff14", "prefix length"),
        ("1.2.3.4/33", "/33"),
        ("2001:db8::/129", "/129"),
        ("fe80::1%eth0", "zone"),
        ("127.1", "IPv4"),
        ("0x7f.0.0.1", "IPv4"),
        ("16909060", "IPv4"),
        ("1.2.3.\uff14", "IPv4"),
        ("1.2.3.4-9", "full address"),
        ("1.2.3.9-1.2.3.4", "reversed"),
        ("1.2.3.4-2001:db8::1", "mixes"),
        ("192.0.2.1-::ffff:192.0.2.9", "mixes"),
        ("1:2:3:4:5:6:7:8:9", "IPv6"),
        ("", "empty"),
    ],
)
def test_parse_rejects(text: str, why: str) -> None:
    with pytest.raises(AddressError) as err:
        ipspace.parse(text)
    assert why in str(err.value)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(AddressError):
        ipspace.parse(16909060)  # type: ignore[arg-type]


def test_host_bits_policy() -> None:
    fixed = ipspace.parse("10.0.0.5/8")
    assert (fixed.first, fixed.prefixlen, fixed.host_bits) == (10 << 24, 8, True)
    with pytest.raises(AddressError) as err:
        ipspace.parse("10.0.0.5/8", host_bits="reject")
    assert "10.0.0.0/8" in str(err.value)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, V4_MAX), st.integers(0, 32))
def test_parse_v4_matches_stdlib(value: int, plen: int) -> None:
    net = ipaddress.IPv4Network((value, plen), strict=False)
    p = ipspace.parse(str(net))
    assert (p.first, p.last, p.prefixlen) == (
        int(net.network_address),
        int(net.broadcast_address),
        plen,
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(0, V6_MAX), st.integers(0, 128))
def test_parse_v6_round_trip(value: int, plen: int) -> None:
    net = ipaddress.IPv6Network((value, plen), strict=False)
    text = ipspace.format_cidr(6, int(net.network_address), plen)
    p = ipspace.parse(text)
    assert (p.family, p.first, p.last) == (6, int(net.network_address), int(net.broadcast_address))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, V4_MAX), st.integers(0, 32))
def test_mapped_stays_ipv6_like_ipaddress(value: int, plen: int) -> None:
    net = ipaddress.IPv6Network((MAPPED | value, 96 + plen), strict=False)
    p = ipspace.parse(f"::ffff:{ipaddress.IPv4Address(value)}/{96 + plen}")
    assert (p.family, p.first, p.last) == (6, int(net.network_address), int(net.broadcast_address))
    assert p.mapped
    address = f"::ffff:{ipaddress.IPv4Address(value)}"
    assert ipspace.parse_address(address) == (6, MAPPED | value, True)
    v4 = ipaddress.IPv4Network((value, plen), strict=False)
    assert f"the IPv4 sender {v4}; write {v4} if IPv4 is meant" in ipspace.mapped_note("x", p)


@pytest.mark.parametrize("seed", range(3))
def test_the_difference_by_bisection_equals_the_pure_python_sweep(seed: int) -> None:
    # more intervals than one slice of the bisection, so slices meet in the middle of b
    np = pytest.importorskip("numpy")
    from auditor import _vector

    rng = np.random.default_rng(seed)

    def random_set(n: int) -> ipspace.Intervals:
        starts = rng.integers(0, 1 << 32, n)
        return _vector.normalize(starts, starts + rng.integers(0, 1 << rng.integers(1, 16), n))

    a, b = random_set(300_000), random_set(260_000)
    fast = _vector.difference(a, b)
    swept = ipspace._difference_lists(*ipspace.as_lists(a), *ipspace.as_lists(b))
    assert ipspace.as_lists(fast) == (list(swept.starts), list(swept.ends))
    assert len(fast.starts) > _vector._SLICE
