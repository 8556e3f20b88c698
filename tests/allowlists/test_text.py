"""The plain text list reader: strict lines, lenient (paste) mode, and the big-file path."""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.allowlists.lists import text as text_reader
from auditor.ipspace import IPSpace
from auditor.model import Completeness, RangeSet, Severity

from .helpers import lines_of, of_kind, read, space, texts

INPUTS = Path(__file__).parent.parent / "fixtures" / "inputs"
BIG = 256 * 1024  # the size from which the reader takes the vectorised path


# --- the accepted syntax -----------------------------------------------------------------------


def test_comments_bom_crlf_blank_and_missing_final_newline() -> None:
    data = (
        "\ufeff# provider mail relays\r\n"  # 1: BOM then a whole-line # comment
        "192.0.2.0/24 # primary\r\n"  # 2: trailing # comment
        "; old style comment\r\n"  # 3: whole-line ; comment
        "\r\n"  # 4: blank
        "   \r\n"  # 5: only spaces
        "198.51.100.7;trailing\r\n"  # 6: trailing ; comment, no space before it
        "2001:db8::/32\t# v6\r\n"  # 7
        "203.0.113.9"  # 8: no final newline
    )
    rs = read("text", data)
    assert texts(rs) == [
        ("192.0.2.0/24", 2),
        ("198.51.100.7/32", 6),
        ("2001:db8::/32", 7),
        ("203.0.113.9/32", 8),
    ]
    assert rs.completeness is Completeness.COMPLETE
    assert rs.findings == ()
    assert str(next(iter(rs.entries)).origin) == "list.txt:2"


def test_lf_and_crlf_files_read_the_same() -> None:
    lf = read("text", "192.0.2.1\n\n198.51.100.0/24\n")
    crlf = read("text", "192.0.2.1\r\n\r\n198.51.100.0/24\r\n")
    assert texts(lf) == texts(crlf) == [("192.0.2.1/32", 1), ("198.51.100.0/24", 3)]


@pytest.mark.parametrize("line", ["1.2.3.4-1.2.3.9", "1.2.3.4 - 1.2.3.9", "  1.2.3.4-1.2.3.9  "])
def test_range_is_decomposed_into_exact_cidrs(line: str) -> None:
    rs = read("text", line + "\n")
    # 1.2.3.4 is /30-aligned (4 addresses: .4-.7), then .8-.9 is one /31.
    assert list(rs.space.cidrs_text()) == ["1.2.3.4/30", "1.2.3.8/31"]
    assert rs.space.size() == 6
    assert texts(rs) == [("1.2.3.4-1.2.3.9", 1)]


def test_ranges_that_are_one_cidr_and_ipv6_ranges() -> None:
    rs = read("text", "10.0.0.0-10.0.0.255\n2001:db8::-2001:db8::ff\n")
    assert list(rs.space.cidrs_text()) == ["10.0.0.0/24", "2001:db8::/120"]
    assert texts(rs) == [("10.0.0.0/24", 1), ("2001:db8::/120", 2)]


def test_ipv4_mapped_is_kept_as_ipv6_with_a_warning() -> None:
    rs = read("text", "198.51.100.0/24\n::ffff:192.0.2.1\n::ffff:203.0.113.0/120\n")
    assert rs.space == space("198.51.100.0/24", "::ffff:192.0.2.1", "::ffff:203.0.113.0/120")
    assert rs.space.size(4) == 256  # the IPv4 senders are not covered
    assert "192.0.2.1" not in rs.space
    mapped = of_kind(rs, "ipv4-mapped")
    assert lines_of(mapped) == [2, 3]
    assert all(f.severity is Severity.WARNING for f in mapped)
    assert "kept as IPv6" in mapped[0].message
    assert "does not cover the IPv4 sender 192.0.2.1/32" in mapped[0].message
    assert "write 203.0.113.0/24 if IPv4 is meant" in mapped[1].message
    assert rs.completeness is Completeness.COMPLETE
    # a network wider than the mapped block is an ordinary IPv6 network
    wide = read("text", "::ffff:0:0/95\n")
    assert wide.space.size(6) == 1 << 33 and not of_kind(wide, "ipv4-mapped")


def test_host_bits_are_fixed_with_a_warning_naming_file_and_line() -> None:
    rs = read("text", "192.0.2.0/24\n10.0.0.5/8\n2001:db8::1/64\n", name="allow.txt")
    assert rs.space == space("192.0.2.0/24", "10.0.0.0/8", "2001:db8::/64")
    warnings = of_kind(rs, "host-bits")
    assert [str(f.origin) for f in warnings] == ["allow.txt:2", "allow.txt:3"]
    assert all(f.severity is Severity.WARNING for f in warnings)
    assert "10.0.0.5/8" in warnings[0].message and "10.0.0.0/8" in warnings[0].message
    assert "2001:db8::/64" in warnings[1].message
    assert rs.completeness is Completeness.COMPLETE


def test_host_bits_rejected_on_request() -> None:
    rs = read("text", "192.0.2.0/24\n10.0.0.5/8\n", name="allow.txt", host_bits="reject")
    assert rs.space == space("192.0.2.0/24")
    (error,) = of_kind(rs, "bad-entry")
    assert error.severity is Severity.ERROR
    assert str(error.origin) == "allow.txt:2"
    assert "host bits" in error.message
    assert "10.0.0.0/8" in error.message  # says what to write instead
    assert rs.completeness is Completeness.PARTIAL
    assert of_kind(rs, "host-bits") == []


