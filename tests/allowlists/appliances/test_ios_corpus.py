"""Every Cisco IOS, IOS XR and NX-OS file of the public corpus (../shared/corpus/firewall,
MANIFEST.md) is read, or, for the ``show ...`` command outputs, refused with what to give
instead; per file, what was found conditional or unsupported."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.errors import InputError
from auditor.service import Service
from auditor.sources import files
from auditor.sources.files import detect_format


def _corpus() -> Path | None:
    here = Path(__file__).resolve().parents[3]
    for parent in (here, *here.parents):
        if (parent / "shared" / "corpus" / "firewall").is_dir():
            return parent / "shared" / "corpus" / "firewall"
    return None


CORPUS = _corpus()
needs_corpus = pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not present")
PREFIXES = ("cisco-ios", "cisco-nxos")

# name: (--chain, detected format, what is evaluated, lines of the rules that make
# addresses conditional for tcp/25, lines reported unsupported)
READ = {
    "cisco-ios_aerleon_sample_cisco_lab.acl": (
        None, "ios", "access list allowtointernet", [35], []
    ),
    "cisco-ios_aerleon_sample_multitarget.acl": (
        "edge-inbound", "ios", "access list edge-inbound", [38], []
    ),
    # ASA-style "access-list acl extended ..." alone: not claimed, read with --format ios
    # ASA-style `access-list NAME extended` lines with wildcard masks: taken for an ASA
    # configuration by content (whose reader then names the wildcard mask and --format ios)
    "cisco-ios_batfish_aclIos.cfg": (None, "asa", "access list acl", [7], []),
    "cisco-ios_batfish_example_as1border1.cfg": ("101", "ios", "access list 101", [131, 132], []),
    "cisco-ios_batfish_example_as2border1.cfg": (
        None, "ios", "interface GigabitEthernet0/0 (access-list OUTSIDE_TO_INSIDE in)", [136], []
    ),
    "cisco-ios_batfish_ios-acl-object-group.cfg": ("acl1", "ios", "access list acl1", [], []),
    "cisco-ios_batfish_ios-acl-portgroup.cfg": ("aclBase", "ios", "access list aclBase", [], []),
    # Ethernet2's out list (line 33) is not defined, and the server may be behind Ethernet2
    "cisco-ios_batfish_ios-acl.cfg": (
        "Ethernet1", "ios", "interface Ethernet1 (access-list AL_IF in)", [33], []
    ),
    "cisco-ios_batfish_ios-object-group-network.cfg": (
        None, "ios", "access list acl_wildcard", [], []
    ),
    "cisco-ios_batfish_ios-object-group-service.cfg": (
        "acl_reused", "ios", "access list acl_reused", [], []
    ),
    # "tracked" (an Arista word), "eq mlag" (no IOS port of that name): conditional
    "cisco-ios_batfish_unit_cisco_acl.cfg": (
        "BLAH-BLAH", "ios", "access list BLAH-BLAH", [6], [44, 6, 10, 11]
    ),
    # "permit esp host any any" is not IOS syntax
    "cisco-ios_ciscoconfparse_sample_01.ios": (
        "Dialer1", "ios", "interface Dialer1 (access-list EXT_IN in)", [348], [348]
    ),
    "cisco-ios_ciscoconfparse_sample_05_large.ios": (
        "ACL_00", "ios", "access list ACL_00", [6], []
    ),
    "cisco-ios_ciscoconfparse_sample_08.ios": (
        None, "ios", "interface Dialer1 (access-list EXT_IN in)", [453], [453]
    ),
    "cisco-ios_ntc_show_running-config_partition_access-list.cfg": (
        "sample", "ios", "access list sample", [], []
    ),
    "cisco-iosxr_aerleon_sample_multitarget.xacl": (
        None, "ios", "access list edge-inbound", [38], []
    ),
    "cisco-iosxr_batfish_unit_ios_xr_acl.cfg": ("ICMP", "ios", "access list ICMP", [], []),
    "cisco-iosxr_ciscoconfparse_sample_05.iosxr": (
        "ACL-IPV4-MGMT-ACCESS", "ios", "access list ACL-IPV4-MGMT-ACCESS", [], []
    ),
    "cisco-nxos_aerleon_sample_multitarget.nxacl": (
        None, "ios", "access list edge-inbound", [39], []
    ),
}  # fmt: skip

SHOW = [
    "cisco-ios-show_ntc_show_ip_access-lists_969.txt",
    "cisco-ios-show_ntc_show_ipv6_access-lists.txt",
    "cisco-ios-show_ntc_show_object-group.txt",
    "cisco-nxos-show_ntc_show_access-lists.txt",
]
# files of prefix lists only: no access list to evaluate
NO_ACL = ["cisco-ios_batfish_ios-prefix-list.cfg", "cisco-ios_batfish_prefix-list-seq.cfg"]


def _read(path: Path, chain: str | None) -> object:
    ctx = ReadContext(path.name, "declared", service=Service.parse("tcp/25"), chain=chain)
    return reader_for("ios").parse(path.read_bytes(), ctx)


@needs_corpus
@pytest.mark.parametrize("name", sorted(READ))
def test_corpus_configuration_reads(name: str) -> None:
    assert CORPUS is not None
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in this corpus")
    chain, detected, detail, conditional, unsupported = READ[name]
    assert detect_format(str(path), path.read_bytes()) == detected
    ctx = ReadContext(path.name, "declared", service=Service.parse("tcp/25"), chain=chain)
    rs = reader_for("ios").parse(path.read_bytes(), ctx)
    assert rs.info.detail == detail
    lines = sorted(
        {s.rule.origin.line for v in rs.verdicts for s in v.segments if s.outcome == "conditional"}
    )
    assert lines == conditional
    found = [f.message for f in rs.findings if f.kind == "unsupported"]
    assert [int(m.split(":")[1]) for m in found] == unsupported


@needs_corpus
@pytest.mark.parametrize("name", SHOW)
def test_corpus_show_output_is_refused_with_a_hint(name: str) -> None:
    assert CORPUS is not None
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in this corpus")
    with pytest.raises(ReaderError) as info:
        _read(path, None)
    assert "looks like the output of show access-lists" in str(info.value)
    assert "interface" in (info.value.hint or "")
    with pytest.raises(InputError) as refused:  # given without --format
        files.load(str(path), ReadContext(path.name, "declared"))
    assert "looks like the output of `show access-lists`" in str(refused.value)


@needs_corpus
def test_corpus_errors_name_the_line() -> None:
    assert CORPUS is not None
    path = CORPUS / "cisco-ios_batfish_ios-object-group-service.cfg"
    if not path.exists():
        pytest.skip("not in this corpus")
    with pytest.raises(ReaderError) as info:
        _read(path, "acl_used")
    assert info.value.line == 29 and "og-undef is not defined" in str(info.value)
    for name in NO_ACL:
        with pytest.raises(ReaderError, match="defines no IP access list"):
            _read(CORPUS / name, None)


@needs_corpus
def test_every_ios_corpus_file_is_listed() -> None:
    assert CORPUS is not None
    names = {p.name for p in CORPUS.iterdir() if p.name.startswith(PREFIXES)}
    assert names == set(READ) | set(SHOW) | set(NO_ACL)
