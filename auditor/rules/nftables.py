"""nftables: one file for ``nft -f`` with a named interval set per family and a rule using it.

Choices an admin should know about (they are also written into the output):

- Table ``inet filter``, the layout of Debian's ``/etc/nftables.conf`` and of the nftables wiki's
  simple rulesets. ``--chain INPUT`` (the default, shared with iptables) and ``FORWARD`` name
  that table's ``input`` and ``forward`` chains; any other name is used as given.
- When the declared source is an nftables ruleset, the rules go where it decides instead
  (:mod:`auditor.rules.placement`): into every base chain that does not accept the address
  (ingress, prerouting, input, in any table), named as the ruleset names them (``ip filter``,
  ``ip6 f6``), with a set in each table. Addresses no rule can let in (a nat chain, an iptables
  export) are named in a WARNING comment, and ``diff`` exits 2.
- The file adds to an existing chain and never declares it. ``add chain ... { type filter hook
  input priority 0; }`` fails on a chain with another priority, and ``add chain`` without a hook
  would quietly create a chain that no packet reaches when the admin's is named differently.
  Without the chain, nft rejects the whole file and nothing changes, which is the loud failure
  wanted. In nftables an accept in a table of our own would not help: every base chain on a
  hook sees the packet, and a drop in the admin's chain still drops it.
- ``add set`` and ``add element`` merge with what is there, so they can be loaded again. The
  set has ``auto-merge``: without it, an element that overlaps one loaded earlier (a provider
  widened a range between two runs) is an error, and nft then rejects the whole file. Merged
  elements keep one of their comments.
- The rule is inserted (``insert rule``: at the top, ahead of a drop) and would be inserted again
  by a second load; nft has no "add if absent" for rules.
- A set per family and service (``auditor_v4_tcp_25``), so that the rules for two services never
  accept each other's addresses.
- The origins go into each element's comment; the rule's comment names the tool and service.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.nft_into import IntoSet, into_sets
from auditor.rules.placement import Placed, Placement, Target, place, summary, warning_lines
from auditor.service import Service

if TYPE_CHECKING:
    from auditor.model import Stage

TABLE = "inet filter"


@dataclass
class Plan:
    """What the nft file holds, besides its text: the sets filled (table, set, CIDRs) and the
    rules inserted (table, chain, set, rule), for the rollback and the script form."""

    elements: list[tuple[str, str, list[str]]] = field(default_factory=list)
    inserts: list[tuple[str, str, str, str]] = field(default_factory=list)


BASE_CHAINS = {"INPUT": "input", "FORWARD": "forward"}

SET_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}
SADDR = {4: "ip saddr", 6: "ip6 saddr"}

# nft's scanner takes an identifier as letters, digits and "/-_." after a letter, "_" or "."
# [nftables src/scanner.l, `string`]; quoted names are not accepted for chains (nft 1.0.6).
# Narrowed to what needs no thought anywhere: a letter, then letters, digits, "_" and "-".
_CHAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

# Words the nft scanner returns as keywords in every state [nftables src/scanner.l, rules without
# a start condition], so a chain with one of these names cannot be written in a rule. Checked
# with nft 1.0.6; later versions scope some of them, which makes this list stricter than needed.
NFT_KEYWORDS = frozenset(
    """
    accept add ah all and arp auto-merge bridge cgroup chain comment comp constant continue
    counter cpu create ct day dccp define delete describe destroy device devices dnat drop dst dup
    dynamic ecn element elements eq esp ether exists expires exthdr export fib flags flow
    flowtable flush frag fwd ge geneve get goto gc-interval gre gretap gt handle hbh hook hour
    ibriport ibrname icmp icmpv6 igmp iif iifgroup iifname iiftype import include index inet
    insert interval ip ip6 ipsec jhash jump last le limit list log lshift lt map mark masquerade
    meta meter mh missing monitor ne netdev nftrace not notrack numgen obriport obrname offload
    oif oifgroup oifname oiftype or osf pkttype policy position priority queue quota random
    redefine redirect reject rename replace reset return rshift rt rt0 rt2 rtclassid rule ruleset
    sctp secmark set size skgid skuid snat socket srh symhash synproxy table tcp th time timeout
    tproxy tunnel type typeof udp udplite undefine update vlan vmap vni vxlan xor xt
    """.split()
)


def chain_name(chain: str) -> str:
    """The nft chain for ``--chain``: the iptables built-in names map to ``inet filter``'s."""
    return BASE_CHAINS.get(chain.upper(), chain)


