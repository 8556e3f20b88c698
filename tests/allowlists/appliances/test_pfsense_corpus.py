"""Every pfSense/OPNsense config.xml of the shared corpus reads on every interface, and what
each makes conditional or lists as unsupported is the real finding of that file."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.allowlists import ReadContext
from auditor.allowlists.appliances.pfsense_config import interfaces, parse_xml
from auditor.service import Service
from auditor.sources import files


def _corpus() -> Path | None:
    here = Path(__file__).resolve().parents[3]
    for parent in (here, *here.parents):
        if (parent / "shared" / "corpus" / "firewall").is_dir():
            return parent / "shared" / "corpus" / "firewall"
    return None


CORPUS = _corpus()
needs_corpus = pytest.mark.skipif(CORPUS is None, reason="the shared corpus is not present")

BOGONS = "wan blocks bogon networks: conditional for the reserved ranges every bogon list holds"
# (file, interface) -> what it lists as unsupported; every other interface lists nothing
FOUND = {
    ("pfsense-config_opndossier_config-pfSense.xml", "wan"): [
        BOGONS,
        "filter/rule[1]: matches packets tagged MULLVAD_NO_WAN_EGRESS by another rule",
    ],
    ("pfsense-config_pfsensible_alias_config.xml", "wan"): [BOGONS],
    ("pfsense-config_pfsensible_rule_config.xml", "wan"): [BOGONS],
    ("pfsense-config_pfsensible_rule_config.xml", "opt3"): [
        "filter/rule[2]: schedule workdays (the time of day is not known)",
        "filter/rule[10]: any TCP flags (not only a connection's first packet)",
    ],
    ("opnsense-config_opndossier_opnsense-aliases.xml", "wan"): [BOGONS],
    ("opnsense-config_opndossier_sample.config.6.xml", "wan"): [BOGONS],
    ("opnsense-config_opndossier_sample.config.7.xml", "wan"): [BOGONS],
}
# (file, interface) -> IPv4 addresses allowed to tcp/25 where not none
ALLOWED = {
    # wan passes tcp from any (conditional only on the bogon ranges)
    ("pfsense-config_pfsensible_rule_config.xml", "wan"): 3741121536,
}
# (file, interface) -> why some addresses are conditional; every other interface is complete
PARTIAL = {
    ("pfsense-config_pfsensible_rule_config.xml", "wan"): "Block bogon networks on wan",
    ("opnsense-config_opndossier_opnsense-aliases.xml", "lan"): "the lan IPv6 address is 'track6'",
}


def _paths() -> list[Path]:
    assert CORPUS is not None
    return sorted(
        p for p in CORPUS.iterdir() if p.name.startswith(("pfsense-config_", "opnsense-config_"))
    )


@needs_corpus
def test_every_corpus_config_reads_on_every_interface() -> None:
    seen: set[tuple[str, str]] = set()
    paths = _paths()
    assert len(paths) >= 7
    for path in paths:
        data = path.read_bytes()
        assert files.detect_format(str(path), data) == "pfsense", path.name
        chains = list(interfaces(parse_xml(data, ReadContext(path.name, "declared")))) or [None]
        for chain in chains:
            ctx = ReadContext(path.name, "declared", service=Service.parse("tcp/25"), chain=chain)
            rs = files.load(str(path), ctx)
            key = (path.name, chain or "wan")
            seen.add(key)
            unsupported = [
                f.message.split(": ", 1)[1] for f in rs.findings if f.kind == "unsupported"
            ]
            assert unsupported == FOUND.get(key, []), key
            assert rs.space.size(4) == ALLOWED.get(key, rs.space.size(4)), key
            assert (rs.completeness.value == "partial") == (key in PARTIAL), key
            if key in PARTIAL:
                assert PARTIAL[key] in rs.reasons[0], key
    assert set(FOUND) <= seen


@needs_corpus
def test_corpus_lan_rules_pass_the_lan_network() -> None:
    path = CORPUS / "opnsense-config_opndossier_opnsense-aliases.xml"  # type: ignore[operator]
    ctx = ReadContext(path.name, "declared", chain="lan", to="198.51.100.1")
    rs = files.load(str(path), ctx)
    assert rs.space.size(4) == 256  # lan (192.168.1.0/24) to any
    v6 = [s.outcome for v in rs.verdicts if v.family == 6 for s in v.segments]
    assert "accept" not in v6 and "conditional" in v6  # the delegated prefix is not known
    assert {"WEB_SERVERS", "ALL_SERVERS", "MIXED_TYPES"} <= set(rs.scope_entries.groups)
