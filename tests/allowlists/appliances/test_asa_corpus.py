"""Every Cisco ASA file of the shared corpus (../shared/corpus/firewall/cisco-asa*): the
configurations read (with the interface or access list and server address each needs), and
what each leaves conditional or unsupported is listed; the ``show`` command outputs are
refused with what to give instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.allowlists.appliances.fronts import AsaReader
from auditor.allowlists.base import ReadContext
from auditor.errors import InputError
from auditor.sources import files


def _corpus() -> Path | None:
    here = Path(__file__).resolve().parents[3]
    for parent in (here, *here.parents):
        if (parent / "shared" / "corpus" / "firewall").is_dir():
            return parent / "shared" / "corpus" / "firewall"
    return None


CORPUS = _corpus()
pytestmark = pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not present")

# file (without cisco-asa_) -> (--chain, --to, completeness, what is conditional, findings)
CASES = {
    "aerleon_sample_multitarget.asa": (
        "asa_in", None, "partial", "deny ip any 10.0.0.0 255.0.0.0 [destination", ["unbound"]
    ),
    "batfish_aclAsa.cfg": (
        None, None, "partial", "[destination 4.3.0.0/16", ["host-bits", "host-bits", "unbound"]
    ),
    "batfish_asa-acl-object.cfg": ("acl1", None, "complete", "", ["unbound"]),
    "batfish_asa-filters-global.cfg": (None, None, "complete", "", []),
    "batfish_asa-filters.cfg": ("name1", "192.168.3.10", "complete", "", []),
    "batfish_asa-gh-5875.cfg": (None, None, "partial", "binds no access list", []),
    "batfish_asa-nat-object-refs.cfg": ("outside", "1.0.0.25", "complete", "", ["nat"]),
    "batfish_asa-nested-network-object-group.cfg": (
        None, None, "partial", "binds no access list", ["undefined", "unsupported"]
    ),
    "batfish_asa-nested-service-object-group.cfg": (
        None, None, "partial", "binds no access list", ["unsupported", "unsupported"]
    ),
    "batfish_asa-security-level.cfg": (
        "some-trust", None, "partial", "allowed to outside (1); give --to", []
    ),
    "batfish_asa-service-object.cfg": (None, None, "partial", "binds no access list", []),
    "batfish_network-object.cfg": (None, None, "partial", "binds no access list", ["undefined"]),
    "batfish_unit_asa_acl.cfg": ("outside_in", "1.2.3.4", "complete", "", ["unbound"]),
    "batfish_unit_asa_object_groups.cfg": (
        None, None, "partial", "object server02 [destination 192.168.126.64/32", ["unbound"]
    ),
    "ciscoconfparse_sample_01.asa": ("OUTSIDE", None, "complete", "", ["nat"]),
    "ntc_show_running-config_object_network.cfg": (
        None, None, "partial", "binds no access list", []
    ),
}  # fmt: skip


def test_every_configuration_has_a_case() -> None:
    assert CORPUS is not None
    assert {p.name.removeprefix("cisco-asa_") for p in CORPUS.glob("cisco-asa_*")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_configuration_reads(name: str) -> None:
    assert CORPUS is not None
    path = CORPUS / f"cisco-asa_{name}"
    chain, to, completeness, conditional, kinds = CASES[name]
    data = path.read_bytes()
    assert files.detect_format(path.name, data) == "asa"
    rs = AsaReader().parse(data, ReadContext(path.name, "declared", chain=chain, to=to))
    assert rs.completeness.value == completeness
    assert (conditional in " ".join(rs.reasons)) if conditional else rs.reasons == ()
    assert sorted(f.kind for f in rs.findings) == kinds


def test_the_sample_running_config_decides_by_its_outside_list() -> None:
    assert CORPUS is not None
    path = CORPUS / "cisco-asa_ciscoconfparse_sample_01.asa"
    rs = AsaReader().parse(path.read_bytes(), ReadContext(path.name, "declared", chain="OUTSIDE"))
    [v4] = [v for v in rs.verdicts if v.family == 4]
    seg = v4.lookup(0x08080808)
    assert seg is not None and seg.outcome == "drop"
    assert seg.rule.text == "access-list OUTSIDE_in extended deny ip any4 any4 log"
    # the inside list names a group the configuration does not define
    with pytest.raises(InputError, match="TSUNAMI_addrs is not defined"):
        AsaReader().parse(path.read_bytes(), ReadContext(path.name, "declared", chain="INSIDE"))


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("cisco-asa-show_ntc_show_access-list.txt", "`show access-list` output"),
        ("cisco-asa-show_ntc_show_access-list_update2.txt", "`show access-list` output"),
        ("cisco-asa-show_ntc_show_object-group_network.txt", "Cisco configuration"),
    ],
)
def test_show_outputs_are_refused_with_a_hint(name: str, what: str) -> None:
    assert CORPUS is not None
    path = CORPUS / name
    with pytest.raises(InputError) as info:
        files.load(str(path), ReadContext(name, "declared"))
    assert f"looks like {what}" in str(info.value) or what in str(info.value)
    if "access-list" in what:
        assert "show running-config" in str(info.value.hint)
