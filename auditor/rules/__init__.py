"""Rule generators, one module per platform."""

from auditor.rules import iptables, nftables
from auditor.rules.base import GENERATORS, Generator, RuleOptions, generator_for

__all__ = ["GENERATORS", "Generator", "RuleOptions", "generator_for", "iptables", "nftables"]
