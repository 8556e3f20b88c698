"""What the Postfix readers share: address patterns, logical lines, cidr_table(5) files.

Address patterns are read as cidr_match(3) parses them (``addr``, ``addr/len``, with or
without brackets; host bits set are an error); logical lines as readlline(3) joins them
(a line starting with whitespace continues the one before it, ``#`` lines are comments).
A cidr_table(5) file is ``pattern result`` lines with ``if``/``endif`` blocks, searched in
order; its rules, the warnings Postfix gives when it opens it, and the first rule that
matches each address are computed here for both of its uses (an access table read with
``postfix-cidr``, a ``cidr:`` table named in a match list). ``access_outcome`` says what an
access(5) result does. A match list and an access table are lowered to rules of the ruleset
intermediate form (:mod:`auditor.ruleset.ir`) and evaluated by its engine (:func:`first_match`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.errors import AddressError
from auditor.model import Entry, Finding, Origin, Outcome, RuleRef, Segment, Severity
from auditor.ruleset import engine
from auditor.ruleset.ir import ACCEPT, DROP, RETURN, Action, Chain, Gate, Rule, Ruleset
from auditor.ruleset.sweep import complement, intersect

Interval = tuple[int, int]

# --- address patterns (cidr_match(3)) ------------------------------------------------------------


class PatternError(ValueError):
    """An address pattern Postfix refuses; the message follows Postfix's own wording."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Pattern:
    family: int
    first: int
    last: int
    mapped: bool
    """An IPv4-mapped IPv6 pattern: Postfix compares IPv4 clients in native form, so it
    never matches one (match_ops.c)."""


_PREFIX = re.compile(r"[0-9]+")


def parse_pattern(text: str) -> Pattern:
    """``addr``, ``addr/len``, ``[addr]``, ``[addr]/len`` or ``[addr/len]``, as
    cidr_match_parse() reads them: host bits set are an error, not a network to fix."""
    inner = text
    if inner.startswith("["):
        inner = inner[1:]
        addr, sep, after = inner.partition("]")
        if not sep:
            raise PatternError(f"missing ']' character after {text!r}")
        if after and not after.startswith("/"):
            raise PatternError(f"garbage after {'[' + addr + ']'!r}")
        inner = addr + after
    addr, slash, plen = inner.partition("/")
    if not addr or "-" in inner or "[" in inner or "]" in inner:
        raise PatternError(f"bad address pattern: {text!r}")
    if slash:
        if not _PREFIX.fullmatch(plen):
            raise PatternError(f"bad net/mask pattern: {text!r}")
        inner = f"{addr}/{int(plen)}"  # Postfix reads the length with atoi(): /08 is /8
    try:
        parsed = ipspace.parse(inner, "fix")
    except AddressError as e:
        kind = "net/mask" if slash else "address"
        raise PatternError(f"bad {kind} pattern: {text!r} ({e.message})", e.hint) from None
    if parsed.host_bits:
        fixed = ipspace.format_cidr(parsed.family, parsed.first, parsed.prefixlen or 0)
        raise PatternError(
            f"non-null host address bits in {text!r}",
            hint=f"perhaps you should use {fixed} instead",
        )
    return Pattern(parsed.family, parsed.first, parsed.last, parsed.mapped)


def _matched(pattern: Pattern, negated: bool) -> tuple[Interval, ...]:
    """The addresses of the pattern's family a (possibly negated) pattern matches."""
    if pattern.mapped:
        own: tuple[Interval, ...] = ()
    else:
        own = ((pattern.first, pattern.last),)
    if negated:
        # cidr_match_execute(): a pattern only ever sees clients of its own family
        return tuple(complement(list(own), ipspace.BITS[pattern.family]))
    return own


# --- logical lines (readlline(3)) ----------------------------------------------------------------


def content_lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """(line, stripped text, whether it continues the line before) of each physical line that
    is not empty and whose first non-blank is not ``#``; a line starting with whitespace
    continues the one before it."""
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        yield lineno, stripped, line[0] in " \t"


def logical_lines(text: str) -> tuple[list[tuple[int, str]], list[int]]:
    """(line, text) of each logical line: a line starting with whitespace continues the one
    before it; empty lines and lines whose first non-blank is ``#`` are skipped. Also returns
    the lines that start with whitespace but have nothing to continue."""
    out: list[tuple[int, str]] = []
    orphans: list[int] = []
    for lineno, stripped, continues in content_lines(text):
        if continues:
            if out:
                out[-1] = (out[-1][0], out[-1][1] + " " + stripped)
                continue
            orphans.append(lineno)
        out.append((lineno, stripped))
    return out, orphans


