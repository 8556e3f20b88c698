"""``junos`` (alias ``juniper``): a Juniper JunOS configuration, brace form (``show
configuration``) or ``set`` form (``show configuration | display set``), evaluated for a new
inbound connection to the service.

What is read (:mod:`~auditor.allowlists.appliances.junos_lower` has the semantics):

- firewall filters of ``family inet`` and ``inet6`` (``firewall filter F`` is inet): terms in
  order, ``from`` ``source-address``/``destination-address``/``address`` with ``except``,
  ``source-prefix-list``/``destination-prefix-list``/``prefix-list`` (``policy-options
  prefix-list``; ``apply-path`` lists are conditional), ``protocol``/``next-header``,
  ``destination-port``/``source-port``/``port`` (numbers, ranges, names) and their
  ``-except`` forms, ``tcp-established``/``tcp-initial``; ``then`` ``accept``, ``discard``,
  ``reject``, ``next term``, ``count``/``log`` and the other action modifiers; applied with
  ``interfaces IF unit N family inet|inet6 filter input F`` or ``input-list [ F1 F2 ]``;
- SRX security policies: ``from-zone A to-zone B`` policies in order, global policies, the
  default policy; address books (global, a zone's own, named books attached to zones),
  ``address`` (prefix, ``range-address``, ``wildcard-address``; ``dns-name`` conditional),
  nested ``address-set`` s; applications (``any``, predefined ``junos-smtp`` and friends,
  ``applications application`` with or without terms, nested ``application-set`` s).

``--chain`` picks what is evaluated: an interface unit (``ge-0/0/0.0``; ``ge-0/0/0`` is unit
0) and its input filters, a filter by name, or a zone pair ``FROM:TO``; without it, the one
there is, or an error listing them. Other match conditions (an interface, a fragment, a DSCP
value ...) and actions (a routing instance, a policer) make a term conditional and are listed
as unsupported. Prefix lists, addresses and address sets are ``--scope`` names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auditor.allowlists.appliances import junos_parse
from auditor.allowlists.appliances.junos_lower import (
    FAMILY_NAMES,
    HOST_ZONE,
    IMPLICIT,
    Lowering,
    accept_all,
    filter_nodes,
    filter_ruleset,
    policy_ruleset,
    to_address,
)
from auditor.allowlists.appliances.junos_objects import Applications, Resolver, prefix_lists
from auditor.allowlists.appliances.junos_parse import Config, Node
from auditor.allowlists.appliances.sniffing import sniff_junos as sniff_junos
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import UsageError
from auditor.model import Entry, Finding, Origin, RangeSet, RuleRef, Severity, SourceInfo
from auditor.ruleset import engine, ir

_NO_CHOICE = (None, "INPUT")
_CONCERNED = ("firewall", "security", "policy-options", "applications", "interfaces")


@dataclass(frozen=True)
class Choice:
    kind: str
    """``interface``, ``filter`` or ``zones``."""
    name: str
    filters: dict[int, tuple[list[str], int]] | None = None
    """An interface's input filters per family (names, line); a family configured without
    a filter has an empty list."""


def interfaces(root: Node) -> dict[str, dict[int, tuple[list[str], int]]]:
    """Every interface unit's families with their input filters."""
    out: dict[str, dict[int, tuple[list[str], int]]] = {}
    ifs = root.get("interfaces")
    for ifname, ifnode in (ifs.children if ifs else {}).items():
        units = ifnode.get("unit")
        for unit, unode in (units.children if units else {}).items():
            for fam, word in FAMILY_NAMES.items():
                fnode = unode.get("family", word)
                if fnode is None:
                    continue
                filt = fnode.get("filter")
                single = filt.get("input") if filt else None
                many = filt.get("input-list") if filt else None
                names: list[str] = []
                line = fnode.line
                if many is not None:
                    names, line = many.keys(), many.line
                elif single is not None:
                    names, line = single.keys()[:1], single.line
                out.setdefault(f"{ifname}.{unit}", {})[fam] = (names, line)
    return out


def zone_pairs(root: Node) -> list[str]:
    fz = root.get("security", "policies", "from-zone")
    out = []
    for a, node in (fz.children if fz else {}).items():
        to = node.get("to-zone")
        out += [f"{a}:{b}" for b in (to.keys() if to else [])]
    return out


def choices(root: Node) -> tuple[list[Choice], list[str]]:
    """The attachments (interfaces with an input filter, zone pairs) and the filter names."""
    out = [
        Choice("interface", name, fams)
        for name, fams in interfaces(root).items()
        if any(names for names, _ in fams.values())
    ]
    out += [Choice("zones", pair) for pair in zone_pairs(root)]
    filters = list(dict.fromkeys(name for _, name in filter_nodes(root)))
    return out, filters


