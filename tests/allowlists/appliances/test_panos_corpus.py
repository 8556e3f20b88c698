"""Every PAN-OS file of the shared corpus: read (what is conditional or unsupported listed
per file), or refused with a clear error where the device would refuse it too."""

from __future__ import annotations

import pytest

from auditor.errors import InputError

from .panos_helpers import corpus, read

CORPUS = corpus()
needs_corpus = pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not present")

# file: (--chain, completeness or the error, what the reasons and findings must name)
FILES: dict[str, tuple[str | None, str, tuple[str, ...]]] = {
    "panos-show_ntc_show_running_security-policy.txt": (
        None, "error", ("looks like PAN-OS `show running security-policy` output",)),
    "panos-xml_aerleon_sample_paloalto.xml": (
        "external:internal", "partial", ("allow-icmp", "application icmp")),
    "panos-xml_aerleon_stateful_multitarget_complex.xml": ("untrust:external", "complete", ()),
    "panos-xml_aerleon_stateful_multitarget_simple.xml": ("external:internal", "complete", ()),
    "panos-xml_pan-os-php_firewall_stage00.xml": ("untrust:trust", "complete", ()),
    "panos-xml_pan-os-php_panorama-10.0-merger.xml": ("external:internal", "complete", ()),
    "panos-xml_pan-os-php_panorama-8.1.xml": ("external:internal", "complete", ()),
    "panos_batfish_address-group-dynamic.txt": (None, "partial", ("the zone pair decides",)),
    "panos_batfish_address-groups-nested.txt": (
        None, "error", ("address groups nest in a loop: group1 -> group0 -> group2 -> group0",)),
    "panos_batfish_address-groups.txt": (None, "partial", ("the zone pair decides",)),
    "panos_batfish_address-objects.txt": (None, "partial", ("the zone pair decides",)),
    "panos_batfish_config-filesystem-format.txt": (None, "partial", ("the zone pair decides",)),
    "panos_batfish_external-list.txt": (
        "OUTSIDE:OUTSIDE", "partial",
        ("external dynamic list MY_LIST", "no application", "MYRULE: no action")),
    "panos_batfish_ignored-lines.txt": (
        None, "partial", ("category streaming", "RULE1: no action")),
    "panos_batfish_panorama-rulebase.txt": ("z1:z2", "complete", ()),
    "panos_batfish_rulebase-iprange.txt": (
        "z1:z2", "error", (":9: address range '11.11.11.13-11.11.11.12' is not valid",)),
    "panos_batfish_rulebase.txt": ("z1:z2", "complete", ()),
    "panos_batfish_security-rules.txt": ("z1:z2", "complete", ()),
    "panos_batfish_shared-rulebase.txt": ("Z2:Z1", "partial", ("PRE_SECURITY", "no service")),
    "panos_batfish_show-config.txt": (None, "error", ("no vsys, device group or shared rules",)),
}  # fmt: skip


@needs_corpus
def test_every_panos_file_is_listed() -> None:
    assert CORPUS is not None
    assert sorted(p.name for p in CORPUS.glob("panos*")) == sorted(FILES)


@needs_corpus
@pytest.mark.parametrize("name", sorted(FILES))
def test_corpus_file(name: str) -> None:
    assert CORPUS is not None
    chain, want, named = FILES[name]
    data = (CORPUS / name).read_bytes()
    if want == "error":
        with pytest.raises(InputError) as info:
            read(data, chain=chain, name=name)
        for text in named:
            assert text in str(info.value)
        return
    rs = read(data, chain=chain, name=name)
    assert rs.completeness.value == want
    said = " ".join([*rs.reasons, *(f.message for f in rs.findings)])
    for text in named:
        assert text in said, said


@needs_corpus
def test_corpus_verdicts_follow_the_rules() -> None:
    """batfish's rulebase tests say what they expect in their comments: pre-rules allow
    service 1, rules deny 1 and 2, post-rules allow 2 and 3."""
    assert CORPUS is not None
    data = (CORPUS / "panos_batfish_panorama-rulebase.txt").read_bytes()
    got = {}
    for port in (1001, 1002, 1003, 1004):
        rs = read(data, chain="z1:z2", service=f"tcp/{port}", name="p.txt")
        got[port] = rs.verdicts[0].segments[0].outcome
    assert got == {1001: "accept", 1002: "drop", 1003: "accept", 1004: "drop"}