# --- cidr_table(5) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CidrRule:
    line: int
    text: str
    value: str
    family: int
    intervals: tuple[Interval, ...]
    """The addresses that reach this rule's pattern and match it (negation and the
    enclosing ``if`` blocks applied)."""


@dataclass
class CidrTable:
    rules: list[CidrRule] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """(line, why) of lines Postfix skips with a warning."""
    unclosed: list[int] = field(default_factory=list)
    """Lines of ``if`` without ``endif``: the block runs to the end of the file."""
    orphans: list[int] = field(default_factory=list)
    mapped: list[int] = field(default_factory=list)
    """Lines of IPv4-mapped IPv6 patterns, which never match an IPv4 client."""


def parse_cidr_table(text: str) -> CidrTable:
    """The rules of a cidr_table(5) file, as dict_cidr_open() and cidr_match_execute() read
    and run them."""
    table = CidrTable()
    lines, table.orphans = logical_lines(text)
    guards: list[tuple[int, int, tuple[Interval, ...]]] = []  # (line, family, intervals)
    for lineno, logical in lines:
        word, rest = _split_first(logical)
        keyword = word.lower()
        if keyword == "if":
            pat_text, extra = _split_first(rest)
            if not pat_text or pat_text.strip("!") == "":
                table.skipped.append((lineno, "no address pattern"))
                continue
            if extra:
                table.skipped.append((lineno, f"garbage after the pattern: {extra!r}"))
                continue
            try:
                fam, iv, mapped = _rule_pattern(pat_text)
            except PatternError as e:
                table.skipped.append((lineno, _why(e)))
                continue
            if mapped:
                table.mapped.append(lineno)
            guards.append((lineno, fam, iv))
            continue
        if keyword == "endif":
            if not guards:
                table.skipped.append((lineno, "ENDIF without IF"))
            else:
                guards.pop()
            continue
        if not rest:
            table.skipped.append((lineno, "no lookup result"))
            continue
        if word.strip("!") == "":
            table.skipped.append((lineno, "no pattern"))
            continue
        try:
            fam, iv, mapped = _rule_pattern(word)
        except PatternError as e:
            table.skipped.append((lineno, _why(e)))
            continue
        if mapped:
            table.mapped.append(lineno)
        for _, gfam, giv in guards:
            iv = tuple(intersect(iv, giv)) if gfam == fam else ()
        table.rules.append(CidrRule(lineno, " ".join(logical.split()), rest, fam, iv))
    table.unclosed = [line for line, _, _ in guards]
    return table


def _split_first(text: str) -> tuple[str, str]:
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def _rule_pattern(text: str) -> tuple[int, tuple[Interval, ...], bool]:
    bangs = len(text) - len(text.lstrip("!"))
    pattern = parse_pattern(text[bangs:])
    return pattern.family, _matched(pattern, bangs % 2 == 1), pattern.mapped


def _why(e: PatternError) -> str:
    return f"{e}; {e.hint}" if e.hint else str(e)


def table_findings(
    table: CidrTable, origin: Callable[[int], Origin], source: str | None = None
) -> list[Finding]:
    """What Postfix warns about when it opens the table, as findings at their lines (or at
    the line that refers to the table, the table's own named in the message)."""

    def at(line: int) -> str:
        return f"{source}:{line}: " if source is not None else ""

    out = [
        Finding(
            "skipped-rule",
            Severity.WARNING,
            f"{at(line)}{why}: Postfix skips this line",
            origin(line),
        )
        for line, why in table.skipped
    ]
    out += [
        Finding(
            "unclosed-if",
            Severity.WARNING,
            f"{at(line)}IF has no matching ENDIF: the block runs to the end of the file",
            origin(line),
        )
        for line in table.unclosed
    ]
    out += [
        Finding(
            "continuation-without-line",
            Severity.WARNING,
            f"{at(line)}a logical line must not start with whitespace",
            origin(line),
        )
        for line in table.orphans
    ]
    out += [
        Finding(
            "ipv4-mapped",
            Severity.INFO,
            f"{at(line)}an IPv4-mapped IPv6 pattern never matches: Postfix sees IPv4"
            " clients in native IPv4 form",
            origin(line),
        )
        for line in table.mapped
    ]
    return out


