"""Reading a Cisco IOS / IOS XE, IOS XR or NX-OS configuration into its access lists,
object groups and interface bindings (what :mod:`auditor.allowlists.appliances.ios` evaluates).

A configuration is a sequence of top-level commands, each followed by its indented
sub-commands. Only these are kept:

- access lists: ``ip access-list standard|extended NAME`` (IOS), ``ip access-list NAME``
  (NX-OS), ``ipv4 access-list NAME`` (IOS XR), ``ipv6 access-list NAME`` (all), with their
  entries (``[SEQ] permit|deny ...``, ``remark``); the numbered form ``access-list N ...``
  (1-99 and 1300-1999 standard, 100-199 and 2000-2699 extended); ``no ... access-list NAME``
  removes a list defined before it;
- object groups: ``object-group network NAME`` and ``object-group service NAME`` (IOS),
  ``object-group ip address NAME``, ``object-group ipv6 address NAME`` and ``object-group ip
  port NAME`` (NX-OS), ``object-group network ipv4|ipv6 NAME`` and ``object-group port NAME``
  (IOS XR);
- ``interface NAME`` with ``ip access-group NAME in``, ``ipv6 traffic-filter NAME in`` (IOS,
  NX-OS), ``ipv4|ipv6 access-group NAME ingress`` (IOS XR);
- ``time-range NAME``.

Entries are kept as words with their line; :mod:`auditor.allowlists.appliances.ios` reads
them when their list is evaluated, so a list no interface uses cannot fail a reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor.allowlists.base import ReadContext, ReaderError

# Cisco IOS access-list numbers: "IP Access List Overview", Cisco IOS XE Security
# Configuration Guide: 1-99 and 1300-1999 standard, 100-199 and 2000-2699 extended.
STANDARD_NUMBERS = ((1, 99), (1300, 1999))
EXTENDED_NUMBERS = ((100, 199), (2000, 2699))

ENTRY_WORDS = frozenset({"permit", "deny", "remark", "dynamic", "evaluate"})
"""Words an entry starts with (after its sequence number)."""
IGNORED_IN_ACL = frozenset(
    {"statistics", "fragments", "ignore", "counters", "description", "default", "exit"}
)
"""Sub-commands of an access list that filter nothing for a new connection
(``statistics per-entry``, ``fragments permit-all``: non-initial fragments only)."""


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    words: tuple[str, ...]


@dataclass
class Entry:
    """One entry of an access list: its sequence number and its words after it."""

    seq: int
    line: Line
    words: tuple[str, ...]
    """From ``permit``/``deny`` (or ``dynamic``, ``evaluate``) on, without the sequence."""


@dataclass
class Acl:
    name: str
    family: int
    kind: str
    """``standard`` (sources only) or ``extended``."""
    line: Line
    """Where it is defined (its first line)."""
    entries: list[Entry] = field(default_factory=list)
    numbered: bool = False

    def add(self, entry_line: Line, words: tuple[str, ...], ctx: ReadContext) -> None:
        seq: int | None = None
        if words and words[0].isdigit():
            seq, words = int(words[0]), words[1:]
        elif len(words) >= 2 and words[-2] == "sequence" and words[-1].isdigit():
            seq, words = int(words[-1]), words[:-2]  # IOS IPv6: "permit ... sequence 10"
        if not words or words[0] == "remark":
            return
        if words[0] in IGNORED_IN_ACL:
            return
        if seq is None:
            seq = (max((e.seq for e in self.entries), default=0) // 10 + 1) * 10
        for e in self.entries:
            if e.seq == seq:
                raise ReaderError(
                    f"access list {self.name} has two entries with sequence number {seq}"
                    f" (line {e.line.number} and this one)",
                    source=ctx.name,
                    line=entry_line.number,
                    hint="a device keeps one entry per sequence number; give the running"
                    " configuration as the device shows it",
                )
        self.entries.append(Entry(seq, entry_line, words))

    def ordered(self) -> list[Entry]:
        return sorted(self.entries, key=lambda e: e.seq)


@dataclass
class Group:
    """An object group: ``network`` (addresses) or ``service``/``port`` (traffic)."""

    name: str
    kind: str
    """``network``, ``service`` (protocol and ports) or ``port`` (ports only)."""
    line: Line
    members: list[Line] = field(default_factory=list)
    family: int | None = None
    """IOS XR and NX-OS groups are of one family; IOS network groups hold both."""
    wildcards: bool = False
    """Members are written ``ADDRESS WILDCARD`` (NX-OS), not ``ADDRESS MASK`` (IOS)."""


@dataclass(frozen=True)
class Binding:
    """``ip access-group NAME in`` (or its IPv6/IOS XR forms) on an interface."""

    interface: str
    acl: str
    family: int
    direction: str
    """``in`` or ``out``."""
    line: Line


@dataclass
class Config:
    acls: dict[tuple[int, str], Acl] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    interfaces: dict[str, Line] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)
    addresses: dict[str, list[Line]] = field(default_factory=dict)
    """Each interface's ``ip address``/``ipv4 address``/``ipv6 address`` lines."""
    time_ranges: set[str] = field(default_factory=set)
    unsupported: list[str] = field(default_factory=list)


