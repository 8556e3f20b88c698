"""Postfix: ``mynetworks`` in main.cf, mynetworks pattern files, and cidr_table(5) files.

Three readers, because Postfix uses address patterns in two ways:

``postfix-main-cf``
    The ``mynetworks`` parameter of a main.cf: the clients Postfix trusts (``permit_mynetworks``
    lets them relay). postconf(5) and match_list(3) define the list: patterns separated by
    commas and/or whitespace, continuation lines start with whitespace, whole-line ``#``
    comments; the list is searched left to right and the first pattern that matches decides,
    so ``!pattern`` before a network carves a hole in it and after it does nothing. What is
    understood:

    - ``192.0.2.0/24``, ``192.0.2.1``, ``[192.0.2.1]``, ``[2001:db8::]/32`` and
      ``[2001:db8::/32]``; IPv6 must be bracketed (IPV6_README: otherwise the ``:`` reads as
      ``type:table``), so a bare IPv6 pattern is an error, as it is for Postfix;
    - ``!`` (any number) before a pattern, a ``/file/name`` or a ``type:table``;
    - ``$name``, ``${name}``, ``$(name)``, ``${name?value}`` and ``${name:value}`` references
      to parameters set in the same file (``config_directory`` defaults to /etc/postfix);
      the addresses keep the line they are written on;
    - ``/file/name`` (its lines read with the same rules; a line starting with ``#`` is a
      comment), ``cidr:`` tables (read as cidr_table(5); any result counts as a match),
      ``hash:``/``btree:``/``lmdb:``/``cdb:``/``dbm:``/``sdbm:``/``texthash:`` tables through
      their postmap source file (a lookup key is the client address itself, so only keys
      that are one address match), ``proxy:`` in front of these, and ``static:`` (matches
      every client). Referenced files are looked up *next to the main.cf* by their file
      name (``cidr:/etc/postfix/relays.cidr`` reads ``relays.cidr`` from the main.cf's
      directory), never elsewhere on the system;
    - a ``#`` inside the value: Postfix stops reading the list there ("comment at end of
      line is not supported") and so does this reader, with a warning.

    What makes addresses conditional (the source partial, never counted as allowed): a
    reference that was not found or a table type that cannot be read (``mysql:``,
    ``pcre:`` ...), a host or domain name pattern (it matches a client by its verified
    reverse-DNS name), an unknown ``$parameter``, and a main.cf without ``mynetworks``: the
    default then comes from ``mynetworks_style`` (``host`` from compatibility_level 2 on,
    ``subnet`` before) and the host's network interfaces, which a file does not show (give
    the ``postconf -x mynetworks`` output instead, read as ``postconf`` below). A
    pattern that can only *add* (a name, a table that was not given) leaves addresses that
    a later pattern accepts accepted. ``-o mynetworks=...`` overrides in master.cf are not
    read. ``check_client_access`` tables named in ``smtpd_*_restrictions`` and the tables in
    ``postscreen_access_list`` are listed as findings: read them with ``postfix-cidr``.

``postconf``
    What ``postconf -x mynetworks`` (or ``postconf mynetworks``, or the full ``postconf``)
    prints on the mail server: read like a main.cf, but its ``mynetworks`` is the value Postfix
    computed, ``mynetworks_style`` and the interfaces already applied, so a server whose
    main.cf does not set mynetworks can be audited. Recognised by content under any file
    name (``.postconf``, ``.cf``, standard input): a file whose only lines are ``mynetworks =``
    (and ``mynetworks_style =``), without comments or continuation lines, or one that has
    ``mail_version =`` (the full output always prints it; a main.cf never sets it). ``postconf
    -n`` prints only what main.cf sets, so it reads as the main.cf it is.

``postfix-mynetworks``
    A ``/file/name`` pattern file as ``mynetworks = /etc/postfix/mynetworks`` reads it,
    given directly: the same patterns and references as above, one or more per line.

``postfix-cidr``
    A cidr_table(5) file used as an access(5) table (``check_client_access cidr:...``,
    ``postscreen_access_list``): ``pattern result`` lines searched in order, the first match
    ends the search. Patterns are ``address``, ``network/prefix``, with or without brackets
    (IPv6 needs none here), with ``!`` to match what the pattern does not; ``if pattern`` /
    ``if !pattern`` ... ``endif`` blocks nest and are evaluated. Results, after access(5) and
    postscreen(8): ``OK``, ``RELAY``, ``PERMIT``/``permit`` and an all-numeric result
    accept; ``REJECT``, ``DENY``, ``DEFER``, ``reject``, ``defer`` and ``4NN``/``5NN text``
    drop; ``DUNNO`` is "no decision": the table stops there and the next restriction
    decides (outcome ``return``); every other action (``PREPEND``, ``FILTER``, ``HOLD``,
    ``WARN``, ``DISCARD``, ``DEFER_IF_PERMIT``, restriction names ...) is conditional.
    Addresses no line matches get no decision from the table and are not accepted. A line
    Postfix would skip with a warning (no result, host bits set as in ``10.0.0.5/8``, a bad
    address, ``endif`` without ``if``) is skipped here too and reported.
"""

