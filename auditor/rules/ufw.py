"""ufw: a shell script of ``ufw prepend allow`` commands, one per CIDR (and port run).

Choices an admin should know about (they are also written into the output):

- ``ufw prepend`` puts each rule first among the rules of its family, ahead of any
  ``DENY``, ``REJECT`` or ``LIMIT`` rule that would match first (ufw evaluates its rules in
  order, first match [ufw(8)]); ``ufw allow`` would append it after them. ``ufw insert N``
  needs the number a rule has at the time, which changes with every insert. The rules all
  allow, so their order among themselves does not matter.
- When the declared source is ``ufw status`` output, the rules that deny each address today
  are named (file:line) in the script's comments.
- ufw skips a rule it has already ("Skipping inserting existing rule"), so the script can run
  again; ``ufw delete allow ...`` (the roll back) says "Could not delete non-existent rule"
  and goes on when a rule is gone.
- ``--chain FORWARD`` writes route rules (``ufw route prepend allow``).
- A rule holds at most 15 ports, a range counting two [ufw, as iptables' multiport]; a
  service with more gets several rules per CIDR.
- ``--prune --scope COMMENT``: a rule's comment names its group (the ufw-status reader's
  scopes). The prune script deletes the group's ALLOW and LIMIT rules whose source is wholly
  extra, with ``ufw delete`` and the rule as ``ufw status`` shows it (action, log, proto,
  from, to, port or app; ufw deletes a rule with a comment without being given it). A rule
  that also lets expected addresses in is kept, and so is one whose form is not written
  back here (an interface, a source port): each named in a comment.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from auditor import ipspace
from auditor.errors import AddressError, UsageError
from auditor.model import Entry, MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.iptables import port_runs
from auditor.service import Service

FORMAT = "ufw-status"
MAX_SHOWN = 10


def port_words(service: Service) -> list[list[str]]:
    """The ``proto ... port ...`` words of each rule the service needs (with ``from`` and
    ``to`` between them filled in by the caller): one list per run of at most 15 ports."""
    if service.protocol == "any":
        return [[]]
    if not service.ports:
        return [["proto", service.protocol]]
    runs = port_runs(service.ports)
    return [
        ["proto", service.protocol, "port", ",".join(_port(lo, hi) for lo, hi in run)]
        for run in runs
    ]


def _port(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}:{hi}"


_ADDRESS = r"[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?"
_PROTO = r"[a-z][a-z0-9]{1,9}"
_PORTS = r"[0-9]{1,5}(?::[0-9]{1,5})?(?:,[0-9]{1,5}(?::[0-9]{1,5})?)*"
_APP = r"[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}"
_ROW = re.compile(
    r"(?:\[\s*[0-9]+\]\s*)?(?P<to>\S.*?)\s+(?P<action>ALLOW|LIMIT)(?: (?P<dir>IN|FWD))?\s+"
    rf"(?P<src>{_ADDRESS})(?:/(?P<sproto>{_PROTO}))?(?:\s+\((?P<log>log|log-all)\))?(?:\s+#.*)?"
)
_TO = (
    re.compile(rf"Anywhere(?:/(?P<proto>{_PROTO}))?"),
    re.compile(rf"(?P<port>{_PORTS})(?:/(?P<proto>{_PROTO}))?(?: \((?P<app>{_APP})\))?"),
    re.compile(rf"(?P<dst>{_ADDRESS})(?:/(?P<proto>{_PROTO}))?(?: (?P<port>{_PORTS}))?"),
    re.compile(rf"(?P<dst>{_ADDRESS}) (?P<port>{_PORTS})/(?P<proto>{_PROTO})"),
    re.compile(rf"(?P<app>{_APP})"),
)


def delete_argv(row: str) -> list[str] | None:
    """The ``ufw delete`` command of an ALLOW or LIMIT rule as ``ufw status`` shows it (its
    row), or None when its form is not one written back here (an interface, a source port
    or profile, an address this tool cannot read)."""
    m = _ROW.fullmatch(row.strip())
    if m is None:
        return None
    try:
        ipspace.parse(m.group("src"))
    except AddressError:
        return None
    to: dict[str, str | None] = {}
    for pattern in _TO:
        found = pattern.fullmatch(m.group("to"))
        if found:
            to = found.groupdict()
            break
    else:
        return None
    if to.get("dst"):
        try:
            ipspace.parse(to["dst"] or "")
        except AddressError:
            return None
    route = ["route"] if m.group("dir") == "FWD" else []
    argv = ["ufw", *route, "delete", m.group("action").lower()]
    if m.group("log"):
        argv.append(m.group("log"))
    app = to.get("app")
    proto = m.group("sproto") or to.get("proto")
    if proto and not app:
        argv += ["proto", proto]
    argv += ["from", m.group("src"), "to", to.get("dst") or "any"]
    if app:
        argv += ["app", app]
    elif to.get("port"):
        argv += ["port", to["port"] or ""]
    return argv


def _in_scope(group: str | None, scope: Sequence[str]) -> bool:
    return group is not None and any(group == s or group.endswith("/" + s) for s in scope)


def prune_commands(
    prune: Sequence[MissingBlock], declared: Sequence[RangeSet], scope: Sequence[str]
) -> tuple[list[list[str]], list[str]]:
    """(the ``ufw delete`` commands, comments for the rules kept) for the scoped groups of
    every declared ``ufw status``."""
    extra = ipspace.IPSpace.from_text(b.cidr for b in prune)
    deletes: list[list[str]] = []
    kept: list[str] = []
    seen: set[tuple[str, int | None]] = set()
    for rs in declared:
        if rs.info.format != FORMAT:
            continue
        entries: list[Entry] = [e for e in rs.scope_entries if _in_scope(e.group, scope)]
        for entry in sorted(entries, key=lambda e: e.origin.line or 0):
            key = (entry.origin.source, entry.origin.line)
            covered = extra.covered(entry.family, entry.first, entry.last)
            if key in seen or not covered:
                continue
            seen.add(key)
            where = sanitize.clean(f"{entry.origin.source}:{entry.origin.line}")
            argv = delete_argv(entry.origin.path or "")
            if covered < entry.size:
                kept.append(f"kept {where}: {entry.text} is only partly extra")
            elif argv is None:
                kept.append(f"kept {where}: its form (an interface, a source port) is not one"
                            " this tool writes back")  # fmt: skip
            elif argv not in deletes:
                deletes.append(argv)
    return deletes, kept


class UfwGenerator(Generator):
    name = "ufw"
    description = "ufw commands (ufw prepend allow ... comment), a shell script, and ufw delete"
    families = (4, 6)
    prunes = True
    max_comment_len = 128
    """ufw stores a comment hex-encoded in its rules file and shows it in ``ufw status``; it
    sets no limit itself, this keeps the status readable."""

    def check_options(self, options: RuleOptions) -> None:
        if options.chain not in ("INPUT", "FORWARD"):
            raise UsageError(
                f"ufw has no chain {options.chain!r}",
                hint="use --chain INPUT (this host) or FORWARD (route rules)",
            )

    def commands(
        self, blocks: Sequence[MissingBlock], options: RuleOptions, verb: str
    ) -> list[list[str]]:
        """The argv of every command: ``verb`` is ``prepend`` or ``delete``."""
        route = ["route"] if options.chain == "FORWARD" else []
        out = []
        for block in sanitize.sorted_blocks(blocks):
            source = sanitize.cidr(block)
            note = self.origins_comment(block.origins) if verb == "prepend" else ""
            for words in port_words(options.service):
                proto, port = words[:2], words[2:]
                argv = ["ufw", *route, verb, "allow", *proto, "from", source, "to", "any", *port]
                if note:
                    argv += ["comment", note]
                out.append(argv)
        return out

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        arts = self._rules(blocks, options) if blocks else []
        if options.prune:
            arts += self._prune(options)
        return arts

    def _prune(self, options: RuleOptions) -> list[Artifact]:
        """The script deleting the scoped groups' rules whose source is wholly extra."""
        deletes, kept = prune_commands(options.prune, options.declared, options.scope)
        if not deletes and not kept:
            return []
        names = ", ".join(sanitize.cut(sanitize.clean(s), 60) for s in options.scope)
        lines = [
            "set -e",
            f"# Deletes the rules of group (comment) {names} whose source is wholly extra;",
            "# ufw says so, and goes on, when a rule is gone. Roll back: the rules as the ufw",
            "# status taken before shows them (ufw allow ... comment ...).",
            *(f"# {note}" for note in kept),
            *(shlex.join(argv) for argv in deletes),
        ]
        how = "sh FILE (as root)"
        body = "\n".join(lines) + "\n"
        return [Artifact("prune", None, body, "sh", how, script=True, cidrs=len(deletes))]

    def _rules(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        count = len(blocks)
        where = "route rules" if options.chain == "FORWARD" else "rules for this host"
        lines = [
            "set -e",
            f"# ufw {where}, {options.service.describe()}: prepend puts each rule first among",
            "# the rules of its family, ahead of any DENY, REJECT or LIMIT rule that matches",
            "# first. ufw skips a rule it has already, so this can run again.",
            *self.placement_lines(blocks, options.declared),
            *(shlex.join(argv) for argv in self.commands(blocks, options, "prepend")),
        ]
        how = "sh FILE (as root)"
        body = "\n".join(lines) + "\n"
        arts = [Artifact("apply", None, body, "sh", how, script=True, cidrs=count)]
        back = [
            "set -e",
            "# Deletes the rules the apply script added (ufw says so, and goes on, when one is",
            "# gone).",
            *(shlex.join(argv) for argv in self.commands(blocks, options, "delete")),
        ]
        arts.append(
            Artifact("rollback", None, "\n".join(back) + "\n", "sh", how, script=True, cidrs=count)
        )
        return arts

    def placement_lines(
        self, blocks: Sequence[MissingBlock], declared: Sequence[RangeSet]
    ) -> list[str]:
        """Comment lines naming, per block, the rules of a declared ``ufw status`` that do
        not accept it today."""
        found: list[str] = []
        for block in sanitize.sorted_blocks(blocks):
            first, last = block.network, block.network + block.size - 1
            rules: dict[str, None] = {}
            for rs in declared:
                if rs.info.format != FORMAT:
                    continue
                for verdicts in rs.verdicts:
                    if verdicts.family != block.family:
                        continue
                    for seg in verdicts.segments:
                        if seg.last >= first and seg.first <= last and seg.outcome != "accept":
                            rules.setdefault(seg.rule.describe(), None)
            if rules:
                shown = "; ".join(sanitize.cut(sanitize.clean(r), 160) for r in list(rules)[:2])
                more = f"; and {len(rules) - 2} more" if len(rules) > 2 else ""
                found.append(f"#   {block.cidr}: {shown}{more}")
        if not found:
            return []
        lines = ["# Today these are not allowed by (the prepended rules go ahead of them):"]
        lines += found[:MAX_SHOWN]
        if len(found) > MAX_SHOWN:
            lines.append(f"#   and {len(found) - MAX_SHOWN} more")
        return lines