# Each of these is refused, with what is wrong in the message (RELIABILITY.md 2.1-2.9).
INVALID = [
    pytest.param("010.1.1.1", "leading zero", id="leading-zero-octet"),
    pytest.param("192.0.2.256", "255", id="octet-over-255"),
    pytest.param("1.2.3.0/032", "prefix length", id="leading-zero-prefix"),
    pytest.param("1.2.3.0/+24", "prefix length", id="signed-prefix"),
    pytest.param("1.2.3.0/ 24", "prefix length", id="space-in-prefix"),
    pytest.param("1.2.3.0/\uff12\uff14", "prefix length", id="fullwidth-prefix"),
    pytest.param("1.2.3.0/2_4", "prefix length", id="underscore-prefix"),
    pytest.param("1.2.3.4/33", "prefix length", id="prefix-33"),
    pytest.param("2001:db8::/129", "prefix length", id="v6-prefix-129"),
    pytest.param("192.0.2.0/255.255.255.0", "prefix length", id="netmask-form"),
    pytest.param("1.2.3.0 /24", "whitespace", id="space-before-slash"),
    pytest.param("fe80::1%eth0", "zone", id="zone-id"),
    pytest.param("127.1", "four dotted", id="short-form"),
    pytest.param("0x7f.0.0.1", "not an IPv4 address", id="hex-octet"),
    pytest.param("16909060", "four dotted", id="integer-form"),
    pytest.param("1.2.3.4-2001:db8::1", "mixes IPv4 and IPv6", id="mixed-family-range"),
    pytest.param("1.2.3.9-1.2.3.4", "reversed", id="reversed-range"),
    pytest.param("1.2.3.4-9", "full address", id="nmap-style-range"),
    pytest.param("192.0.2.1-::ffff:192.0.2.9", "mixes IPv4 and IPv6", id="mapped-end-range"),
]


@pytest.mark.parametrize(("line", "what"), INVALID)
def test_invalid_line_is_an_error_with_file_line_and_reason(line: str, what: str) -> None:
    data = f"192.0.2.0/24\n# comment\n{line}\n198.51.100.0/24\n"
    rs = read("text", data, name="allow.txt")
    (error,) = of_kind(rs, "bad-entry")
    assert error.severity is Severity.ERROR
    assert str(error.origin) == "allow.txt:3"
    assert line in error.message
    assert what in error.message
    # the rest of the file is still read; the set says it is not complete
    assert rs.space == space("192.0.2.0/24", "198.51.100.0/24")
    assert rs.completeness is Completeness.PARTIAL
    assert rs.reasons == ("1 line(s) could not be read",)


def test_line_numbers_count_blank_and_comment_lines_in_crlf_files() -> None:
    data = "# header\r\n\r\n192.0.2.1\r\n; note\r\n010.0.0.1\r\n"
    rs = read("text", data, name="allow.txt")
    assert [str(f.origin) for f in of_kind(rs, "bad-entry")] == ["allow.txt:5"]
    assert texts(rs) == [("192.0.2.1/32", 3)]


def test_many_bad_lines_are_counted_and_summarised() -> None:
    lines = ["192.0.2.1"] + [f"010.0.0.{i}" for i in range(60)]
    rs = read("text", "\n".join(lines) + "\n")
    errors = [f for f in of_kind(rs, "bad-entry") if f.severity is Severity.ERROR]
    assert lines_of(errors) == list(range(2, 52))  # the first 50 listed, by line
    summary = [f for f in of_kind(rs, "bad-entry") if f.severity is Severity.INFO]
    assert len(summary) == 1 and "10 more" in summary[0].message
    assert rs.reasons == ("60 line(s) could not be read",)
    assert rs.space == space("192.0.2.1")


def test_the_message_for_a_huge_line_is_short() -> None:
    # a wrong file with one 1 MB line: the finding must not echo the whole line back
    rs = read("text", "192.0.2.1\n" + "QUJDRA+/" * 131_072 + "\n", name="wrong.txt")
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == "wrong.txt:2"
    assert len(error.message) < 1000


# --- nothing to read -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\n\n", b"\xef\xbb\xbf", b"# only a comment\n; and another\n\n   \n", b"\r\n \r\n"],
    ids=["empty", "blank-lines", "bom-only", "only-comments", "crlf-blank"],
)
def test_a_list_without_entries_is_an_error_not_an_empty_set(data: bytes) -> None:
    with pytest.raises(ReaderError) as info:
        read("text", data, name="allow.txt")
    assert str(info.value).startswith("allow.txt")
    assert "no entries" in str(info.value)


def test_a_list_with_only_invalid_lines_is_an_error_naming_the_first() -> None:
    with pytest.raises(ReaderError) as info:
        read("text", "# c\n010.1.1.1\n1.2.3.4/33\n", name="allow.txt")
    message = str(info.value)
    assert message.startswith("allow.txt:2: ")
    assert "2 invalid" in message
    assert "010.1.1.1" in message


def test_nul_bytes_mean_not_a_text_file() -> None:
    with pytest.raises(ReaderError) as info:
        read("text", b"192.0.2.1\n\x00\x01\x02\n", name="blob.txt")
    assert str(info.value).startswith("blob.txt: ")
    assert "NUL" in str(info.value)


