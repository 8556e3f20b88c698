"""The nftables readers against the kernel: every verdict they give must be what netfilter does.

For each ruleset (the fixtures in tests/fixtures/firewall/ and the public corpus files the
kernel accepts) the reader evaluates the input hook for a service, and the harness (netns.py)
loads the same file with ``nft -f`` in a network namespace and connects from sample source
addresses. An address the reader calls ``accept`` must connect and one it calls ``drop`` must
not; addresses it calls ``conditional`` (the export does not settle them) are left out and
counted. The JSON fixtures are ``nft -j list ruleset`` of the same rulesets, so the JSON reader
is held to the same kernel.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.service import Service

from .netns import SERVER, RulesetLoadError, kernel_verdicts, require, sample_addresses

FIXTURES = Path(__file__).parent.parent / "fixtures" / "firewall"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "firewall"

# Fixtures audited for more than tcp/25.
PORTS = {"nft_policy-accept.nft": (25, 587), "nft_sets.nft": (25, 110)}


@dataclass(frozen=True)
class Case:
    path: Path
    port: int = 25
    fmt: str = "nftables"

    @property
    def id(self) -> str:
        return f"{self.path.name}-tcp{self.port}"

    @property
    def loaded(self) -> Path:
        """The file nft -f loads: a JSON fixture is the listing of its text twin."""
        return self.path.with_suffix("") if self.fmt == "nftables-json" else self.path


def fixture_cases() -> list[Case]:
    out = []
    for path in sorted(FIXTURES.glob("nft_*.nft")):
        for port in PORTS.get(path.name, (25,)):
            out.append(Case(path, port))
            json_twin = path.with_name(path.name + ".json")
            if json_twin.is_file():
                out.append(Case(json_twin, port, "nftables-json"))
    return out


def corpus_cases() -> list[Case]:
    if not CORPUS.is_dir():
        return []
    return [Case(p) for p in sorted(CORPUS.glob("nft-ruleset_*"))]


@dataclass(frozen=True)
class Comparison:
    compared: int
    conditional: int
    families: tuple[int, ...]
    mismatches: tuple[str, ...]

    def message(self, case: Case) -> str:
        shown = "\n  ".join(self.mismatches[:20])
        return (
            f"{case.id} ({case.fmt}): {len(self.mismatches)} of {self.compared} compared"
            f" addresses disagree with the kernel ({self.conditional} conditional, not"
            f" compared):\n  {shown}"
        )


def compare(case: Case) -> Comparison:
    """The reader's verdict for every sample address of the families the ruleset covers, next
    to what the kernel did; the service's address is given as --to, per family."""
    text = case.loaded.read_text(encoding="utf-8")
    data = case.path.read_bytes()
    verdicts = {}
    for family in (4, 6):
        ctx = ReadContext(
            case.path.name,
            "declared",
            service=Service.parse(f"tcp/{case.port}"),
            chain="INPUT",
            to=SERVER[family],
        )
        declared = reader_for(case.fmt).parse(data, ctx)
        verdicts.update({v.family: v for v in declared.verdicts if v.family == family})
    sources = {f: sample_addresses(text, f) for f in verdicts}
    everything = [a for f in sorted(sources) for a in sources[f]]
    kernel = kernel_verdicts({4: case.loaded, 6: case.loaded}, "nft", case.port, everything)
    mismatches = []
    conditional = 0
    for family, addresses in sorted(sources.items()):
        for address in addresses:
            segment = verdicts[family].lookup(int(ipaddress.ip_address(address)))
            outcome = segment.outcome if segment else "no verdict"
            if outcome == "conditional":
                conditional += 1
                continue
            if (outcome == "accept") != kernel[address]:
                rule = segment.rule.describe() if segment else "-"
                said = "connected" if kernel[address] else "did not connect"
                mismatches.append(f"{address}: reader {outcome} ({rule}); kernel {said}")
    return Comparison(
        len(everything) - conditional, conditional, tuple(sorted(verdicts)), tuple(mismatches)
    )


@pytest.mark.parametrize("case", fixture_cases(), ids=lambda c: f"{c.id}-{c.fmt}")
def test_fixture_verdicts_match_the_kernel(case: Case) -> None:
    require("nft")
    result = compare(case)
    assert not result.mismatches, result.message(case)
    assert result.compared >= 20, f"{case.id}: only {result.compared} addresses compared"


def test_a_family_not_covered_is_left_to_the_kernel() -> None:
    """The ip-only fixture does not speak for IPv6: nothing in it filters IPv6, and the kernel
    lets every IPv6 source in (which is why "not covered" is not "denied")."""
    require("nft")
    path = FIXTURES / "nft_ip-only.nft"
    declared = reader_for("nftables").parse(path.read_bytes(), ReadContext(path.name, "declared"))
    assert declared.families == (4,)
    sources = sample_addresses(path.read_text(encoding="utf-8"), 6)
    assert all(kernel_verdicts({4: path}, "nft", 25, sources).values())


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda c: c.id)
def test_corpus_verdicts_match_the_kernel(case: Case) -> None:
    require("nft")
    try:
        result = compare(case)
    except RulesetLoadError as e:
        pytest.skip(f"the kernel refuses it: {str(e).splitlines()[0]}")
    except ReaderError as e:
        pytest.skip(f"the reader finds nothing to audit: {e}")
    assert not result.mismatches, result.message(case)


def test_corpus_is_there_or_skipped() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the public corpus is not at {CORPUS}")
    assert corpus_cases(), f"no nft-ruleset file in {CORPUS}"
