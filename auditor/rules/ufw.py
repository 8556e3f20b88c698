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
- There is no prune: ``ufw status`` has no named objects a ``--scope`` could name.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from auditor.errors import UsageError
from auditor.model import MissingBlock, RangeSet
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


class UfwGenerator(Generator):
    name = "ufw"
    description = "ufw commands (ufw prepend allow ... comment), a shell script, and ufw delete"
    families = (4, 6)
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
        if not blocks:
            return []
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
