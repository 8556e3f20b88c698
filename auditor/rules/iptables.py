"""iptables: an iptables-restore file per family, and the same rules as iptables commands.

Choices an admin should know about (they are also written into the output):

- Rules are inserted with ``-I CHAIN`` (position 1), not appended: an allowlist chain usually ends
  in a DROP or REJECT, and a rule appended after it would never match. Each insert goes to the
  top, so the rules end up in the chain in reverse file order; they all ACCEPT, so order among
  them does not matter.
- The files are for ``iptables-restore --noflush``. Without ``--noflush`` iptables-restore
  empties every chain of the table before loading [iptables-restore(8)].
- When the declared source is an iptables export, the rules go where it decides
  (:mod:`auditor.rules.placement`): an ACCEPT ends only its own table's chain, so a rule goes
  into every table's chain on the path that does not accept the address (``-t raw -I
  PREROUTING`` and ``-I INPUT`` when both drop it). Addresses no rule can let in (a DNAT in nat
  PREROUTING, an nftables ruleset) are named in a WARNING comment, and ``diff`` exits 2.
- A chain other than INPUT or FORWARD must exist already. It is not declared (``:CHAIN - [0:0]``)
  because under ``--noflush`` a declared chain that exists is emptied, which would delete the
  admin's own rules in it (checked with iptables 1.8.9, both the nft and the legacy backend).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.ipt_into import IntoIpset, into_ipsets
from auditor.rules.placement import Placement, Target, place, summary, warning_lines
from auditor.service import Service

if TYPE_CHECKING:
    from auditor.model import Stage

PROGRAM = {4: "iptables", 6: "ip6tables"}
RESTORE = {4: "iptables-restore", 6: "ip6tables-restore"}

BUILTIN_CHAINS = frozenset({"INPUT", "FORWARD", "OUTPUT"})
"""The filter table's built-in chains [iptables(8), TABLES]; they always exist."""

_TABLES = ("raw", "mangle", "nat", "filter", "security")

# iptables(8): a jump to these is a verdict, so no chain can carry their names.
_VERDICTS = frozenset({"ACCEPT", "DROP", "QUEUE", "RETURN"})

# Letters, digits, '_' and '-', not starting with '-' (it would read as an option) or a digit.
# Stricter than iptables itself, which takes any printable name; these are the names admins and
# tools (DOCKER-USER, f2b-postfix, ufw-user-input) use, and none of them needs quoting anywhere.
_CHAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

MULTIPORT_MAX = 15
"""Ports in one ``-m multiport`` match; a range counts as two [iptables-extensions(8)]."""


@dataclass(frozen=True)
class Rule:
    """One rule, as the arguments that follow the program name (``-I INPUT -s ...``)."""

    family: int
    source: str
    """The CIDR of ``-s``."""
    args: tuple[str, ...]
    table: str = "filter"
    """The table the rule goes to: a section of the restore file, ``-t`` of the command."""

    def restore_line(self) -> str:
        """The rule in iptables-restore syntax: the comment in double quotes, like iptables-save.

        The comment holds only :data:`sanitize.COMMENT_CHARS`, so it contains no ``"`` or
        backslash, the only characters iptables-restore treats specially inside quotes.
        """
        words = [
            f'"{arg}"' if i and self.args[i - 1] == "--comment" else arg
            for i, arg in enumerate(self.args)
        ]
        return " ".join(words)

    def command(self) -> str:
        """The rule as a shell command line, every argument quoted for a POSIX shell; it adds
        the rule only when ``-C`` does not find it, so running the line again changes nothing."""
        table = ("-t", self.table) if self.table != "filter" else ()
        check = ("-C", *self.args[1:]) if self.args[:1] == ("-I",) else None
        insert = shlex.join((PROGRAM[self.family], *table, *self.args))
        if check is None:
            return insert
        return f"{shlex.join((PROGRAM[self.family], *table, *check))} 2>/dev/null || {insert}"


def check_chain(chain: str) -> None:
    """A chain name iptables can take (its length is checked by the generator's base)."""
    if not _CHAIN_NAME.fullmatch(chain):
        raise UsageError(
            f"chain name {chain!r} cannot be used for iptables",
            hint="use letters, digits, '_' and '-', starting with a letter or '_'",
        )
    if chain in _VERDICTS:
        raise UsageError(
            f"{chain!r} is an iptables verdict, not a chain", hint="name the chain to add rules to"
        )
    if chain == "OUTPUT":
        raise UsageError(
            "rules for the OUTPUT chain would never match",
            hint="the rules match the provider's addresses as the source; use INPUT, FORWARD "
            "or a chain these jump to",
        )


