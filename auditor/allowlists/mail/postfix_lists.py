"""Postfix match lists (match_list(3)): the patterns of ``mynetworks`` and of the pattern
files it names, lowered to rules (:mod:`auditor.ruleset.ir`), with the files and tables
they refer to read.

The list is searched left to right and the first pattern that matches decides, so
``!pattern`` before a network carves a hole in it and after it does nothing. What is
understood:

- ``192.0.2.0/24``, ``192.0.2.1``, ``[192.0.2.1]``, ``[2001:db8::]/32`` and
  ``[2001:db8::/32]``; IPv6 must be bracketed (IPV6_README: otherwise the ``:`` reads as
  ``type:table``), so a bare IPv6 pattern is an error, as it is for Postfix;
- ``!`` (any number) before a pattern, a ``/file/name`` or a ``type:table``;
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
reverse-DNS name) and an unknown ``$parameter``. A pattern that can only *add* (a name,
a table that was not given) leaves addresses that a later pattern accepts accepted.
"""

from __future__ import annotations

import bisect
import errno
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.allowlists.mail.postfix_common import (
    CidrRule,
    MatchRule,
    PatternError,
    _split_first,
    anything,
    first_match,
    listed,
    logical_lines,
    maybe_listed,
    parse_cidr_table,
    parse_pattern,
    table_findings,
    table_objects,
    table_rules,
)
from auditor.errors import AddressError
from auditor.model import Entry, Finding, Origin, RangeSet, RuleRef, Severity, SourceInfo, Verdicts
from auditor.ruleset.ir import Rule

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
_SEPARATORS = " ,\t\r\n"


class Token(NamedTuple):
    """One pattern of a list and the line it is written on; ``unknown`` marks a
    ``$parameter`` that could not be expanded (``text`` is then the reference)."""

    text: str
    line: int
    unknown: bool = False


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


@dataclass(frozen=True)
class _Via:
    """A pattern read from a referenced file: reported at the line of the reference."""

    origin: Origin
    prefix: str
    """``cidr:/etc/postfix/relays.cidr -> `` (and more for nested files)."""


