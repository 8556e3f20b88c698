"""Postfix readers: mynetworks in main.cf (first match, ! exclusions, references), mynetworks
pattern files, and cidr_table(5) access tables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from auditor import ipspace
from auditor.allowlists import READERS, ReadContext, ReaderError, reader_for
from auditor.allowlists.mail.postfix_cidr import sniff_cidr
from auditor.allowlists.mail.postfix_common import access_outcome, parse_cidr_table
from auditor.allowlists.mail.postfix_main_cf import PostfixMainCfReader, sniff_main_cf
from auditor.model import Completeness, RangeSet, Severity
from auditor.sources.files import detect_format

from .helpers import of_kind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mailserver" / "postfix"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "mailserver"


def read_file(fmt: str, path: Path) -> RangeSet:
    return reader_for(fmt).parse(path.read_bytes(), ReadContext(str(path), "declared"))


def read_main(tmp_path: Path, text: str, **files: str) -> RangeSet:
    """A main.cf written to tmp_path with the given files next to it."""
    for name, content in files.items():
        (tmp_path / name.replace("_DOT_", ".")).write_text(content)
    path = tmp_path / "main.cf"
    path.write_text(text)
    return read_file("postfix-main-cf", path)


def verdict(rs: RangeSet, address: str) -> tuple[str, int | None] | None:
    """(outcome, line of the deciding rule) for one address; None when nothing decides."""
    family, value, _ = ipspace.parse_address(address)
    for v in rs.verdicts:
        if v.family == family:
            seg = v.lookup(value)
            return None if seg is None else (seg.outcome, seg.rule.origin.line)
    raise AssertionError(f"no verdicts for IPv{family}")


def why(rs: RangeSet, address: str) -> str:
    family, value, _ = ipspace.parse_address(address)
    seg = next(v for v in rs.verdicts if v.family == family).lookup(value)
    assert seg is not None
    return seg.rule.describe()


# --- main.cf: mynetworks, first match ---------------------------------------------------------


MAIN_CF_VERDICTS = [
    ("127.0.0.1", ("accept", 7)),
    ("::1", ("accept", 7)),
    # `!192.0.2.128/25` comes before 192.0.2.0/24: it carves a hole
    ("192.0.2.5", ("accept", 8)),
    ("192.0.2.200", ("drop", 8)),
    # ... and a hash-table key inside the hole is still out: the exclusion matched first
    ("192.0.2.250", ("drop", 8)),
    # `!203.0.113.7` comes after 203.0.113.0/24: it changes nothing
    ("203.0.113.7", ("accept", 9)),
    # $my_relays expands to the patterns of its own lines
    ("198.51.100.9", ("accept", 4)),
    ("2001:db8:1::5", ("accept", 5)),
    # cidr:/etc/postfix/relays.cidr: in a list any result is a match (DUNNO too), if/endif
    ("100.64.1.5", ("accept", 11)),
    ("100.65.0.1", ("accept", 11)),
    ("100.64.2.1", None),
    ("2001:db8:2::1", ("accept", 11)),
    # hash:/etc/postfix/network_table: a key that is one address; not a network key
    ("10.9.8.7", ("accept", 12)),
    ("10.10.0.1", None),
    ("2001:db8:3::1", ("accept", 12)),
    # /etc/postfix/mynetworks.extra: read line by line; its `!` after the network is moot
    ("172.16.5.1", ("accept", 13)),
    ("2001:db8:4::1", ("accept", 13)),
    ("8.8.8.8", None),
    ("2001:db8:5::1", None),
]


@pytest.mark.parametrize(("address", "expected"), MAIN_CF_VERDICTS)
def test_main_cf_verdicts(address: str, expected: tuple[str, int] | None) -> None:
    rs = read_file("postfix-main-cf", FIXTURES / "main.cf")
    assert verdict(rs, address) == expected


def test_main_cf_is_complete_and_entries_keep_their_lines() -> None:
    rs = read_file("postfix-main-cf", FIXTURES / "main.cf")
    assert rs.completeness is Completeness.COMPLETE
    assert rs.families == (4, 6)
    lines = {e.text: e.origin.line for e in rs.entries}
    assert lines["127.0.0.0/8"] == 7
    assert lines["192.0.2.0/25"] == 8
    assert lines["198.51.100.0/24"] == 4
    assert lines["2001:db8:1::/48"] == 5
    by_text = {e.text: e for e in rs.entries}
    # a pattern from a referenced file: the line of the reference, and the file's line
    extra = by_text["172.16.0.0/12"].origin
    assert extra.line == 13
    assert extra.path is not None
    assert "mynetworks.extra:2: 172.16.0.0/12" in extra.path
    relays = by_text["100.64.1.0/24"].origin
    assert relays.path is not None
    assert relays.path.startswith("cidr:/etc/postfix/relays.cidr -> ")
    assert "relays.cidr:3: 100.64.1.0/24 DUNNO" in relays.path


def test_main_cf_findings() -> None:
    rs = read_file("postfix-main-cf", FIXTURES / "main.cf")
    (access,) = of_kind(rs, "client-access-table")
    assert "check_client_access" in access.message
    assert "cidr:/etc/postfix/client_access.cidr" in access.message
    assert access.origin is not None and access.origin.line == 15
    (network_key,) = of_kind(rs, "never-matches")
    assert "10.10.0.0/16" in network_key.message
    assert network_key.severity is Severity.WARNING


def test_missing_reference_makes_the_source_partial() -> None:
    rs = read_file("postfix-main-cf", FIXTURES / "partial.cf")
    assert rs.completeness is Completeness.PARTIAL
    assert any("absent.cidr was not found" in r for r in rs.reasons)
    assert [f.message for f in of_kind(rs, "unsupported")] == [
        f"{FIXTURES / 'partial.cf'}:2: cidr:/etc/postfix/absent.cidr (/etc/postfix/absent.cidr"
        f" was not found next to {FIXTURES / 'partial.cf'} (put a copy named absent.cidr there"
        " to have it read))"
    ]
    # before the reference: decided
    assert verdict(rs, "192.0.2.1") == ("accept", 2)
    # a later network stays accepted: the table can only add clients
    assert verdict(rs, "203.0.113.5") == ("accept", 3)
    # what the list excludes later, or never names, might be in the table
    assert verdict(rs, "198.51.100.1") == ("conditional", 2)
    assert verdict(rs, "8.8.8.8") == ("conditional", 2)
    assert verdict(rs, "2001:db8::1") == ("conditional", 2)
    assert [e.text for e in rs.entries] == ["192.0.2.0/24", "203.0.113.0/24"]


def test_without_mynetworks_the_interfaces_decide() -> None:
    rs = read_file("postfix-main-cf", FIXTURES / "no-mynetworks.cf")
    assert rs.completeness is Completeness.PARTIAL
    assert len(rs.entries) == 0
    assert verdict(rs, "192.0.2.1") == ("conditional", 2)
    assert verdict(rs, "2001:db8::1") == ("conditional", 2)
    assert "mynetworks_style = subnet" in rs.reasons[0]
    assert "network interfaces" in rs.reasons[0]


def test_default_style_follows_compatibility_level(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "myhostname = mx\ncompatibility_level = 3.6\n")
    assert "host at compatibility_level 3.6" in rs.reasons[0]
    assert verdict(rs, "192.0.2.1") == ("conditional", 2)
    rs = read_main(tmp_path, "myhostname = mx\n")
    assert "subnet at compatibility_level 0" in rs.reasons[0]


# --- main.cf syntax --------------------------------------------------------------------------


def test_continuation_lines_comments_and_separators(tmp_path: Path) -> None:
    rs = read_main(
        tmp_path,
        "# comment\n"  # 1
        "myhostname = mx\n"  # 2
        "mynetworks =\n"  # 3: the value starts on the next line
        "\t192.0.2.0/24,198.51.100.0/24\n"  # 4
        "  # a comment line inside the value\n"  # 5
        "\n"  # 6
        "    ,, [2001:db8::/32] [192.0.2.1]\n"  # 7
        "relayhost =\n",  # 8
    )
    assert sorted((e.text, e.origin.line) for e in rs.entries) == [
        ("192.0.2.0/24", 4),
        ("198.51.100.0/24", 4),
        ("2001:db8::/32", 7),
    ]
    assert verdict(rs, "192.0.2.1") == ("accept", 4)  # the earlier network matched first
    assert rs.completeness is Completeness.COMPLETE


def test_bracketed_ipv6_forms(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "mynetworks = [2001:db8::]/32 [2001:db8:1::/48] [::1]\n")
    assert sorted(e.text for e in rs.entries) == ["2001:db8::/32", "::1/128"]


def test_bare_ipv6_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, "myhostname = mx\nmynetworks = 127.0.0.0/8\n  2001:db8::/32\n")
    assert err.value.line == 3
    assert err.value.source == str(tmp_path / "main.cf")
    assert "IPv6 must be in brackets" in err.value.message
    assert err.value.hint is not None and "[2001:db8::]/32" in err.value.hint


def test_host_bits_are_an_error_as_for_postfix(tmp_path: Path) -> None:
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, "mynetworks = 10.0.0.5/8\n")
    assert err.value.line == 1
    assert "non-null host address bits" in err.value.message
    assert err.value.hint == "perhaps you should use 10.0.0.0/8 instead"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!", "no pattern after '!'"),
        ("192.0.2.0/33", "bad net/mask pattern"),
        ("[192.0.2.1", "missing ']'"),
        ("[192.0.2.1]1", "garbage after"),
        ("010.1.1.0/24", "bad net/mask pattern"),
        ("[010.1.1.1]", "bad address pattern"),
    ],
)
def test_bad_patterns(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, f"myhostname = mx\nmynetworks = 192.0.2.0/24 {value}\n")
    assert err.value.line == 2
    assert message in err.value.message


def test_trailing_comment_stops_the_list(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "mynetworks = 192.0.2.0/24 # office\n    198.51.100.0/24\n")
    assert [e.text for e in rs.entries] == ["192.0.2.0/24"]
    (note,) = of_kind(rs, "comment-in-list")
    assert "198.51.100.0/24" in note.message
    assert note.origin is not None and note.origin.line == 1


def test_dotted_text_that_is_not_an_address_never_matches(tmp_path: Path) -> None:
    # match_hostaddr() compares a pattern of digits and dots with the client's address as
    # text: 10.0.0 and 010.1.1.1 match no client
    rs = read_main(tmp_path, "mynetworks = 10.0.0 010.1.1.1 192.0.2.0/24\n")
    assert [e.text for e in rs.entries] == ["192.0.2.0/24"]
    notes = of_kind(rs, "never-matches")
    assert ["'10.0.0'" in notes[0].message, "'010.1.1.1'" in notes[1].message] == [True, True]


def test_ipv4_mapped_pattern_matches_no_ipv4_client(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128\n")
    assert sorted(e.text for e in rs.entries) == ["127.0.0.0/8", "::1/128"]
    assert len(of_kind(rs, "ipv4-mapped")) == 1


def test_parameter_references(tmp_path: Path) -> None:
    rs = read_main(
        tmp_path,
        "office = 192.0.2.0/24\n"  # 1
        "lab = ${office}, $(partners)\n"  # 2
        "partners = 198.51.100.0/24\n"  # 3: defined after its use, as main.cf allows
        "flag = yes\n"  # 4
        "mynetworks = $lab ${flag?203.0.113.0/24} ${flag:100.64.0.0/10}\n",  # 5
    )
    assert sorted((e.text, e.origin.line) for e in rs.entries) == [
        ("192.0.2.0/24", 1),
        ("198.51.100.0/24", 3),
        ("203.0.113.0/24", 5),
    ]


def test_unknown_parameter_makes_what_follows_conditional(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "mynetworks = 192.0.2.0/24 $site_networks 198.51.100.0/24\n")
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    assert verdict(rs, "198.51.100.1") == ("conditional", 1)
    assert "$site_networks is not set in this file" in rs.reasons[0]


def test_parameter_loop_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, "a = $b\nb = $a\nmynetworks = $a\n")
    assert "refers to itself" in err.value.message


def test_last_definition_wins(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "mynetworks = 192.0.2.0/24\nmynetworks = 198.51.100.0/24\n")
    assert [(e.text, e.origin.line) for e in rs.entries] == [("198.51.100.0/24", 2)]
    (note,) = of_kind(rs, "redefined")
    assert note.origin is not None and note.origin.line == 2


def test_empty_mynetworks_trusts_nobody(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "myhostname = mx\nmynetworks =\n")
    assert len(rs.entries) == 0
    assert rs.completeness is Completeness.COMPLETE
    assert of_kind(rs, "empty-list")


def test_host_name_pattern_only_adds(tmp_path: Path) -> None:
    rs = read_main(
        tmp_path, "mynetworks = relay.example.net, !192.0.2.7, 192.0.2.0/24, !.example.org\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 1)  # accepted either way
    assert verdict(rs, "192.0.2.7") == ("conditional", 1)  # excluded unless its name matches
    assert verdict(rs, "198.51.100.1") == ("conditional", 1)
    assert "reverse-DNS name is relay.example.net" in why(rs, "198.51.100.1")


def test_negated_host_name_pattern_only_removes(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "mynetworks = !spammer.example, 192.0.2.0/24\n")
    assert verdict(rs, "192.0.2.1") == ("conditional", 1)
    assert verdict(rs, "198.51.100.1") is None


def test_static_table_matches_every_client(tmp_path: Path) -> None:
    rs = read_main(tmp_path, "mynetworks = !192.0.2.0/24 static:all\n")
    assert verdict(rs, "192.0.2.1") == ("drop", 1)
    assert verdict(rs, "8.8.8.8") == ("accept", 1)
    assert verdict(rs, "2001:db8::1") == ("accept", 1)


@pytest.mark.parametrize("kind", ["mysql", "pcre", "ldap", "tcp"])
def test_tables_that_cannot_be_read_are_conditional(tmp_path: Path, kind: str) -> None:
    rs = read_main(tmp_path, f"mynetworks = 192.0.2.0/24 {kind}:/etc/postfix/x.cf\n")
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    assert verdict(rs, "198.51.100.1") == ("conditional", 1)
    assert len(of_kind(rs, "unsupported")) == 1


def test_negated_file_reference_negates_each_pattern(tmp_path: Path) -> None:
    rs = read_main(
        tmp_path,
        "mynetworks = !/etc/postfix/blocked 192.0.2.0/24\n",
        blocked="# blocked\n192.0.2.128/25\n!192.0.2.64/26\n",
    )
    assert verdict(rs, "192.0.2.200") == ("drop", 1)  # !(192.0.2.128/25)
    assert verdict(rs, "192.0.2.70") == ("accept", 1)  # !(!192.0.2.64/26) puts it in
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    assert "blocked:3: !192.0.2.64/26" in why(rs, "192.0.2.70")


def test_proxy_cidr_and_hash_host_names(tmp_path: Path) -> None:
    rs = read_main(
        tmp_path,
        "mynetworks = proxy:cidr:/etc/postfix/nets.cidr hash:/etc/postfix/hosts\n",
        nets_DOT_cidr="192.0.2.0/24 x\n",
        hosts="198.51.100.1 x\nrelay.example.org x\n",
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    assert verdict(rs, "198.51.100.1") == ("accept", 1)
    # the host name key: any other client might have that name
    assert verdict(rs, "203.0.113.1") == ("conditional", 1)


def test_pattern_files_that_include_each_other_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, "mynetworks = /etc/postfix/loop\n", loop="/etc/postfix/loop\n")
    assert "nest deeper" in err.value.message


def test_references_are_read_through_the_injected_reader() -> None:
    seen: list[Path] = []

    def fake(path: Path) -> bytes:
        seen.append(path)
        if path.name == "nets.cidr":
            return b"192.0.2.0/24 OK\n"
        raise FileNotFoundError(path)

    data = b"mynetworks = cidr:/etc/postfix/nets.cidr cidr:/etc/postfix/gone.cidr\n"
    rs = PostfixMainCfReader(read_file=fake).parse(data, ReadContext("conf/main.cf", "declared"))
    assert seen == [Path("conf/nets.cidr"), Path("conf/gone.cidr")]
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    assert verdict(rs, "198.51.100.1") == ("conditional", 1)


def test_from_standard_input_references_stay_unresolved() -> None:
    data = b"mynetworks = 192.0.2.0/24 cidr:/etc/postfix/nets.cidr\n"
    rs = reader_for("postfix-main-cf").parse(data, ReadContext("<stdin>", "declared"))
    assert "next to standard input" in rs.reasons[0]


def test_not_a_main_cf(tmp_path: Path) -> None:
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, "hosts = db.example\nuser = postfix\nquery = SELECT 1\n")
    assert "no Postfix main.cf parameter" in err.value.message
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, "myhostname = mx\nsmtp      inet  n  -  y  -  -  smtpd\n")
    assert err.value.line == 2
    assert "missing '='" in err.value.message
    with pytest.raises(ReaderError) as err:
        read_main(tmp_path, "  mynetworks = 192.0.2.0/24\n")
    assert err.value.line == 1


# --- mynetworks pattern file -------------------------------------------------------------------


def test_mynetworks_file(tmp_path: Path) -> None:
    path = tmp_path / "mynetworks"
    path.write_text("# trusted\n192.0.2.0/24 !192.0.2.0/25\n!198.51.100.7, 198.51.100.0/24\n")
    rs = read_file("postfix-mynetworks", path)
    assert verdict(rs, "192.0.2.1") == ("accept", 2)
    assert verdict(rs, "198.51.100.7") == ("drop", 3)
    assert verdict(rs, "198.51.100.8") == ("accept", 3)
    with pytest.raises(ReaderError, match="no pattern"):
        reader_for("postfix-mynetworks").parse(b"# nothing\n", ReadContext("x", "declared"))


# --- cidr_table(5) ---------------------------------------------------------------------------


CIDR_VERDICTS = [
    # DUNNO ends the search for its addresses: the REJECT after it never sees them
    ("192.0.2.9", ("return", 2)),
    ("192.0.5.1", ("drop", 3)),
    ("198.51.100.1", ("accept", 4)),
    ("198.51.100.7", ("accept", 4)),  # line 5 comes too late
    ("203.0.113.1", ("drop", 6)),  # 554 text
    ("203.0.114.1", ("conditional", 7)),  # PREPEND decides nothing
    ("2001:db8::1", ("accept", 8)),  # IPv6 without brackets, postscreen's `permit`
    ("10.2.0.1", ("accept", 10)),  # inside `if 10.0.0.0/8`, `!10.1.0.0/16`
    ("10.1.2.3", ("accept", 12)),  # not matched inside the block: on to line 12
    ("10.1.9.9", None),  # no line matches: no decision
    ("8.8.8.8", None),
    ("2001:db9::1", None),
]


@pytest.mark.parametrize(("address", "expected"), CIDR_VERDICTS)
def test_cidr_table_first_match(address: str, expected: tuple[str, int] | None) -> None:
    rs = read_file("postfix-cidr", FIXTURES / "client_access.cidr")
    assert verdict(rs, address) == expected


def test_cidr_table_result() -> None:
    rs = read_file("postfix-cidr", FIXTURES / "client_access.cidr")
    assert READERS["postfix-cidr"].ruleset
    assert rs.completeness is Completeness.PARTIAL  # the PREPEND line
    assert "PREPEND does not decide" in rs.reasons[0]
    (skipped,) = of_kind(rs, "skipped-rule")
    assert skipped.origin is not None and skipped.origin.line == 13
    assert "non-null host address bits in '10.0.0.5/8'" in skipped.message
    assert sorted((e.text, e.origin.line) for e in rs.entries) == [
        ("10.0.0.0/16", 10),
        ("10.1.2.3/32", 12),
        ("10.2.0.0-10.255.255.255", 10),
        ("198.51.100.0/24", 4),
        ("2001:db8::/32", 8),
    ]


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("OK", "accept"),
        ("ok trailing text", "accept"),
        ("RELAY", "accept"),
        ("permit", "accept"),
        ("1724266389", "accept"),  # all-numerical: treated as OK
        ("REJECT", "drop"),
        ("reject", "drop"),
        ("DEFER come back later", "drop"),
        ("550 5.7.1 no", "drop"),
        ("450 try later", "drop"),
        ("DUNNO", "return"),
        ("dunno", "return"),
        ("HOLD", "conditional"),
        ("FILTER smtp:[10.0.0.1]", "conditional"),
        ("WARN look", "conditional"),
        ("DEFER_IF_PERMIT x", "conditional"),
        ("permit_sasl_authenticated", "conditional"),
        ("some_restriction_class", "conditional"),
    ],
)
def test_access_actions(value: str, outcome: str) -> None:
    assert access_outcome(value)[0] == outcome


def test_numeric_code_alone_is_ok_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "t.cidr"
    path.write_text("192.0.2.0/24 554\n")
    rs = read_file("postfix-cidr", path)
    assert verdict(rs, "192.0.2.1") == ("accept", 1)
    (note,) = of_kind(rs, "numeric-result")
    assert "all-numerical" in note.message


def test_nested_if_blocks_and_family(tmp_path: Path) -> None:
    path = tmp_path / "t.cidr"
    path.write_text(
        "if 192.0.2.0/24\n"  # 1
        "if !192.0.2.0/25\n"  # 2
        "0.0.0.0/0 REJECT\n"  # 3: only 192.0.2.128/25 gets here
        "::/0 REJECT\n"  # 4: an IPv6 client never enters an IPv4 block
        "endif\n"  # 5
        "endif\n"  # 6
        "0.0.0.0/0 OK\n"  # 7
        "ENDIF\n"  # 8: without IF, skipped
        "IF 2001:db8::/32\n"  # 9: never closed: the block runs to the end
        "::/0 OK\n"  # 10
    )
    rs = read_file("postfix-cidr", path)
    assert verdict(rs, "192.0.2.200") == ("drop", 3)
    assert verdict(rs, "192.0.2.1") == ("accept", 7)
    assert verdict(rs, "198.51.100.1") == ("accept", 7)
    assert verdict(rs, "2001:db8::1") == ("accept", 10)
    assert verdict(rs, "2001:db9::1") is None
    assert [f.origin.line for f in of_kind(rs, "skipped-rule") if f.origin] == [8]
    assert [f.origin.line for f in of_kind(rs, "unclosed-if") if f.origin] == [9]


def test_continuation_line_in_a_cidr_table(tmp_path: Path) -> None:
    path = tmp_path / "t.cidr"
    path.write_text("192.0.2.0/24\n  REJECT spread over two lines\n")
    rs = read_file("postfix-cidr", path)
    assert verdict(rs, "192.0.2.1") == ("drop", 1)


def test_cidr_table_without_rules_is_an_error() -> None:
    with pytest.raises(ReaderError) as err:
        reader_for("postfix-cidr").parse(b"192.0.2.0/24\n", ReadContext("t.cidr", "declared"))
    assert err.value.line == 1
    assert "no lookup result" in err.value.message
    assert err.value.hint is not None and "192.0.2.0/24 OK" in err.value.hint
    with pytest.raises(ReaderError, match="no rule"):
        reader_for("postfix-cidr").parse(b"# empty\n", ReadContext("t.cidr", "declared"))


# --- detection ---------------------------------------------------------------------------------


def test_detection() -> None:
    main = (FIXTURES / "main.cf").read_bytes()
    assert detect_format("main.cf", main) == "postfix-main-cf"
    assert detect_format("-", main) == "postfix-main-cf"  # by content
    assert detect_format("main", (FIXTURES / "no-mynetworks.cf").read_bytes()) == (
        "postfix-main-cf"
    )
    table = (FIXTURES / "client_access.cidr").read_bytes()
    assert detect_format("client_access", table) == "postfix-cidr"
    assert detect_format("-", b"192.0.2.0/24 OK\n2001:db8::/32 permit # x\n") == "postfix-cidr"


@pytest.mark.parametrize(
    "data",
    [
        b"192.0.2.0/24\n198.51.100.0/24\n",
        b"192.0.2.0/24 # office\n",
        b"192.0.2.0/24 ; office\n",
        b"- 192.0.2.0/24\n",
        b"name = value\n",
        b"",
    ],
)
def test_plain_lists_are_not_sniffed_as_postfix(data: bytes) -> None:
    assert not sniff_cidr(data)
    assert not sniff_main_cf(data)


def test_every_fixture_is_claimed_by_one_sniffer_at_most() -> None:
    root = FIXTURES.parent
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        claimed = [name for name, cls in READERS.items() if cls.sniff(path.read_bytes())]
        assert len(claimed) <= 1, (path, claimed)


# --- corpus ------------------------------------------------------------------------------------

# dict_cidr.ref of the Postfix sources: what `postmap -q` returns for the test map, as lines
TESTMAP_LOOKUPS = {
    "172.16.0.0": 1,
    "172.16.0.1": 1,
    "172.16.7.255": 1,
    "172.16.8.1": 2,
    "172.16.17.1": 3,
    "172.17.1.1": 4,
    "172.17.1.2": 39,
    "2001:240:5c7:0:2d0:b7ff:fe88:2ca7": 36,
    "2001:240:5c7:0:2d0:b7ff:febe:ca9f": 37,
    "1.1.1.1": 39,
    "1:1:1:1:1:1:1:1": 41,
    "1.2.3.3": 21,
    "1.2.3.4": 13,
    "1.2.3.5": 14,
    "1.2.3.6": 15,
    "1.2.3.7": 16,
    "1.2.3.8": 22,
    "::f3": 33,
    "::f4": 26,
    "::f5": 27,
    "::f6": 28,
    "::f7": 29,
    "::f8": 34,
}
# ... and the lines Postfix warns about when it opens it ("skipping this rule")
TESTMAP_SKIPPED = [5, 6, 7, 8, 9, 38, 40, 42, 43, 44, 45, 46, 49, 50]

# What each corpus file leaves unsupported or reports (finding kind: lines), and how
# complete it is.
CORPUS_FILES: dict[str, tuple[str, Completeness, dict[str, list[int]]]] = {
    "postfix-cidr_mailcow_postscreen_access_2024-08.cidr": (
        "postfix-cidr",
        Completeness.COMPLETE,
        {},
    ),
    "postfix-cidr_mailcow_postscreen_access_2026-08.cidr": (
        "postfix-cidr",
        Completeness.COMPLETE,
        {},
    ),
    "postfix-cidr_postfix-src_dict_cidr_testmap.cidr": (
        "postfix-cidr",
        Completeness.PARTIAL,  # its results are test strings, not access(5) actions
        {"skipped-rule": TESTMAP_SKIPPED, "unclosed-if": [47, 48]},
    ),
    "postfix-main.cf_mailcow.cf": (
        "postfix-main-cf",
        Completeness.PARTIAL,  # no mynetworks: mynetworks_style = subnet and the interfaces
        {"redefined": [88], "client-access-table": [36, 37, 38]},
    ),
    "postfix-mynetworks_open-mail-relay.txt": ("postfix-mynetworks", Completeness.COMPLETE, {}),
}


def _corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"corpus file {path} is not present")
    return path


@pytest.mark.parametrize("name", sorted(CORPUS_FILES))
def test_corpus_files_parse(name: str) -> None:
    path = _corpus(name)
    fmt, completeness, expected = CORPUS_FILES[name]
    rs = read_file(fmt, path)
    assert rs.completeness is completeness
    found: dict[str, list[int]] = {}
    for f in rs.findings:
        found.setdefault(f.kind, []).append(f.origin.line if f.origin and f.origin.line else 0)
    assert found == expected


def test_corpus_listing_of_postfix_files_is_complete() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus {CORPUS} is not present")
    present = {p.name for p in CORPUS.iterdir() if p.name.startswith("postfix-")}
    assert present == set(CORPUS_FILES)


@pytest.mark.parametrize("name", sorted(n for n in CORPUS_FILES if "mailcow_postscreen" in n))
def test_corpus_postscreen_tables_are_all_permit(name: str) -> None:
    path = _corpus(name)
    table = parse_cidr_table(path.read_text())
    rs = read_file("postfix-cidr", path)
    assert {access_outcome(r.value)[0] for r in table.rules} == {"accept"}
    assert {s.outcome for v in rs.verdicts for s in v.segments} == {"accept"}
    # a trailing "# comment" after the action does not change it
    assert any("#" in r.value for r in table.rules)


def test_corpus_testmap_matches_postfix_reference() -> None:
    rs = read_file("postfix-cidr", _corpus("postfix-cidr_postfix-src_dict_cidr_testmap.cidr"))
    for address, line in TESTMAP_LOOKUPS.items():
        got = verdict(rs, address)
        assert got is not None and got[1] == line, address


def test_corpus_main_cf_points_at_the_postscreen_tables() -> None:
    rs = read_file("postfix-main-cf", _corpus("postfix-main.cf_mailcow.cf"))
    messages = [f.message for f in of_kind(rs, "client-access-table")]
    assert any("cidr:/opt/postfix/conf/postscreen_access.cidr" in m for m in messages)
    assert "mynetworks_style = subnet" in rs.reasons[0]


# --- postconf output: the mynetworks Postfix computed ------------------------------------------

POSTCONF = shutil.which("postconf") or (
    "/usr/sbin/postconf" if Path("/usr/sbin/postconf").exists() else None
)


def postconf(config: Path, *args: str) -> bytes:
    """What the real postconf prints for the main.cf in ``config`` (no running Postfix needed)."""
    if POSTCONF is None:
        pytest.skip("postconf (Debian package postfix) is not installed")
    done = subprocess.run(  # noqa: S603 (a fixed binary, arguments from the test)
        [POSTCONF, "-c", str(config), *args], capture_output=True, check=True
    )
    return done.stdout


def test_without_mynetworks_the_finding_says_to_give_postconf_output() -> None:
    rs = read_file("postfix-main-cf", FIXTURES / "no-mynetworks.cf")
    assert "postconf -x mynetworks > mynetworks.postconf" in rs.reasons[0]


@pytest.mark.parametrize("args", [("-x", "mynetworks"), ()], ids=["mynetworks", "full"])
def test_postconf_output_is_the_computed_mynetworks(tmp_path: Path, args: tuple[str, ...]) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    # no mynetworks: Postfix computes it from mynetworks_style and the interfaces
    (config / "main.cf").write_text("myhostname = mx.example.org\nmynetworks_style = host\n")
    printed = postconf(config, *args)
    line = postconf(config, "-x", "mynetworks").decode()
    assert line.startswith("mynetworks = ")
    out = tmp_path / "mynetworks.postconf"
    out.write_bytes(printed)
    assert detect_format(str(out), printed) == "postconf"
    assert detect_format("-", printed) == "postconf"
    rs = read_file("postconf", out)
    assert rs.completeness is Completeness.COMPLETE, rs.reasons
    computed = [
        t if "[" not in t else t.replace("[", "").replace("]", "") for t in line.split()[2:]
    ]
    assert rs.space == ipspace.IPSpace.from_text(computed)
    assert "127.0.0.1/32" in computed  # the loopback is always among the host's networks
    (note,) = of_kind(rs, "postconf-output")
    assert note.severity is Severity.INFO
    assert "computed" in note.message
    assert (
        note.origin is not None
        and note.origin.line == printed.decode().split("\n").index(line.rstrip("\n")) + 1
    )
    # under any name (a .cf suffix, standard input) it is still read as postconf output
    cf = tmp_path / "mynetworks.cf"
    cf.write_bytes(printed)
    rs = read_file("postfix-main-cf", cf)
    assert rs.completeness is Completeness.COMPLETE
    assert of_kind(rs, "postconf-output")


def test_postconf_mynetworks_with_references_expanded_or_not(tmp_path: Path) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    (config / "main.cf").write_text(
        "myhostname = mx\nextra = 192.0.2.0/24\nmynetworks = 10.0.0.0/8 $extra\n"
    )
    raw = postconf(config, "mynetworks")  # postconf without -x prints $extra as written
    path = tmp_path / "raw.postconf"
    path.write_bytes(raw)
    rs = read_file("postconf", path)
    assert rs.completeness is Completeness.PARTIAL
    assert "postconf -x" in " ".join(f.message for f in of_kind(rs, "postconf-output"))
    path.write_bytes(postconf(config, "-x", "mynetworks"))
    rs = read_file("postconf", path)
    assert rs.completeness is Completeness.COMPLETE
    assert rs.space == ipspace.IPSpace.from_text(["10.0.0.0/8", "192.0.2.0/24"])


def test_postconf_format_needs_mynetworks() -> None:
    with pytest.raises(ReaderError, match="postconf -x mynetworks"):
        reader_for("postconf").parse(b"myhostname = mx\n", ReadContext("p", "declared"))


@pytest.mark.parametrize(
    "data",
    [
        b"# the trusted networks\nmynetworks = 192.0.2.0/24\n",  # a comment: written by hand
        b"myhostname = mx\nmynetworks = 192.0.2.0/24\n",  # other parameters, no mail_version
    ],
)
def test_a_main_cf_is_not_taken_for_postconf_output(data: bytes) -> None:
    assert detect_format("-", data) == "postfix-main-cf"
    rs = reader_for("postfix-main-cf").parse(data, ReadContext("main.cf", "declared"))
    assert not of_kind(rs, "postconf-output")
