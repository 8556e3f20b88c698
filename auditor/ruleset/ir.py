"""The ruleset intermediate form: what every ruleset reader parses its format into.

A firewall export, a security group, a web server's ``allow``/``deny`` lines and a Postfix
access table all say, rule by rule, what happens to a connection. Each reader only parses its
format and lowers it, per address family, into a :class:`Ruleset`:

- named :class:`Chain` s of ordered :class:`Rule` s; a rule says what it matches (source
  addresses, the traffic: protocols and ports, the packet's context such as the connection
  state at that hook, and conditions the export does not show) and what it does
  (:class:`Action`: accept, drop, return, jump, goto, or an outcome the export cannot settle);
- a chain ends in its policy (a base chain: accept or drop) or returns to its caller;
- :class:`Gate` s: the base chains a packet crosses on its way in, in the order it meets them
  (a hook and priority order, or a fixed table order), each with the context it is evaluated in.

:mod:`auditor.ruleset.engine` evaluates the form for a service, every source address at once.
Intervals are ``(first, last)`` pairs of integers, inclusive, sorted and disjoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from auditor.model import Outcome, RuleRef, Stage

Interval = tuple[int, int]

ActionKind = Literal["accept", "drop", "return", "jump", "goto", "opaque"]


@dataclass(frozen=True)
class Ports:
    """A port match: the listed ranges, or (``negated``) every port outside them."""

    ranges: tuple[Interval, ...]
    negated: bool = False

    def holds(self, port: int) -> bool:
        inside = any(a <= port <= b for a, b in self.ranges)
        return inside != self.negated


@dataclass(frozen=True)
class Traffic:
    """What a rule matches besides addresses: every field must hold (a conjunction)."""

    protocols: frozenset[str] | None = None
    """Protocol names (``tcp``, ``udp``, ``icmp``, ...); None: every protocol."""
    negated: bool = False
    """The protocols are the ones *not* listed."""
    dports: tuple[Ports, ...] = ()
    """Destination-port matches, each of which must hold."""
    sports: tuple[Ports, ...] = ()
    """Source-port matches: judged against the ports a client connects from
    (:func:`auditor.ruleset.sweep.client_ports`)."""
    either: tuple[Ports, ...] = ()
    """Matches on the source *or* the destination port (iptables ``--ports``)."""
    whys: tuple[str, ...] = ()
    """Which connections the rule matches depends on something the export does not show (an
    application profile, a service definition): conditional for a port, and a match on only
    some connections for ``--service any``."""

    @property
    def narrow(self) -> bool:
        """Whether the rule can match only some connections of an address."""
        return bool(
            self.protocols is not None or self.dports or self.either or self.whys or self.sports
        )


EVERY = Traffic()
"""Every protocol and port."""


@dataclass(frozen=True)
class Action:
    """What a rule does to a connection it matches."""

    kind: ActionKind
    target: str = ""
    """The chain of a jump or goto."""
    unsure: str = ""
    """Non-empty: even a match does not settle the outcome (a rate limit, a queue, a rewrite),
    which is then conditional, with this reason. ``opaque`` always carries one."""
    bypass: bool = False
    """The rule may give the packet a new destination: the gates after this one may never see
    it, so their drops do not decide."""


ACCEPT = Action("accept")
DROP = Action("drop")
RETURN = Action("return")


@dataclass(frozen=True)
class When:
    """A match on the packet's context at the gate (``ct_state`` is ``new`` at the input hook
    and ``invalid`` before connection tracking): holds when the gate's value for ``key`` is in
    ``values`` (not in them, when ``negated``); a gate without the key leaves it unknown."""

    key: str
    values: frozenset[str]
    negated: bool = False
    why: str = ""
    """Why it is unknown when the gate does not say (default: the key)."""


class Rule(NamedTuple):  # a tuple: a ruleset may hold 100,000 of them, made in one call each
    ref: RuleRef
    """Where the rule is and what it says: the deciding rule shown to the user."""
    action: Action
    sources: tuple[Interval, ...] | None = None
    """Source addresses the rule surely matches; None: every source."""
    maybe: tuple[Interval, ...] = ()
    """Further sources the rule matches or not depending on what the export does not show (the
    members of a set filled at run time); the reason is in ``whys``."""
    traffic: Traffic = EVERY
    when: tuple[When, ...] = ()
    whys: tuple[str, ...] = ()
    """Conditions the export cannot settle (an interface, a mark, a time): non-empty makes the
    whole match conditional."""


@dataclass(frozen=True)
class Chain:
    name: str
    rules: tuple[Rule, ...]
    end_ref: RuleRef
    """What the user is shown for a packet that falls off the end: the policy line of a base
    chain, or the end of a chain that returns to its caller."""
    policy: Outcome | None = None
    """A base chain's policy (``accept`` or ``drop``, or ``conditional`` when the export does
    not say); None: a chain that is jumped to, whose end returns to the caller."""
    label: str = ""
    """How errors name the chain (``table ip filter chain mx``); default: the name."""


@dataclass(frozen=True)
class Gate:
    """A base chain on the packet's path, in the order the packet meets them."""

    chain: str
    context: tuple[tuple[str, str], ...] = ()
    """What :class:`When` matches read here (``("ct_state", "new")``)."""
    only_some: str = ""
    """Non-empty: the chain sees only some packets (those of a device, a bridge port): its
    drops are conditional, with this reason."""
    main: bool = False
    """The audited chain: an accepted address is shown with its accepting rule. Exactly one
    gate of a ruleset is the main one."""
    alone: tuple[Outcome, RuleRef | None] | None = None
    """For a chain evaluated on its own (no policy): what falling off its end means, and the
    rule shown (None: the chain's end)."""
    place: Stage | None = None
    """Where the gate is, for rule placement (its ``segments`` are filled in by the engine)."""


@dataclass(frozen=True)
class Ruleset:
    """One address family's rules."""

    family: int
    chains: dict[str, Chain]
    gates: tuple[Gate, ...]


class RulesetError(ValueError):
    """The rules cannot be evaluated (a loop, a jump to a chain that does not exist)."""

    def __init__(self, message: str, ref: RuleRef | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.ref = ref
        self.hint = hint
