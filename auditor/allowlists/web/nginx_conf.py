"""nginx ``allow``/``deny`` access rules, evaluated for every source address.

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

Each context is evaluated on its own; an address gets a verdict only where every context
agrees on it (:mod:`auditor.allowlists.web.common`).

The file is a scope (``--scope`` its path, or its file name, as for a Postfix cidr table):
the addresses of every ``allow`` in it, whatever block holds it (not ``allow all``, which
names no network).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text, file_path
from auditor.allowlists.web.common import FAMILIES, Context, _rangeset
from auditor.errors import AddressError
from auditor.model import Entry, Finding, Origin, Outcome, RangeSet, RuleRef, Severity
from auditor.ruleset.engine import first_match
from auditor.ruleset.ir import ACCEPT, DROP, Action, Interval, Rule


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
        self.allows: list[Directive] = []
        """Every ``allow`` walked, in the file's order (the scope's entries)."""
        self.has_rules = False
        self.parsed: dict[tuple[int, str], tuple[int, list[Interval]] | None] = {}
        self.top = _NginxBlock("top level", 0, kind="")

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
                if d.name == "allow":
                    self.allows.append(d)
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
        """The block's rules lowered to one ordered list per family: ``allow`` accepts,
        ``deny`` drops, the end accepts (the access phase declines and the request goes
        through). ``satisfy any`` leaves a deny unsure (authentication may still let the
        client in); an unresolved include may hold rules, so the addresses that reach it are
        conditional; a geo map or an ``if ($remote_addr ...)`` may return 403 to any client
        the rules let in, so every accept is unsure."""
        owner, rules = block.effective()
        deny = DROP
        if block.satisfy_any():
            deny = Action("drop", unsure="satisfy any: authentication may still let the client in")
        end: Outcome = "accept"
        allow, checked = ACCEPT, ""
        if self.address_checks:
            line, text = self.address_checks[0]
            checked = f"line {line}: {text} checks the client address and is not evaluated"
            allow, end = Action("accept", unsure=checked), "conditional"
        end_ref = RuleRef(
            Origin(self.ctx.name, owner.line or None),
            f"end of the allow/deny rules of {owner.label}",
            "",
        )
        if not rules:
            end_ref = RuleRef(
                Origin(self.ctx.name, block.line or None),
                f"no allow/deny applies to {block.label}: nginx lets every client in",
            )
        if checked:
            end_ref = RuleRef(end_ref.origin, end_ref.text, checked)
        lowered: dict[int, list[Rule]] = {fam: [] for fam in FAMILIES}
        for d in rules:
            ref = RuleRef(Origin(self.ctx.name, d.line), d.text)
            if d.name == "include":
                why = f"include {' '.join(d.args)} may hold allow/deny rules"
                for fam in FAMILIES:
                    lowered[fam].append(Rule(ref, Action("opaque", unsure=why)))
                break  # every address that reaches it is conditional: the rest decide nothing
            target = self.address(d)
            if target is None:
                continue
            tfam, iv = target
            action = allow if d.name == "allow" else deny
            for fam in FAMILIES:
                if tfam in (0, fam):
                    lowered[fam].append(Rule(ref, action, tuple(iv) if iv else None))
        segments = {
            fam: list(first_match(lowered[fam], fam, end, end_ref, None).segments)
            for fam in FAMILIES
        }
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

    def objects(self) -> tuple[list[Entry], list[str]]:
        """The file as a scope: the addresses of its ``allow`` lines."""
        name = file_path(self.ctx.name)
        return [
            Entry(f, a, b, Origin(self.ctx.name, d.line, d.text), name)
            for d, f, a, b in self.allowed()
        ], [name]

    def allowed(self) -> list[tuple[Directive, int, int, int]]:
        """(directive, family, first, last) of every ``allow`` of an address or a network."""
        out: list[tuple[Directive, int, int, int]] = []
        for d in self.allows:
            try:
                target = self.address(d)
            except ReaderError:
                continue  # in a block no context uses, and invalid: nothing nginx allows
            if target is not None and target[1]:
                out.extend((d, target[0], a, b) for a, b in target[1])
        return out


def read_nginx(text: str, ctx: ReadContext) -> _Nginx:
    """The file (or ``nginx -T`` dump) read and walked: its contexts and ``allow`` lines."""
    files = split_dump(text)
    nginx = _Nginx(ctx, files)
    tree = nginx.expand(nginx.trees[files[0][0]])
    nginx.top = _NginxBlock("top level", 0, kind="")
    nginx.walk(tree, nginx.top)
    return nginx


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
        nginx = read_nginx(text, ctx)
        top = nginx.top
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
        return _rangeset(
            data, ctx, self.name, contexts, nginx.findings, nginx.unsupported, nginx.objects
        )