def table_objects(
    table: CidrTable, group: str, origin: Callable[[CidrRule], Origin], accepting: bool
) -> list[Entry]:
    """The addresses a cidr table names, as entries of the scope ``group``: the patterns
    whose result accepts (``accepting``: an access table) or every pattern (in a match list
    any result is a match); a negated pattern names no address of its own."""
    out: list[Entry] = []
    for rule in table.rules:
        if rule.text.startswith("!"):
            continue
        if accepting and access_outcome(rule.value)[0] != "accept":
            continue
        where = origin(rule)
        out.extend(Entry(rule.family, a, b, where, group) for a, b in rule.intervals)
    return out


def table_rules(
    table: CidrTable, family: int, decide: Callable[[CidrRule], tuple[Action, RuleRef]]
) -> list[Rule]:
    """The table's rules for one address family, in order, each with the action and reference
    ``decide`` gives it (what a match means depends on who looks it up)."""
    out = []
    for rule in table.rules:
        if rule.family == family and rule.intervals:
            action, ref = decide(rule)
            out.append(Rule(ref, action, rule.intervals))
    return out


_ACCEPT_WORDS = frozenset({"OK", "RELAY", "PERMIT"})
_DROP_WORDS = frozenset({"REJECT", "DENY", "DEFER"})
_CODE = re.compile(r"[45][0-9][0-9]")


def access_outcome(value: str) -> tuple[Outcome, str]:
    """What a check_client_access / postscreen_access_list result does (access(5),
    postscreen(8)); for a conditional outcome, why."""
    word = value.split()[0]
    upper = word.upper()
    if upper == "DUNNO":
        return "return", ""
    if upper in _ACCEPT_WORDS:
        return "accept", ""
    if value.isascii() and value.isdigit():
        # access(5): "An all-numerical result is treated as OK"
        return "accept", ""
    if upper in _DROP_WORDS:
        return "drop", ""
    if _CODE.fullmatch(word) and value != word:
        return "drop", ""
    if upper in ("DEFER_IF_PERMIT", "DEFER_IF_REJECT"):
        return "conditional", f"{upper} depends on the restrictions after this table"
    if upper in ("PREPEND", "FILTER", "HOLD", "WARN", "INFO", "BCC", "REDIRECT", "DISCARD"):
        return "conditional", f"{upper} does not decide by itself whether the client may send"
    return "conditional", f"{word!r} is a restriction or class that is not evaluated"


def access_action(value: str) -> Action:
    """A check_client_access / postscreen_access_list result as an action: accept, drop,
    return (``DUNNO``: the restrictions after the table decide), or an outcome that the
    table alone does not settle."""
    outcome, why = access_outcome(value)
    if outcome == "conditional":
        return Action("opaque", unsure=why)
    return {"accept": ACCEPT, "drop": DROP, "return": RETURN}[outcome]


# --- match lists and access tables as rules --------------------------------------------------

MatchRule = tuple[int | None, Rule]
"""A rule of a match list and the address family it is for (None: both)."""


def listed(out_of: bool) -> Action:
    """What a match does in a match list: puts the address in, or (``!pattern``) out."""
    return DROP if out_of else ACCEPT


def maybe_listed(out_of: bool, ref: RuleRef, why: str) -> MatchRule:
    """A pattern that may match addresses that cannot be known (a name, a table that was not
    given): a match puts them in (takes them out, ``out_of``) of the list, so it decides
    nothing where the patterns after it give that outcome anyway."""
    return None, Rule(ref, listed(out_of), whys=(why,))


def anything(ref: RuleRef, why: str) -> MatchRule:
    """A pattern that could be anything (an unknown ``$parameter``): every address it reaches
    is conditional."""
    return None, Rule(ref, Action("opaque", unsure=why))


_END = RuleRef(Origin("", None), "(no pattern matches)")


def first_match(rules: Sequence[Rule], family: int, end: Outcome | None) -> list[Segment]:
    """First match over the rules for one family, addresses that no rule decides left out: not
    in the list (``end`` ``drop``: a pattern that may take an address out decides nothing
    then), or for the restrictions after an access table (None)."""
    chain = Chain("rules", tuple(rules), _END, policy=end)
    ruleset = Ruleset(family, {chain.name: chain}, (Gate(chain.name, main=True),))
    # a match list does not look at the service
    verdicts = engine.evaluate(ruleset, None)
    return [s for s in verdicts.segments if s.rule is not _END]
