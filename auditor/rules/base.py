"""The rule-generator interface, its options, and the family's registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from auditor.model import MissingBlock, RangeSet
from auditor.registry import Registry
from auditor.service import Service


@dataclass(frozen=True)
class RuleOptions:
    service: Service
    chain: str = "INPUT"
    declared: tuple[RangeSet, ...] = field(default=(), compare=False)
    """The declared sources the blocks are missing from: a ruleset among them says which
    chains decide, and the rules go there (:mod:`auditor.rules.placement`)."""


class Generator:
    """One platform. Capabilities are class attributes; options are checked before rendering."""

    name: ClassVar[str]
    description: ClassVar[str]
    families: ClassVar[tuple[int, ...]] = (4, 6)
    max_comment_len: ClassVar[int] = 0
    max_name_len: ClassVar[int] = 0

    def check(self, options: RuleOptions) -> None:
        """Raise UsageError for an option this platform cannot express."""

    def render(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        raise NotImplementedError

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        """The blocks the rules cannot let in, each with why (empty when they all can)."""
        return []


GENERATORS: Registry[Generator] = Registry(
    "rule platform",
    {
        "iptables": "auditor.rules.iptables:IptablesGenerator",
        "nftables": "auditor.rules.nftables:NftablesGenerator",
    },
    {"nft": "nftables", "ip6tables": "iptables"},
)


def generator_for(name: str) -> Generator:
    """A generator by name, in any case; ``nft`` is nftables."""
    return GENERATORS.create(name)