def _number_kind(name: str) -> str | None:
    if not name.isdigit():
        return None
    n = int(name)
    if any(a <= n <= b for a, b in STANDARD_NUMBERS):
        return "standard"
    if any(a <= n <= b for a, b in EXTENDED_NUMBERS):
        return "extended"
    return None


_INLINE_COMMENT = re.compile(r"\s+!.*$")


def _lines(text: str) -> list[Line]:
    out = []
    for n, raw in enumerate(text.split("\n"), 1):
        raw = raw.rstrip("\r")
        body = raw.strip()
        if not body or body.startswith("!") or body.startswith("#"):
            continue
        if raw[:1] in (" ", "\t"):
            body = _INLINE_COMMENT.sub("", body)  # "permit ... ! note" (seen in saved files)
        out.append(Line(n, raw, tuple(body.split())))
    return out


def _acl_header(words: tuple[str, ...]) -> tuple[int, str, str] | None | bool:
    """(family, kind, name) of an access-list header; None: not one; False: one of the
    global ``ip access-list`` settings (``logging``, ``resequence``), which define none."""
    if len(words) < 2:
        return None
    head = words[0]
    if head in ("ip", "ipv4", "ipv6") and words[1] == "access-list":
        family = 6 if head == "ipv6" else 4
        rest = words[2:]
        if not rest:
            return None
        if rest[0] in ("logging", "log-update", "resequence", "persistent", "role-based"):
            return False
        if rest[0] in ("standard", "extended") and len(rest) >= 2:
            return family, rest[0], rest[1]
        kind = _number_kind(rest[0]) or "extended"
        return family, kind, rest[0]
    return None


def parse_config(text: str, ctx: ReadContext) -> Config:
    """The access lists, object groups and bindings of a configuration."""
    cfg = Config()
    section: Acl | Group | str | None = None
    """What indented lines belong to: an access list, an object group, an interface name,
    or None (a section that is not read)."""
    for line in _lines(text):
        words = line.words
        indented = line.text[:1] in (" ", "\t")
        if not indented and isinstance(section, Acl) and _continues_acl(words):
            indented = True  # an entry written without indentation (a hand-made file)
        if indented:
            _sub(cfg, section, line, ctx)
            continue
        section = None
        head = _acl_header(words)
        if head is False:
            continue
        if isinstance(head, tuple):
            family, kind, name = head
            section = cfg.acls.get((family, name))
            if section is None:
                section = cfg.acls[family, name] = Acl(name, family, kind, line)
            continue
        if len(words) >= 3 and words[0] == "no" and _acl_header(words[1:]):
            got = _acl_header(words[1:])
            if isinstance(got, tuple):
                cfg.acls.pop((got[0], got[2]), None)
            continue
        if words[0] == "access-list" and len(words) >= 2:
            _numbered(cfg, line, ctx)
            # "access-list NAME extended" alone opens a block of entries (as some saves do)
            acl = _numbered_acl(cfg, words)
            section = acl if acl is not None and len(words) == 3 else None
            continue
        if words[0] == "object-group":
            section = _group_header(cfg, line, ctx)
            continue
        if words[0] == "interface" and len(words) >= 2:
            name = " ".join(words[1:])
            for suffix in (" point-to-point", " multipoint"):
                name = name.removesuffix(suffix)
            cfg.interfaces.setdefault(name, line)
            section = name
            continue
        if words[0] == "time-range" and len(words) >= 2:
            cfg.time_ranges.add(words[1])
            continue
    return cfg


