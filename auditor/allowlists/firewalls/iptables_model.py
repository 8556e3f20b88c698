"""The rules of an ``iptables-save`` / ``ip6tables-save`` export, as the parser reads them
(see :mod:`auditor.allowlists.firewalls.iptables_save`): tables of chains with their policies,
and each rule's matches and target, with whether it can match a NEW connection at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.model import Finding

# Protocols a rule may name without touching TCP or UDP traffic (libxtables' names).
_OTHER_PROTOCOLS = frozenset(
    {"icmp", "ipv6-icmp", "icmpv6", "sctp", "udplite", "gre", "esp", "ah", "mh", "ipv6-mh"}
)


@dataclass(frozen=True)
class PortTest:
    """``--dport`` / ``--dports`` (``either`` False) or ``--ports`` (source or destination)."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False
    either: bool = False


@dataclass(slots=True)  # an export may hold 100,000 rules
class Rule:
    chain: str
    line: int
    text: str
    target: str | None = None
    goto: bool = False
    target_args: tuple[str, ...] = ()
    protocol: str | None = None
    protocol_negated: bool = False
    sources: tuple[tuple[int, int], ...] | None = None
    """None: any source."""
    destinations: tuple[tuple[int, int], ...] | None = None
    ports: list[PortTest] = field(default_factory=list)
    new_ok: bool = True
    """False when the rule can never match the first packet of a new connection: a state
    match without NEW, ``! --syn``, ``-f``, ``-i lo``, a destination other than ``--to``."""
    why: list[str] = field(default_factory=list)
    """Conditions the export cannot settle; non-empty makes the rule conditional."""
    family: int | None = None
    """``-4`` / ``-6``: the only family whose restore keeps the rule."""
    source_ports: list[PortTest] = field(default_factory=list)
    """``--sport`` and the like: decided once (see
    :func:`auditor.ruleset.sweep.client_ports`), kept for ``-D``."""

    def key(self) -> tuple[object, ...]:
        """What ``-D CHAIN rule`` compares: the rule's meaning, not its spelling or position."""
        return (
            self.target,
            self.goto,
            self.target_args,
            self.protocol,
            self.protocol_negated,
            self.sources,
            self.destinations,
            self.ports,
            self.source_ports,
            self.new_ok,
            self.why,
            self.family,
        )


@dataclass
class Table:
    chains: dict[str, list[Rule]] = field(default_factory=dict)
    policies: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    """Built-in chain: (policy, line, text)."""


@dataclass
class Ruleset:
    family: int
    tables: dict[str, Table] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def chains(self) -> dict[str, list[Rule]]:
        """The filter table's chains."""
        return self.tables["filter"].chains if "filter" in self.tables else {}

    @property
    def policies(self) -> dict[str, tuple[str, int, str]]:
        return self.tables["filter"].policies if "filter" in self.tables else {}