def test_invalid_utf8_names_the_line_and_byte() -> None:
    # bytes 0-7 "1.1.1.1\n", 8-15 "2.2.2.2\n", the bad byte is the 17th (offset 16), line 3
    with pytest.raises(ReaderError) as info:
        read("text", b"1.1.1.1\n2.2.2.2\n\xff3.3.3.3\n", name="latin1.txt")
    assert info.value.line == 3
    assert str(info.value).startswith("latin1.txt:3: ")
    assert "UTF-8" in str(info.value)
    assert "16" in str(info.value)


# --- lenient (paste) mode ----------------------------------------------------------------------


def test_lenient_reads_a_pasted_support_portal_table() -> None:
    data = (INPUTS / "support-portal-table.txt").read_bytes()
    rs = read("text", data, name="pasted.txt", lenient=True)
    assert rs.space == space(
        "203.0.113.0/25",
        "198.51.100.7",
        "192.0.2.10-192.0.2.20",
        "2001:db8:10::/48",
        "198.51.100.64/26",
        "198.51.100.128/26",
    )
    # .10-.20: .10/31 (10-11), .12/30 (12-15), .16/30 (16-19), .20/32; the two /26 are
    # adjacent (64-191) but .64 is not /25-aligned, so they stay two blocks.
    assert list(rs.space.cidrs_text()) == [
        "192.0.2.10/31",
        "192.0.2.12/30",
        "192.0.2.16/30",
        "192.0.2.20/32",
        "198.51.100.7/32",
        "198.51.100.64/26",
        "198.51.100.128/26",
        "203.0.113.0/25",
        "2001:db8:10::/48",
    ]
    assert [line for _, line in texts(rs)] == [2, 3, 4, 5, 7, 7]
    # the header and the closing sentence had no address; the blank line is not reported
    ignored = of_kind(rs, "ignored-line")
    assert [str(f.origin) for f in ignored] == ["pasted.txt:1", "pasted.txt:9"]
    # a word that looks like an address but is not one is an error, never a silent skip:
    # the source is partial, so the run cannot call itself complete
    (bad,) = of_kind(rs, "bad-entry")
    assert str(bad.origin) == "pasted.txt:6"
    assert "10.0.0.256" in bad.message
    assert rs.completeness.value == "partial"
    assert {f.kind for f in rs.findings} == {"ignored-line", "bad-entry"}


def test_lenient_takes_no_times_or_dates() -> None:
    rs = read("text", "12:30 2024-03-01 01/02/2024 v1.2\n192.0.2.1 at 09:15\n", lenient=True)
    assert rs.space == space("192.0.2.1")
    assert lines_of(of_kind(rs, "ignored-line")) == [1]


def test_lenient_does_not_warn_about_a_time_with_seconds() -> None:
    # A timestamp column is common in pasted tables; hh:mm:ss is not an address-like token.
    rs = read("text", "192.0.2.1\t2024-03-01 12:30:45\n", lenient=True)
    assert rs.space == space("192.0.2.1")
    assert of_kind(rs, "bad-entry") == []


def test_lenient_reads_addresses_after_a_label_and_colon() -> None:
    # An SPF record pasted from a provider's documentation: ip4:<cidr> mechanisms.
    data = "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all\nIP:203.0.113.5\n"
    rs = read("text", data, lenient=True)
    assert rs.space == space("192.0.2.0/24", "198.51.100.0/24", "203.0.113.5")
    assert of_kind(rs, "ignored-line") == []


def test_lenient_never_drops_an_address_with_a_port_silently() -> None:
    rs = read("text", "smtp-out\t192.0.2.1:25\t198.51.100.2\n", lenient=True)
    assert "198.51.100.2" in rs.space
    reported = any("192.0.2.1" in f.message for f in rs.findings if f.origin)
    assert "192.0.2.1" in rs.space or reported


def test_lenient_host_bits_policy_applies() -> None:
    rs = read("text", "relay 10.0.0.5/8 here\n", lenient=True, host_bits="fix")
    assert rs.space == space("10.0.0.0/8")
    assert lines_of(of_kind(rs, "host-bits")) == [1]


def test_lenient_with_nothing_found_is_an_error() -> None:
    with pytest.raises(ReaderError):
        read("text", "Data Center\tRegion\nnone yet\n", lenient=True)


# --- the big-file (vectorised) path ------------------------------------------------------------


BAD_LINES = [
    "010.1.1.1",
    "192.0.2.256",
    "198.51.100.0/33",
    "1.2.3.0/032",
    "2001:db8::/129",
    "1.2.3",
    "10.0.0.1/ 24",
    "fe80::1%eth0",
    "00.0.0.0",
    "1.2.3.4/",
]