def _continues_acl(words: tuple[str, ...]) -> bool:
    first = words[0]
    if first.isdigit() and len(words) > 1:
        first = words[1]
    return first in ENTRY_WORDS


def _numbered_acl(cfg: Config, words: tuple[str, ...]) -> Acl | None:
    name = words[1]
    return cfg.acls.get((4, name))


def _numbered(cfg: Config, line: Line, ctx: ReadContext) -> None:
    """``access-list N permit|deny|remark ...`` (and ``access-list NAME extended|standard
    ...``, the form some saved configurations hold)."""
    words = line.words
    name = words[1]
    rest = words[2:]
    kind = _number_kind(name)
    if rest and rest[0] in ("standard", "extended"):
        kind, rest = rest[0], rest[1:]
    if kind is None:
        cfg.unsupported.append(
            f"{ctx.name}:{line.number}: {line.text.strip()[:80]} (not an IP access list number)"
        )
        return
    acl = cfg.acls.get((4, name))
    if acl is None:
        acl = cfg.acls[4, name] = Acl(name, 4, kind, line, numbered=True)
    if rest:
        acl.add(line, rest, ctx)


_GROUP_KINDS = {
    ("network",): ("network", None, False),
    ("service",): ("service", None, False),
    ("network", "ipv4"): ("network", 4, False),
    ("network", "ipv6"): ("network", 6, False),
    ("port",): ("port", None, False),
    ("ip", "address"): ("network", 4, True),
    ("ipv4", "address"): ("network", 4, True),
    ("ipv6", "address"): ("network", 6, False),
    ("ip", "port"): ("port", None, False),
}


def _group_header(cfg: Config, line: Line, ctx: ReadContext) -> Group | None:
    words = line.words[1:]
    for size in (2, 1):
        key = tuple(words[:size])
        got = _GROUP_KINDS.get(key)
        if got is not None and len(words) > size:
            kind, family, wildcards = got
            name = words[size]
            group = cfg.groups.get(name)
            if group is None or group.kind != kind:
                group = cfg.groups[name] = Group(name, kind, line, family=family)
            group.wildcards = wildcards
            return group
    cfg.unsupported.append(
        f"{ctx.name}:{line.number}: {line.text.strip()[:80]} (an object group of another kind)"
    )
    return None


def _sub(cfg: Config, section: Acl | Group | str | None, line: Line, ctx: ReadContext) -> None:
    words = line.words
    if isinstance(section, Acl):
        section.add(line, words, ctx)
    elif isinstance(section, Group):
        if words[0] != "description":
            section.members.append(line)
    elif isinstance(section, str):
        binding = _binding(section, line)
        if binding is not None:
            cfg.bindings.append(binding)
        elif words[:2] in (("ip", "address"), ("ipv4", "address"), ("ipv6", "address")):
            cfg.addresses.setdefault(section, []).append(line)


def _binding(interface: str, line: Line) -> Binding | None:
    words = line.words
    if len(words) < 4:
        return None
    head = tuple(words[:2])
    direction = words[3]
    if head == ("ip", "access-group") or head == ("ipv4", "access-group"):
        family = 4
    elif head in (("ipv6", "traffic-filter"), ("ipv6", "access-group")):
        family = 6
    else:
        return None
    direction = {"ingress": "in", "egress": "out"}.get(direction, direction)
    if direction not in ("in", "out"):
        return None
    return Binding(interface, words[2], family, direction, line)