def _listing(found: list[Choice], filters: list[str]) -> str:
    names = [c.name for c in found] + [f for f in filters if f not in {c.name for c in found}]
    return ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def choose(root: Node, chain: str | None, source: str) -> Choice:
    """What ``--chain`` names, or the one attachment there is."""
    found, filters = choices(root)
    listing = _listing(found, filters)
    if chain in _NO_CHOICE and not any(c.name == chain for c in found) and chain not in filters:
        distinct = {repr(sorted(c.filters.items())) if c.filters else c.name for c in found}
        if len(distinct) == 1:
            return found[0]
        if not found and len(filters) == 1:
            return Choice("filter", filters[0])
        if not found and not filters:
            raise ReaderError(
                "the configuration has no firewall filter and no security policy",
                source=source,
                hint="give the configuration of the device that filters the service's traffic",
            )
        raise ReaderError(
            "the configuration has several filters or zone pairs; which one does the traffic meet?",
            source=source,
            hint=f"name one with --chain: {listing}",
        )
    chain = chain or ""
    if ":" in chain:
        a, _, b = chain.partition(":")
        pairs = zone_pairs(root)
        zones = root.get("security", "zones", "security-zone")
        known = (set(zones.keys()) if zones else set()) | {HOST_ZONE}
        glob = root.get("security", "policies", "global")
        if chain in pairs or (glob is not None and {a, b} <= known):
            return Choice("zones", chain)
        raise ReaderError(
            f"no security policies from-zone {a} to-zone {b}",
            source=source,
            hint="--chain FROM:TO names a zone pair: " + (", ".join(pairs) or "none is configured"),
        )
    units = interfaces(root)
    for name in (chain, f"{chain}.0"):
        if name in units:
            return Choice("interface", name, units[name])
    if chain in filters:
        return Choice("filter", chain)
    raise ReaderError(
        f"no interface, filter or zone pair {chain!r} in the configuration",
        source=source,
        hint=f"--chain names one of: {listing}" if listing else "the configuration has none",
    )


def _groups_check(root: Node, source: str) -> None:
    """Configuration groups applied where they may add filter terms or policies are not
    expanded here: refused rather than read without them."""
    groups = root.get("groups")
    if groups is None:
        return
    for words, line in root.paths():
        if "apply-groups" not in words:
            continue
        at = words.index("apply-groups")
        if words[0] == "groups" or at + 1 >= len(words):
            continue
        where, name = words[:at], words[at + 1]
        group = groups.get(name)
        if group is None:
            continue
        inside = group.get(*where) if where else group
        if inside is None:
            continue
        tops = [where[0]] if where else inside.keys()
        if any(t in _CONCERNED for t in tops):
            raise ReaderError(
                f"configuration group {name} is applied at {' '.join(where) or 'the top'} and"
                " may add filters, policies or addresses, which are not expanded here",
                source=source,
                line=line,
                hint="give `show configuration | display inheritance | display set`",
            )


@dataclass
class Junos:
    """A configuration read: its tree and what the lowering needs."""

    config: Config
    source: str

    @property
    def root(self) -> Node:
        return self.config.root


def read_config(data: bytes, ctx: ReadContext) -> Junos:
    text = decode_text(data, ctx)
    config = junos_parse.parse(text, ctx.name)
    _groups_check(config.root, ctx.name)
    return Junos(config, ctx.name)


def rulesets(
    junos: Junos, ctx: ReadContext, choice: Choice, unsupported: list[str]
) -> list[ir.Ruleset]:
    root = junos.root
    low = Lowering(
        ctx.name, to_address(ctx.to, ctx.name), prefix_lists(root, ctx.name), unsupported
    )
    nodes = filter_nodes(root)
    out: list[ir.Ruleset] = []
    if choice.kind == "zones":
        a, _, b = choice.name.partition(":")
        resolver = Resolver(root, ctx.name)
        apps = Applications(root, ctx.name)
        return [policy_ruleset(low, fam, root, (a, b), resolver, apps) for fam in (4, 6)]
    if choice.kind == "filter":
        for fam in (4, 6):
            node = nodes.get((fam, choice.name))
            if node is not None:
                head = low.ref(node.line, f"filter {choice.name}")
                out.append(filter_ruleset(low, fam, [(choice.name, node)], head))
        return out
    for fam, (names, line) in sorted((choice.filters or {}).items()):
        ifname, _, unit = choice.name.rpartition(".")
        head = low.ref(line, f"interfaces {ifname} unit {unit} family {FAMILY_NAMES[fam]} filter")
        if not names:
            out.append(accept_all(fam, RuleRef(head.origin, head.text + ": no input filter")))
            continue
        listed = []
        for name in names:
            node = nodes.get((fam, name))
            if node is None:
                raise ReaderError(
                    f"filter {name} (family {FAMILY_NAMES[fam]}) is not defined",
                    source=ctx.name,
                    line=line,
                    hint="define it under firewall family "
                    f"{FAMILY_NAMES[fam]} filter {name}, or fix the name",
                )
            listed.append((name, node))
        head = RuleRef(head.origin, head.text + f" input {' '.join(names)}")
        out.append(filter_ruleset(low, fam, listed, head))
    return out


