"""Postfix cidr_table(5) files used as an access(5) table (``check_client_access cidr:...``,
``postscreen_access_list``).

``pattern result`` lines searched in order, the first match ends the search. Patterns are
``address``, ``network/prefix``, with or without brackets (IPv6 needs none here), with ``!``
to match what the pattern does not; ``if pattern`` / ``if !pattern`` ... ``endif`` blocks
nest and are evaluated. Results, after access(5) and postscreen(8): ``OK``, ``RELAY``,
``PERMIT``/``permit`` and an all-numeric result accept; ``REJECT``, ``DENY``, ``DEFER``,
``reject``, ``defer`` and ``4NN``/``5NN text`` drop; ``DUNNO`` is "no decision": the table
stops there and the next restriction decides (outcome ``return``); every other action
(``PREPEND``, ``FILTER``, ``HOLD``, ``WARN``, ``DISCARD``, ``DEFER_IF_PERMIT``, restriction
names ...) is conditional. Addresses no line matches get no decision from the table and are
not accepted. A line Postfix would skip with a warning (no result, host bits set as in
``10.0.0.5/8``, a bad address, ``endif`` without ``if``) is skipped here too and reported.
"""

from __future__ import annotations

import re

from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.allowlists.mail.postfix_common import (
    _CODE,
    CidrRule,
    _split_first,
    access_action,
    access_outcome,
    first_match,
    parse_cidr_table,
    table_findings,
    table_objects,
    table_rules,
)
from auditor.model import Finding, Origin, RangeSet, RuleRef, Severity, SourceInfo, Verdicts
from auditor.ruleset.ir import Action

# --- cidr_table(5) as an access table ----------------------------------------------------------

_ACTION = re.compile(
    r"(?i)(ok|relay|permit|reject|deny|defer|dunno|discard|hold|prepend|filter|redirect|warn|"
    r"info|bcc|defer_if_permit|defer_if_reject|[45][0-9][0-9]|[0-9]+|permit_\w+|reject_\w+)"
)


_PATTERN_SHAPE = re.compile(r"\[?[0-9A-Fa-f:.]*[0-9][0-9A-Fa-f:.]*\]?(/[0-9]+)?\]?")


def sniff_cidr(data: bytes) -> bool:
    """A cidr_table: every line `pattern action` (or if/endif), the action an access(5) word
    or SMTP code, so a text list with trailing comments is never taken for one."""
    head = data[:4096].decode("utf-8", "replace")
    lines = head.split("\n")
    if len(data) > 4096:
        lines = lines[:-1]
    seen = 0
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, rest = _split_first(line)
        if word.lower() == "endif" and not rest:
            continue
        if word.lower() == "if":
            word, rest = rest, "ok"
        action = rest.split()[0] if rest else ""
        pattern = word.lstrip("!")
        if not _ACTION.fullmatch(action) or not _PATTERN_SHAPE.fullmatch(pattern):
            return False
        seen += 1
    return seen > 0


class PostfixCidrReader(Reader):
    name = "postfix-cidr"
    description = "Postfix cidr_table (check_client_access, postscreen_access): first match"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_cidr(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        table = parse_cidr_table(text)
        findings = table_findings(table, lambda line: Origin(ctx.name, line))
        if not table.rules:
            first = table.skipped[0] if table.skipped else None
            raise ReaderError(
                "no rule Postfix would use" + (f" (line {first[0]}: {first[1]})" if first else ""),
                source=ctx.name,
                line=first[0] if first else None,
                hint="a cidr_table line is `network/prefix result`, e.g. `192.0.2.0/24 OK`",
            )
        for rule in table.rules:
            outcome, _ = access_outcome(rule.value)
            word = rule.value.split()[0]
            if outcome == "accept" and rule.value.isdigit() and _CODE.fullmatch(word):
                findings.append(
                    Finding(
                        "numeric-result",
                        Severity.WARNING,
                        f"{rule.value!r} alone is an all-numerical result, which access(5)"
                        " treats as OK; a rejection needs text after the code",
                        Origin(ctx.name, rule.line),
                    )
                )

        def decide(rule: CidrRule) -> tuple[Action, RuleRef]:
            return access_action(rule.value), RuleRef(Origin(ctx.name, rule.line), rule.text)

        verdicts = [
            Verdicts(f, tuple(first_match(table_rules(table, f, decide), f, None))) for f in (4, 6)
        ]
        info = SourceInfo.for_bytes(ctx.name, ctx.role, self.name, data, ctx.now)
        result = FirewallResult(info, verdicts, findings)
        result.objects = lambda: (
            table_objects(table, ctx.name, lambda r: Origin(ctx.name, r.line, r.text), True),
            [ctx.name],
        )
        return verdicts_rangeset(result)