@dataclass
class BigList:
    """A generated list and what it must read as, derived with the stdlib ipaddress module."""

    data: bytes = b""
    entries: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(family, first, last, line) of every valid line, host-bits lines included."""
    bad: dict[int, str] = field(default_factory=dict)
    host_bits: dict[int, str] = field(default_factory=dict)
    """line -> the network it is read as."""


def _net(text: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(text, strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


def _big_list(n_lines: int = 30_000, seed: int = 7) -> BigList:
    rng = random.Random(seed)
    out = BigList()
    chunks: list[str] = []
    for lineno in range(1, n_lines + 1):
        kind = rng.random()
        entry: tuple[int, int, int] | None = None
        if lineno % 1000 == 500:
            text = BAD_LINES[(lineno // 1000) % len(BAD_LINES)]
            out.bad[lineno] = text
        elif lineno % 1500 == 750:
            # host bits: an odd last octet under a /8-/24 prefix, or an IPv6 /64 with ::1
            if (lineno // 1500) % 2:
                addr = ipaddress.IPv4Address(
                    (rng.randrange(1, 224) << 24) | rng.randrange(1 << 24) | 1
                )
                text = f"{addr}/{rng.randrange(8, 25)}"
            else:
                text = f"2001:db8:{lineno:x}::1/64"
            entry = _net(text)
            net = ipaddress.ip_network(text, strict=False)
            out.host_bits[lineno] = str(net)
        elif kind < 0.55:
            addr = ipaddress.IPv4Address((rng.randrange(1, 224) << 24) | rng.randrange(1 << 24))
            text = str(addr)
            entry = _net(text)
        elif kind < 0.70:
            plen = rng.randrange(8, 33)
            base = (rng.randrange(1, 224) << 24) | rng.randrange(1 << 24)
            text = str(ipaddress.IPv4Network((base >> (32 - plen) << (32 - plen), plen)))
            entry = _net(text)
        elif kind < 0.80:
            plen = rng.choice([128, 128, 64, 48, 56, 127])
            value = (0x20010DB8 << 96) | rng.getrandbits(96)
            text = str(ipaddress.IPv6Network((value >> (128 - plen) << (128 - plen), plen)))
            if plen == 128:
                text = text.split("/")[0]
            entry = _net(text)
        elif kind < 0.84:
            a = (rng.randrange(1, 224) << 24) | rng.randrange(1 << 24)
            b = min(a + rng.randrange(0, 5000), (1 << 32) - 1)
            text = f"{ipaddress.IPv4Address(a)}-{ipaddress.IPv4Address(b)}"
            entry = (4, a, b)
        elif kind < 0.88:
            addr = ipaddress.IPv4Address((rng.randrange(1, 224) << 24) | rng.randrange(1 << 24))
            text = f"{addr} {rng.choice('#;')} note {lineno}"
            entry = _net(str(addr))
        elif kind < 0.95:
            text = f"{rng.choice('#;')} comment {lineno}"
        else:
            text = rng.choice(["", "   ", "\t"])
        if entry is not None:
            out.entries.append((*entry, lineno))
        chunks.append(text)
        if lineno < n_lines:
            chunks.append("\r\n" if rng.random() < 0.3 else "\n")
    out.data = b"\xef\xbb\xbf" + "".join(chunks).encode("ascii")  # BOM, no final newline
    return out


def _rows(rs: RangeSet) -> list[tuple[int, int, int, int]]:
    return sorted((e.family, e.first, e.last, e.origin.line or 0) for e in rs.entries)


@pytest.fixture(scope="module")
def big() -> BigList:
    return _big_list()


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, for each call of the vectorised parser, whether it gave a result."""
    calls: list[bool] = []
    original = text_reader.parse_bulk

    def spy(data: bytes, ctx: ReadContext) -> RangeSet | None:
        result = original(data, ctx)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(text_reader, "parse_bulk", spy)
    return calls


@dataclass
class ExactResult:
    rows: list[tuple[int, int, int, int]]
    findings: list[tuple[str, int, str]]


def _exact_in_chunks(data: bytes, ctx: ReadContext, size: int = 2000) -> ExactResult:
    """The per-line path on the same content: parse small pieces, then renumber lines."""
    text = data.decode("utf-8-sig").split("\n")
    out = ExactResult([], [])
    for start in range(0, len(text), size):
        piece = "\n".join(text[start : start + size]).encode("ascii")
        assert len(piece) < BIG
        rs = reader_for("text").parse(piece, ctx)
        out.rows += [(f, a, b, line + start) for f, a, b, line in _rows(rs)]
        out.findings += [
            (f.kind, (f.origin.line or 0) + start, f.message) for f in rs.findings if f.origin
        ]
    out.rows.sort()
    out.findings.sort()
    return out


def test_big_file_takes_the_fast_path_and_reads_exactly(
    big: BigList, fast_calls: list[bool]
) -> None:
    assert len(big.data) >= BIG
    rs = reader_for("text").parse(big.data, ReadContext("big.txt", "expected"))
    assert fast_calls == [True]
    assert _rows(rs) == sorted(big.entries)
    assert rs.space == IPSpace.from_intervals((f, a, b) for f, a, b, _ in big.entries)
    assert lines_of(of_kind(rs, "bad-entry")) == sorted(big.bad)
    for finding in of_kind(rs, "bad-entry"):
        assert finding.origin is not None
        assert big.bad[finding.origin.line or 0] in finding.message
    host = of_kind(rs, "host-bits")
    assert [str(f.origin) for f in host] == [f"big.txt:{n}" for n in sorted(big.host_bits)]
    for finding in host:
        assert finding.origin is not None
        assert big.host_bits[finding.origin.line or 0] in finding.message
    assert rs.completeness is Completeness.PARTIAL
    assert rs.reasons == (f"{len(big.bad)} line(s) could not be read",)