@dataclass
class _Lists:
    """Turns the patterns of a match list into rules, reading what they refer to."""

    main: str
    """The source the rules are reported against (the file given on the command line)."""
    directory: Path | None
    read_file: ReadFile
    findings: list[Finding] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    objects: list[Entry] = field(default_factory=list)
    """The cidr tables read, as scopes named by their path as written."""
    object_names: list[str] = field(default_factory=list)
    patterns: int = 0
    """How many patterns take part in the match (one that never matches a client does not)."""

    def ref(self, text: str, source: str, line: int, via: _Via | None) -> RuleRef:
        if via is None:
            return RuleRef(Origin(source, line), text)
        return RuleRef(via.origin, f"{via.prefix}{source}:{line}: {text}")

    def note(self, kind: str, severity: Severity, message: str, origin: Origin) -> None:
        self.findings.append(Finding(kind, severity, message, origin))

    def at(self, source: str, line: int, via: _Via | None) -> tuple[Origin, str]:
        """Where to report a pattern, and the prefix that names it when that is elsewhere."""
        if via is None:
            return Origin(source, line), ""
        return via.origin, f"{source}:{line}: "

    def rules(
        self,
        tokens: Sequence[Token],
        source: str,
        *,
        via: _Via | None = None,
        negated: bool = False,
        depth: int = 0,
    ) -> list[MatchRule]:
        out: list[MatchRule] = []
        for k, token in enumerate(tokens):
            where, prefix = self.at(source, token.line, via)
            if token.unknown:
                why = (
                    f"{token.text} is not set in this file: its value comes from Postfix's"
                    " defaults or master.cf"
                )
                self.patterns += 1
                out.append(anything(self.ref(token.text, source, token.line, via), why))
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
    ) -> list[MatchRule]:
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
        self.patterns += 1
        return [maybe_listed(out_of, self.ref(token, source, line, via), why)]

    def network(
        self, token: str, body: str, line: int, source: str, via: _Via | None, out_of: bool
    ) -> list[MatchRule]:
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
        self.patterns += 1
        ref = self.ref(token, source, line, via)
        return [(pattern.family, Rule(ref, listed(out_of), ((pattern.first, pattern.last),)))]

    def table(
        self, token: str, body: str, line: int, source: str, via: _Via | None, out_of: bool
    ) -> list[MatchRule]:
        kind, _, name = body.partition(":")
        while kind == "proxy":
            kind, _, name = name.partition(":")
        action = listed(out_of)
        ref = self.ref(token, source, line, via)
        if kind not in _TABLE_TYPES and _HEXLIKE.fullmatch(kind):
            raise ReaderError(
                f"{token!r} reads as a lookup table of type {kind!r}: IPv6 must be in"
                " brackets in a list",
                source=source,
                line=line,
                hint="write [2001:db8::]/32 (Postfix IPV6_README)",
            )
        self.patterns += 1
        if kind not in _TABLE_TYPES:
            self.unsupported.append(f"{source}:{line}: {token} (unknown table type {kind})")
            return [maybe_listed(out_of, ref, f"table type {kind!r} is unknown")]
        if kind == "static":
            return [(None, Rule(ref, action))]
        if kind not in _KEYED_TABLES and kind != "cidr":
            why = f"{kind}: tables are looked up on the server and cannot be read here"
            self.unsupported.append(f"{source}:{line}: {token} ({kind}: lookups not evaluated)")
            return [maybe_listed(out_of, ref, why)]
        data, why = self.fetch(name)
        if data is None:
            self.unsupported.append(f"{source}:{line}: {token} ({why})")
            return [maybe_listed(out_of, ref, why)]
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
            rules: list[MatchRule] = []
            for fam in (4, 6):
                # in a match list any result is a match (match_hostaddr() ignores the value)
                got = table_rules(
                    table, fam, lambda r: (action, self.ref(r.text, shown, r.line, inner))
                )
                rules.extend((fam, rule) for rule in got)
            return rules
        return self.keyed(text, shown, inner, out_of, ref)

    def keyed(
        self, text: str, shown: str, inner: _Via, out_of: bool, ref: RuleRef
    ) -> list[MatchRule]:
        """A hash-style table through its postmap source: match_hostaddr() looks the client
        address up as a whole, match_hostname() its name and parent domains."""
        rules: list[MatchRule] = []
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
            rules.append((fam, Rule(rule, listed(out_of), ((addr, addr),))))
        if names:
            why = f"{shown} also lists names ({', '.join(names[:3])}), matched by reverse DNS"
            rules.append(maybe_listed(out_of, ref, why))
        return rules

    def pattern_file(
        self,
        token: str,
        path: str,
        line: int,
        source: str,
        via: _Via | None,
        out_of: bool,
        depth: int,
    ) -> list[MatchRule]:
        if depth >= MAX_DEPTH:
            raise ReaderError(
                f"{token}: pattern files nest deeper than {MAX_DEPTH} (a loop?)",
                source=source,
                line=line,
            )
        data, why = self.fetch(path)
        if data is None:
            self.unsupported.append(f"{source}:{line}: {token} ({why})")
            self.patterns += 1
            return [maybe_listed(out_of, self.ref(token, source, line, via), why)]
        shown = self.shown(path)
        inner = self.inner(token, source, line, via)
        out: list[MatchRule] = []
        # match_list(3): the file's lines are patterns too; a line starting with # is skipped
        for file_line, raw in enumerate(self.decode(data, shown).split("\n"), 1):
            if raw.startswith("#"):
                continue
            tokens = [Token(t, n) for t, n in split_list([(file_line, raw)])]
            out.extend(self.rules(tokens, shown, via=inner, negated=out_of, depth=depth + 1))
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

    def result(
        self,
        data: bytes,
        ctx: ReadContext,
        fmt: str,
        rules: Sequence[MatchRule],
        findings: Iterable[Finding],
    ) -> RangeSet:
        """The list's verdicts: the first pattern that matches decides; an address that no
        pattern matches is not in the list."""
        info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
        end = next((k for k, (_, r) in enumerate(rules) if r.action.kind == "opaque"), None)
        if end is not None:
            # a pattern that could be anything matches every address: none after it is met
            rules = rules[: end + 1]
        verdicts = []
        for fam in (4, 6):
            chosen = [r for f, r in rules if f in (None, fam)]
            verdicts.append(Verdicts(fam, tuple(first_match(chosen, fam, "drop"))))
        result = FirewallResult(info, verdicts, list(findings), list(self.unsupported))
        result.objects = lambda: (self.objects, self.object_names)
        return verdicts_rangeset(result)


class MatchListReader(Reader):
    """A reader of a Postfix match list, reading the files its patterns name with
    ``read_file``."""

    def __init__(self, read_file: ReadFile = read_referenced) -> None:
        self.read_file = read_file

    def lists(self, ctx: ReadContext) -> _Lists:
        return _Lists(ctx.name, source_directory(ctx.name), self.read_file)