def set_name(family: int, service: Service, max_len: int) -> str:
    """A stable set name per family and service: ``auditor_v4_tcp_25``, ``auditor_v6_any``.

    A port list too long for a name is replaced by a digest of the service.
    """
    base = f"auditor_v{family}_{service.protocol}"
    if service.protocol == "any":
        return base
    ports = "_".join(str(lo) if lo == hi else f"{lo}to{hi}" for lo, hi in service.ports)
    name = f"{base}_{ports}" if ports else base
    if len(name) <= max_len:
        return name
    digest = hashlib.sha256(str(service).encode("ascii")).hexdigest()
    return f"{base}_{digest[: max_len - len(base) - 1]}"


def port_match(service: Service) -> str:
    """``tcp dport 25``, ``tcp dport 1024-2048``, ``tcp dport { 25, 465 }``, or "" for any."""
    if service.protocol == "any":
        return ""
    if not service.ports:
        return f"meta l4proto {service.protocol}"
    ports = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in service.ports]
    value = ports[0] if len(ports) == 1 else "{ " + ", ".join(ports) + " }"
    return f"{service.protocol} dport {value}"


class NftablesGenerator(Generator):
    name = "nftables"
    description = (
        "an nft -f file: a named set per family and a rule, in the tables the declared ruleset"
        " uses (inet filter otherwise)"
    )
    families = (4, 6)
    max_comment_len = 128
    """Rule and element comments: at most 128 bytes, and ``"`` cannot be escaped; one bad
    comment makes nft reject the whole file [mossdef-org/pbr#170; kubernetes/kubernetes#139515]."""
    max_name_len = 31
    prunes = True
    """Chain and set names: NFT_NAME_MAXLEN is 256 bytes with the NUL in current kernels, but
    NFT_CHAIN_MAXNAMELEN and NFT_SET_MAXNAMELEN were 32 in older ones [linux uapi nf_tables.h];
    31 characters work on both."""

    def check_options(self, options: RuleOptions) -> None:
        chain = options.chain
        if not _CHAIN_NAME.fullmatch(chain):
            raise UsageError(
                f"chain name {chain!r} cannot be used for nftables",
                hint="use letters, digits, '_' and '-', starting with a letter",
            )
        if chain_name(chain) in NFT_KEYWORDS:
            raise UsageError(
                f"chain name {chain!r} is an nft keyword and cannot name a chain in a rule",
                hint="rename the chain, e.g. " + chain + "_in",
            )
        if chain.upper() == "OUTPUT":
            raise UsageError(
                "rules for the output chain would never match",
                hint="the rules match the provider's addresses as the source; use INPUT, FORWARD "
                "or a chain these jump to",
            )

    def set_name(self, family: int, service: Service) -> str:
        return set_name(family, service, self.max_name_len)

    def placement(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> Placement:
        """The base chains each block needs an accept in (``inet filter`` without a ruleset)."""
        default = Target(TABLE.split()[1], chain_name(options.chain), TABLE.split()[0])
        return place(blocks, options.declared, "nftables", default, _target)

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        return [u.describe() for u in self.placement(blocks, options).unfixed]

    def _add_elements(
        self, table: str, name: str, blocks: Sequence[MissingBlock], plan: Plan
    ) -> list[str]:
        """``add element`` for a set: one CIDR a line, each with its origins as a comment."""
        plan.elements.append((table, name, [sanitize.cidr(b) for b in blocks]))
        elements = []
        for block in blocks:
            text = self.origins_comment(block.origins, prefix="")
            note = f' comment "{text}"' if text else ""
            elements.append(f"\t{sanitize.cidr(block)}{note}")
        return [f"add element {table} {name} {{", ",\n".join(elements), "}"]

    def render(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        """The rules (:meth:`render_rules`), then with --prune the prune artifact."""
        prune = self._prune(options) if options.prune else []
        return self.render_rules(blocks, options) + self.prune_section(prune, options)

    def render_rules(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        return self.planned(blocks, options)[0]

    def planned(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> tuple[str, Plan]:
        """The nft file, and what it fills and inserts."""
        self.check(options)
        plan = Plan()
        ordered = sanitize.sorted_blocks(blocks)
        if not ordered:
            text = "# allowlist-auditor: nothing is missing; there are no nftables rules to add.\n"
            return text, plan
        into, notes = into_sets(ordered, options)
        head = self._into_lines(into, notes, plan)
        taken = {b.cidr for one in into for b in one.blocks}
        rest = [b for b in ordered if b.cidr not in taken]
        if not rest:
            return "\n".join(head) + "\n", plan
        text = self._rules_text(rest, options, plan)
        return ("\n".join(head) + "\n\n" if head else "") + text, plan

    def _into_lines(self, into: Sequence[IntoSet], notes: Sequence[str], plan: Plan) -> list[str]:
        """The ``add element`` lines for the scoped sets of the declared ruleset."""
        lines = [f"# note: {note}" for note in notes]
        for one in into:
            n = len(one.blocks)
            lines += [
                f"# allowlist-auditor: into set {one.table} {one.name} (--scope), which the"
                " declared ruleset",
                f"# accepts from, {n} missing IPv{one.family} CIDR{'s' if n != 1 else ''};"
                " no rule is added. With them in the set,",
                "# the ruleset lets them all in (it was evaluated again before this was written).",
                "# The rules that use the set (what else it lets in, they say):",
                *(f"#   {user}" for user in one.users),
                "# Check with: nft -c -f FILE; load with: nft -f FILE (it can be loaded again).",
            ]
            lines += self._add_elements(one.table, one.name, one.blocks, plan)
        return lines

    def _rules_text(self, ordered: Sequence[MissingBlock], options: RuleOptions, plan: Plan) -> str:
        """The rules for blocks that go into sets of this tool's own."""
        where = self.placement(ordered, options)
        if not where.plain:
            return self._render_placed(where, options, plan)
        service = options.service
        chain = chain_name(options.chain)
        count = len(ordered)
        lines = [
            f"# allowlist-auditor: nftables rules for {count} missing CIDR"
            f"{'s' if count != 1 else ''}, {service.describe()}.",
            "# Check with: nft -c -f FILE; then load with: nft -f FILE (all of it or nothing).",
            f"# The rules go to the top of chain {chain} in table {TABLE}, which must exist (the",
            "# table is the one of Debian's /etc/nftables.conf); the chain's hook, priority and",
            "# policy stay as they are. If yours are named differently, change the names below:",
            "# otherwise nft rejects the file and changes nothing.",
            "# The add set and add element lines can be loaded again; insert rule adds its rule",
            "# each time, so on later runs load only the add set and add element lines (the",
            "# script form, nftables-all-apply.sh with --output-dir, inserts only where no rule",
            "# of the chain uses the set yet).",
        ]
        rule_comment = self.comment([str(service)])
        match = port_match(service)
        for family in (4, 6):
            mine = [b for b in ordered if b.family == family]
            if not mine:
                continue
            name = self.set_name(family, service)
            lines.append("")
            lines.append(
                f"add set {TABLE} {name} {{ type {SET_TYPE[family]}; flags interval; auto-merge; }}"
            )
            lines += self._add_elements(TABLE, name, mine, plan)
            words = [f"insert rule {TABLE} {chain}", f"{SADDR[family]} @{name}", match, "accept"]
            if rule_comment:
                words.append(f'comment "{rule_comment}"')
            rule = " ".join(w for w in words if w)
            plan.inserts.append((TABLE, chain, name, rule))
            lines.append(rule)
        return "\n".join(lines) + "\n"

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        """One file for both families (apply), and the ``delete element`` lines that take the
        added addresses out of the sets again (rollback; the sets and the rules that use them
        stay, matching nothing)."""
        text, plan = self.planned(blocks, options)
        count = len({b.cidr for b in blocks})
        how = ("nft -f FILE", "nft -c -f FILE")
        arts = [Artifact("apply", None, text, "nft", *how, cidrs=count)]
        if plan.inserts:
            arts.append(self._script(text, plan, count))
        deletes = [
            f"delete element {table} {name} {{ {', '.join(cidrs)} }}"
            for table, name, cidrs in plan.elements
        ]
        if deletes:
            body = "\n".join(deletes) + "\n"
            arts.append(Artifact("rollback", None, body, "nft", *how, cidrs=count))
        if options.prune:
            arts += self._prune(options)
        return arts

    def _script(self, text: str, plan: Plan, count: int) -> Artifact:
        """The nft file as a script that can be run again: the sets and elements through
        ``nft -f``, then each rule inserted only when no rule of its chain uses its set."""
        inserted = {rule for *_, rule in plan.inserts}
        loaded = [line for line in text.splitlines() if line not in inserted]
        lines = [
            "set -eu",
            "# The sets and their elements: add set and add element merge with what is there.",
            "nft -f - <<'NFT'",
            *loaded,
            "NFT",
            "# Each rule, unless a rule of its chain already uses its set.",
        ]
        for table, chain, name, rule in plan.inserts:
            listing = shlex.join(["nft", "list", "chain", *table.split(), chain])
            lines.append(
                f"{listing} | grep -qF {shlex.quote('@' + name)} || nft {shlex.quote(rule)}"
            )
        body = "\n".join(lines) + "\n"
        return Artifact("apply", None, body, "sh", "sh FILE", "nft -c -f FILE of the .nft form",
                        script=True, cidrs=count)  # fmt: skip

    def _prune(self, options: RuleOptions) -> list[Artifact]:
        """The ``delete element`` lines for the scoped sets' wholly extra elements
        (:mod:`auditor.rules.nft_prune`), and comments for the ones kept."""
        from auditor.rules.nft_prune import prune_lines

        deletes, kept = prune_lines(options.prune, options.declared, options.scope)
        lines = [f"# {note}" for note in kept]
        if deletes:
            lines.append("# To undo, load the same lines with add in place of delete.")
        body = "\n".join([*lines, *deletes]) + "\n"
        cidrs = sum(line.count(",") + 1 for line in deletes)
        return [Artifact("prune", None, body, "nft", "nft -f FILE", "nft -c -f FILE", cidrs=cidrs)]

    def _render_placed(self, where: Placement, options: RuleOptions, plan: Plan) -> str:
        """The rules in the base chains the declared ruleset decides in, by their real names."""
        service = options.service
        placed_cidrs = {b.cidr for p in where.placed for b in p.blocks}
        count = len(placed_cidrs | {u.block.cidr for u in where.unfixed})
        lines = [
            f"# allowlist-auditor: nftables rules for {count} missing CIDR"
            f"{'s' if count != 1 else ''}, {service.describe()}.",
            "# Check with: nft -c -f FILE; then load with: nft -f FILE (all of it or nothing).",
            "# Placed where the declared ruleset does not accept these addresses: an accept ends",
            "# only the base chain it is in and the packet meets the next one, so every base",
            "# chain below gets a rule at its top, in its table as the ruleset names it; hooks,",
            "# priorities and policies stay as they are.",
        ]
        lines += [f"#   IPv{p.family} in {summary(p)}" for p in where.placed]
        lines += warning_lines(where.unfixed)
        if where.placed:
            lines += [
                "# The add set and add element lines can be loaded again; insert rule adds its",
                "# rule each time, so on later runs load only the add set and add element lines",
                "# (or run the script form, nftables-all-apply.sh with --output-dir).",
            ]
        rule_comment = self.comment([str(service)])
        match = port_match(service)
        by_table: dict[tuple[str, str], list[Placed]] = {}
        for placed in sorted(where.placed, key=lambda p: (p.rank, p.family, p.target)):
            key = (placed.target.table_family, placed.target.table)
            by_table.setdefault(key, []).append(placed)
        for (table_family, table_name), entries in by_table.items():
            table = f"{table_family} {table_name}"
            for family in (4, 6):
                mine = [p for p in entries if p.family == family]
                if not mine:
                    continue
                name = self.set_name(family, service)
                cidrs = {b.cidr: b for p in mine for b in p.blocks}
                lines.append("")
                lines.append(
                    f"add set {table} {name} {{ type {SET_TYPE[family]}; flags interval;"
                    " auto-merge; }"
                )
                lines += self._add_elements(
                    table, name, sanitize.sorted_blocks(cidrs.values()), plan
                )
                for placed in mine:
                    words = [
                        f"insert rule {table} {placed.target.chain}",
                        f"{SADDR[family]} @{name}",
                        match,
                        "accept",
                    ]
                    if rule_comment:
                        words.append(f'comment "{rule_comment}"')
                    rule = " ".join(w for w in words if w)
                    plan.inserts.append((table, placed.target.chain, name, rule))
                    lines.append(rule)
        return "\n".join(lines) + "\n"


_FAMILIES = frozenset({"ip", "ip6", "inet", "netdev", "bridge"})


def _target(stage: Stage) -> Target | str:
    """Where an accept for a base chain goes: its table and chain, as the ruleset names them."""
    if stage.table_family not in _FAMILIES:
        return f"this tool does not write rules for {stage.table_family} tables"
    for what, name in (("table", stage.table), ("chain", stage.chain)):
        if not _CHAIN_NAME.fullmatch(name) or name in NFT_KEYWORDS:
            return f"the {what} name {name!r} cannot be written in a rule by this tool"
    return Target(stage.table, stage.chain, stage.table_family, stage.hook, stage.priority)