from __future__ import annotations

import bisect
import errno
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Verdicts,
    complement,
    first_claims,
    verdicts_rangeset,
)
from auditor.errors import AddressError
from auditor.model import Entry, Finding, Origin, RangeSet, Severity, SourceInfo

Interval = tuple[int, int]
FULL: dict[int, tuple[Interval, ...]] = {4: ((0, ipspace.MAX[4]),), 6: ((0, ipspace.MAX[6]),)}

# A referenced table or pattern file bigger than this is refused (a read, not a hang).
MAX_REFERENCED_BYTES = 64 * 1024 * 1024
# /file/name references inside /file/name files: deeper than this is a loop.
MAX_DEPTH = 8

ReadFile = Callable[[Path], bytes]
"""Reads a referenced file; raises OSError (FileNotFoundError when it is not there)."""


def read_referenced(path: Path) -> bytes:
    """The default ReadFile: the whole file, refusing more than MAX_REFERENCED_BYTES."""
    with path.open("rb") as fh:
        data = fh.read(MAX_REFERENCED_BYTES + 1)
    if len(data) > MAX_REFERENCED_BYTES:
        raise OSError(errno.EFBIG, f"over the limit of {MAX_REFERENCED_BYTES} bytes")
    return data


def source_directory(name: str) -> Path | None:
    """The directory a file source was read from; None for standard input."""
    if name in ("-", "<stdin>"):
        return None
    if name.startswith("file:"):
        name = name[5:]
        if name.startswith("///"):
            name = name[2:]
    return Path(name).parent


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


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Two sorted, disjoint interval lists intersected (two pointers)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


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


def logical_lines(text: str) -> tuple[list[tuple[int, str]], list[int]]:
    """(line, text) of each logical line: a line starting with whitespace continues the one
    before it; empty lines and lines whose first non-blank is ``#`` are skipped. Also returns
    the lines that start with whitespace but have nothing to continue."""
    out: list[tuple[int, str]] = []
    orphans: list[int] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
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
            iv = tuple(_intersect(iv, giv)) if gfam == fam else ()
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


def table_matches(
    table: CidrTable, family: int, decide: Callable[[CidrRule], tuple[Outcome, RuleRef]]
) -> list[Segment]:
    """For each address of the family, the first rule that matches it, with the outcome and
    reference ``decide`` gives that rule (what a match means depends on who looks it up)."""
    claims = []
    for order, rule in enumerate(table.rules):
        if rule.family == family and rule.intervals:
            outcome, ref = decide(rule)
            claims.append(Claim(order, rule.intervals, outcome, ref))
    return first_claims(claims)


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


# --- mynetworks: items and their evaluation -------------------------------------------------


StepKind = Literal["decide", "maybe-in", "maybe-out", "unknown"]


@dataclass(frozen=True)
class Step:
    """One pattern of a match list, ready for evaluation.

    ``decide``: the pattern's addresses are decided (``parts``); ``maybe-in`` / ``maybe-out``:
    the pattern may match addresses that cannot be known (a name, a table that was not
    given) and, when it does, puts them in (out of) the list; ``unknown``: the pattern could
    be anything (an unknown ``$parameter``), so every address after it is conditional.
    """

    kind: StepKind
    ref: RuleRef
    parts: tuple[tuple[int, tuple[Interval, ...], Outcome, RuleRef], ...] = ()


def evaluate(steps: Sequence[Step], family: int) -> list[Segment]:
    """First match over the steps for one family, folded from the last step back, so that a
    ``maybe`` step can look at what the patterns after it decide."""
    bits = ipspace.BITS[family]
    full = [(0, (1 << bits) - 1)]
    current: list[Segment] = []
    i = len(steps)
    while i > 0:
        j = i
        while j > 0 and steps[j - 1].kind == "decide":
            j -= 1
        if j < i:
            claims: list[Claim] = []
            for k, step in enumerate(steps[j:i]):
                claims.extend(
                    Claim(k, iv, outcome, ref)
                    for fam, iv, outcome, ref in step.parts
                    if fam == family and iv
                )
            tail = i - j
            claims.extend(Claim(tail, [(s.first, s.last)], s.outcome, s.rule) for s in current)
            current = first_claims(claims)
            i = j
            continue
        step = steps[i - 1]
        if step.kind == "unknown":
            current = [Segment(0, full[0][1], "conditional", step.ref)]
        elif step.kind == "maybe-in":
            # a match puts the address in; no match leaves it to the later patterns, so
            # only what they accept stays certain
            keep = [Claim(0, [(s.first, s.last)], s.outcome, s.rule) for s in current]
            keep = [c for c in keep if c.outcome == "accept"]
            current = first_claims([*keep, Claim(1, full, "conditional", step.ref)])
        else:
            # a match takes the address out: what the later patterns accept becomes
            # conditional, the rest stays as it is
            claims = [
                Claim(0, [(s.first, s.last)], "conditional", step.ref)
                for s in current
                if s.outcome == "accept"
            ]
            claims.extend(
                Claim(1, [(s.first, s.last)], s.outcome, s.rule)
                for s in current
                if s.outcome != "accept"
            )
            current = first_claims(claims)
        i -= 1
    return current