def port_runs(ports: Sequence[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """The ports in runs that one ``-m multiport`` match holds (ufw keeps the same limit):
    at most :data:`MULTIPORT_MAX` ports, a range counting two."""
    runs: list[list[tuple[int, int]]] = [[]]
    used = 0
    for lo, hi in ports:
        cost = 1 if lo == hi else 2
        if used + cost > MULTIPORT_MAX:
            runs.append([])
            used = 0
        runs[-1].append((lo, hi))
        used += cost
    return runs


def port_matches(service: Service) -> list[tuple[str, ...]]:
    """The protocol and port arguments, one tuple per rule that the service needs."""
    if service.protocol == "any":
        return [()]
    proto = service.protocol
    if not service.ports:
        return [("-p", proto)]
    out: list[tuple[str, ...]] = []
    for chunk in port_runs(service.ports):
        ports = ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in chunk)
        if len(chunk) == 1:
            out.append(("-p", proto, "-m", proto, "--dport", ports))
        else:
            out.append(("-p", proto, "-m", "multiport", "--dports", ports))
    return out


def _target(stage: Stage) -> Target | str:
    """Where an ACCEPT for a stage goes: its table and chain, as the export names them."""
    if stage.table not in _TABLES or not _CHAIN_NAME.fullmatch(stage.chain):
        return f"this tool does not write rules for table {stage.table!r} chain {stage.chain!r}"
    return Target(stage.table, stage.chain, hook=stage.hook, priority=stage.priority)


class IptablesGenerator(Generator):
    name = "iptables"
    description = "iptables-restore files (IPv4, IPv6) and iptables/ip6tables commands"
    families = (4, 6)
    max_comment_len = 255
    """``-m comment``: 255 bytes pass, 256 fail [iptables extensions/libxt_comment.t]; some
    releases (1.8.9) cut a longer comment to 255 silently instead."""
    prunes = True
    max_name_len = 28
    """Chain names: at most 28 characters [containernetworking/cni#168]."""
    comment_tag: ClassVar[str] = sanitize.TAG

    def check_options(self, options: RuleOptions) -> None:
        check_chain(options.chain)

    def placement(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> Placement:
        """The chains each block needs an ACCEPT in (filter ``--chain`` without a ruleset)."""
        default = Target("filter", options.chain)
        return place(blocks, options.declared, "iptables", default, _target)

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        return [u.describe() for u in self.placement(blocks, options).unfixed]

    def rules(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> dict[int, list[Rule]]:
        """The rules per family, for families with at least one block, IPv4 first."""
        return self._rules(self.placement(blocks, options), options)

    def _rules(self, where: Placement, options: RuleOptions) -> dict[int, list[Rule]]:
        self.check(options)
        matches = port_matches(options.service)
        out: dict[int, list[Rule]] = {}
        for placed in where.placed:
            chain, table = placed.target.chain, placed.target.table
            for block in placed.blocks:
                source = sanitize.cidr(block)
                text = self.origins_comment(block.origins, self.comment_tag)
                tail: tuple[str, ...] = ("-m", "comment", "--comment", text) if text else ()
                for match in matches:
                    args = ("-I", chain, "-s", source, *match, *tail, "-j", "ACCEPT")
                    out.setdefault(block.family, []).append(Rule(block.family, source, args, table))
        return out

    def _header(
        self, family: int, rules: Sequence[Rule], options: RuleOptions, where: Placement
    ) -> list[str]:
        chain = options.chain
        unfixed = [u for u in where.unfixed if u.block.family == family]
        blocks = len({r.source for r in rules} | {u.block.cidr for u in unfixed})
        lines = [
            f"# allowlist-auditor: IPv{family} rules for {blocks} missing CIDR"
            f"{'s' if blocks != 1 else ''}, {options.service.describe()}, chain {chain}.",
        ]
        if where.plain:
            lines.append(
                f"# -I puts each rule at the top of {chain}, ahead of any DROP or REJECT there."
            )
            # the rule that denies these addresses today, when a declared ruleset says so
            lines += ["#   " + summary(p) for p in where.family(family) if p.rules]
        else:
            lines += [
                "# -I puts each rule at the top of its chain, ahead of any DROP or REJECT there.",
                "# Placed where the declared ruleset does not accept these addresses: an ACCEPT",
                "# ends only its own table's chain and the packet goes on to the next table, so",
                "# every chain below gets its own rules.",
            ]
            lines += ["#   " + summary(p) for p in where.family(family)]
            lines += warning_lines(unfixed)
        if chain not in BUILTIN_CHAINS:
            lines.append(
                f"# {chain} must exist already ({PROGRAM[family]} -N {chain}, and a rule that "
                "jumps to it)."
            )
        return lines

    def _families(self, where: Placement, rules: dict[int, list[Rule]]) -> list[int]:
        """Families with rules, or with blocks the rules cannot fix (said in a comment)."""
        return sorted(set(rules) | {u.block.family for u in where.unfixed})

    def render_files(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> dict[int, str]:
        """One iptables-restore file per family that has blocks."""
        where = self.placement(blocks, options)
        return self._files(where, self._rules(where, options), options)

    def _files(
        self, where: Placement, per_family: dict[int, list[Rule]], options: RuleOptions
    ) -> dict[int, str]:
        files: dict[int, str] = {}
        for family in self._families(where, per_family):
            rules = per_family.get(family, [])
            restore = RESTORE[family]
            tables = list(dict.fromkeys(r.table for r in rules))
            lines = self._header(family, rules, options, where)
            named = tables or ["filter"]
            emptied = f"the {named[0]} table"
            if len(named) > 1:
                emptied = "the " + ", ".join(named[:-1]) + f" and {named[-1]} tables"
            lines += [
                f"# Load with: {restore} --noflush FILE (test first with --test --noflush).",
                f"# Without --noflush, {restore} empties every chain of {emptied} first.",
            ]
            if options.chain not in BUILTIN_CHAINS:
                lines.append(
                    f"# {options.chain} is not declared here: with --noflush, declaring a chain "
                    "that exists empties it."
                )
            for table in tables:
                lines.append(f"*{table}")
                lines += [rule.restore_line() for rule in rules if rule.table == table]
                lines.append("COMMIT")
            files[family] = "\n".join(lines) + "\n"
        return files

    def render_commands(
        self, blocks: Sequence[MissingBlock], options: RuleOptions
    ) -> dict[int, str]:
        """The same rules as one shell command per line, per family that has blocks."""
        where = self.placement(blocks, options)
        per_family = self._rules(where, options)
        scripts: dict[int, str] = {}
        for family in self._families(where, per_family):
            rules = per_family.get(family, [])
            lines = self._header(family, rules, options, where)
            lines.append(
                f"# The same rules as {PROGRAM[family]} commands, one per line; each adds its"
                " rule only when -C does not find it, so they can be run again."
            )
            lines += [rule.command() for rule in rules]
            scripts[family] = "\n".join(lines) + "\n"
        return scripts

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        """Per family: the restore file (apply), and the same rules with ``-D`` (rollback),
        which iptables-restore --noflush loads the same way."""
        into, notes, blocks = self._into(blocks, options)
        arts: list[Artifact] = []
        for one in into:
            load, listing = "ipset -exist restore < FILE", f"ipset list {one.name}"
            n = len(one.blocks)
            notes_lines = [f"# note: {note}" for note in notes]
            add = "\n".join(notes_lines + self._ipset_lines(one, "add")) + "\n"
            back = "\n".join(self._ipset_lines(one, "del")) + "\n"
            arts.append(Artifact("apply", one.family, add, "ipset", load, listing, cidrs=n))
            arts.append(Artifact("rollback", one.family, back, "ipset", load, listing, cidrs=n))
        where = self.placement(blocks, options)  # once: the files and rollbacks share it
        per_family = self._rules(where, options)
        files = self._files(where, per_family, options)
        for family, text in files.items():
            rules = per_family.get(family, [])
            count = len({r.source for r in rules})
            how = {"apply": f"{RESTORE[family]} --noflush FILE"}
            check = f"{RESTORE[family]} --test --noflush FILE"
            arts.append(Artifact("apply", family, text, "rules", how["apply"], check, cidrs=count))
            lines = []
            for table in dict.fromkeys(r.table for r in rules):
                lines.append(f"*{table}")
                lines += [
                    replace(r, args=("-D", *r.args[1:])).restore_line()
                    for r in rules
                    if r.table == table
                ]
                lines.append("COMMIT")
            if lines:
                body = "\n".join(lines) + "\n"
                arts.append(
                    Artifact("rollback", family, body, "rules", how["apply"], check, cidrs=count)
                )
        if options.prune:
            arts += self._prune(options)
        return arts

    def _prune(self, options: RuleOptions) -> list[Artifact]:
        """Per family, the ``-D`` lines for the scope's wholly extra ACCEPT rules
        (:mod:`auditor.rules.iptables_prune`), and comments for the ones kept."""
        from auditor.rules.iptables_prune import prune_lines

        found = prune_lines(options.prune, options.declared, options.scope)
        arts = []
        for family in sorted(set(found.deletes) | set(found.kept)):
            deletes = found.deletes.get(family, [])
            lines = [f"# {note}" for note in found.kept.get(family, [])]
            if deletes:
                lines.append(
                    "# To undo, insert each rule again at its old place (iptables -I CHAIN N"
                    " ...): appended with -A after a DROP, it would not take effect."
                )
            for table in dict.fromkeys(t for t, _ in deletes):
                lines += [f"*{table}", *(d for t, d in deletes if t == table), "COMMIT"]
            restore = RESTORE[family]
            arts.append(
                Artifact(
                    "prune",
                    family,
                    "\n".join(lines) + "\n",
                    "rules",
                    f"{restore} --noflush FILE",
                    f"{restore} --test --noflush FILE",
                    cidrs=len(deletes),
                )
            )
        return arts

    def generate_file(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        """The file for iptables-restore (or ip6tables-restore), alone: the commands that
        follow it on standard output are not restore lines, and one restore program reads one
        family, so rules for both families do not fit in one file."""
        self.check(options)
        self.check_blocks(blocks)
        if self._into(blocks, options)[0]:
            raise UsageError(
                "some of the rules are ipset lines, which iptables-restore does not load",
                hint="write them with --output-dir (one file for ipset, one for iptables-restore)",
            )
        files = self.render_files(blocks, options)
        if len(files) > 1:
            raise UsageError(
                "the rules are for IPv4 and IPv6, which iptables-restore and ip6tables-restore"
                " load from separate files",
                hint="write one file per family: --family 4 --output-file v4.rules, then"
                " --family 6 --output-file v6.rules",
            )
        if not files:
            return self.render_rules(blocks, options)
        return next(iter(files.values()))

    def render(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        """The rules (:meth:`render_rules`), then with --prune the prune artifacts."""
        prune = self._prune(options) if options.prune else []
        return self.render_rules(blocks, options) + self.prune_section(prune, options)

    def _into(
        self, blocks: Sequence[MissingBlock], options: RuleOptions
    ) -> tuple[list[IntoIpset], list[str], list[MissingBlock]]:
        """The blocks that go into the scoped ipsets of the export, notes on the ones that
        cannot, and the blocks left for rules of this tool's own."""
        into, notes = into_ipsets(sanitize.sorted_blocks(blocks), options)
        taken = {b.cidr for one in into for b in one.blocks}
        return into, notes, [b for b in blocks if b.cidr not in taken]

    @staticmethod
    def _ipset_lines(one: IntoIpset, op: str) -> list[str]:
        suffix = "" if op == "add" else " (the set stays)"
        n = len(one.blocks)
        head = [
            f"# allowlist-auditor: IPv{one.family}, {n} missing CIDR{'s' if n != 1 else ''}"
            f" {'into' if op == 'add' else 'out of'} ipset {one.name} (--scope){suffix}.",
        ]
        if op == "add":
            head += [
                "# The export accepts from this set; evaluated again with these CIDRs in it, it",
                "# lets them in, so no iptables rule is added. The rules that match the set:",
                *(f"#   {user}" for user in one.users),
                "# Every line can be loaded again (-exist).",
            ]
        return head + [f"{op} {one.name} {sanitize.cidr(b)} -exist" for b in one.blocks]

    def render_rules(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        into, notes, blocks = self._into(blocks, options)
        sections = [f"# note: {note}\n" for note in notes]
        for one in into:
            banner = f"# ===== IPv{one.family}: into ipset {one.name}, for ipset restore ====="
            sections.append(banner + "\n" + "\n".join(self._ipset_lines(one, "add")) + "\n")
        files = self.render_files(blocks, options)
        if not files:
            if into:
                return "\n".join(sections)
            return "# allowlist-auditor: nothing is missing; there are no iptables rules to add.\n"
        commands = self.render_commands(blocks, options)
        for family, text in files.items():
            banner = f"# ===== IPv{family}: file for {RESTORE[family]} --noflush ====="
            sections.append(f"{banner}\n{text}")
        for family, text in commands.items():
            banner = f"# ===== IPv{family}: {PROGRAM[family]} commands ====="
            sections.append(f"{banner}\n{text}")
        return "\n".join(sections)