@pytest.mark.parametrize("engine", [None, "columns", "lines"])
def test_big_file_matches_the_per_line_parser(big: BigList, engine: str | None) -> None:
    ctx = ReadContext("big.txt", "expected")
    if engine is None:
        rs = reader_for("text").parse(big.data, ctx)
    else:
        fast = text_reader.parse_bulk(big.data, ctx, engine)
        assert fast is not None
        rs = fast
    exact = _exact_in_chunks(big.data, ctx)
    assert _rows(rs) == exact.rows
    fast_findings = sorted((f.kind, f.origin.line or 0, f.message) for f in rs.findings if f.origin)
    assert fast_findings == exact.findings


def test_big_file_with_host_bits_rejected(big: BigList, fast_calls: list[bool]) -> None:
    ctx = ReadContext("big.txt", "expected", host_bits="reject")
    rs = reader_for("text").parse(big.data, ctx)
    assert fast_calls == [True]
    refused = set(big.bad) | set(big.host_bits)
    assert len(refused) <= 50  # all of them listed, none summarised
    assert lines_of(of_kind(rs, "bad-entry")) == sorted(refused)
    assert _rows(rs) == sorted(e for e in big.entries if e[3] not in big.host_bits)
    assert rs.reasons == (f"{len(refused)} line(s) could not be read",)


def test_big_file_with_invalid_utf8_names_the_line() -> None:
    lines = [f"10.{i // 256 % 256}.{i % 256}.1" for i in range(30_000)]
    lines[20_000] = "10.0.0.1 # caf\xe9"  # Latin-1 é
    data = "\n".join(lines).encode("latin-1")
    assert len(data) >= BIG
    with pytest.raises(ReaderError) as info:
        read("text", data, name="big.txt")
    assert str(info.value).startswith("big.txt:20001: ")
    assert "UTF-8" in str(info.value)


def test_big_file_with_nul_bytes_is_not_text() -> None:
    data = b"192.0.2.1\n" * 30_000 + b"\x00\n"
    with pytest.raises(ReaderError) as info:
        read("text", data, name="big.txt")
    assert "NUL" in str(info.value)


def test_big_file_without_a_valid_line_is_an_error() -> None:
    data = b"# comment line that is long enough to make the file big\n" * 6000
    assert len(data) >= BIG
    with pytest.raises(ReaderError) as info:
        read("text", data, name="big.txt")
    assert "no entries" in str(info.value)


# --- fast and exact paths agree on any input ---------------------------------------------------


def _outcome(
    data: bytes, ctx: ReadContext, fast: bool, engine: str = "columns"
) -> tuple[str, object] | None:
    try:
        if fast:
            rs = text_reader.parse_bulk(data, ctx, engine)
        else:
            rs = reader_for("text").parse(data, ctx)
    except ReaderError as e:
        return ("error", str(e))
    if rs is None:
        return None
    errors = sorted(
        (f.origin.line or 0) for f in rs.findings if f.severity is Severity.ERROR and f.origin
    )
    findings = sorted((f.kind, str(f.origin), f.message) for f in rs.findings)
    return ("set", (_rows(rs), errors, findings, rs.completeness, rs.reasons))


_octet = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "0"]))
_v4ish = st.builds(
    lambda parts, plen: ".".join(parts) + plen,
    st.lists(_octet, min_size=3, max_size=5),
    st.sampled_from(["", "/0", "/8", "/24", "/32", "/33", "/032", "/", "/1"]),
)
_group = st.sampled_from(["0", "1", "db8", "2001", "ffff", "FFFF", "0db8", "12345", "g", ""])
_v6ish = st.builds(
    lambda groups, double, plen: (
        (":".join(groups).replace(":", "::", 1) if double else ":".join(groups)) + plen
    ),
    st.lists(_group, min_size=1, max_size=9),
    st.booleans(),
    st.sampled_from(["", "/0", "/64", "/128", "/129", "/064", "/96", "/"]),
)
_v6_written = st.builds(
    # the forms an address is written in: compressed anywhere, mixed case, mapped, and the
    # broken ones next to them (':::' , a lone colon at either end, a fifth hex digit)
    lambda value, plen, style, extra: _v6_text(value, plen, style, extra),
    st.one_of(
        st.integers(0, (1 << 128) - 1),
        st.integers(0, (1 << 64) - 1).map(lambda v: v << 64),
        st.integers(0, (1 << 32) - 1).map(lambda v: 0xFFFF << 32 | v),
        st.sampled_from([0, 1, 1 << 64, (1 << 64) - 1, (1 << 128) - 1, 0x20010DB8 << 96]),
    ),
    st.sampled_from([None, 0, 1, 32, 48, 63, 64, 65, 96, 127, 128]),
    st.sampled_from(["short", "long", "upper", "lead", "trail", "triple", "five"]),
    st.booleans(),
)


def _v6_text(value: int, plen: int | None, style: str, clear_host_bits: bool) -> str:
    if plen is not None and clear_host_bits:
        value &= ~((1 << (128 - plen)) - 1)
    address = ipaddress.IPv6Address(value)
    text = {
        "short": address.compressed,
        "long": address.exploded,
        "upper": address.compressed.upper(),
        "lead": ":" + address.exploded,
        "trail": address.exploded + ":",
        "triple": address.compressed.replace("::", ":::")
        if "::" in address.compressed
        else address.compressed,
        "five": address.exploded.replace(":", ":0", 1),
    }[style]
    return text if plen is None else f"{text}/{plen}"