_V6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_ADDR_CHARS = _V6_CHARS | frozenset("[]/")
_DOTTED = frozenset("0123456789.")
_HEXLIKE = re.compile(r"[0-9A-Fa-f]{0,4}")
_TABLE_TYPES = frozenset(
    {"cidr", "hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash", "static", "inline",
     "pcre", "regexp", "mysql", "pgsql", "sqlite", "ldap", "memcache", "tcp", "socketmap",
     "proxy", "unix", "nis", "nisplus", "netinfo", "randmap", "pipemap", "unionmap", "fail",
     "environ", "internal"}
)  # fmt: skip
_KEYED_TABLES = frozenset({"hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash"})
_DEFAULTS = {"config_directory": "/etc/postfix"}
_SEPARATORS = " ,\t\r\n"


def split_list(pieces: Sequence[tuple[int, str]]) -> list[tuple[str, int]]:
    """Patterns of a list value (separated by commas and/or whitespace, ``{...}`` kept
    whole), each with the line it starts on."""
    text = ""
    starts: list[int] = []
    lines: list[int] = []
    for line, piece in pieces:
        starts.append(len(text))
        lines.append(line)
        text += piece + "\n"
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in _SEPARATORS:
            i += 1
            continue
        j, depth = i, 0
        while j < n and (depth > 0 or text[j] not in _SEPARATORS):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}" and depth:
                depth -= 1
            j += 1
        out.append((text[i:j], lines[bisect.bisect_right(starts, i) - 1]))
        i = j
    return out


@dataclass
class _Param:
    name: str
    line: int
    pieces: list[tuple[int, str]]

    @property
    def value(self) -> str:
        return " ".join(p for _, p in self.pieces).strip()


_PARAM_LINE = re.compile(r"([A-Za-z0-9_.-]+)\s*=\s*(.*)")
_REF = re.compile(
    r"\$(?:\{([A-Za-z0-9_]+)(?:([?:])(\{[^}]*\}|[^}]*))?\}|\(([A-Za-z0-9_]+)\)|([A-Za-z0-9_]+))"
)


def parse_main_cf(text: str, name: str) -> tuple[dict[str, _Param], list[Finding]]:
    """The parameters of a main.cf (the last definition of a name wins, as in postconf(5))."""
    params: dict[str, _Param] = {}
    findings: list[Finding] = []
    current: _Param | None = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            if current is None:
                raise ReaderError(
                    "a line that starts with whitespace continues a parameter, but none is open",
                    source=name,
                    line=lineno,
                    hint="in main.cf a parameter starts at the beginning of a line",
                )
            current.pieces.append((lineno, stripped))
            continue
        m = _PARAM_LINE.fullmatch(stripped)
        if m is None:
            raise ReaderError(
                f"missing '=' after the parameter name in {stripped[:60]!r}",
                source=name,
                line=lineno,
                hint="main.cf lines are `name = value` (postconf(5)); master.cf is not read",
            )
        if m.group(1) in params:
            findings.append(
                Finding(
                    "redefined",
                    Severity.INFO,
                    f"{m.group(1)} is set again here; the earlier line"
                    f" {params[m.group(1)].line} is ignored",
                    Origin(name, lineno),
                )
            )
        current = _Param(m.group(1), lineno, [(lineno, m.group(2))] if m.group(2) else [])
        params[current.name] = current
    return params, findings


class Token(NamedTuple):
    """One pattern of a list and the line it is written on; ``unknown`` marks a
    ``$parameter`` that could not be expanded (``text`` is then the reference)."""

    text: str
    line: int
    unknown: bool = False


