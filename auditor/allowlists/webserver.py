"""Web server access rules: nginx ``allow``/``deny`` and Apache ``Require`` (and the old
``Order``/``Allow``/``Deny``), evaluated for every source address.

A web server applies different rules to different URLs, so a file has several *contexts*
(an nginx ``location``, an Apache ``<Directory>``). Each context is evaluated on its own;
an address gets a verdict only where every context agrees on it (allowed for every URL,
denied for every URL) and is conditional where they differ ("depends on the URL"), with
the contexts named. Nothing is taken from one context and applied to another.

``nginx`` (ngx_http_access_module, ngx_stream_access_module)
    ``allow``/``deny`` with an address, a CIDR, ``all`` or ``unix:``, checked "in sequence
    until the first match is found"; when none matches, the access phase declines and the
    request goes through, so the end of the list accepts (``deny all`` closes it). A block
    with no allow/deny of its own inherits its parent's list whole (the usual nginx array
    inheritance); one with any replaces it. Contexts: each ``location`` (nested ones too),
    each ``limit_except`` (the other methods), and a ``server`` for the URLs no location
    matches when it has no ``location /``; a file with no ``server`` (a snippet) is read
    from its top level. ``satisfy any`` makes denials conditional (authentication may still
    let the client in). ``include`` is followed inside an ``nginx -T`` dump (its
    ``# configuration file`` sections); elsewhere an include that may hold access rules
    makes the addresses after it conditional. ``set_real_ip_from``/``real_ip_header`` are
    reported: the rules then see the address a proxy forwarded, not the connecting one.
    Every ``server`` of the file is taken, whatever its ``listen`` port.

``apache`` (mod_authz_core, mod_authz_host, mod_access_compat)
    ``Require ip`` (full and partial addresses such as ``10.1``, ``a/nn``, ``a/netmask``,
    IPv6), ``Require not ip``, ``Require all granted|denied``, ``Require local`` (the
    loopback networks), in ``<RequireAll>``, ``<RequireAny>`` and ``<RequireNone>``, with
    the results of mod_authz_core: GRANTED, DENIED or NEUTRAL, where a negated directive can
    never grant; directives outside a container behave as one ``<RequireAny>``, and only
    GRANTED lets the request in. Other providers (``valid-user``, ``user``, ``group``,
    ``host``, ``env``, ``expr``, ``method`` ...) and directives inside ``<Limit>``,
    ``<LimitExcept>`` and ``<If>`` are conditional. ``<IfModule>`` content is read (the
    modules are assumed loaded; a negated ``<IfModule !...>`` is skipped). The old
    ``Order``/``Allow from``/``Deny from`` are evaluated as mod_access_compat does
    (``Order Deny,Allow`` is the default); host names and ``env=`` there are conditional;
    a context that mixes them with ``Require`` is conditional as a whole (Apache does not
    support mixing them). Contexts: ``<Directory>``, ``<Location>``, ``<Files>``,
    ``<Proxy>`` (and their ``Match`` forms) and the file's top level (a .htaccess), each
    that has access directives of its own; section merging across contexts is not modelled.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from auditor import ipspace
from auditor.allowlists.base import (
    ReadContext,
    Reader,
    ReaderError,
    address_findings,
    decode_text,
)
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Verdicts,
    complement,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.errors import AddressError
from auditor.model import Finding, Origin, RangeSet, Severity, SourceInfo

Interval = tuple[int, int]
FAMILIES = (4, 6)


def _full(family: int) -> list[Interval]:
    return [(0, ipspace.MAX[family])]


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _union(*parts: Sequence[Interval]) -> list[Interval]:
    return merge([iv for part in parts for iv in part])


def _minus(a: Sequence[Interval], b: Sequence[Interval], bits: int) -> list[Interval]:
    return _intersect(a, complement(list(b), bits))


@dataclass(frozen=True)
class Context:
    """One place where access rules apply (a location, a directory) and its verdicts."""

    label: str
    segments: dict[int, list[Segment]]
    """Per family, segments covering the whole address space."""


def agree(contexts: Sequence[Context], family: int, source: str) -> list[Segment]:
    """One verdict per address where every context gives the same outcome (the first
    context's rule names it); conditional where they differ, naming the contexts."""
    lists = [c.segments[family] for c in contexts]
    if len(lists) == 1:
        return list(lists[0])
    points = sorted({p for segs in lists for s in segs for p in (s.first, s.last + 1)})
    idx = [0] * len(lists)
    out: list[Segment] = []
    for a, nxt in zip(points, points[1:], strict=False):
        here: list[Segment] = []
        for k, segs in enumerate(lists):
            while idx[k] < len(segs) and segs[idx[k]].last < a:
                idx[k] += 1
            here.append(segs[idx[k]])
        outcomes = {s.outcome for s in here}
        if len(outcomes) == 1:
            seg = Segment(a, nxt - 1, here[0].outcome, here[0].rule)
        else:
            shown = [
                f"{c.label}: {s.outcome} ({s.rule.origin})"
                for c, s in zip(contexts, here, strict=True)
            ]
            why = "depends on the URL: " + "; ".join(shown[:3])
            if len(shown) > 3:
                why += f"; {len(shown) - 3} more"
            ref = RuleRef(Origin(source), "several contexts", why)
            seg = Segment(a, nxt - 1, "conditional", ref)
        last = out[-1] if out else None
        if last and last.rule == seg.rule and last.outcome == seg.outcome:
            out[-1] = Segment(last.first, seg.last, seg.outcome, seg.rule)
        else:
            out.append(seg)
    return out


def _rangeset(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    contexts: Sequence[Context],
    findings: list[Finding],
    unsupported: list[str],
) -> RangeSet:
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    if len(contexts) > 1:
        findings.append(
            Finding(
                "contexts",
                Severity.INFO,
                f"{len(contexts)} contexts apply rules ("
                + ", ".join(c.label for c in contexts[:5])
                + (", ..." if len(contexts) > 5 else "")
                + "): an address counts as allowed only where all of them allow it",
                Origin(ctx.name),
            )
        )
    verdicts = [Verdicts(f, tuple(agree(contexts, f, ctx.name))) for f in FAMILIES]
    return verdicts_rangeset(FirewallResult(info, verdicts, findings, unsupported))


# --- nginx -----------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    line: int
    children: list[Directive] | None = None
    """None for a simple directive; the block's directives otherwise."""

    @property
    def text(self) -> str:
        return " ".join([self.name, *self.args])


_DUMP_FILE = re.compile(r"# configuration file (.+):\s*$")


class _NginxTokens:
    """ngx_conf_read_token(): words, quoted strings, ``;``, ``{``, ``}`` and ``#`` comments."""

    def __init__(self, text: str, name: str, first_line: int = 1) -> None:
        self.text = text
        self.name = name
        self.line = first_line

    def error(self, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=self.line, hint=hint)

    def tokens(self) -> list[tuple[str, int, bool]]:
        """(token, line, quoted) in order; ``;``, ``{``, ``}`` are tokens of their own."""
        out: list[tuple[str, int, bool]] = []
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            c = text[i]
            if c == "\n":
                self.line += 1
                i += 1
            elif c in " \t\r":
                i += 1
            elif c == "#":
                while i < n and text[i] != "\n":
                    i += 1
            elif c in ";{}":
                out.append((c, self.line, False))
                i += 1
            elif c in "\"'":
                start_line = self.line
                j = i + 1
                buf = []
                while j < n and text[j] != c:
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    if text[j] == "\n":
                        self.line += 1
                    buf.append(text[j])
                    j += 1
                if j >= n:
                    self.line = start_line
                    raise self.error("unexpected end of file, expecting a closing quote")
                out.append(("".join(buf), start_line, True))
                i = j + 1
            else:
                j = i
                while j < n and text[j] not in " \t\r\n;{}\"'":
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    j += 1
                out.append((text[i:j], self.line, False))
                i = j
        return out


def parse_nginx(text: str, name: str, first_line: int = 1) -> list[Directive]:
    """The directive tree of one nginx file (or one file of an ``nginx -T`` dump)."""
    lexer = _NginxTokens(text, name, first_line)
    tokens = lexer.tokens()
    root: list[Directive] = []
    stack: list[list[Directive]] = [root]
    words: list[tuple[str, int, bool]] = []
    for tok, line, quoted in tokens:
        if quoted or tok not in (";", "{", "}"):
            words.append((tok, line, quoted))
            continue
        if tok == ";":
            if not words:
                raise ReaderError("unexpected ';'", source=name, line=line)
            stack[-1].append(Directive(words[0][0], [w for w, _, _ in words[1:]], words[0][1]))
            words = []
        elif tok == "{":
            if not words:
                raise ReaderError("unexpected '{'", source=name, line=line)
            children: list[Directive] = []
            stack[-1].append(
                Directive(words[0][0], [w for w, _, _ in words[1:]], words[0][1], children)
            )
            stack.append(children)
            words = []
        else:
            if words:
                raise ReaderError(
                    f"unexpected '}}' after {words[0][0]!r}",
                    source=name,
                    line=line,
                    hint="a directive ends with ';'",
                )
            if len(stack) == 1:
                raise ReaderError("unexpected '}'", source=name, line=line)
            stack.pop()
    if words:
        raise ReaderError(
            f"unexpected end of file after {words[0][0]!r}, expecting ';' or '}}'",
            source=name,
            line=words[0][1],
            hint="an nginx directive ends with ';'",
        )
    if len(stack) > 1:
        raise ReaderError(
            "unexpected end of file, expecting '}'",
            source=name,
            line=lexer.line,
            hint="a block is not closed",
        )
    return root


def split_dump(text: str) -> list[tuple[str, str, int]]:
    """The files of an ``nginx -T`` dump as (path, text, first line); one unnamed file when
    the text is not a dump."""
    lines = text.split("\n")
    marks = [(i, m.group(1)) for i, ln in enumerate(lines) if (m := _DUMP_FILE.match(ln))]
    if not marks:
        return [("", text, 1)]
    out = []
    for k, (i, path) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else len(lines)
        out.append((path, "\n".join(lines[i + 1 : end]), i + 2))
    return out


_HARMLESS_INCLUDES = ("mime.types", "*.types", "*_params", "fastcgi.conf", "koi-*", "win-utf")
_ACCESS_BLOCKS = ("http", "server", "location", "limit_except", "stream")
_NGINX_ADDRESS = re.compile(r"[0-9A-Fa-f:.]+(/[0-9]+)?")


@dataclass
class _NginxBlock:
    label: str
    line: int
    rules: list[Directive] = field(default_factory=list)
    """allow, deny and unresolved include directives in order."""
    satisfy: str | None = None
    parent: _NginxBlock | None = None
    kind: str = ""

    def effective(self) -> tuple[_NginxBlock, list[Directive]]:
        """The rules that apply here: the block's own, else its nearest ancestor's."""
        block: _NginxBlock | None = self
        while block is not None:
            if block.rules:
                return block, block.rules
            block = block.parent
        return self, []

    def satisfy_any(self) -> bool:
        block: _NginxBlock | None = self
        while block is not None:
            if block.satisfy is not None:
                return block.satisfy == "any"
            block = block.parent
        return False


class _Nginx:
    def __init__(self, ctx: ReadContext, files: list[tuple[str, str, int]]) -> None:
        self.ctx = ctx
        self.trees = {path: parse_nginx(text, ctx.name, first) for path, text, first in files}
        self.dump = len(files) > 1 or files[0][0] != ""
        self.findings: list[Finding] = []
        self.unsupported: list[str] = []
        self.address_checks: list[tuple[int, str]] = []
        """geo maps and `if ($remote_addr ...)` checks: they may refuse any client."""
        self.contexts: list[_NginxBlock] = []
        self.has_rules = False
        self.parsed: dict[tuple[int, str], tuple[int, list[Interval]] | None] = {}

    def note(self, kind: str, severity: Severity, message: str, line: int | None) -> None:
        self.findings.append(Finding(kind, severity, message, Origin(self.ctx.name, line)))

    def expand(self, directives: list[Directive], depth: int = 0) -> list[Directive]:
        """Includes replaced by the dumped files they name (an ``nginx -T`` dump)."""
        out: list[Directive] = []
        for d in directives:
            if d.name == "include" and d.children is None and d.args and self.dump:
                found = self.included(d.args[0])
                if (found or any(c in d.args[0] for c in "*?[")) and depth < 16:
                    # nginx -T prints every file it includes: a pattern that matches none
                    # included nothing
                    for path in found:
                        out.extend(self.expand(self.trees[path], depth + 1))
                    continue
            if d.children is not None:
                d = Directive(d.name, d.args, d.line, self.expand(d.children, depth))
            out.append(d)
        return out

    def included(self, pattern: str) -> list[str]:
        paths = [p for p in self.trees if p]
        if pattern.startswith("/"):
            return sorted(p for p in paths if fnmatch.fnmatchcase(p, pattern))
        return sorted(p for p in paths if fnmatch.fnmatchcase(p, "*/" + pattern))

    def walk(self, directives: list[Directive], block: _NginxBlock) -> None:
        servers = []
        locations = []
        for d in directives:
            if d.name in ("allow", "deny"):
                if d.children is not None or len(d.args) != 1:
                    raise ReaderError(
                        f"invalid number of arguments in {d.name!r}",
                        source=self.ctx.name,
                        line=d.line,
                        hint=f"write `{d.name} 192.0.2.0/24;` or `{d.name} all;`",
                    )
                if block.kind not in ("", *_ACCESS_BLOCKS):
                    raise ReaderError(
                        f"{d.name!r} is not allowed in {block.kind!r}",
                        source=self.ctx.name,
                        line=d.line,
                        hint="allow/deny go in http, server, location or limit_except",
                    )
                block.rules.append(d)
                self.has_rules = True
            elif d.name == "satisfy" and d.args:
                block.satisfy = d.args[0].lower()
            elif d.name == "include" and d.children is None:
                pattern = d.args[0] if d.args else ""
                base = pattern.rsplit("/", 1)[-1]
                if not any(fnmatch.fnmatchcase(base, h) for h in _HARMLESS_INCLUDES):
                    block.rules.append(d)
                    self.unsupported.append(
                        f"{self.ctx.name}:{d.line}: include {pattern} (not followed: give the"
                        " `nginx -T` output to have it read)"
                    )
            elif d.name in ("set_real_ip_from", "real_ip_header"):
                self.note(
                    "real-ip",
                    Severity.WARNING,
                    f"{d.text}: allow/deny see the client address a proxy forwarded, not the"
                    " address that connects",
                    d.line,
                )
            elif d.name == "geo" or (d.name == "if" and any("remote_addr" in a for a in d.args)):
                self.unsupported.append(
                    f"{self.ctx.name}:{d.line}: {d.text[:60]} (address checks outside"
                    " allow/deny are not evaluated)"
                )
                self.address_checks.append((d.line, d.text[:60]))
            if d.children is None:
                continue
            if d.name == "server":
                servers.append(d)
            elif d.name in ("location", "limit_except"):
                locations.append(d)
            elif d.name in ("http", "stream"):
                self.walk(d.children, _NginxBlock(d.name, d.line, parent=block, kind=d.name))
            elif d.name == "if":
                self.walk(d.children, _NginxBlock("if", d.line, parent=block, kind="if"))
            elif d.name in ("events", "upstream", "map", "geo", "types", "mail"):
                continue
        for d in servers:
            kids = d.children or []
            names = next((x.args for x in kids if x.name == "server_name"), [])
            label = f"server {names[0]}" if names else "server"
            server = _NginxBlock(f"{label} (line {d.line})", d.line, parent=block, kind="server")
            self.walk(kids, server)
            if not any(x.name == "location" and x.args == ["/"] for x in kids):
                self.contexts.append(server)  # the URLs no location matches
        for d in locations:
            label = f"{d.name} {' '.join(d.args)} (line {d.line})"
            child = _NginxBlock(label, d.line, parent=block, kind=d.name)
            self.walk(d.children or [], child)
            self.contexts.append(child)

    def evaluate(self, block: _NginxBlock) -> Context:
        owner, rules = block.effective()
        lenient_drop = block.satisfy_any()
        segments: dict[int, list[Segment]] = {}
        for fam in FAMILIES:
            claims: list[Claim] = []
            for order, d in enumerate(rules):
                ref = RuleRef(Origin(self.ctx.name, d.line), d.text)
                if d.name == "include":
                    why = f"include {' '.join(d.args)} may hold allow/deny rules"
                    claims.append(
                        Claim(order, _full(fam), "conditional", RuleRef(ref.origin, ref.text, why))
                    )
                    break
                target = self.address(d)
                if target is None:
                    continue
                tfam, iv = target
                if tfam not in (0, fam):
                    continue
                outcome: Outcome = "accept" if d.name == "allow" else "drop"
                if outcome == "drop" and lenient_drop:
                    why = "satisfy any: authentication may still let the client in"
                    claims.append(
                        Claim(
                            order,
                            iv or _full(fam),
                            "conditional",
                            RuleRef(ref.origin, ref.text, why),
                        )
                    )
                else:
                    claims.append(Claim(order, iv or _full(fam), outcome, ref))
            end = RuleRef(
                Origin(self.ctx.name, owner.line or None),
                f"end of the allow/deny rules of {owner.label}",
                "",
            )
            if not rules:
                end = RuleRef(
                    Origin(self.ctx.name, block.line or None),
                    f"no allow/deny applies to {block.label}: nginx lets every client in",
                )
            claims.append(Claim(len(rules), _full(fam), "accept", end))
            segments[fam] = first_claims(claims)
            if self.address_checks:
                # a geo map or an `if ($remote_addr ...)` may return 403 to any client the
                # allow/deny rules let in: those clients are conditional, never allowed
                line, text = self.address_checks[0]
                why = f"line {line}: {text} checks the client address and is not evaluated"
                segments[fam] = [
                    Segment(
                        s.first, s.last, "conditional", RuleRef(s.rule.origin, s.rule.text, why)
                    )
                    if s.outcome == "accept"
                    else s
                    for s in segments[fam]
                ]
        return Context(block.label, segments)

    def address(self, d: Directive) -> tuple[int, list[Interval]] | None:
        """(family, intervals) of an allow/deny argument; family 0 and no intervals for
        ``all``; None for ``unix:``, which never matches a network client."""
        key = (d.line, d.args[0])
        if key not in self.parsed:
            self.parsed[key] = self._address(d)
        return self.parsed[key]

    def _address(self, d: Directive) -> tuple[int, list[Interval]] | None:
        arg = d.args[0]
        if arg == "all":
            return 0, []
        if arg == "unix:":
            return None
        if not _NGINX_ADDRESS.fullmatch(arg):
            raise ReaderError(
                f"invalid parameter {arg!r} in {d.name}",
                source=self.ctx.name,
                line=d.line,
                hint="an address, a CIDR, all or unix:",
            )
        try:
            parsed = ipspace.parse(arg, self.ctx.host_bits)
        except AddressError as e:
            raise ReaderError(e.message, source=self.ctx.name, line=d.line, hint=e.hint) from None
        if parsed.host_bits:
            fixed = ipspace.format_cidr(parsed.family, parsed.first, parsed.prefixlen or 0)
            self.note(
                "host-bits",
                Severity.WARNING,
                f'{arg!r} has host bits set; nginx reads it as {fixed} ("low address bits'
                ' are meaningless")',
                d.line,
            )
        if parsed.mapped:
            self.note("ipv4-mapped", Severity.WARNING, ipspace.mapped_note(arg, parsed), d.line)
        return parsed.family, [(parsed.first, parsed.last)]


def sniff_nginx(data: bytes) -> bool:
    """nginx: an ``allow``/``deny`` directive ending with ``;``."""
    head = data[:16384].decode("utf-8", "replace")
    return bool(re.search(r"(?m)^\s*(allow|deny)\s+(all|unix:|[0-9A-Fa-f:.]+(/[0-9]+)?)\s*;", head))


class NginxReader(Reader):
    name = "nginx"
    description = "nginx allow/deny (http and stream): first match per location"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_nginx(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        files = split_dump(text)
        nginx = _Nginx(ctx, files)
        main_path = files[0][0]
        tree = nginx.expand(nginx.trees[main_path])
        top = _NginxBlock("top level", 0, kind="")
        nginx.walk(tree, top)
        if not nginx.has_rules:
            raise ReaderError(
                "no allow or deny directive: nginx lets every client in",
                source=ctx.name,
                hint="if the rules are in an included file, give that file or `nginx -T` output",
            )
        blocks = nginx.contexts or [top]
        if top.rules and nginx.contexts and not any(b.kind == "server" for b in nginx.contexts):
            blocks = [top, *nginx.contexts]
        contexts = [nginx.evaluate(b) for b in blocks]
        return _rangeset(data, ctx, self.name, contexts, nginx.findings, nginx.unsupported)


# --- Apache ----------------------------------------------------------------------------------

State = Literal["G", "D", "N", "C"]
"""mod_authz_core results: GRANTED, DENIED, NEUTRAL; C: not known from the file."""


@dataclass
class _Node:
    """An authorization directive or container."""

    kind: str  # "require", "all", "any", "none", "limit", "if"
    line: int
    text: str
    negated: bool = False
    children: list[_Node] = field(default_factory=list)
    provider: str = ""
    args: list[str] = field(default_factory=list)


@dataclass
class _ApacheSection:
    label: str
    line: int
    kind: str
    authz: _Node
    order: tuple[str, int] | None = None
    allow: list[tuple[int, str, list[str]]] = field(default_factory=list)
    deny: list[tuple[int, str, list[str]]] = field(default_factory=list)
    satisfy_any: bool = False
    merging: bool = False

    @property
    def has_require(self) -> bool:
        return bool(self.authz.children)

    @property
    def has_compat(self) -> bool:
        return bool(self.allow or self.deny or self.order)


_CONTEXT_SECTIONS = frozenset(
    {"directory", "directorymatch", "location", "locationmatch", "files", "filesmatch",
     "proxy", "proxymatch"}
)  # fmt: skip
_AUTHZ_CONTAINERS = {"requireall": "all", "requireany": "any", "requirenone": "none"}
# mod_access_compat: what apr_ipsubnet_create() does not take for an address is a host name
_COMPAT_ADDRESS = re.compile(r"[0-9.]+(/[0-9.]+)?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(/[0-9]+)?")
_SECTION = re.compile(r"<\s*(/?)\s*([A-Za-z]+)\s*(.*?)\s*>\s*$")


def _apache_words(text: str) -> list[str]:
    """Arguments as Apache's ap_getword_conf() splits them: spaces, with quotes."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] in "\"'":
            q = text[i]
            j = i + 1
            buf = []
            while j < n and text[j] != q:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _apache_lines(text: str) -> list[tuple[int, str]]:
    """Logical lines: a backslash at the end of a line joins the next; ``#`` lines are
    comments (Apache has no comment after a directive)."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if pending is not None:
            start, acc = pending
            line = acc + " " + line.strip()
            lineno = start
            pending = None
        stripped = line.strip()
        if stripped.endswith("\\"):
            pending = (lineno, stripped[:-1])
            continue
        if not stripped or stripped.startswith("#"):
            continue
        out.append((lineno, stripped))
    if pending is not None:
        out.append(pending)
    return out


class _Apache:
    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.unsupported: list[str] = []
        self.sections: list[_ApacheSection] = []

    def error(self, message: str, line: int, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=line, hint=hint)

    def parse(self, text: str) -> None:
        top = _ApacheSection("top level (.htaccess)", 0, "", _Node("any", 0, "top level"))
        self.sections.append(top)
        section, nodes, skip = top, [top.authz], False
        # per open section: its tag, its line, and the state to restore when it closes
        stack: list[tuple[str, int, _ApacheSection, list[_Node], bool]] = []
        for line, logical in _apache_lines(text):
            m = _SECTION.match(logical) if logical.startswith("<") else None
            if m is not None:
                closing, tag, arg = m.group(1) == "/", m.group(2).lower(), m.group(3)
                if closing:
                    if not stack or stack[-1][0] != tag:
                        open_tag = f"<{stack[-1][0]}> (line {stack[-1][1]})" if stack else "none"
                        raise self.error(
                            f"</{m.group(2)}> without matching <{m.group(2)}> section",
                            line,
                            hint=f"the open section is {open_tag}",
                        )
                    _, _, section, nodes, skip = stack.pop()
                    continue
                stack.append((tag, line, section, nodes, skip))
                if not skip:
                    section, nodes, skip = self.open(
                        tag, arg, m.group(2), line, logical, section, nodes
                    )
                continue
            if skip:
                continue
            self.directive(logical, line, section, nodes)
        if stack:
            raise self.error(f"<{stack[-1][0]}> is not closed", stack[-1][1])

    def open(
        self,
        tag: str,
        arg: str,
        shown: str,
        line: int,
        logical: str,
        section: _ApacheSection,
        nodes: list[_Node],
    ) -> tuple[_ApacheSection, list[_Node], bool]:
        """The state inside a section that opens: (section, authz nodes, skipping)."""
        if tag == "ifmodule" and arg.startswith("!"):
            self.findings.append(
                Finding(
                    "assumed",
                    Severity.INFO,
                    f"<IfModule {arg}> skipped: the module is assumed loaded",
                    Origin(self.ctx.name, line),
                )
            )
            return section, nodes, True
        if tag in _CONTEXT_SECTIONS:
            label = f"<{shown} {arg}> (line {line})"
            new = _ApacheSection(label, line, tag, _Node("any", line, f"<{shown} {arg}>"))
            self.sections.append(new)
            return new, [new.authz], False
        if tag == "virtualhost":
            host = _ApacheSection(f"<VirtualHost {arg}>", line, tag, _Node("any", line, ""))
            return host, [host.authz], False
        if tag in _AUTHZ_CONTAINERS:
            node = _Node(_AUTHZ_CONTAINERS[tag], line, logical, negated=tag == "requirenone")
        elif tag in ("limit", "limitexcept", "if", "elseif", "else"):
            node = _Node("limit", line, logical)
        else:
            return section, nodes, False  # IfModule, IfDefine, IfVersion ...: read through
        nodes[-1].children.append(node)
        return section, [*nodes, node], False

    def directive(
        self, logical: str, line: int, section: _ApacheSection, nodes: list[_Node]
    ) -> None:
        words = _apache_words(logical)
        name = words[0].lower()
        args = words[1:]
        if name == "require":
            if section.kind == "virtualhost":
                raise self.error(
                    "Require not allowed here", line, hint="put it in <Directory> or <Location>"
                )
            nodes[-1].children.append(self.require(args, line, logical))
        elif name == "order":
            section.order = ("".join(args).lower(), line)
        elif name in ("allow", "deny"):
            if not args or args[0].lower() != "from":
                raise self.error(f"{words[0]} must be followed by 'from'", line)
            target = section.allow if name == "allow" else section.deny
            target.append((line, logical, args[1:]))
        elif name == "satisfy":
            section.satisfy_any = bool(args) and args[0].lower() == "any"
        elif name == "authmerging" and args and args[0].lower() != "off":
            section.merging = True

    def require(self, args: list[str], line: int, text: str) -> _Node:
        negated = bool(args) and args[0].lower() == "not"
        if negated:
            args = args[1:]
        if not args:
            raise self.error("Require needs a provider", line, hint="e.g. Require ip 192.0.2.0/24")
        return _Node("require", line, text, negated, provider=args[0].lower(), args=args[1:])

    # -- evaluation: per family, a partition of the space into G, D, N, C --

    def leaf(self, node: _Node, fam: int) -> dict[str, list[Interval]]:
        bits = ipspace.BITS[fam]
        full = _full(fam)
        provider = node.provider
        if provider == "all":
            kind = node.args[0].lower() if node.args else ""
            if kind not in ("granted", "denied"):
                raise self.error("Require all takes 'granted' or 'denied'", node.line)
            out = {"G": full if kind == "granted" else [], "D": [] if kind == "granted" else full}
        elif provider in ("ip", "local"):
            if provider == "local":
                inside = self.local(fam)
            else:
                if not node.args:
                    raise self.error("Require ip needs an address", node.line)
                inside = merge(
                    [
                        iv
                        for arg in node.args
                        for f, ivs in [self.apache_address(arg, node.line)]
                        if f == fam
                        for iv in ivs
                    ]
                )
            out = {"G": inside, "D": complement(inside, bits)}
        else:
            out = {"C": full}
        result = {"G": out.get("G", []), "D": out.get("D", []), "N": [], "C": out.get("C", [])}
        if node.negated:
            # mod_authz_core: a negated GRANTED is DENIED, a negated DENIED is NEUTRAL
            result = {
                "G": [],
                "D": result["G"],
                "N": _union(result["D"], result["N"]),
                "C": result["C"],
            }
        return result

    @staticmethod
    def local(fam: int) -> list[Interval]:
        if fam == 4:
            return [(0x7F000000, 0x7FFFFFFF)]
        return [(1, 1)]

    def node(self, node: _Node, fam: int, cond: str = "") -> dict[str, list[Interval]]:
        bits = ipspace.BITS[fam]
        if node.kind == "require":
            result = self.leaf(node, fam)
        else:
            kids = [self.node(k, fam) for k in node.children]
            if node.kind == "limit":
                # method- or expression-dependent: whatever the children decide is uncertain
                decided = _union(
                    *(k["G"] for k in kids), *(k["D"] for k in kids), *(k["C"] for k in kids)
                )
                result = {"G": [], "D": [], "C": decided, "N": complement(decided, bits)}
            elif node.kind == "all":
                d = _union(*(k["D"] for k in kids))
                c = _minus(_union(*(k["C"] for k in kids)), d, bits)
                g = _minus(_minus(_union(*(k["G"] for k in kids)), d, bits), c, bits)
                result = {"G": g, "D": d, "C": c, "N": complement(_union(g, d, c), bits)}
            else:  # any, none
                g = _union(*(k["G"] for k in kids))
                c = _minus(_union(*(k["C"] for k in kids)), g, bits)
                d = _minus(_minus(_union(*(k["D"] for k in kids)), g, bits), c, bits)
                result = {"G": g, "D": d, "C": c, "N": complement(_union(g, d, c), bits)}
            if node.negated:
                result = {
                    "G": [],
                    "D": result["G"],
                    "N": _union(result["D"], result["N"]),
                    "C": result["C"],
                }
        return result

    def leaves(self, node: _Node) -> list[_Node]:
        if node.kind == "require":
            return [node]
        return [leaf for k in node.children for leaf in self.leaves(k)]

    def evaluate_require(self, section: _ApacheSection, fam: int) -> list[Segment]:
        result = self.node(section.authz, fam)
        origin = Origin(self.ctx.name, section.line or None)
        claims: list[Claim] = []
        order = 0
        for leaf in self.leaves(section.authz):
            mine = self.node(leaf, fam)
            ref = RuleRef(Origin(self.ctx.name, leaf.line), leaf.text)
            claims.append(Claim(order, _intersect(mine["G"], result["G"]), "accept", ref))
            claims.append(Claim(order, _intersect(mine["D"], result["D"]), "drop", ref))
            why = f"Require {leaf.provider} is not evaluated (it depends on the request)"
            cref = RuleRef(ref.origin, ref.text, why)
            claims.append(Claim(order, _intersect(mine["C"], result["C"]), "conditional", cref))
            order += 1
        cref = RuleRef(
            origin,
            f"{section.label}: depends on the HTTP method or an expression",
            "<Limit>, <LimitExcept> or <If>",
        )
        claims.append(Claim(order, result["C"], "conditional", cref))
        claims.append(
            Claim(order + 1, result["D"], "drop", RuleRef(origin, f"{section.label}: denied"))
        )
        nref = RuleRef(origin, f"{section.label}: no Require directive grants it")
        claims.append(Claim(order + 1, result["N"], "drop", nref))
        return first_claims(claims)

    def evaluate_compat(self, section: _ApacheSection, fam: int) -> list[Segment]:
        """mod_access_compat: ``Order Deny,Allow`` allows what Allow matches or Deny does not;
        ``Allow,Deny`` and ``Mutual-failure`` allow what Allow matches and Deny does not."""
        bits = ipspace.BITS[fam]
        full = _full(fam)
        order_text, order_line = section.order or ("deny,allow", 0)
        if order_text not in ("deny,allow", "allow,deny", "mutual-failure"):
            raise self.error(
                f"unknown Order {order_text!r}", order_line, hint="Deny,Allow or Allow,Deny"
            )

        def sets(
            entries: list[tuple[int, str, list[str]]],
        ) -> tuple[list[Interval], list[Interval], list[Claim], list[Claim]]:
            yes: list[Interval] = []
            maybe: list[Interval] = []
            yes_claims: list[Claim] = []
            maybe_claims: list[Claim] = []
            for k, (line, text, items) in enumerate(entries):
                ref = RuleRef(Origin(self.ctx.name, line), text)
                for item in items:
                    low = item.lower()
                    if low == "all":
                        iv = full
                    elif low.startswith("env="):
                        why = f"{item}: depends on an environment variable"
                        maybe.extend(full)
                        maybe_claims.append(
                            Claim(k, full, "conditional", RuleRef(ref.origin, ref.text, why))
                        )
                        continue
                    elif _COMPAT_ADDRESS.fullmatch(item):
                        f, iv = self.apache_address(item, line)
                        if f != fam:
                            continue
                    else:
                        why = f"{item}: a host name, matched by double reverse DNS"
                        maybe.extend(full)
                        maybe_claims.append(
                            Claim(k, full, "conditional", RuleRef(ref.origin, ref.text, why))
                        )
                        continue
                    yes.extend(iv)
                    yes_claims.append(Claim(k, iv, "accept", ref))
            return merge(yes), _minus(merge(maybe), merge(yes), bits), yes_claims, maybe_claims

        a_yes, a_maybe, a_claims, a_maybe_claims = sets(section.allow)
        d_yes, d_maybe, d_claims, d_maybe_claims = sets(section.deny)
        a_no = complement(_union(a_yes, a_maybe), bits)
        d_no = complement(_union(d_yes, d_maybe), bits)
        if order_text == "deny,allow":
            granted = _union(a_yes, d_no)
            denied = _intersect(d_yes, a_no)
        else:
            granted = _intersect(a_yes, d_no)
            denied = _union(a_no, d_yes)
        unknown = complement(_union(granted, denied), bits)
        origin = Origin(self.ctx.name, order_line or section.line or None)
        claims: list[Claim] = []
        claims += [
            Claim(c.order, _intersect(list(c.intervals), granted), "accept", c.rule)
            for c in a_claims
        ]
        claims += [
            Claim(c.order, _intersect(list(c.intervals), denied), "drop", c.rule) for c in d_claims
        ]
        claims += [
            Claim(c.order, _intersect(list(c.intervals), unknown), "conditional", c.rule)
            for c in a_maybe_claims + d_maybe_claims
        ]
        order_ref = RuleRef(origin, f"Order {order_text} default")
        claims.append(Claim(10**9, granted, "accept", order_ref))
        claims.append(Claim(10**9, denied, "drop", order_ref))
        claims.append(
            Claim(
                10**9,
                unknown,
                "conditional",
                RuleRef(origin, f"Order {order_text}", "host names or env= decide"),
            )
        )
        segments = first_claims(claims)
        if section.satisfy_any:
            why = "Satisfy Any: authentication may still let the client in"
            segments = [
                Segment(s.first, s.last, "conditional", RuleRef(s.rule.origin, s.rule.text, why))
                if s.outcome == "drop"
                else s
                for s in segments
            ]
        return segments

    def apache_address(self, text: str, line: int) -> tuple[int, list[Interval]]:
        """An address as apr_ipsubnet_create() reads it: full, partial (``10.1``), with a
        prefix length or a netmask, or IPv6."""
        addr, slash, mask = text.partition("/")
        if ":" not in addr and re.fullmatch(r"[0-9]+(\.[0-9]+){0,3}\.?", addr) and not slash:
            octets = [o for o in addr.split(".") if o != ""]
            if len(octets) < 4:
                # a partial address: the given octets, the rest any
                text = ".".join(octets + ["0"] * (4 - len(octets))) + f"/{8 * len(octets)}"
                addr, slash, mask = text.partition("/")
        if slash and "." in mask:
            try:
                _, value, _ = ipspace.parse_address(mask)
            except AddressError as e:
                raise self.error(f"invalid netmask in {text!r}: {e.message}", line) from None
            inverted = ~value & 0xFFFFFFFF
            if inverted & (inverted + 1):
                raise self.error(
                    f"{text!r} has a non-contiguous netmask, which is not a CIDR",
                    line,
                    hint="write the network as a/nn",
                )
            text = f"{addr}/{32 - inverted.bit_length()}"
        try:
            parsed = ipspace.parse(text, self.ctx.host_bits)
        except AddressError as e:
            raise self.error(
                f"ip address {text!r} appears to be invalid: {e.message}", line, e.hint
            ) from None
        self.findings.extend(address_findings(text, parsed, Origin(self.ctx.name, line)))
        return parsed.family, [(parsed.first, parsed.last)]

    def context(self, section: _ApacheSection) -> Context:
        segments: dict[int, list[Segment]] = {}
        for fam in FAMILIES:
            if section.has_require and section.has_compat:
                why = "Order/Allow/Deny mixed with Require: Apache does not support mixing them"
                ref = RuleRef(Origin(self.ctx.name, section.line or None), section.label, why)
                segments[fam] = [Segment(0, ipspace.MAX[fam], "conditional", ref)]
            elif section.has_require:
                segments[fam] = self.evaluate_require(section, fam)
            else:
                segments[fam] = self.evaluate_compat(section, fam)
        if section.merging:
            self.unsupported.append(
                f"{self.ctx.name}:{section.line}: AuthMerging in {section.label} (merging with"
                " the enclosing sections is not modelled)"
            )
        return Context(section.label, segments)


def sniff_apache(data: bytes) -> bool:
    """Apache: a ``Require ip|all|not|host|local`` line, or ``Allow from``/``Deny from``."""
    head = data[:16384].decode("utf-8", "replace")
    return bool(
        re.search(
            r"(?im)^\s*(require\s+(not\s+)?(ip|all|host|local)\b|(allow|deny)\s+from\s+\S"
            r"|<require(all|any|none)>)",
            head,
        )
    )


class ApacheReader(Reader):
    name = "apache"
    description = "Apache Require ip / RequireAll / RequireAny, and Order/Allow/Deny"
    suffixes = (".htaccess",)
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_apache(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        apache = _Apache(ctx)
        apache.parse(text)
        sections = [s for s in apache.sections if s.has_require or s.has_compat]
        if not sections:
            raise ReaderError(
                "no Require, Allow or Deny directive",
                source=ctx.name,
                hint="give the <Directory>/<Location> sections or the .htaccess that controls"
                " access",
            )
        contexts = [apache.context(s) for s in sections]
        return _rangeset(data, ctx, self.name, contexts, apache.findings, apache.unsupported)