_noise = st.text(alphabet="0123456789./:-# ", max_size=20)
_line = st.one_of(_noise, _v4ish, _v6ish, _v6_written)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_line, min_size=1, max_size=8),
    crlf=st.booleans(),
    reject=st.booleans(),
)
def test_fast_and_exact_paths_agree(lines: list[str], crlf: bool, reject: bool) -> None:
    data = ("\r\n" if crlf else "\n").join(lines).encode("ascii")
    ctx = ReadContext("f.txt", "declared", "reject" if reject else "fix")
    exact = _outcome(data, ctx, fast=False)
    for engine in ("columns", "lines"):
        fast = _outcome(data, ctx, fast=True, engine=engine)
        if fast is None:  # the fast parser hands over to the general path
            continue
        assert fast == exact, engine


def test_lenient_reads_sentences_and_refuses_half_ranges() -> None:
    rs = read(
        "text",
        "Please allow 192.0.2.0/28 and 198.51.100.0/24.\n"
        "backup: 203.0.113.50.\n"
        "pool 203.0.113.1 \u2013 203.0.113.4, spare 203.0.113.9 to 203.0.113.10\n"
        "Our relay range is 192.0.2.100-20 (11 hosts)\n",
        lenient=True,
    )
    assert rs.space == space(
        "192.0.2.0/28",
        "198.51.100.0/24",
        "203.0.113.50",
        "203.0.113.1-203.0.113.4",
        "203.0.113.9-203.0.113.10",
    )
    (bad,) = of_kind(rs, "bad-entry")
    assert str(bad.origin) == "list.txt:4"
    assert "full address" in bad.message
    assert rs.completeness.value == "partial"


# --- masks, brackets and other notations -------------------------------------------------------


def test_lenient_reads_an_address_and_a_netmask_or_wildcard_mask_as_a_network() -> None:
    rs = read(
        "text",
        "network-object 10.0.1.0 255.255.255.0\n"  # 1: a netmask (ASA, FortiOS, a portal)
        "permit ip 10.0.2.0 0.0.0.255 any\n"  # 2: a wildcard mask (IOS)
        "10.0.3.0/255.255.255.128\n"  # 3: a dotted mask after a slash
        "host,10.0.4.5,255.255.255.252\n"  # 4: host bits: the policy applies
        "10.5.0.0\t255.255.0.0\n",  # 5: a tab between them
        lenient=True,
    )
    assert rs.space == space(
        "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/25", "10.0.4.4/30", "10.5.0.0/16"
    )
    # nothing that is a mask ever becomes an address
    for mask in ("255.255.255.0", "0.0.0.255", "255.255.255.252", "255.255.0.0"):
        assert mask not in rs.space
    notes = of_kind(rs, "notation")
    assert lines_of(notes) == [1, 2, 3, 4, 5]
    assert "10.0.2.0/24" in notes[1].message and "wildcard" in notes[1].message
    assert lines_of(of_kind(rs, "host-bits")) == [4]
    assert rs.completeness is Completeness.COMPLETE


def test_lenient_reports_masks_it_cannot_read_and_never_guesses() -> None:
    rs = read(
        "text",
        "192.0.2.0/24\n"  # 1
        "10.0.0.1 255.255.255.255\n"  # 2: netmask /32 or wildcard 'any'
        "10.0.0.1 0.0.0.0\n"  # 3: wildcard host or netmask /0
        "10.0.0.0 0.0.255.0\n"  # 4: a non-contiguous wildcard
        "netmask 255.255.255.0\n"  # 5: a mask on its own
        "10.0.0.0/0.0.0.0\n",  # 6: netaddr would read /0
        lenient=True,
    )
    assert rs.space == space("192.0.2.0/24")
    errors = of_kind(rs, "bad-entry")
    assert lines_of(errors) == [2, 3, 4, 5, 6]
    assert all(e.severity is Severity.ERROR for e in errors)
    assert "ambiguous" in errors[0].message and "10.0.0.1/32 or 0.0.0.0/0" in errors[0].message
    assert "ambiguous" in errors[1].message
    assert "not contiguous" in errors[2].message
    assert "mask, not an address" in errors[3].message
    assert "ambiguous" in errors[4].message
    assert rs.completeness is Completeness.PARTIAL


def test_lenient_reports_two_addresses_side_by_side_instead_of_guessing() -> None:
    rs = read(
        "text",
        "A,10.0.0.1,10.0.0.50\n"  # 1: a range (start, end) or two hosts
        "2001:db8::1 2001:db8::ff\n"  # 2: the same in IPv6
        "relays 192.0.2.1 and 192.0.2.9\n"  # 3: words between them: two hosts
        "192.0.2.20 - 192.0.2.29\n"  # 4: an explicit range
        "v=spf1 ip4:198.51.100.1 ip4:198.51.100.2 -all\n"  # 5: each one labelled
        "203.0.113.1 203.0.113.2 203.0.113.3\n"  # 6: three or more are a list
        "198.51.100.9 2001:db8::9\n",  # 7: different families: never a range
        lenient=True,
    )
    errors = of_kind(rs, "bad-entry")
    assert lines_of(errors) == [1, 2]
    assert "'10.0.0.1' and '10.0.0.50'" in errors[0].message
    assert "range or two addresses" in errors[0].message
    assert "10.0.0.1-10.0.0.50" in errors[0].message  # how to write it
    assert "10.0.0.1" not in rs.space and "10.0.0.50" not in rs.space
    assert rs.space == space(
        "192.0.2.1",
        "192.0.2.9",
        "192.0.2.20-192.0.2.29",
        "198.51.100.1",
        "198.51.100.2",
        "203.0.113.1-203.0.113.3",
        "198.51.100.9",
        "2001:db8::9",
    )
    assert rs.completeness is Completeness.PARTIAL