class _Expander:
    """``$name`` references of a main.cf, expanded into tokens (main.cf(5): parameters are
    expanded when the value is used; an address keeps the line it is written on)."""

    def __init__(self, params: dict[str, _Param], name: str) -> None:
        self.params = params
        self.name = name

    def tokens(self, param: _Param, seen: tuple[str, ...] = ()) -> list[Token]:
        if param.name in seen:
            raise ReaderError(
                f"parameter {param.name} refers to itself ({' -> '.join((*seen, param.name))})",
                source=self.name,
                line=param.line,
                hint="Postfix stops with 'macro nesting' at such a loop",
            )
        inner = (*seen, param.name)
        out: list[Token] = []
        for token, line in split_list(param.pieces):
            if "$" not in token:
                out.append(Token(token, line))
                continue
            whole = _REF.fullmatch(token)
            if whole and whole.group(2) is None:
                ref = whole.group(1) or whole.group(4) or whole.group(5)
                if ref in self.params:
                    out.extend(self.tokens(self.params[ref], inner))
                elif ref in _DEFAULTS:
                    out.extend(Token(t, line) for t, _ in split_list([(line, _DEFAULTS[ref])]))
                else:
                    out.append(Token(f"${ref}", line, unknown=True))
                continue
            expanded, unknown = self._substitute(token, inner)
            if unknown is not None:
                out.append(Token(f"${unknown}", line, unknown=True))
            else:
                out.extend(Token(t, line) for t, _ in split_list([(line, expanded)]))
        return out

    def _substitute(self, token: str, seen: tuple[str, ...]) -> tuple[str, str | None]:
        """A token with references inside (``cidr:$config_directory/relays``)."""
        unknown: list[str] = []

        def value(name: str) -> str | None:
            if name in self.params:
                parts = self.tokens(self.params[name], seen)
                if any(p.unknown for p in parts):
                    return None
                return " ".join(p.text for p in parts)
            return _DEFAULTS.get(name)

        def replace(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(4) or m.group(5)
            got = value(name)
            if got is None:
                unknown.append(name)
                return ""
            if m.group(2):
                alt = m.group(3) or ""
                alt = alt[1:-1] if alt.startswith("{") and alt.endswith("}") else alt
                # ${name?value}: value when name is not empty; ${name:value}: when it is
                return alt if bool(got) == (m.group(2) == "?") else ""
            return got

        text = _REF.sub(replace, token)
        return text, (unknown[0] if unknown else None)


@dataclass(frozen=True)
class _Via:
    """A pattern read from a referenced file: reported at the line of the reference."""

    origin: Origin
    prefix: str
    """``cidr:/etc/postfix/relays.cidr -> `` (and more for nested files)."""


Part = tuple[int, tuple[Interval, ...], Outcome, RuleRef]


@dataclass
class _Lists:
    """Turns the patterns of a match list into steps, reading what they refer to."""

    main: str
    """The source the steps are reported against (the file given on the command line)."""
    directory: Path | None
    read_file: ReadFile
    findings: list[Finding] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    objects: list[Entry] = field(default_factory=list)
    """The cidr tables read, as scopes named by their path as written."""
    object_names: list[str] = field(default_factory=list)

    def ref(self, text: str, source: str, line: int, via: _Via | None, why: str = "") -> RuleRef:
        if via is None:
            return RuleRef(Origin(source, line), text, why)
        return RuleRef(via.origin, f"{via.prefix}{source}:{line}: {text}", why)

    def note(self, kind: str, severity: Severity, message: str, origin: Origin) -> None:
        self.findings.append(Finding(kind, severity, message, origin))

    def at(self, source: str, line: int, via: _Via | None) -> tuple[Origin, str]:
        """Where to report a pattern, and the prefix that names it when that is elsewhere."""
        if via is None:
            return Origin(source, line), ""
        return via.origin, f"{source}:{line}: "

    def steps(
        self,
        tokens: Sequence[Token],
        source: str,
        *,
        via: _Via | None = None,
        negated: bool = False,
        depth: int = 0,
    ) -> list[Step]:
        out: list[Step] = []
        for k, token in enumerate(tokens):
            where, prefix = self.at(source, token.line, via)
            if token.unknown:
                why = (
                    f"{token.text} is not set in this file: its value comes from Postfix's"
                    " defaults or master.cf"
                )
                out.append(Step("unknown", self.ref(token.text, source, token.line, via, why)))
                continue
            if token.text.startswith("#"):
                rest = " ".join(t.text for t in tokens[k:])
                self.note(
                    "comment-in-list",
                    Severity.WARNING,
                    f"{prefix}Postfix stops reading the list at '#' (comment at"
                    f" end of line is not supported) and ignores {rest[:120]!r}",
                    where,
                )
                break
            out.extend(self.item(token.text, token.line, source, via, negated, depth))
        return out

    def item(
        self, token: str, line: int, source: str, via: _Via | None, negated: bool, depth: int
    ) -> list[Step]:
        bangs = len(token) - len(token.lstrip("!"))
        body = token[bangs:]
        out_of = negated != (bangs % 2 == 1)
        if not body:
            raise ReaderError(
                "no pattern after '!'", source=source, line=line, hint="write !192.0.2.0/24"
            )
        if body.startswith("/"):
            return self.pattern_file(token, body, line, source, via, out_of, depth)
        if not body.startswith("[") and ":" in body:
            return self.table(token, body, line, source, via, out_of)
        if set(body) <= _ADDR_CHARS:
            return self.network(token, body, line, source, via, out_of)
        if body.startswith("["):
            # neither an address (match_hostaddr() gives up on it) nor a host name
            where, prefix = self.at(source, line, via)
            self.note(
                "never-matches",
                Severity.WARNING,
                f"{prefix}{token!r} is neither an address nor a name and matches no client",
                where,
            )
            return []
        why = f"matches clients whose verified reverse-DNS name is {body} (or, with"
        why += " parent_domain_matches_subdomains, a name below it)"
        return [Step(_maybe(out_of), self.ref(token, source, line, via, why))]

    def network(
        self, token: str, body: str, line: int, source: str, via: _Via | None, out_of: bool
    ) -> list[Step]:
        where, prefix = self.at(source, line, via)
        if set(body) <= _DOTTED:
            try:
                ipspace.parse_address(body)
            except AddressError:
                # match_hostaddr(): a dotted-digits pattern is only ever compared as text
                self.note(
                    "never-matches",
                    Severity.WARNING,
                    f"{prefix}{token!r} is not a whole address and matches no"
                    " client (write a network as 192.0.2.0/24)",
                    where,
                )
                return []
        try:
            pattern = parse_pattern(body)
        except PatternError as e:
            raise ReaderError(
                f"{e}: Postfix refuses this pattern", source=source, line=line, hint=e.hint
            ) from None
        if pattern.mapped:
            self.note(
                "ipv4-mapped",
                Severity.INFO,
                f"{prefix}{token!r} is IPv4-mapped IPv6; Postfix sees IPv4 clients in"
                " native IPv4 form, so it matches none",
                where,
            )
            return []
        ref = self.ref(token, source, line, via)
        outcome: Outcome = "drop" if out_of else "accept"
        return [
            Step("decide", ref, ((pattern.family, ((pattern.first, pattern.last),), outcome, ref),))
        ]

    def table(
        self, token: str, body: str, line: int, source: str, via: _Via | None, out_of: bool
    ) -> list[Step]:
        kind, _, name = body.partition(":")
        while kind == "proxy":
            kind, _, name = name.partition(":")
        maybe = _maybe(out_of)
        outcome: Outcome = "drop" if out_of else "accept"
        if kind not in _TABLE_TYPES:
            if _HEXLIKE.fullmatch(kind):
                raise ReaderError(
                    f"{token!r} reads as a lookup table of type {kind!r}: IPv6 must be in"
                    " brackets in a list",
                    source=source,
                    line=line,
                    hint="write [2001:db8::]/32 (Postfix IPV6_README)",
                )
            self.unsupported.append(f"{source}:{line}: {token} (unknown table type {kind})")
            why = f"table type {kind!r} is unknown"
            return [Step(maybe, self.ref(token, source, line, via, why))]
        if kind == "static":
            ref = self.ref(token, source, line, via)
            return [Step("decide", ref, tuple((f, FULL[f], outcome, ref) for f in (4, 6)))]
        if kind not in _KEYED_TABLES and kind != "cidr":
            why = f"{kind}: tables are looked up on the server and cannot be read here"
            self.unsupported.append(f"{source}:{line}: {token} ({kind}: lookups not evaluated)")
            return [Step(maybe, self.ref(token, source, line, via, why))]
        data, why = self.fetch(name)
        if data is None:
            self.unsupported.append(f"{source}:{line}: {token} ({why})")
            return [Step(maybe, self.ref(token, source, line, via, why))]
        shown = self.shown(name)
        inner = self.inner(token, source, line, via)
        text = self.decode(data, shown)
        if kind == "cidr":
            table = parse_cidr_table(text)
            self.findings.extend(table_findings(table, lambda _: inner.origin, shown))
            if name not in self.object_names:
                self.object_names.append(name)
                # reported at the line that names the table, as its other findings are
                at = inner.origin

                def where(r: CidrRule) -> Origin:
                    return Origin(at.source, at.line, f"{shown}:{r.line}: {r.text}")

                self.objects.extend(table_objects(table, name, where, accepting=False))
            parts: list[Part] = []
            for fam in (4, 6):
                # in a match list any result is a match (match_hostaddr() ignores the value)
                segs = table_matches(
                    table, fam, lambda r: (outcome, self.ref(r.text, shown, r.line, inner))
                )
                parts.extend((fam, ((s.first, s.last),), s.outcome, s.rule) for s in segs)
            return [Step("decide", self.ref(token, source, line, via), tuple(parts))]
        return self.keyed(token, text, shown, inner, outcome, self.ref(token, source, line, via))

    def keyed(
        self, token: str, text: str, shown: str, inner: _Via, outcome: Outcome, ref: RuleRef
    ) -> list[Step]:
        """A hash-style table through its postmap source: match_hostaddr() looks the client
        address up as a whole, match_hostname() its name and parent domains."""
        parts: list[Part] = []
        names: list[str] = []
        lines, _ = logical_lines(text)
        for key_line, logical in lines:
            key, value = _split_first(logical)
            if not value:
                self.note(
                    "skipped-rule",
                    Severity.WARNING,
                    f"{shown}:{key_line}: {key!r} has no value: postmap refuses the line",
                    inner.origin,
                )
                continue
            try:
                fam, addr, mapped = ipspace.parse_address(key)
            except AddressError:
                if set(key) <= _ADDR_CHARS:
                    self.note(
                        "never-matches",
                        Severity.WARNING,
                        f"{shown}:{key_line}: key {key!r} is not one address; a table in a"
                        " list is looked up with the whole client address, so it never"
                        " matches (a cidr: table takes networks)",
                        inner.origin,
                    )
                else:
                    names.append(key)
                continue
            canonical = ipspace.format_address(fam, addr)
            if mapped or (fam == 6 and key.lower() != canonical):
                self.note(
                    "never-matches",
                    Severity.WARNING,
                    f"{shown}:{key_line}: key {key!r} is not written the way Postfix prints"
                    f" the client address ({canonical}), so it never matches",
                    inner.origin,
                )
                continue
            rule = self.ref(logical, shown, key_line, inner)
            parts.append((fam, ((addr, addr),), outcome, rule))
        steps = [Step("decide", ref, tuple(parts))]
        if names:
            why = f"{shown} also lists names ({', '.join(names[:3])}), matched by reverse DNS"
            steps.append(Step(_maybe(outcome == "drop"), RuleRef(ref.origin, ref.text, why)))
        return steps

    def pattern_file(
        self,
        token: str,
        path: str,
        line: int,
        source: str,
        via: _Via | None,
        out_of: bool,
        depth: int,
    ) -> list[Step]:
        if depth >= MAX_DEPTH:
            raise ReaderError(
                f"{token}: pattern files nest deeper than {MAX_DEPTH} (a loop?)",
                source=source,
                line=line,
            )
        data, why = self.fetch(path)
        if data is None:
            self.unsupported.append(f"{source}:{line}: {token} ({why})")
            return [Step(_maybe(out_of), self.ref(token, source, line, via, why))]
        shown = self.shown(path)
        inner = self.inner(token, source, line, via)
        out: list[Step] = []
        # match_list(3): the file's lines are patterns too; a line starting with # is skipped
        for file_line, raw in enumerate(self.decode(data, shown).split("\n"), 1):
            if raw.startswith("#"):
                continue
            tokens = [Token(t, n) for t, n in split_list([(file_line, raw)])]
            out.extend(self.steps(tokens, shown, via=inner, negated=out_of, depth=depth + 1))
        return out

    def inner(self, token: str, source: str, line: int, via: _Via | None) -> _Via:
        if via is None:
            return _Via(Origin(source, line), f"{token} -> ")
        return _Via(via.origin, f"{via.prefix}{source}:{line}: {token} -> ")

    def fetch(self, path: str) -> tuple[bytes | None, str]:
        """The referenced file from next to the main file, or None and why not."""
        name = PurePosixPath(path).name
        if self.directory is None:
            return None, f"{path} cannot be looked for next to standard input"
        if not name:
            return None, f"{path} names no file"
        try:
            data = self.read_file(self.directory / name)
        except FileNotFoundError:
            return None, (
                f"{path} was not found next to {self.main} (put a copy named {name} there to"
                " have it read)"
            )
        except OSError as e:
            return None, f"{path} could not be read: {e.strerror or e}"
        return data, ""

    def shown(self, path: str) -> str:
        name = PurePosixPath(path).name
        return str(self.directory / name) if self.directory is not None else name

    def decode(self, data: bytes, shown: str) -> str:
        return decode_text(data, ReadContext(shown, "declared"))


def _maybe(out_of: bool) -> StepKind:
    return "maybe-out" if out_of else "maybe-in"


def _result(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    steps: Sequence[Step],
    findings: Iterable[Finding],
    lists: _Lists,
) -> RangeSet:
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    verdicts = [Verdicts(fam, tuple(evaluate(steps, fam))) for fam in (4, 6)]
    result = FirewallResult(info, verdicts, list(findings), list(lists.unsupported))
    result.objects = lambda: (lists.objects, lists.object_names)
    return verdicts_rangeset(result)


# --- main.cf ---------------------------------------------------------------------------------

# Parameters only a main.cf has; a `name = value` file with none of them is some other .cf
# (a mysql: or ldap: table definition, say).
_MAIN_CF_NAMES = frozenset(
    {"mynetworks", "mynetworks_style", "myhostname", "mydomain", "myorigin", "mydestination",
     "inet_interfaces", "inet_protocols", "relayhost", "relay_domains", "compatibility_level",
     "alias_maps", "alias_database", "queue_directory", "command_directory", "daemon_directory",
     "mail_owner", "biff", "append_dot_mydomain", "home_mailbox", "mailbox_size_limit",
     "message_size_limit", "recipient_delimiter", "virtual_mailbox_domains", "virtual_alias_maps",
     "transport_maps", "default_transport", "local_recipient_maps", "mailbox_command"}
)  # fmt: skip
_MAIN_CF_PREFIXES = ("smtpd_", "postscreen_")
_CLIENT_ACCESS = frozenset({"check_client_access"})


def _is_main_cf(names: Iterable[str]) -> bool:
    return any(n in _MAIN_CF_NAMES or n.startswith(_MAIN_CF_PREFIXES) for n in names)


def sniff_main_cf(data: bytes) -> bool:
    """A main.cf: `name = value` lines (and continuations, comments) naming mynetworks or at
    least two parameters only a main.cf has."""
    head = data[:8192].decode("utf-8", "replace")
    lines = head.split("\n")
    if len(data) > 8192:
        lines = lines[:-1]  # cut mid-line
    names: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or line[0] in " \t":
            continue
        m = _PARAM_LINE.fullmatch(stripped)
        if m is None:
            return False
        names.append(m.group(1))
    known = [n for n in names if n in _MAIN_CF_NAMES or n.startswith(_MAIN_CF_PREFIXES)]
    return "mynetworks" in names or "mynetworks_style" in names or len(set(known)) >= 2


# postconf(1) prints `name = value` lines too. What tells its output from a main.cf: the full
# output (`postconf`) always prints mail_version, the compiled-in version a main.cf has no
# reason to set; `postconf mynetworks [mynetworks_style]` prints only those parameters, with
# no comment and no continuation line.
_POSTCONF_ALONE = frozenset({"mynetworks", "mynetworks_style"})
_MAIL_VERSION = b"mail_version = "
POSTCONF_SNIFF_BYTES = 256 * 1024


def _postconf_lines(text: str) -> list[str] | None:
    """The parameter names of postconf-shaped text; None when a line is not `name = value`
    (a comment, a continuation, anything else)."""
    names: list[str] = []
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if not line:
            continue
        m = _PARAM_LINE.fullmatch(line)
        if m is None or line[0] in " \t#":
            return None
        names.append(m.group(1))
    return names


def is_postconf_output(text: str, params: Iterable[str]) -> bool:
    """Whether parsed main.cf-style text is what postconf printed (see above)."""
    names = set(params)
    if "mail_version" in names:
        return True
    if "mynetworks" not in names or not names <= _POSTCONF_ALONE:
        return False
    return _postconf_lines(text) is not None


def sniff_postconf(data: bytes) -> bool:
    head = data[:POSTCONF_SNIFF_BYTES]
    # a plain find, not a multi-line regex: this runs on every file whose format is sniffed
    at_start = head.startswith(_MAIL_VERSION)
    if (at_start or b"\n" + _MAIL_VERSION in head) and sniff_main_cf(data):
        return True
    if len(data) > 8192:
        return False
    names = _postconf_lines(data.decode("utf-8", "replace"))
    return names is not None and "mynetworks" in names and set(names) <= _POSTCONF_ALONE


class PostfixMainCfReader(Reader):
    name = "postfix-main-cf"
    description = "Postfix main.cf: the clients mynetworks trusts (! exclusions, files, cidr:)"
    suffixes = (".cf",)

    def __init__(self, read_file: ReadFile = read_referenced) -> None:
        self.read_file = read_file

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_main_cf(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return self.read(data, ctx, printed=False)

    def read(self, data: bytes, ctx: ReadContext, *, printed: bool) -> RangeSet:
        """``printed``: the file is postconf output (else: when it looks like it)."""
        text = decode_text(data, ctx)
        params, findings = parse_main_cf(text, ctx.name)
        printed = printed or is_postconf_output(text, params)
        if printed and "mynetworks" not in params:
            raise ReaderError(
                "postconf output without mynetworks",
                source=ctx.name,
                hint="on the mail server run `postconf -x mynetworks > mynetworks.postconf`"
                " and give that file",
            )
        if not _is_main_cf(params):
            raise ReaderError(
                "no Postfix main.cf parameter (mynetworks, myhostname, smtpd_...) in this file",
                source=ctx.name,
                hint="give the main.cf (a mysql:/ldap: table definition is not one), or"
                " choose the format with file+FORMAT:PATH or --format",
            )
        lists = _Lists(ctx.name, source_directory(ctx.name), self.read_file)
        findings += _client_access_findings(params, ctx.name)
        mynetworks = params.get("mynetworks")
        if mynetworks is None:
            steps = [_default_mynetworks(params, ctx.name)]
        else:
            tokens = _Expander(params, ctx.name).tokens(mynetworks)
            steps = lists.steps(tokens, ctx.name)
            if printed:
                findings.append(_postconf_finding(mynetworks, tokens, ctx.name))
            if not tokens:
                findings.append(
                    Finding(
                        "empty-list",
                        Severity.INFO,
                        "mynetworks is empty: Postfix trusts no client",
                        Origin(ctx.name, mynetworks.line),
                    )
                )
        findings += lists.findings
        fmt = "postconf" if printed else self.name
        return _result(data, ctx, fmt, steps, findings, lists)


def _postconf_finding(mynetworks: _Param, tokens: Sequence[Token], name: str) -> Finding:
    message = (
        "read as postconf output: mynetworks is the value Postfix computed (mynetworks_style"
        " and the host's interfaces already applied when main.cf does not set it)"
    )
    if any(t.unknown for t in tokens):
        message += (
            "; its $parameters were printed as written: give `postconf -x mynetworks`"
            " output, which expands them"
        )
    return Finding("postconf-output", Severity.INFO, message, Origin(name, mynetworks.line))


def _default_mynetworks(params: dict[str, _Param], name: str) -> Step:
    """Without mynetworks, Postfix computes it from mynetworks_style and the interfaces."""
    style_param = params.get("mynetworks_style")
    level_param = params.get("compatibility_level")
    if style_param is not None:
        style = style_param.value or "subnet"
        line = style_param.line
        said = f"mynetworks_style = {style}"
    else:
        level = level_param.value if level_param is not None else "0"
        major = level.split(".")[0]
        style = "host" if major.isdigit() and int(major) >= 2 else "subnet"
        line = level_param.line if level_param is not None else 0
        said = f"the default mynetworks_style ({style} at compatibility_level {level})"
    why = (
        f"mynetworks is not set, so Postfix trusts the networks {said} derives from the host's"
        " network interfaces, which the file does not show; on the mail server run"
        " `postconf -x mynetworks > mynetworks.postconf` and give that file instead: it holds"
        " the networks Postfix computed"
    )
    return Step("unknown", RuleRef(Origin(name, line or None), "mynetworks (not set)", why))


def _client_access_findings(params: dict[str, _Param], name: str) -> list[Finding]:
    """check_client_access tables and postscreen_access_list tables decide about clients
    too; they are other files, named here so that they can be audited."""
    out: list[Finding] = []
    for pname in sorted(params):
        param = params[pname]
        if not (pname.startswith("smtpd_") and pname.endswith("_restrictions")) and (
            pname != "postscreen_access_list"
        ):
            continue
        tokens = split_list(param.pieces)
        for k, (token, line) in enumerate(tokens):
            table = None
            if pname == "postscreen_access_list":
                if ":" in token and not token.startswith("["):
                    table = token
            elif token.lower() in _CLIENT_ACCESS and k + 1 < len(tokens):
                table = tokens[k + 1][0]
            if table is None:
                continue
            how = "postscreen(8)" if pname == "postscreen_access_list" else token
            hint = ""
            if table.startswith("cidr:"):
                hint = f" (read it with -d file+postfix-cidr:{table[len('cidr:') :]})"
            out.append(
                Finding(
                    "client-access-table",
                    Severity.INFO,
                    f"{pname}: {how} checks clients against {table}{hint}",
                    Origin(name, line),
                )
            )
    return out


class PostconfReader(PostfixMainCfReader):
    name = "postconf"
    description = "postconf output (postconf -x mynetworks, or all of postconf): mynetworks"
    suffixes = (".postconf",)

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_postconf(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return self.read(data, ctx, printed=True)


class PostfixMynetworksReader(Reader):
    name = "postfix-mynetworks"
    description = "Postfix mynetworks pattern file (/file/name): ! exclusions, [IPv6], cidr:"

    def __init__(self, read_file: ReadFile = read_referenced) -> None:
        self.read_file = read_file

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        lists = _Lists(ctx.name, source_directory(ctx.name), self.read_file)
        steps: list[Step] = []
        for lineno, raw in enumerate(text.split("\n"), 1):
            if raw.startswith("#"):
                continue
            tokens = [Token(t, n) for t, n in split_list([(lineno, raw)])]
            steps.extend(lists.steps(tokens, ctx.name))
        if not steps:
            raise ReaderError(
                "no pattern",
                source=ctx.name,
                hint="a mynetworks file lists networks such as 192.0.2.0/24 and [2001:db8::]/32",
            )
        return _result(data, ctx, self.name, steps, lists.findings, lists)


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

        def decide(rule: CidrRule) -> tuple[Outcome, RuleRef]:
            outcome, why = access_outcome(rule.value)
            return outcome, RuleRef(Origin(ctx.name, rule.line), rule.text, why)

        verdicts = [Verdicts(f, tuple(table_matches(table, f, decide))) for f in (4, 6)]
        info = SourceInfo.for_bytes(ctx.name, ctx.role, self.name, data, ctx.now)
        result = FirewallResult(info, verdicts, findings)
        result.objects = lambda: (
            table_objects(table, ctx.name, lambda r: Origin(ctx.name, r.line, r.text), True),
            [ctx.name],
        )
        return verdicts_rangeset(result)