def scope_objects(junos: Junos, source: str) -> Callable[[], tuple[list[Entry], list[str]]]:
    """Prefix lists, addresses and address sets: each one's addresses, grouped by name."""

    def make() -> tuple[list[Entry], list[str]]:
        entries: list[Entry] = []
        names: dict[str, None] = {}
        for name, pl in prefix_lists(junos.root, source).items():
            names[name] = None
            origin = Origin(source, pl.line, f"prefix-list {name}")
            entries += [Entry(f, a, b, origin, name) for f, (a, b) in pl.pairs]
        resolver = Resolver(junos.root, source)
        for name, node in resolver.names():
            names[name] = None
            named = resolver.lookup(resolver.zone_of(name), name, node.line)
            origin = Origin(source, node.line, f"address {name}")
            entries += [Entry(f, a, b, origin, name) for f, (a, b) in named.pairs]
        return entries, list(names)

    return make


def parse(data: bytes, ctx: ReadContext) -> RangeSet:
    """What :class:`JunosReader` reads from a configuration."""
    junos = read_config(data, ctx)
    choice = choose(junos.root, ctx.chain, ctx.name)
    unsupported: list[str] = []
    findings: list[Finding] = []
    if junos.config.skipped:
        findings.append(
            Finding(
                "inactive",
                Severity.INFO,
                f"{junos.config.skipped} inactive or deactivated statement(s) skipped",
                Origin(ctx.name),
            )
        )
    lowered = rulesets(junos, ctx, choice, unsupported)
    if not lowered:
        raise ReaderError(f"nothing to evaluate for {choice.name}", source=ctx.name)
    verdicts = [engine.evaluate(rs, ctx.service) for rs in lowered]
    detail = f"{choice.kind} {choice.name}"
    info = SourceInfo.for_bytes(ctx.name, ctx.role, "junos", data, ctx.now)
    info = SourceInfo(**{**info.__dict__, "detail": detail})
    result = FirewallResult(info, verdicts, findings, unsupported, scope_objects(junos, ctx.name))
    return verdicts_rangeset(result)


@dataclass(frozen=True)
class FilterPlace:
    """Where a family's filters are, for rule placement: the filters the chosen interface
    (or filter) applies, in order, and each term's line with its place in that order."""

    filters: tuple[str, ...]
    terms: dict[int, list[tuple[int, int, str, str]]]
    """A term's line: (filter index, term index, filter, term) of the terms named there."""
    ends: dict[int, list[tuple[int, str]]]
    """A filter's line (its implicit discard): (filter index, filter)."""

    def locate(self, ref: RuleRef) -> tuple[int, float, str, str | None] | None:
        """Where a deciding rule is: (filter index, term index or inf for the implicit
        discard, filter, term or None)."""
        line = ref.origin.line or 0
        for k, t, fname, tname in self.terms.get(line, []):
            if ref.text.startswith(f"filter {fname} term {tname}: "):
                return k, t, fname, tname
        for k, fname in self.ends.get(line, []):
            if ref.text == f"filter {fname}: {IMPLICIT}":
                return k, float("inf"), fname, None
        return None


def filter_places(data: bytes, name: str, chain: str | None) -> dict[int, FilterPlace] | None:
    """Per family, the filters ``chain`` evaluates in a configuration (None: a configuration
    that cannot be read); UsageError for a zone pair, which takes no filter term."""
    ctx = ReadContext(name, "declared", chain=chain)
    try:
        junos = read_config(data, ctx)
        choice = choose(junos.root, chain, name)
    except ReaderError:
        return None
    if choice.kind == "zones":
        raise UsageError(
            f"{name} is evaluated as the zone pair {choice.name}: junos rules are prefix lists"
            " and firewall filter terms, not security policies",
            hint="write the security policy by hand, or name an interface or filter with --chain",
        )
    nodes = filter_nodes(junos.root)
    listed: dict[int, list[str]] = {}
    if choice.kind == "filter":
        listed = {fam: [choice.name] for fam in (4, 6) if (fam, choice.name) in nodes}
    else:
        listed = {fam: names for fam, (names, _) in (choice.filters or {}).items() if names}
    out: dict[int, FilterPlace] = {}
    for fam, names in listed.items():
        terms: dict[int, list[tuple[int, int, str, str]]] = {}
        ends: dict[int, list[tuple[int, str]]] = {}
        for k, fname in enumerate(names):
            node = nodes.get((fam, fname))
            if node is None:
                return None
            ends.setdefault(node.line, []).append((k, fname))
            term_nodes = node.get("term")
            for t, (tname, tnode) in enumerate((term_nodes.children if term_nodes else {}).items()):
                terms.setdefault(tnode.line, []).append((k, t, fname, tname))
        out[fam] = FilterPlace(tuple(names), terms, ends)
    return out