def test_lenient_reads_globs_and_abbreviated_networks_but_not_dates() -> None:
    rs = read(
        "text",
        "office 10.20.*.* and lab 10.30.40.*\n192.168/16 since 10/8\n",
        lenient=True,
    )
    assert rs.space == space("10.20.0.0/16", "10.30.40.0/24", "192.168.0.0/16")
    assert "10.0.0.0" not in rs.space  # 10/8 is a date here, not 10.0.0.0/8
    assert lines_of(of_kind(rs, "notation")) == [1, 1, 2]


@pytest.mark.parametrize(
    ("line", "what", "write"),
    [
        pytest.param("10.0.1.0 255.255.255.0", "netmask", "10.0.1.0/24", id="netmask"),
        pytest.param("10.0.1.0 0.0.0.255", "wildcard mask", "10.0.1.0/24", id="wildcard"),
        pytest.param("10.0.1.7 255.255.255.0", "netmask", "10.0.1.0/24", id="host-bits"),
        pytest.param("10.0.1.0/255.255.255.0", "prefix length", "10.0.1.0/24", id="slash"),
        pytest.param("10.0.1.0 255.255.255.255", "ambiguous", "10.0.1.0/32", id="ambiguous"),
        pytest.param("10.0.0.0 0.0.255.0", "not contiguous", "CIDRs", id="non-contiguous"),
        pytest.param("10.0.0.1 10.0.0.9", "two addresses", "10.0.0.1-10.0.0.9", id="two"),
        pytest.param("10.0.*.*", "not a CIDR", "10.0.0.0/16", id="glob"),
        pytest.param("[2001:db8::1]:25", "port", "2001:db8::1", id="bracket-port"),
        pytest.param("[mail.example.com]", "brackets", "[2001:db8::1]", id="bracket-name"),
    ],
)
def test_strict_says_what_to_write_for_other_notations(line: str, what: str, write: str) -> None:
    rs = read("text", f"192.0.2.0/24\n{line}\n", name="allow.txt")
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == "allow.txt:2"
    assert line in error.message
    assert what in error.message
    assert write in error.message
    assert rs.space == space("192.0.2.0/24")  # strict stays strict: nothing is guessed
    assert rs.completeness is Completeness.PARTIAL


# Attempts at an address in a notation no mode reads: (line, what to write instead).
ATTEMPTS = [
    pytest.param("10/8", "write 10.0.0.0/8", id="abbrev-one-octet"),
    pytest.param("10/16", "write 10.0.0.0/16", id="abbrev-long-prefix"),
    pytest.param("172.16.*", "write 172.16.0.0/16", id="glob-two-octets"),
    pytest.param("10.*", "write 10.0.0.0/8", id="glob-one-octet"),
    pytest.param("10.*.*", "write 10.0.0.0/8", id="glob-three-parts"),
    pytest.param("1.*.3.*", "a CIDR or a range", id="glob-inner"),
    pytest.param("192.168.*.1", "a CIDR or a range", id="glob-inner-last"),
    pytest.param("192.168.1.0/*", "a CIDR or a range", id="glob-prefix"),
    pytest.param("10/33", "a CIDR or a range", id="abbrev-prefix-too-long"),
    pytest.param("010/8", "a CIDR or a range", id="abbrev-leading-zero"),
]


def _with_filler(line: str, big: bool) -> tuple[bytes, int]:
    """A list with the line in it (its line number is returned); big: over the size from which
    the strict reader takes the vectorised path."""
    lines = ["192.0.2.0/24", line]
    if big:
        lines = [f"10.{i >> 8}.{i & 255}.0/24" for i in range(20_000)] + lines
    data = ("\n".join(lines) + "\n").encode()
    assert (len(data) > 64 * 1024) is big
    return data, len(lines)


@pytest.mark.parametrize("big", [False, True], ids=["small", "big"])
@pytest.mark.parametrize(("line", "write"), ATTEMPTS)
def test_strict_says_what_to_write_for_abbreviations_and_globs(
    line: str, write: str, big: bool
) -> None:
    data, lineno = _with_filler(line, big)
    rs = read("text", data, name="allow.txt")
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == f"allow.txt:{lineno}"
    assert error.severity is Severity.ERROR
    assert repr(line) in error.message
    assert write in error.message
    assert "192.0.2.0/24" in [str(c) for c in rs.space.cidrs_text()]
    assert rs.completeness is Completeness.PARTIAL


@pytest.mark.parametrize("big", [False, True], ids=["small", "big"])
@pytest.mark.parametrize(("line", "write"), ATTEMPTS)
def test_lenient_never_drops_an_abbreviation_or_a_glob_as_no_address(
    line: str, write: str, big: bool
) -> None:
    data, lineno = _with_filler(line, big)
    rs = read("text", data, name="paste.txt", lenient=True)
    assert of_kind(rs, "ignored-line") == []
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == f"paste.txt:{lineno}"
    assert repr(line) in error.message
    assert write in error.message
    assert "192.0.2.0/24" in [str(c) for c in rs.space.cidrs_text()]
    assert rs.completeness is Completeness.PARTIAL


def test_lenient_reads_an_abbreviation_by_its_line() -> None:
    rs = read(
        "text",
        "Office\t10/8\n"  # 1: nothing else in the line: an attempt at 10.0.0.0/8
        "10/8, 172.16/12\n"  # 2: a list of networks, no words: an attempt too
        "Updated 192.0.2.0/24 on 10/8\n"  # 3: an address and words: a date
        "TLS 1.2 or 1.3 only\n"  # 4: prose with no address-like word
        "Data Center\tRegion\n",  # 5: headings
        lenient=True,
    )
    assert rs.space == space("172.16.0.0/12", "192.0.2.0/24")
    errors = of_kind(rs, "bad-entry")
    assert lines_of(errors) == [1, 2]
    assert all("write 10.0.0.0/8" in e.message for e in errors)
    assert lines_of(of_kind(rs, "ignored-line")) == [4, 5]
    assert rs.completeness is Completeness.PARTIAL


@pytest.mark.parametrize("lenient", [False, True], ids=["strict", "lenient"])
def test_bracketed_ipv6_as_postfix_writes_it_is_read(lenient: bool) -> None:
    rs = read("text", "[2001:db8::1]\n[2001:db8:100::]/40\n[192.0.2.1]\n", lenient=lenient)
    assert texts(rs) == [("2001:db8::1/128", 1), ("2001:db8:100::/40", 2), ("192.0.2.1/32", 3)]
    assert rs.completeness is Completeness.COMPLETE


def test_lenient_never_drops_the_port_of_a_bracketed_address_silently() -> None:
    rs = read("text", "relay [2001:db8::1]:25\n", lenient=True)
    assert rs.space == space("2001:db8::1")
    (port,) = of_kind(rs, "ignored-port")
    assert ":25" in port.message


def test_big_strict_files_say_the_same_about_masks_and_brackets() -> None:
    lines = [f"10.{i >> 8}.{i & 255}.0/24" for i in range(20_000)]
    lines[5] = "10.200.1.0 255.255.255.0"
    lines[6] = "[2001:db8::]/32"
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 64 * 1024
    rs = read("text", data, name="big.txt")
    (error,) = of_kind(rs, "bad-entry")
    assert str(error.origin) == "big.txt:6"
    assert "10.200.1.0/24" in error.message
    assert "2001:db8::/32" in [str(c) for c in rs.space.cidrs_text()]


def test_netaddr_is_imported_only_for_the_notations_that_need_it(tmp_path: Path) -> None:
    # start-up time matters: a plain list, strict or pasted, never loads netaddr
    (tmp_path / "plain.txt").write_text("192.0.2.0/24\nrelay 198.51.100.7 and 2001:db8::1\n")
    (tmp_path / "masked.txt").write_text("10.0.1.0 255.255.255.0\n")
    probe = (
        "import sys\n"
        "from auditor.allowlists import ReadContext\n"
        "from auditor.sources import files\n"
        "for name in sys.argv[1:]:\n"
        "    files.load(name, ReadContext(name, 'declared', lenient=True))\n"
        "    files.load('plain.txt', ReadContext('plain.txt', 'declared'))\n"
        "print('netaddr' in sys.modules)\n"
    )

    def netaddr_loaded(*names: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", probe, *names],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=True,
        ).stdout.strip()

    assert netaddr_loaded("plain.txt") == "False"
    assert netaddr_loaded("masked.txt") == "True"


@pytest.mark.parametrize("engine", ["columns", "lines"])
@pytest.mark.parametrize("seed", range(3))
def test_a_big_ipv6_list_reads_as_the_per_line_parser_reads_it(seed: int, engine: str) -> None:
    # every way an IPv6 address is written, valid and not, with and without host bits, at
    # the size that takes the column parser; each line compared with the per-line parser
    rng = random.Random(seed)
    styles = ["short", "short", "long", "upper", "lead", "trail", "triple", "five"]
    lines = []
    for _ in range(20_000):
        kind = rng.random()
        if kind < 0.5:
            value = rng.getrandbits(128)
        elif kind < 0.7:
            value = rng.getrandbits(rng.choice([16, 32, 48, 64])) << rng.choice([0, 64, 80])
        elif kind < 0.8:
            value = 0xFFFF << 32 | rng.getrandbits(32)
        else:
            value = rng.choice([0, 1, 1 << 64, (1 << 64) - 1, (1 << 128) - 1])
        value &= (1 << 128) - 1
        plen = rng.choice([None, 0, 8, 32, 48, 56, 63, 64, 65, 100, 127, 128])
        lines.append(_v6_text(value, plen, rng.choice(styles), rng.random() < 0.9))
    data = "\n".join(lines).encode("ascii")
    assert len(data) >= BIG
    ctx = ReadContext("six.txt", "declared")
    fast = text_reader.parse_bulk(data, ctx, engine)
    assert fast is not None
    exact = _exact_in_chunks(data, ctx)
    assert _rows(fast) == exact.rows  # the findings are compared on small inputs above
    assert fast.space == IPSpace.from_intervals((f, a, b) for f, a, b, _ in exact.rows)
